"""eventlet.backdoor on green.backdoor: an interactive Python console over a socket.

The console greets as eventlet's (and the interactive interpreter) do: the Python version line,
the "Type help..." line and ``(InteractiveConsole)``.
"""

from __future__ import annotations

import sys
from typing import Any

from green.backdoor import BackdoorServer, console, serve

__all__ = ["BackdoorServer", "backdoor", "backdoor_server", "serve"]

_BANNER = (
    f"Python {sys.version} on {sys.platform}\n"
    'Type "help", "copyright", "credits" or "license" for more information.\n'
    "(InteractiveConsole)"
)


def backdoor_server(sock: Any, locals: dict | None = None) -> None:
    """Serve consoles on the listening socket `sock` until the calling green thread is killed."""
    server = serve(sock, locals, banner=_BANNER)
    try:
        server.wait()
    finally:
        server.close()


def backdoor(conn_info: Any, locals: dict | None = None) -> None:
    """Run one console on an accepted connection, ``(socket, address)`` as accept() returns it
    (or the socket alone), in the calling green thread until the peer ends it."""
    client = conn_info[0] if isinstance(conn_info, tuple) else conn_info
    console(client, locals, banner=_BANNER)
