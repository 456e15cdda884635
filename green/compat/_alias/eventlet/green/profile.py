"""eventlet.green.profile has no green counterpart."""

from . import _unsupported

raise _unsupported(__name__, "eventlet's per-green-thread profiler has no counterpart in green")
