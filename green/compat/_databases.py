"""Cooperative database drivers for the eventlet alias: psycopg2's wait callback, MySQLdb via tpool.

psycopg2 (and psycopg2cffi) let a program replace the blocking wait inside every query with a
callback: the connection is switched to asynchronous mode and the callback is asked to wait until
``conn.poll()`` says the query can proceed. Waiting on the hub there makes every query cooperative.

MySQLdb (mysqlclient) is C code that blocks in the server round trip, with no such hook; its
connections run in green's thread pool instead (`green.tpool.Proxy`), as eventlet does.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from green.hubs import get_hub
from green.tpool import Proxy, execute

__all__ = ["green_mysqldb", "make_psycopg_green", "psycopg_wait"]


def _extensions() -> Any:
    try:
        return importlib.import_module("psycopg2.extensions")
    except ImportError:
        return importlib.import_module("psycopg2cffi.extensions")


def psycopg_wait(connection: Any, timeout: float | None = None) -> None:
    """psycopg2's wait callback: park the green thread until the connection's poll() is done."""
    extensions = _extensions()
    hub = get_hub()
    while True:
        state = connection.poll()
        if state == extensions.POLL_OK:
            return
        if state == extensions.POLL_READ:
            hub.wait_readable(connection.fileno())
        elif state == extensions.POLL_WRITE:
            hub.wait_writable(connection.fileno())
        else:
            raise extensions.OperationalError(f"psycopg2 connection poll() returned {state!r}")


def make_psycopg_green() -> None:
    """Install `psycopg_wait` as psycopg2's wait callback. Raises ImportError without psycopg2."""
    extensions = _extensions()
    if not hasattr(extensions, "set_wait_callback"):
        raise ImportError("this psycopg2 has no set_wait_callback (2.2 or later is needed)")
    extensions.set_wait_callback(psycopg_wait)


def green_mysqldb() -> ModuleType:
    """The MySQLdb module with `connect`/`Connect`/`Connection` opening tpool-proxied connections.

    The returned module is a new module object; the real MySQLdb is not modified.
    Raises ImportError without MySQLdb.
    """
    real = importlib.import_module("MySQLdb")
    connections = importlib.import_module("MySQLdb.connections")
    real_connection = connections.Connection

    def connect(*args: Any, **kwargs: Any) -> Any:
        """Open a MySQLdb connection in the thread pool; its methods and cursors run there too."""
        return Proxy(execute(real_connection, *args, **kwargs), autowrap_names=("cursor",))

    module = ModuleType(real.__name__, real.__doc__)
    module.__dict__.update({name: value for name, value in vars(real).items() if not name.startswith("__")})
    module.__dict__.update(connect=connect, Connect=connect, Connection=connect)
    return module
