"""eventlet.green.urllib.parse: the stdlib's urllib.parse (it does no blocking I/O of its own)."""

import urllib.parse

from .. import _become

_become(__name__, urllib.parse)
