"""eventlet.green.profile: green.profile itself (the stdlib's profiler with one call stack per
green thread)."""

import green.profile

from . import _become

_become(__name__, green.profile)
