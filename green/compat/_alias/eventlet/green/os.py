"""eventlet.green.os: green.os itself."""

import green.os

from . import _become

_become(__name__, green.os)
