"""eventlet.green.http.server: a private copy of http.server (and socketserver) on green sockets."""

import eventlet.green.http.client as _client
import eventlet.green.SocketServer as _socketserver

from .. import _become, _private_copy

_become(__name__, _private_copy("http.server", ("http.client", _client), ("socketserver", _socketserver)))
