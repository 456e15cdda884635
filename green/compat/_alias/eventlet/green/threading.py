"""eventlet.green.threading: a private copy of threading running on green's _thread."""

from green.patcher import import_patched

from . import _become

_become(__name__, import_patched("threading", thread=True))
