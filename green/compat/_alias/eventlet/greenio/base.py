"""eventlet.greenio.base: GreenSocket, GreenPipe, shutdown_safe."""

from __future__ import annotations

import errno
import io
import os
import socket as _stdlib_socket
from typing import Any

from green.socket import socket as _GreenSocketBase

__all__ = ["SOCKET_CLOSED", "GreenPipe", "GreenSocket", "set_nonblocking", "shutdown_safe"]


def set_nonblocking(fd: Any) -> None:
    """Put `fd` (a socket, a file object or an int) in non-blocking mode."""
    setblocking = getattr(fd, "setblocking", None)
    if setblocking is not None:
        setblocking(False)
    else:
        os.set_blocking(fd if isinstance(fd, int) else fd.fileno(), False)


SOCKET_CLOSED = {errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN, errno.EBADF}


class _GreenSocketType(type):
    """GreenSocket's metaclass: every green socket (class) counts as a GreenSocket for isinstance
    (issubclass), also those that green.socket and the patched stdlib make (under eventlet they
    were one class)."""

    def __instancecheck__(cls, instance: Any) -> bool:
        if cls is GreenSocket:
            return isinstance(instance, _GreenSocketBase)
        return super().__instancecheck__(instance)

    def __subclasscheck__(cls, subclass: Any) -> bool:
        if cls is GreenSocket:
            return issubclass(subclass, _GreenSocketBase)
        return super().__subclasscheck__(subclass)


class GreenSocket(_GreenSocketBase, metaclass=_GreenSocketType):
    """green's socket, constructed and behaving as eventlet's; ``eventlet.green.socket.socket``
    and the sockets of ``eventlet.listen``/``connect`` and their ``accept()``.

    Every method is green.socket.socket's own; three things are eventlet's:

    - ``GreenSocket(family, type, proto)`` or ``GreenSocket(existing_socket)``, which wraps that
      socket (real or green) without duplicating its fd, with its timeout or, if it has none
      (blocking or non-blocking), ``socket.getdefaulttimeout()``. ``set_nonblocking=False``
      says the fd is in non-blocking mode already: it is left as it is (eventlet's contract;
      a blocking fd would then block the whole OS thread).
    - instances have a ``__dict__``: programs (and eventlet's tests) replace methods on one
      socket (``sock.send = ...``). green.socket.socket has ``__slots__``, as the stdlib's.
    - ``recv``/``recv_into`` after the peer reset the connection return ``b""``/0 (the end of
      the stream), where the stdlib and green raise ConnectionResetError: eventlet read
      ECONNRESET, ESHUTDOWN and EPIPE so, and code written for it loops until ``b""``.
    """

    _end_of_stream_errnos = frozenset({errno.ECONNRESET, errno.ESHUTDOWN, errno.EPIPE})

    def __new__(
        cls, family: Any = -1, *args: Any, set_nonblocking: bool = True, **kwargs: Any
    ) -> GreenSocket:
        if isinstance(family, int):
            return super().__new__(cls)
        timeout = family.gettimeout() or _stdlib_socket.getdefaulttimeout()
        real = family._sock if isinstance(family, _GreenSocketBase) else family
        return cls._from_real(real, timeout, set_nonblocking)  # type: ignore[return-value]

    def __init__(self, family: Any = -1, *args: Any, set_nonblocking: bool = True, **kwargs: Any) -> None:
        if isinstance(family, int):
            super().__init__(family, *args, **kwargs)

    @property
    def fd(self) -> Any:
        """The real (non-blocking) socket underneath, as eventlet names it."""
        return self._sock


class _GreenFileIO(io.RawIOBase):
    """A raw file over an fd whose reads and writes go through green.os (they park the caller)."""

    def __init__(self, fd: int, mode: str, closefd: bool = True) -> None:
        super().__init__()
        self._fd = fd
        self._mode = mode
        self._closefd = closefd

    def fileno(self) -> int:
        return self._fd

    def readable(self) -> bool:
        return "r" in self._mode or "+" in self._mode

    def writable(self) -> bool:
        return any(flag in self._mode for flag in "wa+")

    def seekable(self) -> bool:
        try:
            os.lseek(self._fd, 0, os.SEEK_CUR)
        except OSError:
            return False
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self._fd, offset, whence)

    def truncate(self, size: int | None = None) -> int:
        # eventlet's GreenPipe moves the position to the new size (the stdlib's files leave it
        # where it was, past the end after a shrink).
        if size is None:
            size = self.seek(0, os.SEEK_CUR)
        os.ftruncate(self._fd, size)
        self.seek(size)
        return size

    def readinto(self, buffer: Any) -> int:
        from green import os as green_os

        data = green_os.read(self._fd, len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def write(self, data: Any) -> int:
        from green import os as green_os

        return green_os.write(self._fd, data)

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def close(self) -> None:
        if not self.closed:
            super().close()
            if self._closefd:
                from green import os as green_os

                green_os.close(self._fd)


def GreenPipe(
    name: Any,
    mode: str = "r",
    buffering: int = -1,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    closefd: bool = True,
) -> Any:
    """Open a pipe end (an fd, a file object, or a path) as a file whose reads and writes park
    only the calling green thread; the same arguments as `open`. As eventlet's, ``truncate(n)``
    also moves the position to `n`."""
    if isinstance(name, int):
        fd = name
    elif hasattr(name, "fileno"):
        fd = os.dup(name.fileno())
        closefd = True
    else:
        flags = os.O_RDWR if "+" in mode else (os.O_WRONLY if "w" in mode or "a" in mode else os.O_RDONLY)
        if "w" in mode or "a" in mode:
            flags |= os.O_CREAT
        if "w" in mode:
            flags |= os.O_TRUNC
        if "a" in mode:
            flags |= os.O_APPEND
        fd = os.open(name, flags, 0o666)
        closefd = True
    raw = _GreenFileIO(fd, mode.replace("b", "").replace("t", ""), closefd)
    if buffering == 0:
        if "b" not in mode:
            raise ValueError("can't have unbuffered text I/O")
        return raw
    size = io.DEFAULT_BUFFER_SIZE if buffering in (-1, 1) else buffering
    buffered: Any
    if raw.readable() and raw.writable():
        buffered = io.BufferedRandom(raw, size) if raw.seekable() else io.BufferedRWPair(raw, raw, size)
    elif raw.writable():
        buffered = io.BufferedWriter(raw, size)
    else:
        buffered = io.BufferedReader(raw, size)
    if "b" in mode:
        return buffered
    return io.TextIOWrapper(buffered, encoding, errors, newline, line_buffering=buffering == 1)


def shutdown_safe(sock: Any) -> Any:
    """Shut `sock` down in both directions, ignoring the error of an already closed socket."""
    try:
        return sock.shutdown(2)
    except OSError as error:
        if error.errno not in SOCKET_CLOSED:
            raise
        return None
