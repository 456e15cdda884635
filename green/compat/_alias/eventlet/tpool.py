"""eventlet.tpool: run blocking calls in OS threads (green.tpool's own pool).

``_nthreads`` reads the pool's size (eventlet's module global of that name), which programs
and tests read after `set_num_threads`.
"""

from __future__ import annotations

from typing import Any

import green.tpool as _green_tpool
from green.tpool import Proxy, execute, killall, set_num_threads

__all__ = ["Proxy", "execute", "killall", "set_num_threads", "setup"]


def setup() -> None:
    """Start the pool now rather than on first use (it starts on first use by itself)."""
    execute(int)


def __getattr__(name: str) -> Any:
    if name == "_nthreads":
        pool = _green_tpool._pool
        return pool.size if pool is not None else _green_tpool._size_from_environment()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
