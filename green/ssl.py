"""Green replacement of the stdlib `ssl` module: TLS over green sockets.

Why it looks like this
----------------------
The stdlib's `ssl.SSLSocket` is a socket subclass that keeps a C-level TLS object (``_sslobj``,
made by ``SSLContext._wrap_socket(sock, ...)``) on top of its own fd. That C object reads the
timeout of the socket it was given on every call: with a timeout of 0.0 it never waits, it makes
one non-blocking ``SSL_read``/``SSL_write``/``SSL_do_handshake``/``SSL_shutdown`` and raises
`SSLWantReadError` or `SSLWantWriteError` when OpenSSL needs the socket to become readable or
writable first.

A green socket's real socket (``_sock``) is always in that state, so green's `SSLSocket` is the
stdlib's layout rebuilt on the green socket: it subclasses `green.socket.socket` and asks the
context for the C TLS object over ``self._sock`` (``_wrap_socket``: private, but it is what
the stdlib's own SSLSocket calls, with the same arguments, since Python 3.7). Every TLS operation then follows the rule of
the whole project -- try, on SSLWant* wait on the hub, retry:

1. make the real non-blocking TLS call; when data is buffered or the kernel is ready (the common
   case) the hub is never involved;
2. on `SSLWantReadError`/`SSLWantWriteError` re-raise it if the user asked for a non-blocking
   socket (timeout 0.0), as the stdlib does; otherwise park on ``hub.wait_readable`` or
   ``wait_writable`` -- the direction OpenSSL named, which is not always the direction of the
   call (a read may need to write during a renegotiation, a write may need to read);
3. retry after every wake-up; when the socket's timeout has passed raise `TimeoutError` with the
   stdlib's message ("The read operation timed out", "The write operation timed out", "The
   handshake operation timed out"; the stdlib prefixes the last with "_ssl.c:NNN: ").

Why not the alternatives:

* Wrapping a real `ssl.SSLSocket` made non-blocking would need a second Python socket object
  per connection, a detach of the green one, and `unwrap()` would hand back the real socket;
  the C object over ``_sock`` needs none of that, and after `unwrap()` the very same object goes
  on as a plain green socket (its inherited methods are the green socket's), which is exactly
  what the stdlib's `unwrap()` returns.
* `SSLObject` over two `MemoryBIO`s would copy every byte once more through Python and
  re-implement the record flushing OpenSSL already does on the fd.

One green thread may read while another writes on the same SSLSocket: they wait on different
directions of the fd. If OpenSSL makes a write wait for input (a TLS 1.2 renegotiation) while
another green thread is already parked reading that socket, the hub refuses the second reader
with RuntimeError rather than letting two green threads wait for one event.

Closing: the inherited `close`/`_real_close` call ``hub.notify_closing(fd)`` before the fd is
closed, so a green thread parked in a TLS read wakes with ``OSError(EBADF)``. Wrapping a socket
detaches it (through the green socket's `detach`, which also tells the hub), like the stdlib.

Contexts: `create_default_context` and the private factories other stdlib modules call
(``_create_default_https_context`` in http.client; ``_create_unverified_context``, alias
``_create_stdlib_context``, in smtplib, ftplib, imaplib, poplib) let the stdlib build and
configure the context -- its version-specific defaults stay the stdlib's -- and then give the
object green's `SSLContext` class (the two classes have the same layout; green's adds only
methods), so its `wrap_socket` returns green sockets.
"""

from __future__ import annotations

import errno as _errno
from typing import TYPE_CHECKING, Any, Callable, cast

import green.socket as _green_socket
from green._stdlib import original
from green._stdlib import reexport as _reexport
from green.hubs import deadline_after as _deadline_after
from green.hubs import wait_until as _wait_until

_stdssl = original("ssl")
_stdsocket = original("socket")
_RealSocket = _stdsocket.socket

__green__ = "ssl"
__implements__ = [
    "SSLContext",
    "SSLSocket",
    "create_default_context",
    "get_server_certificate",
    "_create_default_https_context",
    "_create_unverified_context",
]
if hasattr(_stdssl, "_create_stdlib_context"):
    __implements__.append("_create_stdlib_context")
