"""eventlet.timeout: Timeout, with_timeout, is_timeout, wrap_is_timeout (green's own)."""

from green.timeout import Timeout, is_timeout, with_timeout, wrap_is_timeout

__all__ = ["Timeout", "is_timeout", "with_timeout", "wrap_is_timeout"]
