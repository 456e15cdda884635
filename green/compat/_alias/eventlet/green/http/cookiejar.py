"""eventlet.green.http.cookiejar: a private copy of http.cookiejar using the green http.client."""

import eventlet.green.http.client as _client

from .. import _become, _private_copy

_become(__name__, _private_copy("http.cookiejar", ("http.client", _client)))
