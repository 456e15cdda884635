"""eventlet.green.asynchat: a private copy of asynchat on green sockets (Python 3.11 and older only)."""

from . import _become, _private_copy

_become(__name__, _private_copy("asynchat"))
