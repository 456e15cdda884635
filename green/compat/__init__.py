"""Compatibility layers that let programs written for other libraries run on green unchanged.

`green.compat.eventlet` makes ``import eventlet`` resolve to green's own objects.
"""
