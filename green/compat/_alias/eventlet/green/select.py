"""eventlet.green.select: green.select itself."""

import green.select

from . import _become

_become(__name__, green.select)
