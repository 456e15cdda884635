"""eventlet.corolocal: per-green-thread storage (green.local)."""

from green._local import local

__all__ = ["local"]
