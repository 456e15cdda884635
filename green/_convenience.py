"""Shortcuts for network programs: `listen`, `connect`, `serve`, `StopServe`, `wrap_ssl`.

They are reached as ``green.listen`` etc. and behave like eventlet's functions of the same names.
"""

from __future__ import annotations

import logging
import sys
import traceback
import warnings
from typing import Any, Callable

from greenlet import GreenletExit

from green import socket as _socket
from green._accept import CLIENT_ERRORS, RESOURCE_ERRORS, AcceptBackoff
from green.greenpool import GreenPool
from green.greenthread import GreenThread, getcurrent, kill

__all__ = [
    "ReusePortUnavailableWarning",
    "ReuseRandomPortWarning",
    "StopServe",
    "connect",
    "listen",
    "serve",
    "wrap_ssl",
]


_log = logging.getLogger("green.serve")


class StopServe(Exception):
    """Raise it in a `serve` handler to make `serve` return."""


class ReuseRandomPortWarning(Warning):
    """`listen` was asked for SO_REUSEPORT on port 0: another process binding with SO_REUSEPORT
    may be given the same ephemeral port and share (steal) connections."""


class ReusePortUnavailableWarning(Warning):
    """`listen` was asked for SO_REUSEPORT (``reuse_port=True``) and the kernel refused the
    option (EINVAL, ENOPROTOOPT): the socket listens without it."""


def listen(
    addr: Any,
    family: int = _socket.AF_INET,
    backlog: int = 50,
    reuse_addr: bool = True,
    reuse_port: bool | None = None,
) -> _socket.socket:
    """A green TCP socket bound to `addr` and listening (for AF_UNIX, `addr` is a path).

    `reuse_addr` sets SO_REUSEADDR. `reuse_port` sets SO_REUSEPORT where the platform has it;
    None (the default) means: set it unless the port is 0 (an ephemeral port is never shared);
    True with port 0 sets it and warns (ReuseRandomPortWarning), as eventlet does; True where
    the kernel refuses the option warns (ReusePortUnavailableWarning) and goes on without it.
    Raises OSError (e.g. EADDRINUSE) as bind/listen do.
    """
    return _listen(_socket.socket, addr, family, backlog, reuse_addr, reuse_port)


def _listen(
    socket_class: Callable[[int, int], Any],
    addr: Any,
    family: int,
    backlog: int,
    reuse_addr: bool,
    reuse_port: bool | None,
) -> Any:
    """`listen` with sockets of `socket_class` (the eventlet alias passes its own)."""
    sock = socket_class(family, _socket.SOCK_STREAM)
    try:
        if reuse_addr and sys.platform != "win32":
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        if family in (_socket.AF_INET, getattr(_socket, "AF_INET6", None)):
            asked = reuse_port
            if reuse_port is None:
                reuse_port = addr[1] != 0
            elif reuse_port and addr[1] == 0:
                warnings.warn(
                    "listen() on port 0 with reuse_port=True: another process may get the same "
                    "port with SO_REUSEPORT and share its connections",
                    ReuseRandomPortWarning,
                    stacklevel=3,
                )
            if reuse_port and hasattr(_socket, "SO_REUSEPORT"):
                try:
                    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEPORT, 1)
                except OSError as error:
                    # Some kernels define the option and reject it (for some families); the
                    # bind decides. Only an explicit request is worth a warning.
                    if asked:
                        warnings.warn(
                            f"listen(reuse_port=True): the kernel refused SO_REUSEPORT ({error}); "
                            "listening without it",
                            ReusePortUnavailableWarning,
                            stacklevel=3,
                        )
        sock.bind(addr)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def connect(addr: Any, family: int = _socket.AF_INET, bind: Any = None) -> _socket.socket:
    """A green stream socket connected to `addr`, bound to `bind` first if given.

    Raises what `socket.connect` raises (ConnectionRefusedError, ...)."""
    return _connect(_socket.socket, addr, family, bind)  # type: ignore[no-any-return]


