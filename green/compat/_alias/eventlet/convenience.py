"""eventlet.convenience: listen, connect, serve, StopServe, wrap_ssl (green's own)."""

from green._convenience import StopServe, connect, listen, serve, wrap_ssl

__all__ = ["StopServe", "connect", "listen", "serve", "wrap_ssl"]
