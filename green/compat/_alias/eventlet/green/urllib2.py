"""eventlet.green.urllib2: eventlet.green.urllib.request under its Python 2 name."""

import eventlet.green.urllib.request as _request

from . import _become

_become(__name__, _request)
