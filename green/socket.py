"""Green replacement of the stdlib `socket` module.

Why it looks like this
----------------------
A green `socket` wraps a real stdlib socket (``self._sock``) that is *always* in non-blocking
mode in the kernel. The timeout the user asked for (None, 0.0 or a positive number) lives only in
the green object. Every blocking method follows the same three steps:

1. make the real non-blocking call; if it succeeds (the common case on a busy server) the hub is
   never involved;
2. on `BlockingIOError`, re-raise it if the user asked for a non-blocking socket (timeout 0.0)
   or call (``MSG_DONTWAIT`` in the flags), otherwise park on ``hub.wait_readable``/``wait_writable`` with the time that is left;
3. after any wake-up (which may be spurious) retry the real call; when the time is up raise
   ``TimeoutError("timed out")``, which is `socket.timeout`.

The hot methods (`recv`, `recv_into`, `send`, `sendall`, `accept`) do step 1 inline and only call
the shared slow path `_retry` when they would block; the others share one generic body, `_blocking_call`,
which costs one Python call more per operation. The wait of step 2 is ``green.hubs.wait_until``,
the one helper every green module waits for an fd with. One timeout covers a whole `sendall`, as in
the stdlib since 3.5.

The hub keeps an fd registered with the kernel between waits, so an fd must be forgotten by the
hub *before* it is closed: `close`, `detach` and the finaliser call ``hub.notify_closing(fd)``.
That also wakes green threads parked on the socket with ``OSError(EBADF)`` at once, and keeps a
recycled fd number from inheriting a stale registration.

Host names in addresses given to `connect`, `connect_ex` and `sendto` are resolved with the green
`getaddrinfo` first; the stdlib would resolve them with a blocking C call. The five name
functions come from ``green.resolver`` (DNS on dnspython, a dependency), loaded on first use.

`makefile` returns the stdlib's buffered objects over a stdlib `SocketIO` of the *green*
socket, with the stdlib's reference counting (`_io_refs`/`_closed`), so http.client, ftplib and
smtplib work unchanged.
"""

from __future__ import annotations

import builtins as _builtins
import errno as _errno
import io as _io
import operator as _operator
import os as _os
import stat as _stat
import sys as _sys
import warnings as _warnings
import weakref as _weakref
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from green._compiled import core as _core
from green._stdlib import original
from green._stdlib import reexport as _reexport
from green.hubs import deadline_after as _deadline_after
from green.hubs import existing_hub as _existing_hub
from green.hubs import forget_idle_registration as _forget_idle_registration
from green.hubs import get_hub as _get_hub
from green.hubs import idle_registration as _idle_registration
from green.hubs import wait_until as _wait_until
from green.hubs.hub import notify_closing_elsewhere as _notify_closing_elsewhere

_stdsocket = original("socket")
_RealSocket = _stdsocket.socket

__green__ = "socket"
__implements__ = [
    "socket",
    "SocketType",
    "create_connection",
    "create_server",
    "socketpair",
    "fromfd",
    "getaddrinfo",
    "gethostbyname",
    "gethostbyname_ex",
    "gethostbyaddr",
    "getnameinfo",
]
__removes__: list[str] = []

# Re-export everything the stdlib module has (constants, exceptions, helpers) except what we replace.
_reexport(globals(), _stdsocket, __implements__, __removes__)

if TYPE_CHECKING:
    # The names copied from the stdlib module above are invisible to type checkers.
    def __getattr__(name: str) -> Any: ...


__all__ = [name for name in getattr(_stdsocket, "__all__", ()) if name not in __removes__]

_AF_INET = _stdsocket.AF_INET
_AF_INET6 = getattr(_stdsocket, "AF_INET6", None)
_SOL_SOCKET = _stdsocket.SOL_SOCKET
_SO_ERROR = _stdsocket.SO_ERROR
_inet_pton = _stdsocket.inet_pton
_SocketIO = _stdsocket.SocketIO
# A plain int: `flags & MsgFlag.MSG_DONTWAIT` runs enum.Flag's Python-level __rand__ (about
# 50 times the cost of an int `&`), and every blocking recv and send that waits asks it.
_MSG_DONTWAIT = int(getattr(_stdsocket, "MSG_DONTWAIT", 0))
_GiveupOnSendfile = _stdsocket._GiveupOnSendfile


def _no_refcount(value: Any) -> int:
    return 0


_getrefcount: Callable[[Any], int] = getattr(_sys, "getrefcount", _no_refcount)


_INHERIT: Any = object()


def _timed_out() -> TimeoutError:
    return TimeoutError("timed out")


def _check_timeout(value: Any) -> float | None:
    """Validate a timeout the way `socket.settimeout` does (same errors, same messages)."""
    if value is None:
        return None
    seconds = value if isinstance(value, float) else float(_operator.index(value))
    if seconds != seconds:
        raise ValueError("Invalid value NaN (not a number)")
    if seconds < 0.0:
        raise ValueError("Timeout value out of range")
    return seconds


_Socket = TypeVar("_Socket", bound="socket")


