"""Cooperative database drivers written in C: psycopg2, psycopg 3 and mysqlclient (``MySQLdb``).

Why these need more than a patched `socket`
-------------------------------------------
Pure-Python clients (PyMySQL, redis-py, pymemcache, urllib3, httpx) do their I/O through the
`socket` module, so `monkey_patch()` already makes them cooperative. These three talk to the
server from C (libpq, libmariadb) and never touch Python's `socket`; each needs its own door:

* **psycopg2** has one: a *wait callback* (``psycopg2.extensions.set_wait_callback``). With one
  installed, libpq runs in non-blocking mode and psycopg2 calls the callback whenever it would
  block; ours polls the connection and parks the green thread on the hub until the socket is
  ready. An exception while parked (a `green.Timeout`, a kill) first cancels the query on the
  server, then propagates; psycopg2 closes a connection whose callback raised, so a cut
  connection is closed, never handed back half-way through a query.
* **psycopg 3** consumes its libpq generators through ``psycopg.waiting.wait`` and ``wait_conn``;
  the default is ``wait_c``, a C loop calling poll(2) that no patched module can reach. We replace
  both with hub waits (one fd, one direction: the hub's own ``wait_readable``/``wait_writable``;
  both directions: green's ``select``). psycopg's `Connection.wait` already cancels the server-side
  query when interrupted by ``KeyboardInterrupt``; `green.Timeout` and ``GreenletExit`` are added
  to that list, for the same reason as above.
* **mysqlclient** has no non-blocking API worth the name; every network call of its
  ``_mysql.connection`` (connect, query, store_result, next_result, commit, ping...) goes through
  `green.tpool`, as eventlet does. The GIL is released inside those calls, so other green threads
  run meanwhile; at most ``GREEN_THREADPOOL_SIZE`` (default 20) calls are in flight at once. Rows of
  a buffered cursor are already in memory and are read without a thread hop; an unbuffered cursor
  (``SSCursor``) fetches through tpool.

When the patch happens
----------------------
`monkey_patch()` patches a driver that is already imported at once, and otherwise registers an
import hook (a ``sys.meta_path`` finder) that applies the patch right after the driver's module
has executed, so ``import psycopg2`` after ``monkey_patch()`` gets the green driver without
importing the driver eagerly (importing C libraries nobody uses would slow every start-up).
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from time import monotonic
from types import ModuleType
from typing import Any

from greenlet import GreenletExit

__all__ = ["LIBRARIES", "patch_library", "patched_libraries"]

_patched: set[str] = set()
_pending: dict[str, list[Callable[[ModuleType], None]]] = {}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs hooks right after chosen modules execute (the driver is then complete)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _pending:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _HookedLoader(spec.loader)
        return spec


class _HookedLoader(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        for hook in _pending.pop(module.__name__, []):
            hook(module)

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, get_resource_reader...
        return getattr(self.loader, name)


_finder = _AfterImport()


def _after_import(name: str, hook: Callable[[ModuleType], None]) -> None:
    """Run ``hook(module)`` now if `name` is imported, else right after it is."""
    module = sys.modules.get(name)
    if module is not None:
        hook(module)
        return
    _pending.setdefault(name, []).append(hook)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


# --- psycopg2 -----------------------------------------------------------------------------------


def psycopg2_wait(connection: Any) -> None:
    """psycopg2's wait callback: poll the connection, parking on the hub while it would block.

    If the wait is interrupted (`green.Timeout`, a kill), the running query is cancelled on the
    server, then the exception propagates. psycopg2 closes a connection whose wait callback
    raised (its state is unknown to it), so the connection is gone afterwards: pools
    (``psycopg2.pool``, SQLAlchemy) see ``connection.closed`` and replace it.
    """
    from psycopg2 import extensions

    from green.hubs import get_hub

    hub = get_hub()
    while True:
        state = connection.poll()
        if state == extensions.POLL_OK:
            return
        try:
            if state == extensions.POLL_READ:
                hub.wait_readable(connection.fileno())
            elif state == extensions.POLL_WRITE:
                hub.wait_writable(connection.fileno())
            else:
                raise extensions.OperationalError(f"unexpected state from psycopg2's poll(): {state!r}")
        except BaseException:
            _cancel_psycopg2(connection)
            raise


def _cancel_psycopg2(connection: Any) -> None:
    """Ask the server to stop the query in progress (best effort: the caller re-raises what
    interrupted it). Without this the server would run the query to its end, since PostgreSQL
    notices a vanished client only when it next writes to it."""
    from psycopg2 import extensions

    from green import tpool

    if connection.closed or connection.status == extensions.STATUS_SETUP:
        return  # still connecting: there is no query to cancel
    try:
        tpool.execute(connection.cancel)  # PQcancel opens its own, blocking, connection
    except Exception:
        pass


def _patch_psycopg2(module: ModuleType) -> None:
    from psycopg2 import extensions

    extensions.set_wait_callback(psycopg2_wait)


# --- psycopg 3 ----------------------------------------------------------------------------------


def _wait_for(hub: Any, waiting: ModuleType, fileno: int, state: int, timeout: float | None) -> int:
    """Park until `fileno` is ready for what `state` (psycopg's Wait) asks; return psycopg's Ready."""
    if state == waiting.WAIT_R:
        return waiting.READY_R if hub.wait_readable(fileno, timeout) else waiting.READY_NONE
    if state == waiting.WAIT_W:
        return waiting.READY_W if hub.wait_writable(fileno, timeout) else waiting.READY_NONE
    from green import select

    readable, writable, _ = select.select([fileno], [fileno], [], timeout)
    return (waiting.READY_R if readable else 0) | (waiting.READY_W if writable else 0)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - monotonic())


def _psycopg_waits(waiting: ModuleType) -> tuple[Callable[..., Any], Callable[..., Any]]:
    from green.hubs import get_hub

    def wait(generator: Any, fileno: int, interval: float = 0.0, timeout: float | None = None) -> Any:
        """psycopg's ``waiting.wait`` on the hub: only the calling green thread waits."""
        hub = get_hub()
        deadline = None if timeout is None else monotonic() + timeout
        try:
            state = next(generator)
            while True:
                ready = _wait_for(hub, waiting, fileno, state, _remaining(deadline))
                state = generator.send(ready)
                if deadline is not None and monotonic() >= deadline:
                    raise waiting.e._WaitTimeout("wait timeout expired")
        except StopIteration as finished:
            return finished.value

    def wait_conn(generator: Any, interval: float = 0.0, timeout: float | None = None) -> Any:
        """psycopg's ``waiting.wait_conn`` (the fd may change while connecting) on the hub."""
        hub = get_hub()
        deadline = None if timeout is None else monotonic() + timeout
        try:
            fileno, state = next(generator)
            while True:
                ready = _wait_for(hub, waiting, fileno, state, _remaining(deadline))
                fileno, state = generator.send(ready)
                if deadline is not None and monotonic() >= deadline:
                    raise waiting.e._WaitTimeout("wait timeout expired")
        except StopIteration as finished:
            return finished.value

    return wait, wait_conn


def _patch_psycopg(module: ModuleType) -> None:
    from psycopg import connection, waiting

    from green.timeout import Timeout

    wait, wait_conn = _psycopg_waits(waiting)
    waiting.wait = wait  # type: ignore[attr-defined]
    waiting.wait_conn = wait_conn  # type: ignore[attr-defined]
    interrupted = getattr(connection, "_INTERRUPTED", None)
    if isinstance(interrupted, tuple) and Timeout not in interrupted:
        connection._INTERRUPTED = (*interrupted, Timeout, GreenletExit)  # type: ignore[attr-defined]


# --- mysqlclient (MySQLdb) ----------------------------------------------------------------------

# The network calls of mysqlclient's C connection type, by name.
_MYSQL_NETWORK_CALLS = (
    "autocommit",
    "change_user",
    "commit",
    "kill",
    "next_result",
    "ping",
    "query",
    "read_query_result",
    "rollback",
    "select_db",
    "send_query",
    "set_character_set",
    "set_server_option",
    "shutdown",
    "store_result",
)


def _through_tpool(function: Callable[..., Any]) -> Callable[..., Any]:
    from green import tpool

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        return tpool.execute(function, *args, **kwargs)

    call.__green_tpool__ = True  # type: ignore[attr-defined]
    return call


def _patch_mysqldb_connections(connections: ModuleType) -> None:
    connection_class = connections.Connection
    base = connections._mysql.connection
    if getattr(connection_class.__init__, "__green_tpool__", False):
        return
    # __init__ connects (and then sets autocommit, the character set...): all in one worker call.
    connection_class.__init__ = _through_tpool(connection_class.__init__)
    for name in _MYSQL_NETWORK_CALLS:
        function = connection_class.__dict__.get(name) or getattr(base, name, None)
        if function is not None:
            setattr(connection_class, name, _through_tpool(function))


def _patch_mysqldb_cursors(cursors: ModuleType) -> None:
    mixin = cursors.CursorUseResultMixIn
    if "_fetch_row" not in mixin.__dict__:
        mixin._fetch_row = _through_tpool(cursors.BaseCursor._fetch_row)


def _patch_mysqldb(module: ModuleType) -> None:
    _after_import("MySQLdb.connections", _patch_mysqldb_connections)
    _after_import("MySQLdb.cursors", _patch_mysqldb_cursors)


# --- the keywords ---------------------------------------------------------------------------------

# monkey_patch keyword -> the driver modules it covers, each with the patch applied once it is imported
LIBRARIES: dict[str, dict[str, Callable[[ModuleType], None]]] = {
    "psycopg": {"psycopg2": _patch_psycopg2, "psycopg": _patch_psycopg},
    "MySQLdb": {"MySQLdb": _patch_mysqldb},
}


def patch_library(keyword: str) -> None:
    """Make the drivers of a `monkey_patch` keyword (``psycopg``, ``MySQLdb``) cooperative, now if
    they are imported, else as soon as they are."""
    if keyword in _patched:
        return
    _patched.add(keyword)
    for module_name, patch in LIBRARIES[keyword].items():
        _after_import(module_name, patch)


def patched_libraries() -> set[str]:
    return set(_patched)
