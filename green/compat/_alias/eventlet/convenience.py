"""eventlet.convenience: listen, connect, wrap_ssl and StopServe are green's own; `serve` keeps
eventlet's contract, which differs from green.serve in two ways: the client socket is closed
when its handler returns, and an exception from a handler (other than StopServe) ends `serve`
by raising in it, where green.serve prints it and goes on serving."""

from __future__ import annotations

from typing import Any, Callable

from greenlet import GreenletExit, getcurrent

from green._convenience import StopServe, connect, listen, wrap_ssl
from green.greenpool import GreenPool
from green.greenthread import GreenThread, kill

__all__ = ["StopServe", "connect", "listen", "serve", "wrap_ssl"]


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
