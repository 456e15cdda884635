"""eventlet.convenience: listen, connect and StopServe are green's own (the sockets are
eventlet's GreenSocket); `serve` keeps
eventlet's contract, which differs from green.serve in two ways: the client socket is closed
when its handler returns, and an exception from a handler (other than StopServe) ends `serve`
by raising in it, where green.serve prints it and goes on serving.

`wrap_ssl` is green's, except for a server-side *listening* socket: as under eventlet, the
connections it accepts do their TLS handshake at their first read or write, in the green thread
that serves them, not inside ``accept()``. A client that connects and never starts TLS then
holds up only its own green thread, never the accept loop (green.ssl, like the stdlib, does the
handshake in ``accept()`` when ``do_handshake_on_connect``)."""

from __future__ import annotations

import socket as _socket
from typing import Any, Callable

from greenlet import GreenletExit, getcurrent

from green._convenience import (
    ReusePortUnavailableWarning,
    ReuseRandomPortWarning,
    StopServe,
    _connect,
    _listen,
)
from green._convenience import wrap_ssl as _green_wrap_ssl
from green.greenpool import GreenPool
from green.greenthread import GreenThread, kill

from .greenio.base import GreenSocket

__all__ = [
    "ReusePortUnavailableWarning",
    "ReuseRandomPortWarning",
    "StopServe",
    "connect",
    "listen",
    "serve",
    "wrap_ssl",
]


def listen(
    addr: Any,
    family: int = _socket.AF_INET,
    backlog: int = 50,
    reuse_addr: bool = True,
    reuse_port: bool | None = None,
) -> GreenSocket:
    """green.listen, whose socket is eventlet's GreenSocket (and so are those it accepts)."""
    return _listen(GreenSocket, addr, family, backlog, reuse_addr, reuse_port)  # type: ignore[no-any-return]


def connect(addr: Any, family: int = _socket.AF_INET, bind: Any = None) -> GreenSocket:
    """green.connect, whose socket is eventlet's GreenSocket."""
    return _connect(GreenSocket, addr, family, bind)  # type: ignore[no-any-return]


def wrap_ssl(sock: Any, *args: Any, **kwargs: Any) -> Any:
    """Wrap `sock` with green TLS (the old ``ssl.wrap_socket`` arguments); see the module
    docstring for listening sockets."""
    wrapped = _green_wrap_ssl(sock, *args, **kwargs)
    if getattr(wrapped, "server_side", False) and wrapped.do_handshake_on_connect and _listening(wrapped):
        wrapped.do_handshake_on_connect = False  # read by accept() for each new connection
    return wrapped


def _listening(sock: Any) -> bool:
    try:
        return bool(sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ACCEPTCONN))
    except (OSError, AttributeError):
        return False


def serve(sock: Any, handle: Callable[[Any, Any], Any], concurrency: int = 1000) -> None:
    """Accept connections on the listening `sock`, running ``handle(client_socket, address)`` in a
    green thread for each (at most `concurrency` at once), until a handler raises StopServe
    (then return) or another exception (then raise it here). Client sockets are closed when
    their handler returns."""
    pool = GreenPool(concurrency)
    server = getcurrent()
    try:
        while True:
            client, address = sock.accept()
            thread = pool.spawn(handle, client, address)
            thread.link(_handler_done, server, client)
            del client, address, thread
    except StopServe:
        return


def _handler_done(thread: GreenThread, server: Any, client: Any) -> None:
    try:
        thread.wait()
    except GreenletExit:
        pass
    except BaseException as error:
        kill(server, error)
    finally:
        client.close()
