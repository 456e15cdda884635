"""eventlet.green.socket: green.socket itself."""

import green.socket

from . import _become

_become(__name__, green.socket)
