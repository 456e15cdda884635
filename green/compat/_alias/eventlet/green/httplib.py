"""eventlet.green.httplib: eventlet.green.http.client under its Python 2 name."""

import eventlet.green.http.client as _client

from . import _become

_become(__name__, _client)