def _connect(socket_class: Callable[[int, int], Any], addr: Any, family: int, bind: Any) -> Any:
    """`connect` with a socket of `socket_class` (the eventlet alias passes its own)."""
    sock = socket_class(family, _socket.SOCK_STREAM)
    try:
        if bind is not None:
            sock.bind(bind)
        sock.connect(addr)
    except BaseException:
        sock.close()
        raise
    return sock


def serve(sock: Any, handle: Callable[[Any, Any], Any], concurrency: int = 1000) -> None:
    """Accept connections on the listening `sock` forever, running ``handle(client_socket,
    client_address)`` for each in a green thread (at most `concurrency` at once; accepting
    waits for a free slot).

    Returns when a handler raises `StopServe` (other handlers keep running). Any other exception
    of a handler is printed to stderr and serving goes on. The handler owns the client socket
    and should close it. When the process runs out of file descriptors (EMFILE, ENFILE) or
    kernel memory, accepting pauses until a handler finishes (or a pause doubling up to 1 s
    passes), with one log line on the "green.serve" logger when it starts and one when it
    recovers (further episodes within a minute are not logged); a client that gave up before it
    was accepted is skipped. Other errors of `accept`
    (e.g. the listening socket was closed) propagate.
    """
    pool = GreenPool(concurrency)
    server = getcurrent()
    backoff = AcceptBackoff(_log, "a handler finishes")
    try:
        while True:
            try:
                client, address = sock.accept()
            except OSError as error:
                if error.errno in CLIENT_ERRORS:
                    continue
                if error.errno not in RESOURCE_ERRORS:
                    raise
                backoff.failed(error)
                continue
            backoff.succeeded()
            thread = pool.spawn(handle, client, address)
            thread.link(_handler_done, server, backoff)
            del client, address, thread
    except StopServe:
        return


def _handler_done(thread: GreenThread, server: Any, backoff: AcceptBackoff) -> None:
    backoff.wake()
    try:
        thread.wait()
    except StopServe:
        kill(server, StopServe)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        if not isinstance(sys.exc_info()[1], GreenletExit):
            traceback.print_exc()


def wrap_ssl(sock: Any, *args: Any, **kwargs: Any) -> Any:
    """Wrap a green socket with green TLS (``green.ssl``); returns the TLS socket.

    The arguments are those of the old ``ssl.wrap_socket`` (removed from the stdlib in 3.12):
    keyfile, certfile, server_side, cert_reqs, ssl_version, ca_certs, do_handshake_on_connect,
    suppress_ragged_eofs, ciphers. A green `SSLContext` is built from them, with no host name
    check (like the old function) and without its deprecation warning. Raises ImportError when
    green.ssl is not available, and what `SSLContext` raises for bad files or settings.
    """
    try:
        from green import ssl as green_ssl  # type: ignore[attr-defined]
    except ModuleNotFoundError as error:
        if error.name != "green.ssl":
            raise
        raise ImportError("wrap_ssl needs green.ssl, which is not available") from error
    return _wrap_with_context(green_ssl, sock, *args, **kwargs)


def _wrap_with_context(
    ssl: Any,
    sock: Any,
    keyfile: str | None = None,
    certfile: str | None = None,
    server_side: bool = False,
    cert_reqs: Any = None,
    ssl_version: Any = None,
    ca_certs: str | None = None,
    do_handshake_on_connect: bool = True,
    suppress_ragged_eofs: bool = True,
    ciphers: str | None = None,
) -> Any:
    if ssl_version is None:
        ssl_version = ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT
    context = ssl.SSLContext(ssl_version)
    context.check_hostname = False
    ssl._configure_legacy(
        context, ssl.CERT_NONE if cert_reqs is None else cert_reqs, ca_certs, certfile, keyfile, ciphers
    )
    return context.wrap_socket(
        sock,
        server_side=server_side,
        do_handshake_on_connect=do_handshake_on_connect,
        suppress_ragged_eofs=suppress_ragged_eofs,
    )
