"""eventlet.green.SocketServer: a private copy of socketserver on green sockets and threads."""

from green.patcher import import_patched

from . import _become

_become(__name__, import_patched("socketserver"))
