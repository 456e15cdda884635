"""eventlet.event: Event (green.event.Event: send, send_exception, wait, ready, reset, ...)."""

from green.event import Event

__all__ = ["Event"]
