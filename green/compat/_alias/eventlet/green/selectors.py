"""eventlet.green.selectors: green.selectors itself."""

import green.selectors

from . import _become

_become(__name__, green.selectors)