# The module-level function was removed from the stdlib in Python 3.12; green follows the stdlib.
if hasattr(_stdssl, "wrap_socket"):
    __implements__.append("wrap_socket")
__removes__: list[str] = []

# Re-export everything the stdlib module has (constants, exceptions, SSLObject, MemoryBIO,
# certificate helpers) except what green replaces.
_reexport(globals(), _stdssl, __implements__, __removes__)

if TYPE_CHECKING:
    # The names copied from the stdlib module above are invisible to type checkers.
    def __getattr__(name: str) -> Any: ...


_StdSSLContext: Any = _stdssl.SSLContext
_SSLError = _stdssl.SSLError
_SSLWantReadError = _stdssl.SSLWantReadError
_SSLWantWriteError = _stdssl.SSLWantWriteError
_SSL_ERROR_EOF = _stdssl.SSL_ERROR_EOF
_SOL_SOCKET = _stdsocket.SOL_SOCKET
_SO_TYPE = _stdsocket.SO_TYPE
_SOCK_STREAM = _stdsocket.SOCK_STREAM

_READ_TIMED_OUT = "The read operation timed out"
_WRITE_TIMED_OUT = "The write operation timed out"
_HANDSHAKE_TIMED_OUT = "The handshake operation timed out"


class SSLSocket(_green_socket.socket):
    """A TLS connection over a green socket: the stdlib `ssl.SSLSocket` API, blocking only the
    calling green thread.

    Made by `SSLContext.wrap_socket` (or `accept` on a listening SSLSocket), never directly.
    While TLS is on, `recv`/`recv_into`/`read` return decrypted data, `send`/`sendall`/`write`
    encrypt, and the handshake, `unwrap` and every read and write wait cooperatively: a blocking
    socket (timeout None or > 0) never lets `SSLWantReadError`/`SSLWantWriteError` escape, and
    raises `TimeoutError` with the stdlib's messages when its timeout passes; a non-blocking one
    (timeout 0.0) raises them as the stdlib does. Before the handshake (an unconnected socket)
    and after `unwrap()` it is a plain green socket.

    Differences from the stdlib: it is a subclass of `green.socket.socket` (not of the real
    `socket.socket`), `unwrap()` returns this same object as a plain green socket, and the
    handshake timeout message lacks the stdlib's "_ssl.c:NNN: " prefix.
    """

    __slots__ = (
        "_sslobj",
        "_context",
        "_session",
        "_connected",
        "server_side",
        "server_hostname",
        "do_handshake_on_connect",
        "suppress_ragged_eofs",
    )

    _sslobj: Any
    _context: Any
    _session: Any
    _connected: bool
    server_side: bool
    server_hostname: str | None
    do_handshake_on_connect: bool
    suppress_ragged_eofs: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            f"{type(self).__name__} does not have a public constructor. "
            f"Instances are returned by SSLContext.wrap_socket()."
        )

    @classmethod
    def _create(
        cls,
        sock: Any,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        context: Any = None,
        session: Any = None,
    ) -> SSLSocket:
        """Take over `sock` (a green or real stream socket, which is detached) and add TLS."""
        if sock.getsockopt(_SOL_SOCKET, _SO_TYPE) != _SOCK_STREAM:
            raise NotImplementedError("only stream sockets are supported")
        if server_side:
            if server_hostname:
                raise ValueError("server_hostname can only be specified in client mode")
            if session is not None:
                raise ValueError("session can only be specified in client mode")
        if context.check_hostname and not server_hostname:
            raise ValueError("check_hostname requires server_hostname")

        family, kind, proto = sock.family, sock.type, sock.proto
        timeout = sock.gettimeout()
        # The green socket's detach makes the hub forget the fd; the fd itself lives on here.
        real = _RealSocket(family, kind, proto, sock.detach())
        self = cast(SSLSocket, cls._from_real(real, timeout))
        self._sslobj = None
        self._context = context
        self._session = session
        self.server_side = server_side
        self.server_hostname = context._encode_hostname(server_hostname)
        self.do_handshake_on_connect = do_handshake_on_connect
        self.suppress_ragged_eofs = suppress_ragged_eofs
        self._connected = self._is_connected(real)
        if self._connected:
            try:
                self._sslobj = context._wrap_socket(
                    real, server_side, self.server_hostname, owner=self, session=session
                )
                if do_handshake_on_connect:
                    if timeout == 0.0:
                        raise ValueError(
                            "do_handshake_on_connect should not be specified for non-blocking sockets"
                        )
                    self.do_handshake()
            except (OSError, ValueError):
                self.close()
                raise
        return self

    def _is_connected(self, real: Any) -> bool:
        """True if `real` has a peer. An unconnected socket must not hold unread bytes: they
        would look as if they had come through TLS (raises SSLError and closes)."""
        try:
            real.getpeername()
            return True
        except OSError as error:
            if error.errno != _errno.ENOTCONN:
                self.close()
                raise
        try:
            early = real.recv(1)
        except BlockingIOError:
            early = b""
        except OSError as error:
            # EINVAL: recv on an unconnected AF_UNIX socket.
            if error.errno not in (_errno.ENOTCONN, _errno.EINVAL):
                self.close()
                raise
            early = b""
        if early:
            self.close()
            reason = "Closed before TLS handshake with data in recv buffer."
            problem = _SSLError(_errno.ENOTCONN, reason)
            problem.reason = reason
            problem.library = None
            raise problem
        return False

    # -- the shared slow path -----------------------------------------------------------------

    def _wait_and_retry(
        self,
        reading: bool,
        method: Callable[..., Any],
        args: tuple,
        timeout: float | None,
        message: str | None,
    ) -> Any:
        """``method(*args)`` raised SSLWantRead (`reading`) or SSLWantWrite: wait for that
        direction, retry, until it succeeds or `timeout` seconds have passed (TimeoutError with
        `message`, or, when it is None, the read/write message of the direction waited for)."""
        fd = self._sock.fileno()
        deadline = _deadline_after(timeout)
        while True:
            if not _wait_until(fd, not reading, deadline):
                if message is None:
                    message = _READ_TIMED_OUT if reading else _WRITE_TIMED_OUT
                raise TimeoutError(message)
            try:
                return method(*args)
            except _SSLWantReadError:
                reading = True
            except _SSLWantWriteError:
                reading = False

    def _call(self, method: Callable[..., Any], args: tuple, message: str | None) -> Any:
        """Make one TLS call the green way: try it, and on SSLWant* wait and retry (unless the
        socket is non-blocking, where the SSLWant* error is the answer)."""
        try:
            return method(*args)
        except _SSLWantReadError:
            if self._timeout == 0.0:
                raise
            reading = True
        except _SSLWantWriteError:
            if self._timeout == 0.0:
                raise
            reading = False
        return self._wait_and_retry(reading, method, args, self._timeout, message)

    def _check_connected(self) -> None:
        if not self._connected:
            # Raises OSError(ENOTCONN) when there is really no peer; a socket connected without
            # waiting (connect_ex on a non-blocking socket) has one without the flag.
            self._sock.getpeername()

    # -- TLS ----------------------------------------------------------------------------------

    def do_handshake(self, block: bool = False) -> None:
        """Perform the TLS handshake, waiting cooperatively. Raises TimeoutError("The handshake
        operation timed out") after the socket's timeout, SSLError/SSLCertVerificationError on a
        failed handshake, OSError(ENOTCONN) on an unconnected socket. With `block` a
        non-blocking socket waits as if it were blocking."""
        self._check_connected()
        timeout = self._timeout
        if block and timeout == 0.0:
            timeout = None
        handshake = self._sslobj.do_handshake
        try:
            handshake()
            return
        except _SSLWantReadError:
            if timeout == 0.0:
                raise
            reading = True
        except _SSLWantWriteError:
            if timeout == 0.0:
                raise
            reading = False
        self._wait_and_retry(reading, handshake, (), timeout, _HANDSHAKE_TIMED_OUT)

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        """Read up to `len` decrypted bytes (into `buffer` if given, returning the count); b"" or
        0 at the end of the TLS stream, and at a ragged end (TCP closed without close_notify)
        when `suppress_ragged_eofs`. Raises ValueError when TLS is off (closed or unwrapped)."""
        sslobj = self._sslobj
        if sslobj is None:
            raise ValueError("Read on closed or unwrapped SSL socket.")
        try:
            if buffer is None:
                return self._call(sslobj.read, (len,), _READ_TIMED_OUT)
            return self._call(sslobj.read, (len, buffer), _READ_TIMED_OUT)
        except _SSLError as error:
            if error.args[0] == _SSL_ERROR_EOF and self.suppress_ragged_eofs:
                return b"" if buffer is None else 0
            raise

    def write(self, data: Any) -> int:
        """Encrypt and send `data`; returns its length once all of it is on its way. Raises
        ValueError when TLS is off (closed or unwrapped)."""
        sslobj = self._sslobj
        if sslobj is None:
            raise ValueError("Write on closed or unwrapped SSL socket.")
        return self._call(sslobj.write, (data,), _WRITE_TIMED_OUT)

    def unwrap(self) -> SSLSocket:
        """Shut TLS down (send close_notify and wait for the peer's) and return this socket,
        which from now on is a plain green socket. Raises ValueError when TLS is not on."""
        sslobj = self._sslobj
        if not sslobj:
            raise ValueError("No SSL wrapper around " + str(self))
        self._call(sslobj.shutdown, (), None)
        self._sslobj = None
        return self

    def verify_client_post_handshake(self) -> None:
        """Ask a TLS 1.3 client for its certificate after the handshake (server side)."""
        if not self._sslobj:
            raise ValueError("No SSL wrapper around " + str(self))
        return self._sslobj.verify_client_post_handshake()

    @property
    def context(self) -> Any:
        """The SSLContext of this connection; settable (e.g. from an SNI callback)."""
        return self._context

    @context.setter
    def context(self, context: Any) -> None:
        self._context = context
        self._sslobj.context = context

    @property
    def session(self) -> Any:
        """The TLS session (None before the handshake); settable on a client before it."""
        if self._sslobj is not None:
            return self._sslobj.session
        return None

    @session.setter
    def session(self, session: Any) -> None:
        self._session = session
        if self._sslobj is not None:
            self._sslobj.session = session

    @property
    def session_reused(self) -> bool | None:
        """Whether the session was reused (None when TLS is off)."""
        if self._sslobj is not None:
            return self._sslobj.session_reused
        return None

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The peer's certificate (a dict, or DER bytes with `binary_form`; None if it sent
        none). Raises OSError(ENOTCONN) when not connected, ValueError before the handshake."""
        self._check_connected()
        if self._sslobj is None:
            raise ValueError("No SSL wrapper around " + str(self))
        return self._sslobj.getpeercert(binary_form)

    def selected_alpn_protocol(self) -> str | None:
        """The protocol chosen by ALPN, or None."""
        if self._sslobj is None or not _stdssl.HAS_ALPN:
            return None
        return self._sslobj.selected_alpn_protocol()

    def selected_npn_protocol(self) -> None:
        """NPN is gone from the stdlib; always None (with the stdlib's DeprecationWarning)."""
        import warnings

        warnings.warn("ssl NPN is deprecated, use ALPN instead", DeprecationWarning, stacklevel=2)
        return None

    def cipher(self) -> tuple[str, str, int] | None:
        """(name, protocol version, secret bits) of the cipher in use, or None when TLS is off."""
        return None if self._sslobj is None else self._sslobj.cipher()

    def shared_ciphers(self) -> list[tuple[str, str, int]] | None:
        """The ciphers both sides offered, or None when TLS is off."""
        return None if self._sslobj is None else self._sslobj.shared_ciphers()

    def compression(self) -> str | None:
        """The compression algorithm in use, or None."""
        return None if self._sslobj is None else self._sslobj.compression()

    def version(self) -> str | None:
        """The TLS version negotiated ("TLSv1.3", ...), or None when TLS is off."""
        return None if self._sslobj is None else self._sslobj.version()

    def pending(self) -> int:
        """How many decrypted bytes can be read without touching the socket."""
        return 0 if self._sslobj is None else self._sslobj.pending()

    def get_channel_binding(self, cb_type: str = "tls-unique") -> bytes | None:
        """Channel binding data of the connection (None before the handshake)."""
        if self._sslobj is not None:
            return self._sslobj.get_channel_binding(cb_type)
        if cb_type not in _stdssl.CHANNEL_BINDING_TYPES:
            raise ValueError(f"{cb_type} channel binding type not implemented")
        return None

    if hasattr(_stdssl.SSLSocket, "get_verified_chain"):

        def get_verified_chain(self) -> list:
            """The verified certificate chain of the peer (Python 3.13+)."""
            return self._sslobj.get_verified_chain() if self._sslobj is not None else []

        def get_unverified_chain(self) -> list:
            """The certificate chain the peer sent (Python 3.13+)."""
            return self._sslobj.get_unverified_chain() if self._sslobj is not None else []

    # -- socket methods, TLS-aware ------------------------------------------------------------

    def recv(self, bufsize: int = 1024, flags: int = 0) -> bytes:
        """Like `read` while TLS is on (flags must be 0); a plain green `recv` otherwise."""
        if self._sslobj is None:
            return super().recv(bufsize, flags)
        if flags != 0:
            raise ValueError(f"non-zero flags not allowed in calls to recv() on {type(self)}")
        return self.read(bufsize)

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        """Like `read` into `buffer` while TLS is on (flags must be 0); plain otherwise."""
        if nbytes is None:
            if buffer is not None:
                with memoryview(buffer) as view:
                    nbytes = view.nbytes
            if not nbytes:
                nbytes = 1024
        if self._sslobj is None:
            return super().recv_into(buffer, nbytes, flags)
        if flags != 0:
            raise ValueError(f"non-zero flags not allowed in calls to recv_into() on {type(self)}")
        return self.read(nbytes, buffer)

    def send(self, data: Any, flags: int = 0) -> int:
        """Like `write` while TLS is on (flags must be 0); a plain green `send` otherwise."""
        if self._sslobj is None:
            return super().send(data, flags)
        if flags != 0:
            raise ValueError(f"non-zero flags not allowed in calls to send() on {type(self)}")
        return self._call(self._sslobj.write, (data,), _WRITE_TIMED_OUT)

    # Mirrors CPython 3.13 Lib/ssl.py SSLSocket.sendall (the same in 3.10-3.12).
    def sendall(self, data: Any, flags: int = 0) -> None:
        """Send all of `data` through TLS (flags must be 0); plain otherwise. As in the stdlib,
        the timeout applies to each TLS write, not to the whole call."""
        if self._sslobj is None:
            return super().sendall(data, flags)
        if flags != 0:
            raise ValueError(f"non-zero flags not allowed in calls to sendall() on {type(self)}")
        with memoryview(data) as view, view.cast("B") as octets:
            total = len(octets)
            sent = 0
            while sent < total:
                sent += self.send(octets[sent:])
        return None

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """Send a file: through TLS with a read/send loop, or with os.sendfile when TLS is off."""
        if self._sslobj is None:
            return super().sendfile(file, offset, count)
        return self._sendfile_loop(file, offset, count)

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        """Not allowed while TLS is on (ValueError); plain otherwise."""
        if self._sslobj is not None:
            raise ValueError(f"recvfrom not allowed on instances of {type(self)}")
        return super().recvfrom(bufsize, flags)

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> tuple[int, Any]:
        """Not allowed while TLS is on (ValueError); plain otherwise."""
        if self._sslobj is not None:
            raise ValueError(f"recvfrom_into not allowed on instances of {type(self)}")
        return super().recvfrom_into(buffer, nbytes, flags)

    def sendto(self, data: Any, flags_or_address: Any, address: Any = None) -> int:
        """Not allowed while TLS is on (ValueError); plain otherwise."""
        if self._sslobj is not None:
            raise ValueError(f"sendto not allowed on instances of {type(self)}")
        if address is None:  # sendto(data, address), as the stdlib's SSLSocket reads it
            return super().sendto(data, flags_or_address)
        return super().sendto(data, flags_or_address, address)

    def recvmsg(self, *args: Any, **kwargs: Any) -> Any:
        """Never allowed on an SSLSocket (NotImplementedError), as in the stdlib."""
        raise NotImplementedError(f"recvmsg not allowed on instances of {type(self)}")

    def recvmsg_into(self, *args: Any, **kwargs: Any) -> Any:
        """Never allowed on an SSLSocket (NotImplementedError), as in the stdlib."""
        raise NotImplementedError(f"recvmsg_into not allowed on instances of {type(self)}")

    def sendmsg(self, *args: Any, **kwargs: Any) -> Any:
        """Never allowed on an SSLSocket (NotImplementedError): no data may bypass TLS."""
        raise NotImplementedError(f"sendmsg not allowed on instances of {type(self)}")

    def dup(self) -> Any:
        """Not possible for a TLS connection (NotImplementedError), as in the stdlib."""
        raise NotImplementedError(f"Can't dup() {type(self).__name__} instances")

    def shutdown(self, how: int) -> None:
        """Shut the TCP connection down (no close_notify: use `unwrap` for that); TLS is off
        afterwards."""
        self._sslobj = None
        super().shutdown(how)

    def _real_close(self) -> None:
        self._sslobj = None
        super()._real_close()

    # -- connecting ---------------------------------------------------------------------------

    def _real_connect(self, address: Any, connect_ex: bool) -> int | None:
        if self.server_side:
            raise ValueError("can't connect in server-side mode")
        if self._connected or self._sslobj is not None:
            raise ValueError("attempt to connect already-connected SSLSocket!")
        self._sslobj = self._context._wrap_socket(
            self._sock, False, self.server_hostname, owner=self, session=self._session
        )
        try:
            if connect_ex:
                result: int | None = super().connect_ex(address)
            else:
                result = None
                super().connect(address)
            if not result:
                self._connected = True
                if self.do_handshake_on_connect:
                    self.do_handshake()
            return result
        except (OSError, ValueError):
            self._sslobj = None
            raise

    def connect(self, address: Any) -> None:
        """Connect cooperatively, then (with `do_handshake_on_connect`) do the TLS handshake.
        Raises ValueError on a server-side or already connected socket."""
        self._real_connect(address, False)

    def connect_ex(self, address: Any) -> int:
        """Like `connect`, returning an errno instead of raising for the TCP part (handshake
        errors still raise)."""
        result = self._real_connect(address, True)
        return result or 0

    def accept(self) -> tuple[SSLSocket, Any]:  # type: ignore[override]
        """Wait cooperatively for a connection; returns (server-side SSLSocket, address). The
        handshake happens here when `do_handshake_on_connect`, with the new socket's timeout
        (the default timeout, `socket.getdefaulttimeout()`)."""
        sock = self._sock
        try:
            fd, address = sock._accept()
        except BlockingIOError:
            if self._timeout == 0.0:
                raise
            fd, address = self._retry(sock._accept, (), False)
        # A socket made from an fd starts with the default timeout, as accept() promises.
        connection = _RealSocket(sock.family, sock.type, sock.proto, fd)
        wrapped = self.context.wrap_socket(
            connection,
            do_handshake_on_connect=self.do_handshake_on_connect,
            suppress_ragged_eofs=self.suppress_ragged_eofs,
            server_side=True,
        )
        return wrapped, address


class SSLContext(_StdSSLContext):
    """The stdlib `ssl.SSLContext` whose `wrap_socket` returns green `SSLSocket` objects.

    Everything else (certificates, verification, ALPN, `wrap_bio`) is the stdlib's unchanged.
    """

    sslsocket_class = SSLSocket  # type: ignore[assignment]

    def wrap_socket(  # type: ignore[override]
        self,
        sock: Any,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: Any = None,
    ) -> SSLSocket:
        """Add TLS to `sock` (a green socket, or a real one, which is then waited on
        cooperatively too); `sock` is detached, as in the stdlib. A connected socket does the
        handshake now when `do_handshake_on_connect` (ValueError if it is non-blocking), an
        unconnected one when it connects. Raises what the stdlib raises (ValueError for
        inconsistent arguments, SSLError on a failed handshake, TimeoutError)."""
        return self.sslsocket_class._create(  # type: ignore[attr-defined]
            sock=sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=server_hostname,
            context=self,
            session=session,
        )


def _green_context(context: Any) -> SSLContext:
    """Give a context the stdlib just built and configured green's class (same layout)."""
    context.__class__ = SSLContext
    return context


def create_default_context(
    purpose: Any = _stdssl.Purpose.SERVER_AUTH,
    *,
    cafile: str | None = None,
    capath: str | None = None,
    cadata: Any = None,
) -> SSLContext:
    """The stdlib's `create_default_context` (same settings, same errors), returning a green
    `SSLContext`."""
    return _green_context(
        _stdssl.create_default_context(purpose, cafile=cafile, capath=capath, cadata=cadata)
    )


def _create_unverified_context(*args: Any, **kwargs: Any) -> SSLContext:
    """The stdlib's `_create_unverified_context`, returning a green `SSLContext`; it is also
    `_create_stdlib_context`, which smtplib, ftplib, imaplib and poplib call."""
    return _green_context(_stdssl._create_unverified_context(*args, **kwargs))


# http.client calls this when it is given no context.
_create_default_https_context = create_default_context
_create_stdlib_context = _create_unverified_context


# Mirrors CPython 3.13 Lib/ssl.py get_server_certificate (the same in 3.10-3.12).
def get_server_certificate(
    addr: tuple[str, int],
    ssl_version: int = _stdssl.PROTOCOL_TLS_CLIENT,
    ca_certs: str | None = None,
    timeout: Any = _stdsocket._GLOBAL_DEFAULT_TIMEOUT,
) -> str:
    """Connect cooperatively to `addr` = (host, port) and return the server's certificate as
    PEM, verified against `ca_certs` when given (stdlib `get_server_certificate`)."""
    host, _ = addr
    required = _stdssl.CERT_REQUIRED if ca_certs is not None else _stdssl.CERT_NONE
    context = _create_unverified_context(ssl_version, cert_reqs=required, cafile=ca_certs)
    with _green_socket.create_connection(addr, timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=host) as connection:
            der = connection.getpeercert(True)
    return _stdssl.DER_cert_to_PEM_cert(der)


if "wrap_socket" in __implements__:
    # Mirrors CPython 3.11 Lib/ssl.py wrap_socket (the same in 3.10; removed in 3.12).
    def wrap_socket(
        sock: Any,
        keyfile: str | None = None,
        certfile: str | None = None,
        server_side: bool = False,
        cert_reqs: int = _stdssl.CERT_NONE,
        ssl_version: int = _stdssl.PROTOCOL_TLS,
        ca_certs: str | None = None,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        ciphers: str | None = None,
    ) -> SSLSocket:
        """The deprecated module-level `ssl.wrap_socket` (Python < 3.12 only): a green context
        made from the arguments wraps `sock`. Warns DeprecationWarning, like the stdlib."""
        import warnings

        warnings.warn(
            "ssl.wrap_socket() is deprecated, use SSLContext.wrap_socket()",
            category=DeprecationWarning,
            stacklevel=2,
        )
        if server_side and not certfile:
            raise ValueError("certfile must be specified for server-side operations")
        if keyfile and not certfile:
            raise ValueError("certfile must be specified")
        with warnings.catch_warnings():
            # PROTOCOL_TLS itself is deprecated; the caller has been warned once already.
            warnings.simplefilter("ignore", DeprecationWarning)
            context = SSLContext(ssl_version)
        _configure_legacy(context, cert_reqs, ca_certs, certfile, keyfile, ciphers)
        return context.wrap_socket(
            sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
        )


def _configure_legacy(
    context: Any,
    cert_reqs: Any,
    ca_certs: str | None,
    certfile: str | None,
    keyfile: str | None,
    ciphers: str | None,
) -> None:
    """Apply the arguments of the old module-level ``wrap_socket`` to `context`."""
    context.verify_mode = cert_reqs
    if ca_certs:
        context.load_verify_locations(ca_certs)
    if certfile:
        context.load_cert_chain(certfile, keyfile)
    if ciphers:
        context.set_ciphers(ciphers)
