"""eventlet.green.urllib.response: the stdlib's urllib.response (it does no blocking I/O of its own)."""

import urllib.response

from .. import _become

_become(__name__, urllib.response)
