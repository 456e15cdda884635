"""Waiting for child processes without blocking the hub: green `waitpid`, `wait`, `wait3`, `wait4`.

The kernel offers no readiness fd for "some child changed state" in general, but Linux 5.3+ has
one per process: ``os.pidfd_open(pid)`` returns an fd that polls readable once the process has
exited. So waiting for one known child parks on that fd (``hub.wait_readable``) and then collects
the status with a non-blocking ``waitpid``. Where pidfds are missing (other systems, old kernels,
seccomp), and for ``pid <= 0`` (any child, a process group), the wait polls ``waitpid(WNOHANG)``
with a backoff from 1 ms up to 50 ms: a child's exit is noticed within 50 ms, at negligible cost.
``WNOHANG`` calls, and calls from inside the hub, are passed straight to the real functions.

The patcher puts them into the green `os` module it installs (see ``__implements__`` below);
green.subprocess uses them directly.
"""

from __future__ import annotations

from greenlet import getcurrent

from green._stdlib import original
from green.greenthread import sleep
from green.hubs import get_hub

_os = original("os")
_real_waitpid = _os.waitpid
_real_wait3 = getattr(_os, "wait3", None)
_real_wait4 = getattr(_os, "wait4", None)
_pidfd_open = getattr(_os, "pidfd_open", None)
WNOHANG = _os.WNOHANG

_FIRST_DELAY = 0.001
_LONGEST_DELAY = 0.05

__all__ = ["wait", "wait3", "wait4", "waitpid", "wait_for_exit"]

# The patcher adds these to the green `os` it puts in sys.modules.
__green__ = "os"
__implements__ = [name for name in ("waitpid", "wait", "wait3", "wait4") if hasattr(_os, name)]
__removes__: list[str] = []


def wait_for_exit(pid: int, timeout: float | None = None) -> bool:
    """Park until process `pid` (a child, > 0) has probably exited, or `timeout` seconds passed.

    Returns False on timeout, True otherwise (then collect the status with a WNOHANG waitpid;
    a True may be early when no pidfd is available). Raises nothing for unknown processes.
    """
    hub = get_hub()
    if _pidfd_open is not None:
        try:
            fd = _pidfd_open(pid)
        except OSError:
            fd = -1
        if fd >= 0:
            try:
                return hub.wait_readable(fd, timeout)
            finally:
                hub.notify_closing(fd)
                _os.close(fd)
    sleep(_FIRST_DELAY if timeout is None else min(_FIRST_DELAY, timeout))
    return True


def _blocking_inside_hub() -> bool:
    return getcurrent() is get_hub()


def waitpid(pid: int, options: int) -> tuple[int, int]:
    """`os.waitpid` that parks only the calling green thread; same results and errors."""
    if options & WNOHANG or _blocking_inside_hub():
        return _real_waitpid(pid, options)
    delay = _FIRST_DELAY
    while True:
        result = _real_waitpid(pid, options | WNOHANG)
        if result[0] != 0:
            return result
        if pid > 0 and _pidfd_open is not None:
            wait_for_exit(pid)
        else:
            sleep(delay)
            delay = min(delay * 2, _LONGEST_DELAY)


def wait() -> tuple[int, int]:
    """`os.wait` (any child) that parks only the calling green thread."""
    return waitpid(-1, 0)


def _polling(call: object, *args: int) -> tuple:
    delay = _FIRST_DELAY
    while True:
        result = call(*args)  # type: ignore[operator]
        if result[0] != 0:
            return result  # type: ignore[no-any-return]
        sleep(delay)
        delay = min(delay * 2, _LONGEST_DELAY)


def wait3(options: int) -> tuple[int, int, object]:
    """`os.wait3` that parks only the calling green thread."""
    assert _real_wait3 is not None
    if options & WNOHANG or _blocking_inside_hub():
        return _real_wait3(options)  # type: ignore[no-any-return]
    return _polling(_real_wait3, options | WNOHANG)  # type: ignore[return-value]


def wait4(pid: int, options: int) -> tuple[int, int, object]:
    """`os.wait4` that parks only the calling green thread."""
    assert _real_wait4 is not None
    if options & WNOHANG or _blocking_inside_hub():
        return _real_wait4(pid, options)  # type: ignore[no-any-return]
    return _polling(_real_wait4, pid, options | WNOHANG)  # type: ignore[return-value]
