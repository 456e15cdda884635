"""eventlet.green.time: green.time itself."""

import green.time

from . import _become

_become(__name__, green.time)
