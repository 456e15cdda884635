"""eventlet.green.builtin: the builtins module (green needs no patched ``open``: closes reach the
hub through notify_closing)."""

import builtins

from . import _become

_become(__name__, builtins)
