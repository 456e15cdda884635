"""eventlet.green.socket: green.socket itself (its sockets also answer eventlet's ``fd``: the
real non-blocking socket underneath)."""

import green.socket

from . import _become


def _real_socket(sock: green.socket.socket) -> object:
    return sock._sock


if not hasattr(green.socket.socket, "fd"):
    green.socket.socket.fd = property(_real_socket)  # type: ignore[attr-defined]

_become(__name__, green.socket)
