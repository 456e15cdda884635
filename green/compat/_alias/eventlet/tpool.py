"""eventlet.tpool: run blocking calls in OS threads (green.tpool's own pool).

``EVENTLET_THREADPOOL_SIZE`` of 0 runs calls inline after a RuntimeWarning, as eventlet did
(a negative size fails an assertion); see below. ``_nthreads`` reads the pool's size
(eventlet's module global of that name), which programs and tests read after `set_num_threads`.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable

import green.tpool as _green_tpool
from green.tpool import Proxy, execute, killall, set_num_threads

__all__ = ["Proxy", "execute", "killall", "set_num_threads", "setup"]


def _eventlet_size() -> int | None:
    """EVENTLET_THREADPOOL_SIZE when it asks for no threads (0) or a negative number, else None
    (green's pool, sized by GREEN_THREADPOOL_SIZE, which the alias sets from it)."""
    text = os.environ.get("EVENTLET_THREADPOOL_SIZE", "").strip()
    if os.environ.get("GREEN_THREADPOOL_SIZE") or not text.lstrip("-").isdigit():
        return None  # unset, or not a number: green.tpool's error names the variable
    size = int(text)
    return size if size < 1 else None


_no_threads = _eventlet_size()

if _no_threads is not None:
    # eventlet's "no threads" mode: EVENTLET_THREADPOOL_SIZE=0 runs every call inline in the
    # calling green thread (blocking the hub while it runs: for debugging), after one
    # RuntimeWarning; a negative size fails eventlet's assertion on first use. Only this
    # configuration has the extra function call; set_num_threads(n >= 1) ends the mode.
    _warned = False

    def execute(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        """`function(*args, **kwargs)` inline (EVENTLET_THREADPOOL_SIZE=0), or in green's pool
        once set_num_threads() gave it threads."""
        global _warned
        if _no_threads is None:
            return _green_tpool.execute(function, *args, **kwargs)
        if _no_threads < 0:
            raise AssertionError(
                f"Can't specify negative number of threads (EVENTLET_THREADPOOL_SIZE={_no_threads})"
            )
        if not _warned:
            _warned = True
            warnings.warn(
                "Zero threads in tpool: every tpool.execute call runs in the calling green thread, "
                "blocking the others. Check the value of the environment variable EVENTLET_THREADPOOL_SIZE.",
                RuntimeWarning,
                stacklevel=2,
            )
        return function(*args, **kwargs)

    def set_num_threads(size: int) -> None:  # type: ignore[no-redef]
        """Give the pool `size` threads (at least one), ending the "no threads" mode."""
        global _no_threads
        _green_tpool.set_num_threads(size)
        _no_threads = None


def setup() -> None:
    """Start the pool now rather than on first use (it starts on first use by itself)."""
    execute(int)


def __getattr__(name: str) -> Any:
    if name == "_nthreads":
        if _no_threads is not None:
            return _no_threads
        pool = _green_tpool._pool
        return pool.size if pool is not None else _green_tpool._size_from_environment()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
