"""eventlet.green: cooperative versions of stdlib modules, as green's own.

Modules green replaces (ssl, select, selectors, time, os, subprocess, thread, queue) are green's
modules themselves: ``eventlet.green.ssl is green.ssl``. ``eventlet.green.socket`` holds
green.socket's objects but resolves names with eventlet's greendns. Higher-level stdlib modules
(http.client, urllib.request, socketserver, ftplib, threading, ...) are private copies imported
with green's modules in place of their blocking dependencies, as eventlet's were. Modules green
has no counterpart for (zmq, OpenSSL) raise ImportError saying so.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

# stdlib module -> green module, the dependencies swapped in for the private copies.
_GREEN_DEPENDENCIES = {
    "socket": "green.socket",
    "ssl": "green.ssl",
    "select": "green.select",
    "selectors": "green.selectors",
    "time": "green.time",
}


def _private_copy(stdlib_name: str, *extra: tuple[str, ModuleType]) -> ModuleType:
    """`stdlib_name` imported afresh with green's socket, ssl, select, selectors and time (and
    `extra` (name, module) pairs) in place of the real ones; sys.modules is left as it was."""
    from eventlet.patcher import inject

    dependencies = [(name, importlib.import_module(green)) for name, green in _GREEN_DEPENDENCIES.items()]
    return inject(stdlib_name, None, *dependencies, *extra)


def _become(alias_name: str, module: ModuleType) -> None:
    """Make the module being imported as `alias_name` be `module`."""
    sys.modules[alias_name] = module


def _socket_names() -> dict[str, object]:
    """green.socket's names for a module of its own (eventlet.green.socket, _socket_nodns): the
    public ones and the private ones the stdlib's socket also has (``_GLOBAL_DEFAULT_TIMEOUT``),
    not green's internals (the real socket class among them, which the patcher would take for
    a blocking object captured before patching)."""
    import socket as stdlib_socket

    import green.socket

    return {
        name: value
        for name, value in vars(green.socket).items()
        if not name.startswith("_") or (name in vars(stdlib_socket) and not name.startswith("__"))
    }


def _unsupported(alias_name: str, reason: str) -> ImportError:
    return ImportError(f"{alias_name} is not offered by green's eventlet alias: {reason}", name=alias_name)
