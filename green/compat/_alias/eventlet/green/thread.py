"""eventlet.green.thread: green.thread itself."""

import green.thread

from . import _become

_become(__name__, green.thread)
