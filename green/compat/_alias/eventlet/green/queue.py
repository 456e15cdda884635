"""eventlet.green.queue: green.queue itself."""

import green.queue

from . import _become

_become(__name__, green.queue)
