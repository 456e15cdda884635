"""eventlet.green.urllib.request: a private copy of urllib.request on the green http.client."""

import eventlet.green.http.client as _client
import eventlet.green.urllib.response as _response

from .. import _become, _private_copy

_become(__name__, _private_copy("urllib.request", ("http.client", _client), ("urllib.response", _response)))
