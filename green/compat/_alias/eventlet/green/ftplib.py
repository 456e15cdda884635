"""eventlet.green.ftplib: a private copy of ftplib on green sockets."""

from . import _become, _private_copy

_become(__name__, _private_copy("ftplib"))
