"""eventlet.tpool: run blocking calls in OS threads (green.tpool's own pool)."""

from green.tpool import Proxy, execute, killall, set_num_threads

__all__ = ["Proxy", "execute", "killall", "set_num_threads", "setup"]


def setup() -> None:
    """Start the pool now rather than on first use (it starts on first use by itself)."""
    execute(int)
