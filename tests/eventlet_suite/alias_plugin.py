"""pytest plugin: give the process (and the Python processes it starts) green's eventlet alias."""

from green.compat.eventlet import install

install()
