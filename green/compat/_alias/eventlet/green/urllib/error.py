"""eventlet.green.urllib.error: the stdlib's urllib.error (it does no blocking I/O of its own)."""

import urllib.error

from .. import _become

_become(__name__, urllib.error)
