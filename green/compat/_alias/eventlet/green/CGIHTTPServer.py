"""eventlet.green.CGIHTTPServer: eventlet.green.http.server under its Python 2 name."""

import eventlet.green.http.server as _server

from . import _become

_become(__name__, _server)