class socket:
    """A cooperative socket: the stdlib `socket.socket` API, blocking only the calling green thread.

    Created like the stdlib socket (``socket(family, type, proto, fileno)``); the default timeout
    is `getdefaulttimeout()`. Timeouts raise ``TimeoutError("timed out")``; a socket closed by
    another green thread while this one waits raises ``OSError(EBADF)``; two green threads
    waiting to read (or to write) the same socket at once raise RuntimeError naming the fd.
    Differences from the stdlib: the kernel socket is always non-blocking (``_sock`` is the real
    stdlib socket object), and host names are resolved cooperatively.
    """

    # `_fd` remembers the fd number for `__del__`: in a garbage cycle the real socket may be
    # finalized (closed) first, and then no longer knows it.
    __slots__ = ("_sock", "_timeout", "_io_refs", "_closed", "_expect_wait", "_fd", "__weakref__")

    _sock: Any
    _timeout: float | None

    # errno values that `recv` and `recv_into` report as the end of the stream (b"" / 0) instead
    # of raising. None here: green raises them as the stdlib does (ConnectionResetError after a
    # reset). A subclass may name some: eventlet's GreenSocket (the alias) reads a reset as EOF,
    # as eventlet did. Consulted only on the error path, never when a call succeeds.
    _end_of_stream_errnos: frozenset[int] = frozenset()

    # 1: the compiled recv, recv_into, send and sendall (green/_core.c) serve this class; 0: a
    # subclass that redefines the state they read or the wait they flatten, served by the Python
    # methods. Set for every subclass.
    _compiled_path = 1

    def __init_subclass__(cls, **keywords: Any) -> None:
        super().__init_subclass__(**keywords)
        cls._compiled_path = int(
            all(
                getattr(cls, name) is socket.__dict__[name]
                for name in ("_sock", "_timeout", "_expect_wait", "_retry")
            )
        )

    def __init__(self, family: int = -1, type: int = -1, proto: int = -1, fileno: int | None = None) -> None:
        # -1 means what it means to the stdlib: AF_INET/SOCK_STREAM/0, or read from `fileno`.
        sock = _RealSocket(family, type, proto, fileno)
        # The stdlib's own choice: 0.0 for a SOCK_NONBLOCK type, else getdefaulttimeout().
        self._timeout = sock.gettimeout()
        sock.setblocking(False)
        self._sock = sock
        self._fd = sock.fileno()
        self._io_refs = 0
        self._closed = False
        self._expect_wait = False

    @classmethod
    def _from_real(cls, sock: Any, timeout: Any = _INHERIT, make_nonblocking: bool = True) -> socket:
        """Wrap an existing stdlib socket object (made non-blocking) without duplicating its fd.

        The green socket takes its timeout from `sock` unless `timeout` is given.
        `make_nonblocking` False: the caller says `sock` is in non-blocking mode already.
        """
        self = cls.__new__(cls)
        self._timeout = sock.gettimeout() if timeout is _INHERIT else _check_timeout(timeout)
        if make_nonblocking:
            sock.setblocking(False)
        self._sock = sock
        self._fd = sock.fileno()
        self._io_refs = 0
        self._closed = False
        self._expect_wait = False
        return self

    # -- attributes ---------------------------------------------------------------------------

    @property
    def family(self) -> Any:
        """The address family (an AddressFamily member)."""
        return self._sock.family

    @property
    def type(self) -> Any:
        """The socket type (a SocketKind member; never shows SOCK_NONBLOCK)."""
        return self._sock.type

    @property
    def proto(self) -> int:
        """The protocol number."""
        return self._sock.proto

    @property
    def timeout(self) -> float | None:
        """The timeout in seconds (None: blocking), as `gettimeout()`."""
        return self._timeout

    def fileno(self) -> int:
        """The file descriptor, or -1 once closed."""
        return self._sock.fileno()

    def __repr__(self) -> str:
        inner = repr(self._sock)
        _, _, rest = inner.partition(" ")
        return f"<{type(self).__module__}.{type(self).__qualname__} {rest}"

    def __getstate__(self) -> Any:
        raise TypeError(f"cannot pickle {type(self).__name__!r} object")

    def __enter__(self: _Socket) -> _Socket:
        return self

    def __exit__(self, *args: Any) -> None:
        if not self._closed:
            self.close()

    # -- calls that never wait: the real socket's (defined here so that the class has them) ----

    def bind(self, address: Any) -> None:
        """Bind to `address` (the stdlib's `bind`; host names resolve with a blocking call)."""
        self._sock.bind(address)

    def listen(self, *backlog: int) -> None:
        """Accept connections, with an optional backlog (the stdlib's `listen`)."""
        self._sock.listen(*backlog)

    def getsockname(self) -> Any:
        """The socket's own address."""
        return self._sock.getsockname()

    def getpeername(self) -> Any:
        """The connected peer's address; OSError(ENOTCONN) when not connected."""
        return self._sock.getpeername()

    def getsockopt(self, *args: Any) -> Any:
        """``getsockopt(level, option[, buffersize])``, as the stdlib."""
        return self._sock.getsockopt(*args)

    def setsockopt(self, *args: Any) -> None:
        """``setsockopt(level, option, value)`` or ``(level, option, None, optlen)``, as the stdlib."""
        self._sock.setsockopt(*args)

    def get_inheritable(self) -> bool:
        """Whether child processes inherit the fd."""
        return self._sock.get_inheritable()  # type: ignore[no-any-return]

    def set_inheritable(self, inheritable: bool) -> None:
        """Let child processes inherit the fd (or not)."""
        self._sock.set_inheritable(inheritable)

    # -- timeouts -----------------------------------------------------------------------------

    def settimeout(self, value: float | None) -> None:
        """None: block; 0.0: non-blocking (raise BlockingIOError); > 0: raise TimeoutError after
        that many seconds. Raises ValueError for a negative value, TypeError for a non-number,
        OSError(EBADF) for a closed socket or a bad fd (as the stdlib, which touches the fd)."""
        timeout = _check_timeout(value)
        # Keeps the kernel socket non-blocking, and fails on a bad fd the way the stdlib does.
        self._sock.setblocking(False)
        self._timeout = timeout

    def gettimeout(self) -> float | None:
        """The timeout set by `settimeout` (None, 0.0 or seconds)."""
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        """``setblocking(True)`` is ``settimeout(None)``; ``setblocking(False)`` is ``settimeout(0.0)``.
        Raises OSError(EBADF) for a closed socket or a bad fd."""
        self._sock.setblocking(False)
        self._timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        """False if the timeout is 0.0, True otherwise (as the stdlib)."""
        return self._timeout != 0.0

    # -- the shared slow path -----------------------------------------------------------------

    def _blocking_call(self, method: Callable[..., Any], args: tuple, writing: bool, flags: int = 0) -> Any:
        """The whole try, wait, retry of one real call: the body of every blocking method but
        the hot ones, which inline its first step (see the module docstring)."""
        try:
            return method(*args)
        except BlockingIOError:
            if self._timeout == 0.0 or flags & _MSG_DONTWAIT:
                raise
        return self._retry(method, args, writing)

    def _retry(self, method: Callable[..., Any], args: tuple, writing: bool) -> Any:
        """Wait until the socket may be ready, then call ``method(*args)`` again, until it does
        not raise BlockingIOError or the timeout passes (TimeoutError)."""
        if self._timeout is None:
            # No timeout (a server's connections, most clients): park on the hub directly,
            # `_wait` and `wait_until` flattened into this loop. Three Python calls less per
            # wait: 95,600 instead of 100,800 instructions per round trip of 64 bytes between
            # two green threads over a socketpair (valgrind --tool=callgrind, see the issue-13
            # closing note).
            hub = _get_hub()
            wait = hub.wait_writable if writing else hub.wait_readable
            fd = self._sock.fileno()
            while True:
                wait(fd)
                try:
                    return method(*args)
                except BlockingIOError:
                    pass
        deadline = _deadline_after(self._timeout)
        while True:
            self._wait(writing, deadline)
            try:
                return method(*args)
            except BlockingIOError:
                pass

    def _wait(self, writing: bool, deadline: float | None) -> None:
        """Park until the socket may be ready; TimeoutError once `deadline` has passed."""
        if not _wait_until(self._sock.fileno(), writing, deadline):
            raise _timed_out()

    # -- receiving ----------------------------------------------------------------------------

    # recv, recv_into, send, sendall and accept stay inline, not on `_blocking_call`: measured with
    # `python benchmarks/bench_echo.py --servers green --duration 2 --rounds 3`, three runs each
    # (2 CPUs shared with other work), the server spent a median 18.2 us of CPU per round trip
    # with 100 connections (18.8 with 1,000) inline, against 22.7 (23.3) with the five methods
    # on `_blocking_call` -- recv then also loses its wait-first hint, part of the difference.
    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Receive up to `bufsize` bytes (b"" at end of stream); waits cooperatively."""
        if not self._expect_wait or self._timeout == 0.0 or flags:
            try:
                return self._sock.recv(bufsize, flags)
            except BlockingIOError:
                if self._timeout == 0.0 or flags & _MSG_DONTWAIT:
                    raise
            except OSError as error:
                if error.errno in self._end_of_stream_errnos:
                    return b""
                raise
        # The last read had to wait and returned less than asked (a request/response peer):
        # wait first instead of paying for a recv that fails with EAGAIN.
        try:
            data = self._retry(self._sock.recv, (bufsize, flags), False)
        except OSError as error:
            if error.errno in self._end_of_stream_errnos:
                return b""
            raise
        self._expect_wait = len(data) < bufsize
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """Receive into `buffer`; returns the number of bytes received; waits cooperatively."""
        try:
            return self._sock.recv_into(buffer, nbytes, flags)
        except BlockingIOError:
            if self._timeout == 0.0 or flags & _MSG_DONTWAIT:
                raise
        except OSError as error:
            if error.errno in self._end_of_stream_errnos:
                return 0
            raise
        try:
            return self._retry(self._sock.recv_into, (buffer, nbytes, flags), False)
        except OSError as error:
            if error.errno in self._end_of_stream_errnos:
                return 0
            raise

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        """Receive a datagram (or bytes) and the sender's address; waits cooperatively."""
        return self._blocking_call(self._sock.recvfrom, (bufsize, flags), False, flags)  # type: ignore[no-any-return]

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> tuple[int, Any]:
        """Like `recvfrom`, into `buffer`; returns (count, address)."""
        return self._blocking_call(self._sock.recvfrom_into, (buffer, nbytes, flags), False, flags)  # type: ignore[no-any-return]

    def recvmsg(self, bufsize: int, ancbufsize: int = 0, flags: int = 0) -> tuple[bytes, list, int, Any]:
        """Receive data and ancillary data (stdlib `recvmsg`); waits cooperatively."""
        return self._blocking_call(self._sock.recvmsg, (bufsize, ancbufsize, flags), False, flags)  # type: ignore[no-any-return]

    def recvmsg_into(self, buffers: Any, ancbufsize: int = 0, flags: int = 0) -> tuple[int, list, int, Any]:
        """Like `recvmsg`, scattering the data into `buffers`."""
        return self._blocking_call(self._sock.recvmsg_into, (buffers, ancbufsize, flags), False, flags)  # type: ignore[no-any-return]

    # -- sending ------------------------------------------------------------------------------

    def send(self, data: Any, flags: int = 0) -> int:
        """Send some of `data`; returns the number of bytes sent; waits cooperatively."""
        try:
            return self._sock.send(data, flags)
        except BlockingIOError:
            if self._timeout == 0.0 or flags & _MSG_DONTWAIT:
                raise
        return self._retry(self._sock.send, (data, flags), True)

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Send all of `data`, across partial writes. One timeout covers the whole call; on
        TimeoutError an unknown part of the data has been sent (as in the stdlib)."""
        if type(data) is bytes:
            try:
                sent = self._sock.send(data, flags)
            except BlockingIOError:
                if self._timeout == 0.0 or flags & _MSG_DONTWAIT:
                    raise
                sent = 0
            if sent == len(data):
                return None
        else:
            sent = 0
        self._sendall_rest(data, flags, sent)
        return None

    def _sendall_rest(self, data: Any, flags: int, sent: int) -> None:
        timeout = self._timeout
        deadline = _deadline_after(timeout)
        send = self._sock.send
        with memoryview(data) as view, view.cast("B") as octets:
            total = len(octets)
            while sent < total:
                try:
                    sent += send(octets[sent:], flags)
                    continue
                except BlockingIOError:
                    if timeout == 0.0 or flags & _MSG_DONTWAIT:
                        raise
                self._wait(True, deadline)

    def sendto(self, data: Any, *flags_and_address: Any) -> int:
        """Send a datagram to `address` (``sendto(data, address)`` or ``sendto(data, flags,
        address)``); host names are resolved cooperatively. Bad arguments raise the stdlib's
        TypeError (an address of None is refused, never taken for "no address")."""
        flags: Any = 0
        if len(flags_and_address) == 1:
            args: tuple = (data, self._resolve(flags_and_address[0]))
        elif len(flags_and_address) == 2:
            flags = flags_and_address[0]
            args = (data, flags, self._resolve(flags_and_address[1]))
        else:
            args = (data, *flags_and_address)  # the real call raises the stdlib's TypeError
        return self._blocking_call(self._sock.sendto, args, True, flags)  # type: ignore[no-any-return]

    def sendmsg(self, buffers: Any, ancdata: Any = (), flags: int = 0, address: Any = None) -> int:
        """Send data and ancillary data (stdlib `sendmsg`); waits cooperatively."""
        args: tuple = (buffers, ancdata, flags) if address is None else (buffers, ancdata, flags, address)
        return self._blocking_call(self._sock.sendmsg, args, True, flags)  # type: ignore[no-any-return]

    if hasattr(_RealSocket, "sendmsg_afalg"):

        def sendmsg_afalg(self, *args: Any, **keywords: Any) -> int:
            """The stdlib's `sendmsg_afalg` (AF_ALG sockets, Linux), waiting cooperatively."""
            method = self._sock.sendmsg_afalg
            return self._blocking_call(  # type: ignore[no-any-return]
                lambda: method(*args, **keywords), (), True, keywords.get("flags", 0)
            )

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """Send a file opened in binary mode; returns the number of bytes sent.

        Uses os.sendfile on regular files (waiting cooperatively when the socket is full) and a
        read/send loop otherwise. As the stdlib, advances the file position by what was sent
        and raises ValueError on a non-blocking socket (timeout 0.0).
        """
        if hasattr(_os, "sendfile"):
            try:
                return self._sendfile_use_sendfile(file, offset, count)
            except _GiveupOnSendfile:
                pass
        return self._sendfile_use_send(file, offset, count)

    def _check_sendfile_params(self, file: Any, offset: int, count: int | None) -> None:
        if "b" not in getattr(file, "mode", "b"):
            raise ValueError("file should be opened in binary mode")
        if self.type != _stdsocket.SOCK_STREAM:
            raise ValueError("only SOCK_STREAM type sockets are supported")
        if count is not None:
            if not isinstance(count, int):
                raise TypeError(f"count must be a positive integer (got {count!r})")
            if count <= 0:
                raise ValueError(f"count must be a positive integer (got {count!r})")
        if self._timeout == 0.0:
            raise ValueError("non-blocking sockets are not supported")

    # The two halves of `sendfile` keep the stdlib's private names and contract (callers and
    # CPython's tests use them): the zero-copy half raises _GiveupOnSendfile when os.sendfile
    # cannot be used for `file`.

    # Mirrors CPython 3.13 Lib/socket.py socket._sendfile_use_sendfile and _sendfile_use_send,
    # with 3.13's fix (the last block is never larger than what is left of `count`); otherwise
    # the same in 3.10-3.12.
    def _sendfile_use_sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        self._check_sendfile_params(file, offset, count)
        if not hasattr(_os, "sendfile"):
            raise _GiveupOnSendfile("os.sendfile() not available on this platform")
        return self._sendfile_zero_copy(file, offset, count)

    def _sendfile_use_send(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        self._check_sendfile_params(file, offset, count)
        return self._sendfile_loop(file, offset, count)

    def _sendfile_zero_copy(self, file: Any, offset: int, count: int | None) -> int:
        try:
            source = file.fileno()
        except (AttributeError, _io.UnsupportedOperation) as error:
            raise _GiveupOnSendfile() from error
        try:
            status = _os.fstat(source)
        except OSError as error:
            raise _GiveupOnSendfile() from error
        if not _stat.S_ISREG(status.st_mode):
            raise _GiveupOnSendfile()
        size = status.st_size
        if not size:
            return 0
        limit = min(count, size) if count else size
        chunk = min(limit, 0x40000000)
        timeout = self._timeout
        deadline = _deadline_after(timeout)
        target = self._sock.fileno()
        total = 0
        try:
            while True:
                if count:
                    chunk = min(count - total, chunk)
                    if chunk <= 0:
                        break
                try:
                    sent = _os.sendfile(target, source, offset, chunk)
                except BlockingIOError:
                    self._wait(True, deadline)
                    continue
                except OSError as error:
                    if total == 0 and error.errno in (_errno.ENOTSOCK, _errno.EINVAL):
                        raise _GiveupOnSendfile() from error
                    raise
                if sent == 0:
                    break
                offset += sent
                total += sent
        finally:
            if total > 0 and hasattr(file, "seek"):
                file.seek(offset)
        return total

    def _sendfile_loop(self, file: Any, offset: int, count: int | None) -> int:
        if offset:
            file.seek(offset)
        chunk_size = min(count, 8192) if count else 8192
        total = 0
        try:
            while True:
                if count:
                    chunk_size = min(count - total, chunk_size)
                    if chunk_size <= 0:
                        break
                data = memoryview(file.read(chunk_size))
                if not data:
                    break
                while data:
                    sent = self.send(data)
                    total += sent
                    data = data[sent:]
        finally:
            if total > 0 and hasattr(file, "seek"):
                file.seek(offset + total)
        return total

    # -- connecting ---------------------------------------------------------------------------

    def _resolve(self, address: Any) -> Any:
        """Resolve the host of an IP address tuple with the green getaddrinfo (numeric hosts and
        other families pass through unchanged)."""
        if type(address) is not tuple or len(address) < 2:
            return address
        family = self._sock.family
        if family != _AF_INET and family != _AF_INET6:
            return address
        host = address[0]
        if not isinstance(host, str) or host in ("", "<broadcast>"):
            return address
        try:
            _inet_pton(family, host)
            return address
        except (OSError, ValueError):
            pass
        infos = getaddrinfo(host, address[1], family, self._sock.type, self._sock.proto)
        if not infos:
            raise _stdsocket.gaierror(_stdsocket.EAI_NONAME, "Name or service not known")
        resolved = infos[0][4]
        if family == _AF_INET6 and len(address) > 2:
            return (resolved[0], resolved[1], *address[2:])
        return resolved

    def connect(self, address: Any) -> None:
        """Connect to `address`; waits cooperatively. Raises what the stdlib raises
        (ConnectionRefusedError, FileNotFoundError for a missing AF_UNIX path, ...) and
        TimeoutError("timed out") when the timeout passes first."""
        address = self._resolve(address)
        try:
            self._sock.connect(address)
            return
        except BlockingIOError as error:
            if self._timeout == 0.0:
                raise
            in_progress = error.errno == _errno.EINPROGRESS
        self._finish_connect(address, in_progress)

    def _finish_connect(self, address: Any, in_progress: bool) -> None:
        if not in_progress:
            # EAGAIN (an AF_UNIX listener's backlog is full): nothing is in progress; retry.
            self._retry(self._sock.connect, (address,), True)
            return
        timeout = self._timeout
        deadline = _deadline_after(timeout)
        self._wait(True, deadline)
        error = self._sock.getsockopt(_SOL_SOCKET, _SO_ERROR)
        if error:
            raise OSError(error, _os.strerror(error))

    def connect_ex(self, address: Any) -> int:
        """Like `connect`, returning an errno (0 on success) instead of raising OSError.

        A timeout gives EWOULDBLOCK, as in the stdlib."""
        address = self._resolve(address)
        try:
            self._sock.connect(address)
            return 0
        except BlockingIOError as error:
            if self._timeout == 0.0:
                return error.errno or _errno.EINPROGRESS
            in_progress = error.errno == _errno.EINPROGRESS
        except OSError as error:
            if error.errno is None:
                raise
            return error.errno
        try:
            self._finish_connect(address, in_progress)
        except TimeoutError:
            return _errno.EWOULDBLOCK
        except OSError as error:
            if error.errno is None:
                raise
            return error.errno
        return 0

    def accept(self) -> tuple[socket, Any]:
        """Wait cooperatively for a connection; returns (green socket, address). The new socket
        has the default timeout (`getdefaulttimeout()`), as in the stdlib."""
        fd, address = self._accept()
        sock = self._sock
        return type(self)(sock.family, sock.type, sock.proto, fd), address

    def _accept(self) -> tuple[int, Any]:
        """The stdlib's low-level accept: (new fd, address), waiting cooperatively."""
        try:
            return self._sock._accept()  # type: ignore[no-any-return]
        except BlockingIOError:
            if self._timeout == 0.0:
                raise
        return self._retry(self._sock._accept, (), False)  # type: ignore[no-any-return]

    # -- lifetime -----------------------------------------------------------------------------

    # Mirrors CPython 3.13 Lib/socket.py socket.makefile (the same in 3.10-3.12).
    def makefile(
        self,
        mode: str = "r",
        buffering: int | None = None,
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> Any:
        """A file object over the socket (the stdlib's `SocketIO` and buffered classes, reading
        and writing through this green socket). Only modes made of "r", "w" and "b"."""
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
        writing = "w" in mode
        reading = "r" in mode or not writing
        binary = "b" in mode
        raw = _SocketIO(self, ("r" if reading else "") + ("w" if writing else ""))
        self._io_refs += 1
        if buffering is None or buffering < 0:
            buffering = _io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if not binary:
                raise ValueError("unbuffered streams must be binary")
            return raw
        buffer: Any
        if reading and writing:
            buffer = _io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffer = _io.BufferedReader(raw, buffering)
        else:
            buffer = _io.BufferedWriter(raw, buffering)
        if binary:
            return buffer
        text = _io.TextIOWrapper(buffer, _io.text_encoding(encoding), errors, newline)  # type: ignore[attr-defined]
        text.mode = mode  # type: ignore[misc]
        return text

    def _decref_socketios(self) -> None:
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed:
            self.close()

    def close(self) -> None:
        """Close the socket once no file from `makefile` still uses it. Green threads waiting on
        it wake with OSError(EBADF). Closing twice is harmless."""
        self._closed = True
        if self._io_refs <= 0:
            self._real_close()

    def _real_close(self) -> None:
        sock = self._sock
        fd = sock.fileno()
        if fd >= 0:
            hub = _existing_hub()
            if hub is not None:
                hub.notify_closing(fd)
            else:  # a plain OS thread: waiters in other OS threads' hubs must still wake
                _notify_closing_elsewhere(fd)
        sock.close()

    def detach(self) -> int:
        """Hand the fd over to the caller without closing it (waiters wake with EBADF); the
        socket object is closed afterwards."""
        fd = self._sock.fileno()
        if fd >= 0:
            hub = _existing_hub()
            if hub is not None:
                hub.notify_closing(fd)
            else:  # a plain OS thread: waiters in other OS threads' hubs must still wake
                _notify_closing_elsewhere(fd)
        self._closed = True
        return self._sock.detach()

    def dup(self) -> socket:
        """A new green socket on a duplicate fd, with the same timeout."""
        sock = self._sock
        duplicate = type(self)(sock.family, sock.type, sock.proto, _os.dup(sock.fileno()))
        duplicate._timeout = self._timeout
        return duplicate

    def shutdown(self, how: int) -> None:
        """Shut down reading (SHUT_RD), writing (SHUT_WR) or both; the peer reads b"" after SHUT_WR."""
        self._sock.shutdown(how)

    def __del__(self) -> None:
        # A socket dropped without close(): make the hub forget the fd, so the recycled fd
        # number starts clean, then warn and close as the stdlib does -- the ResourceWarning
        # names this green socket, the object the program dropped. Not when something else
        # still holds the real socket (another green socket over it): it stays open, and the
        # hub forgets the fd when the real socket goes (`_forget_when_freed`).
        try:
            sock = self._sock
            fd = sock.fileno()
            if fd < 0:
                if not self._closed:
                    # Closed behind our back: in a garbage cycle the real socket's own finaliser
                    # can run first. Its registration must not outlive it.
                    _forget_idle_fd(self._fd)
                return
            if _getrefcount(sock) > 3:  # our slot, `sock`, the call's argument
                _forget_when_freed(sock, fd)
                return
            hub = _existing_hub()
            if hub is not None:
                hub.notify_closing(fd)
            else:  # a plain OS thread: waiters in other OS threads' hubs must still wake
                _notify_closing_elsewhere(fd)
            message = f"unclosed {self!r}"
        except Exception:  # a half-built object, or the interpreter shutting down
            return
        try:
            # An error here (warnings turned into errors) is reported as unraisable, as the
            # stdlib's finaliser does.
            _warnings.warn(message, ResourceWarning, stacklevel=1, source=self)
        finally:
            sock.close()


def _forwarder(name: str, attribute: Any) -> Any:
    if callable(attribute):

        def forward(self: socket, *args: Any, **kwargs: Any) -> Any:
            return getattr(self._sock, name)(*args, **kwargs)

        forward.__name__ = forward.__qualname__ = name
        forward.__doc__ = getattr(attribute, "__doc__", None)
        return forward
    return property(lambda self: getattr(self._sock, name), doc=getattr(attribute, "__doc__", None))


def _forward_the_rest(cls: type) -> None:
    """Give `cls` a forwarder to the real socket for every name the stdlib socket has on this
    platform and version (ioctl, share, a method a newer CPython adds) that the class above does
    not define. A class-level ``__getattr__`` would do it too, but would make every attribute
    read on every green socket (``self._sock``, ``self._timeout`` in each recv and send) go
    through the slow generic hook instead of the interpreter's specialised slot access."""
    for name in dir(_RealSocket):
        if name.startswith("__") or hasattr(cls, name):
            continue
        setattr(cls, name, _forwarder(name, getattr(_RealSocket, name)))


_forward_the_rest(socket)

if _core is not None:
    # A connection without a timeout, called without flags: the call, the wait on the hub and
    # the call again in C; everything else goes to these Python methods.
    socket._python_recv = socket.recv  # type: ignore[attr-defined]
    socket._python_recv_into = socket.recv_into  # type: ignore[attr-defined]
    socket._python_send = socket.send  # type: ignore[attr-defined]
    socket._python_sendall = socket.sendall  # type: ignore[attr-defined]
    # The stdlib's socket class keeps _socket's recv, send and fileno: the core may make those
    # calls as the system calls themselves.
    _plain = all(
        getattr(_stdsocket.socket, name) is getattr(_stdsocket._socket.socket, name)
        for name in ("recv", "send", "fileno")
    )
    socket.recv, socket.recv_into, socket.send, socket.sendall = _core.methods(  # type: ignore[method-assign]
        "socket", socket, *([_stdsocket.socket] if _plain else [])
    )

SocketType = socket


def _forget_idle_fd(fd: int) -> None:
    """The fd a dropped green socket had was closed without `notify_closing`: make this OS
    thread's hub forget the registration it kept for that number, unless a green thread waits
    on it (then it is not ours to drop: the number may already name a new file)."""
    hub = _existing_hub()
    if hub is not None:
        _forget_idle_registration(hub, fd)


# Weak references to real sockets whose green socket went first (see `_forget_when_freed`).
_freed_watch: set[_weakref.ref] = set()


def _forget_when_freed(sock: Any, fd: int) -> None:
    """The green socket over `sock` is being freed while something still holds `sock`: another
    green socket over the same real socket, or -- when the green socket dies in a reference
    cycle, say with the frames of a killed green thread that waited on it -- those frames, freed
    a moment later. In the second case the real socket is closed without `notify_closing`, and a
    registration the hub kept for `fd` would survive it: the next socket given that fd number
    would then wait for readiness the backend was never asked to report. So when `sock` goes,
    the hub forgets the registration it had for `fd` at this moment -- only if that very record
    is still there (whoever closed the fd properly has already removed it, and a new socket on
    the same number has a new one) and nobody waits on it."""
    hub = _existing_hub()
    if hub is None:
        return
    token = _idle_registration(hub, fd)
    if token is None:
        return

    def forget() -> None:
        _forget_idle_registration(hub, fd, token)

    def freed(reference: _weakref.ref) -> None:
        _freed_watch.discard(reference)
        if _existing_hub() is hub:
            forget()
        else:  # freed by a garbage collection that ran in another OS thread
            hub.call_soon_threadsafe(forget)

    try:
        _freed_watch.add(_weakref.ref(sock, freed))
    except TypeError:  # a real socket type without weak references: nothing to watch
        pass


# -- module functions --------------------------------------------------------------------------


def socketpair(
    family: Any = None, type: int = _stdsocket.SOCK_STREAM, proto: int = 0
) -> tuple[socket, socket]:
    """Two connected green sockets (AF_UNIX by default, as the stdlib)."""
    first, second = _stdsocket.socketpair(family, type, proto)
    return socket._from_real(first), socket._from_real(second)


def fromfd(fd: int, family: int, type: int, proto: int = 0) -> socket:
    """A green socket on a duplicate of `fd` (the original fd stays open)."""
    return socket(family, type, proto, _os.dup(fd))


# Mirrors CPython 3.13 Lib/socket.py create_connection (the same in 3.11 and 3.12; 3.10 lacks
# `all_errors`, which green accepts there too).
def create_connection(
    address: tuple[str, int],
    timeout: Any = _stdsocket._GLOBAL_DEFAULT_TIMEOUT,
    source_address: Any = None,
    *,
    all_errors: bool = False,
) -> socket:
    """Connect a green TCP socket to (host, port), trying each address the host resolves to.

    `timeout` applies to each attempt and stays on the socket; `source_address` is bound first.
    On failure raises the last error, or an ExceptionGroup of all of them with
    ``all_errors=True`` (Python 3.11+).
    """
    host, port = address
    errors: list[BaseException] = []
    for family, kind, proto, _, target in getaddrinfo(host, port, 0, _stdsocket.SOCK_STREAM):
        sock = None
        try:
            sock = socket(family, kind, proto)
            if timeout is not _stdsocket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(target)
            errors.clear()
            return sock
        except OSError as error:
            errors.append(error)
            if sock is not None:
                sock.close()
    if not errors:
        raise OSError("getaddrinfo returns an empty list")
    try:
        if all_errors:
            raise _builtins.ExceptionGroup("create_connection failed", errors)  # type: ignore[attr-defined]
        raise errors[0]
    finally:
        errors = []


# Mirrors CPython 3.13 Lib/socket.py create_server (the same in 3.10-3.12).
def create_server(
    address: Any,
    *,
    family: int = _AF_INET,
    backlog: int | None = None,
    reuse_port: bool = False,
    dualstack_ipv6: bool = False,
) -> socket:
    """A green TCP server socket bound to `address` and listening (stdlib `create_server`)."""
    if reuse_port and not hasattr(_stdsocket, "SO_REUSEPORT"):
        raise ValueError("SO_REUSEPORT not supported on this platform")
    if dualstack_ipv6:
        if not _stdsocket.has_dualstack_ipv6():
            raise ValueError("dualstack_ipv6 not supported on this platform")
        if family != _AF_INET6:
            raise ValueError("dualstack_ipv6 requires AF_INET6 family")
    sock = socket(family, _stdsocket.SOCK_STREAM)
    try:
        if _os.name not in ("nt", "cygwin") and hasattr(_stdsocket, "SO_REUSEADDR"):
            try:
                sock.setsockopt(_SOL_SOCKET, _stdsocket.SO_REUSEADDR, 1)
            except OSError:
                pass
        if reuse_port:
            sock.setsockopt(_SOL_SOCKET, _stdsocket.SO_REUSEPORT, 1)
        if _stdsocket.has_ipv6 and family == _AF_INET6:
            sock.setsockopt(_stdsocket.IPPROTO_IPV6, _stdsocket.IPV6_V6ONLY, 0 if dualstack_ipv6 else 1)
        try:
            sock.bind(address)
        except OSError as error:
            raise OSError(
                error.errno, f"{error.strerror} (while attempting to bind on address {address!r})"
            ) from None
        if backlog is None:
            sock.listen()
        else:
            sock.listen(backlog)
        return sock
    except BaseException:
        sock.close()
        raise


# -- name resolution: green.resolver, imported on first use (dnspython is not light) ----------

_resolver_module: ModuleType | None = None


def _resolver() -> ModuleType:
    global _resolver_module
    if _resolver_module is None:
        import green.resolver as module

        _resolver_module = module
    return _resolver_module


def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> list:
    """Resolve (host, port) into address tuples, cooperatively (stdlib `getaddrinfo`)."""
    return _resolver().getaddrinfo(host, port, family, type, proto, flags)


def gethostbyname(hostname: str) -> str:
    """The IPv4 address of `hostname`, resolved cooperatively."""
    return _resolver().gethostbyname(hostname)


def gethostbyname_ex(hostname: str) -> tuple[str, list[str], list[str]]:
    """(canonical name, aliases, IPv4 addresses) of `hostname`, resolved cooperatively."""
    return _resolver().gethostbyname_ex(hostname)


def gethostbyaddr(ip_address: str) -> tuple[str, list[str], list[str]]:
    """(host name, aliases, addresses) for an address, resolved cooperatively."""
    return _resolver().gethostbyaddr(ip_address)


def getnameinfo(sockaddr: Any, flags: int) -> tuple[str, str]:
    """(host, port) names for a socket address, resolved cooperatively."""
    if not isinstance(sockaddr, tuple):
        # Checked here, like the C function's first check, and without keeping the argument:
        # the traceback must not hold on to the caller's object (frames keep their locals).
        del sockaddr
        raise TypeError("getnameinfo() argument 1 must be a tuple")
    return _resolver().getnameinfo(sockaddr, flags)
