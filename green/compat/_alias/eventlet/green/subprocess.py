"""eventlet.green.subprocess: green.subprocess itself."""

import green.subprocess

from . import _become

_become(__name__, green.subprocess)
