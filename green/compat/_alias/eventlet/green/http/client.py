"""eventlet.green.http.client: a private copy of http.client on green sockets."""

from .. import _become, _private_copy

_become(__name__, _private_copy("http.client"))
