"""eventlet.green.asyncore: a private copy of asyncore on green sockets (Python 3.11 and older only)."""

from . import _become, _private_copy

_become(__name__, _private_copy("asyncore"))
