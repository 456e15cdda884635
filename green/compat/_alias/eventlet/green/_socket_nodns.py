"""eventlet.green._socket_nodns: green's socket names with green's own name resolution.

eventlet keeps two green socket modules: this one, whose resolver functions never consult
``eventlet.support.greendns`` (greendns uses it for its own sockets and for numeric getaddrinfo),
and ``eventlet.green.socket``, whose getaddrinfo & co. go through greendns's replaceable resolver.
Here it is a namespace of ``green.socket``'s names: the same socket class and functions, in a
module of its own, so that replacing one of its attributes (as eventlet's tests and some
programs do with ``greendns.socket.getaddrinfo``) leaves ``green.socket`` alone.
"""

from __future__ import annotations

import green.socket as _green_socket

from . import _socket_names

globals().update(_socket_names())
__all__ = list(_green_socket.__all__)
