"""Green replacement of the stdlib `os` module: `read` and `write` that park only the caller, and
`close`/`closerange` that tell the hub first.

Why it looks like this
----------------------
`os.read` and `os.write` get fds of every kind: pipes and terminals (which may block), regular
files (which the kernel always reports ready, and which epoll refuses to watch), and fds in
blocking as well as non-blocking mode. Changing an fd to non-blocking mode is not an option: the
mode belongs to the open file description, shared with other processes (a child's end of a
pipe). So every call first asks ``poll`` with a zero timeout whether the fd is ready:

* ready: the call cannot block for long -- regular files are always ready, a readable pipe has
  data. `write` of more than ``PIPE_BUF`` bytes to a *blocking* pipe or socket could still wait
  for the reader to drain it all, so such a write is cut to ``PIPE_BUF`` bytes (a short write,
  which `os.write` callers must handle anyway);
* not ready: park on ``hub.wait_readable``/``wait_writable`` and ask again.

An fd the caller made non-blocking (``O_NONBLOCK``) is never waited for: the caller asked for
`BlockingIOError` instead of a wait, and select loops, asyncio's pipe transports and eventfd
semaphores rely on getting it, as they do with the stdlib. Sockets are the exception: green keeps
every socket's fd non-blocking whatever its timeout, so a non-blocking socket fd says nothing
about what the caller wants (multiprocessing reads the fds of its socketpair connections with
`os.read` and expects to wait); reads and writes on socket fds park as on blocking ones. `close` and `closerange` call ``hub.notify_closing`` first, so green threads waiting
on those fds wake with OSError(EBADF) and the fd numbers are reused cleanly.

`waitpid`, `wait`, `wait3` and `wait4` come from ``green._process`` (they park the caller until the
child exits); `fork` and the rest are the stdlib's.
"""

from __future__ import annotations

import stat as _stat
from typing import TYPE_CHECKING, Any

from green._stdlib import original
from green._stdlib import reexport as _reexport
from green.hubs import existing_hub as _existing_hub
from green.hubs import get_hub

_os = original("os")
_fcntl = original("fcntl")
_select = original("select")

__green__ = "os"
__implements__ = ["read", "write", "close", "closerange", "waitpid", "wait", "wait3", "wait4"]
__removes__: list[str] = []

_reexport(globals(), _os, __implements__, __removes__)
__all__ = list(_os.__all__)  # the stdlib's: everything above, and the names defined below

if TYPE_CHECKING:
    # The names copied from the stdlib module above are invisible to type checkers.
    def __getattr__(name: str) -> Any: ...


_real_read = _os.read
_real_write = _os.write
_real_close = _os.close
_real_closerange = _os.closerange
_Poll = _select.poll
_POLLIN = _select.POLLIN
_POLLOUT = _select.POLLOUT
# Whatever else poll reports (hang-up, error, invalid fd) means the real call will not block.
_NOT_WAITING = ~(_POLLIN | _POLLOUT) & 0xFFFF
_PIPE_BUF = getattr(_select, "PIPE_BUF", 512)


def _ready(fd: int, events: int) -> bool:
    """Would a read (POLLIN) or write (POLLOUT) on `fd` return at once?"""
    watcher = _Poll()
    try:
        watcher.register(fd, events)
    except (ValueError, TypeError, OverflowError):
        return True  # no fd at all (-1, not an int): the real call raises the stdlib's error
    found = watcher.poll(0)
    return bool(found) and bool(found[0][1] & (events | _NOT_WAITING))


def _cannot_wait(fd: int, access: int) -> bool:
    """True if a call on `fd`, which is not ready, must be made at once instead of waited for:
    the fd is non-blocking and not a socket (the caller wants BlockingIOError; a socket's fd is
    non-blocking because green keeps every socket so, whatever its timeout), or it was not opened for `access`
    (O_WRONLY for writes, O_RDONLY for reads; the call fails at once in the kernel with EBADF,
    the readiness would never come)."""
    flags = _fcntl.fcntl(fd, _fcntl.F_GETFL)
    if flags & _os.O_NONBLOCK and not _stat.S_ISSOCK(_os.fstat(fd).st_mode):
        return True
    mode = flags & _os.O_ACCMODE
    return mode != _os.O_RDWR and mode != access


def read(fd: int, length: int) -> bytes:
    """Read at most `length` bytes from `fd`, parking only the calling green thread until data
    (or end of file) is there. Raises what `os.read` raises (BlockingIOError for a non-blocking
    fd with nothing to read); OSError(EBADF) if the fd is closed with `close` while waiting."""
    while True:
        if _ready(fd, _POLLIN) or _cannot_wait(fd, _os.O_RDONLY):
            return _real_read(fd, length)
        get_hub().wait_readable(fd)


def write(fd: int, data: Any) -> int:
    """Write bytes to `fd`, parking only the calling green thread until it can take some.
    Returns the number written, which may be less than ``len(data)`` (see the module notes).
    A non-blocking fd that cannot take any raises BlockingIOError, as `os.write` does."""
    while True:
        if _ready(fd, _POLLOUT):
            if len(data) > _PIPE_BUF and _os.get_blocking(fd) and not _is_file(fd):
                with memoryview(data) as view, view.cast("B") as octets:
                    return _real_write(fd, octets[:_PIPE_BUF])
            return _real_write(fd, data)
        if _cannot_wait(fd, _os.O_WRONLY):
            return _real_write(fd, data)
        get_hub().wait_writable(fd)


def _is_file(fd: int) -> bool:
    """Regular files and block devices: writes to them never wait for a reader."""
    mode = _os.fstat(fd).st_mode
    return _stat.S_ISREG(mode) or _stat.S_ISBLK(mode)


def close(fd: int) -> None:
    """Close `fd`; green threads waiting on it first wake with OSError(EBADF)."""
    hub = _existing_hub()
    if hub is not None:
        hub.notify_closing(fd)
    _real_close(fd)


def closerange(fd_low: int, fd_high: int) -> None:
    """Close every fd from `fd_low` up to (not including) `fd_high`, ignoring errors; the hub
    forgets them first."""
    hub = _existing_hub()
    if hub is not None:
        # The hub's fd table is small; the range may be huge (closerange(3, 65536)).
        for fd in [fd for fd in hub.fds() if fd_low <= fd < fd_high]:
            hub.notify_closing(fd)
    _real_closerange(fd_low, fd_high)


from green._process import wait, wait3, wait4, waitpid  # noqa: E402, F401  (after the stdlib names)
