"""eventlet.green.OpenSSL has no green counterpart."""

from . import _unsupported

raise _unsupported(
    __name__, "green has no cooperative pyOpenSSL; use the stdlib ssl module (eventlet.green.ssl)"
)
