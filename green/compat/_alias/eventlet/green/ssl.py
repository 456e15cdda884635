"""eventlet.green.ssl: green.ssl itself."""

import green.ssl

from . import _become

_become(__name__, green.ssl)
