"""eventlet.backdoor on green.backdoor: an interactive Python console over TCP."""

from __future__ import annotations

from typing import Any

from green.backdoor import BackdoorServer, serve

__all__ = ["BackdoorServer", "backdoor_server", "serve"]


def backdoor_server(sock: Any, locals: dict | None = None) -> None:
    """Serve consoles on the listening socket `sock` until the calling green thread is killed."""
    server = serve(sock, locals)
    try:
        server.wait()
    finally:
        server.close()
