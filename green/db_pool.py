"""Pools of DB-API connections on `green.pools.Pool`.

`RawConnectionPool` calls ``db_module.connect`` directly: right for drivers that talk to the
database through Python sockets (pure-Python drivers after ``monkey_patch()``, such as PyMySQL or
pg8000), whose waits are then cooperative. `TpooledConnectionPool` (also `ConnectionPool`)
connects in a `green.tpool` OS thread and wraps the connection in a ``tpool.Proxy``, so each call
of a C driver (sqlite3, psycopg2, mysqlclient) runs off the hub.

Connections are reused most-recently-returned first, so the surplus stays idle and expires:
a connection idle for more than `max_idle` seconds, or open for more than `max_age`, is closed
(by a timer, and checked again before one is handed out). ``max_age=0`` or ``max_idle=0`` makes
the pool a pure concurrency limit that closes every connection on return. Returned connections
are cleaned (``rollback()`` by default) so no transaction leaks to the next borrower; a
connection whose cleanup fails is closed and replaced.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, Iterator

from green import tpool
from green._stdlib import original
from green.greenthread import spawn_n
from green.hubs import get_hub
from green.pools import Pool
from green.timeout import Timeout

__all__ = [
    "ConnectTimeout",
    "cleanup_rollback",
    "BaseConnectionPool",
    "RawConnectionPool",
    "TpooledConnectionPool",
    "ConnectionPool",
    "GenericConnectionWrapper",
    "PooledConnectionWrapper",
    "DatabaseConnector",
]

_time = original("time").time
_log = logging.getLogger("green.db_pool")
_DEFAULT = object()


class ConnectTimeout(Exception):
    """Connecting to the database took longer than the pool's `connect_timeout`."""


def cleanup_rollback(connection: Any) -> None:
    """The default cleanup of a returned connection: roll back any open transaction."""
    connection.rollback()


class BaseConnectionPool(Pool):
    """A pool of connections made with ``db_module.connect(*args, **kwargs)``.

    `get()` returns a `PooledConnectionWrapper`; give it back with `put(connection)`, its
    ``close()``, or borrow with ``with pool.item() as connection:``. `min_size`/`max_size` as for
    `green.pools.Pool`; `max_idle` and `max_age` in seconds (see the module docstring);
    `connect_timeout` seconds before `get` raises `ConnectTimeout`; `cleanup(connection)` runs
    on every returned connection (None to skip). `clear()` closes the free connections (and stops
    the expiry timer: call it before dropping a pool).
    """

    def __init__(
        self,
        db_module: Any,
        min_size: int = 0,
        max_size: int = 4,
        max_idle: float = 10,
        max_age: float = 30,
        connect_timeout: float = 5,
        cleanup: Callable[[Any], None] | None = cleanup_rollback,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        if db_module is None:
            raise ValueError("db_module is required (a DB-API 2 module such as sqlite3)")
        self._db_module = db_module
        self._args = args
        self._kwargs = kwargs
        self.max_idle = max_idle
        self.max_age = max_age
        self.connect_timeout = connect_timeout
        self.cleanup = cleanup
        self._expiration_timer: Any = None
        super().__init__(min_size=min_size, max_size=max_size, order_as_stack=True)

    @classmethod
    def connect(cls, db_module: Any, connect_timeout: float, *args: Any, **kwargs: Any) -> Any:
        """Open one connection; each pool class defines how (a subclass of this base must)."""
        raise TypeError(
            f"{cls.__name__} does not say how to connect: use RawConnectionPool or "
            "TpooledConnectionPool, or define the classmethod connect() in a subclass"
        )

    def create(self) -> tuple[float, float, Any]:
        """A new (last used, created, connection) entry."""
        connection = self.connect(self._db_module, self.connect_timeout, *self._args, **self._kwargs)
        now = _time()
        return now, now, connection

    def _is_expired(self, now: float, last_used: float, created_at: float) -> bool:
        return (
            self.max_idle <= 0
            or self.max_age <= 0
            or now - last_used > self.max_idle
            or now - created_at > self.max_age
        )

    def _safe_close(self, connection: Any, quiet: bool = False) -> None:
        """Close `connection`, logging (unless `quiet`) rather than raising an Exception."""
        try:
            connection.close()
        except Exception as error:
            if not quiet:
                _log.warning("closing a pooled connection failed: %r", error)

    def _unwrap_connection(self, connection: Any) -> Any:
        """The driver's connection inside a wrapper (which is emptied); None for anything that
        is not a wrapper."""
        base = getattr(connection, "_base", None)
        destroy = getattr(connection, "_destroy", None)
        if destroy is not None and isinstance(connection, GenericConnectionWrapper):
            destroy()
        return base

    def _discard(self, item: Any) -> None:
        if item is not None:
            self._safe_close(item[2])

    def get(self) -> PooledConnectionWrapper:  # type: ignore[override]
        """Borrow a connection (waiting while `max_size` are out); raises what connect raises."""
        while self.free_items:
            last_used, created_at, connection = self.free_items.popleft()
            if not self._is_expired(_time(), last_used, created_at):
                return PooledConnectionWrapper(connection, self, created_at)
            self.current_size -= 1
            self._safe_close(connection)
        entry = super().get()
        if entry is None:  # a slot freed by a discarded connection, handed to us: fill it
            try:
                entry = self.create()
            except BaseException:
                self._release_slot()
                raise
        return PooledConnectionWrapper(entry[2], self, entry[1])

    def _release_slot(self) -> None:
        if self.waiting():
            self._hand_back(None)
        else:
            self.current_size -= 1

    def put(self, connection: Any, cleanup: Any = _DEFAULT) -> None:  # type: ignore[override]
        """Give a connection back; it is cleaned (`cleanup`, or the pool's) or closed if expired.

        ``put(None)`` gives back a slot whose connection died: the next `get` connects anew.
        """
        created_at = _time()
        if isinstance(connection, PooledConnectionWrapper):
            if not connection:
                return  # this wrapper was given back already
            created_at = connection._created_at
            connection = self._unwrap_connection(connection)
        if connection is None:
            self._release_slot()
            return
        now = _time()
        keep = not (self._is_expired(now, now, created_at) or self.current_size > self.max_size)
        if keep:
            if cleanup is _DEFAULT:
                cleanup = self.cleanup
            if cleanup is not None:
                try:
                    cleanup(connection)
                except Exception as error:
                    _log.warning("cleanup %r of a returned connection failed: %r", cleanup, error)
                    keep = False
                except BaseException:
                    self._safe_close(connection, quiet=True)
                    self._release_slot()
                    raise
        if keep:
            self._hand_back((now, created_at, connection))
        else:
            self._safe_close(connection)
            self._release_slot()
        self._schedule_expiration()

    @contextlib.contextmanager
    def item(self, cleanup: Any = _DEFAULT) -> Iterator[PooledConnectionWrapper]:  # type: ignore[override]
        """``with pool.item() as connection:``: borrow one, give it back (cleaned) afterwards."""
        connection = self.get()
        try:
            yield connection
        finally:
            self.put(connection, cleanup=cleanup)

    def _schedule_expiration(self) -> None:
        if self._expiration_timer is not None or not self.free_items:
            return
        if self.max_idle <= 0 or self.max_age <= 0:
            return
        delay = min(self.max_idle, self.max_age) + 0.01
        self._expiration_timer = get_hub().call_later(delay, self._on_expiration_timer)

    def _on_expiration_timer(self) -> None:
        self._expiration_timer = None
        # Closing may block (a tpool call): not in the hub, in a green thread of its own.
        spawn_n(self._expire_old_connections)

    def _expire_old_connections(self) -> None:
        now = _time()
        kept: list[tuple[float, float, Any]] = []
        expired: list[tuple[float, float, Any]] = []
        for entry in self.free_items:
            (expired if self._is_expired(now, entry[0], entry[1]) else kept).append(entry)
        if expired:
            self.free_items.clear()
            self.free_items.extend(kept)
            self.current_size -= len(expired)
            for entry in expired:
                self._safe_close(entry[2])
        self._schedule_expiration()

    def clear(self) -> None:
        """Close every free connection and stop the expiry timer (borrowed ones are untouched)."""
        if self._expiration_timer is not None:
            self._expiration_timer.cancel()
            self._expiration_timer = None
        entries = list(self.free_items)
        self.free_items.clear()
        self.current_size -= len(entries)
        for entry in entries:
            self._safe_close(entry[2])


class TpooledConnectionPool(BaseConnectionPool):
    """Connections made and used through `green.tpool`: each call runs in an OS thread.

    For C drivers that block (sqlite3 -- pass ``check_same_thread=False`` --, psycopg2 without
    its green support, mysqlclient). The connection is a ``tpool.Proxy``; its cursors are too.
    """

    @classmethod
    def connect(cls, db_module: Any, connect_timeout: float, *args: Any, **kwargs: Any) -> Any:
        with Timeout(connect_timeout, ConnectTimeout()):
            connection = tpool.execute(db_module.connect, *args, **kwargs)
        return tpool.Proxy(connection, autowrap_names=("cursor",))


class RawConnectionPool(BaseConnectionPool):
    """Connections made by calling ``db_module.connect`` in the green thread itself.

    For drivers whose I/O goes through (patched) Python sockets. `connect_timeout` interrupts a
    connect that waits cooperatively; a C driver blocking in C cannot be interrupted.
    """

    @classmethod
    def connect(cls, db_module: Any, connect_timeout: float, *args: Any, **kwargs: Any) -> Any:
        with Timeout(connect_timeout, ConnectTimeout()):
            return db_module.connect(*args, **kwargs)


ConnectionPool = TpooledConnectionPool


class GenericConnectionWrapper:
    """Wraps a DB-API connection: the DB-API methods and any other attribute of the driver's
    connection (MySQLdb's ``ping``, ``autocommit``, ...) pass through; ``with`` uses the
    connection's own context manager (commit or roll back)."""

    def __init__(self, connection: Any) -> None:
        self._base = connection

    def __getattr__(self, name: str) -> Any:
        base = self.__dict__.get("_base")
        if base is None:
            raise AttributeError(f"{name!r}: this connection was returned to its pool")
        return getattr(base, name)

    def __enter__(self) -> Any:
        return self._base.__enter__()

    def __exit__(self, *exc_info: Any) -> Any:
        return self._base.__exit__(*exc_info)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self.__dict__.get('_base')!r}>"

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        return self._live().cursor(*args, **kwargs)

    def commit(self) -> None:
        self._live().commit()

    def rollback(self) -> None:
        self._live().rollback()

    def close(self) -> None:
        self._live().close()

    def _live(self) -> Any:
        base = self.__dict__.get("_base")
        if base is None:
            raise AttributeError("this connection was returned to its pool")
        return base


class PooledConnectionWrapper(GenericConnectionWrapper):
    """A borrowed connection: ``close()`` gives it back to the pool instead of closing it, after
    which the wrapper is empty (``bool(wrapper)`` is False and using it raises AttributeError)."""

    def __init__(self, connection: Any, pool: BaseConnectionPool, created_at: float | None = None) -> None:
        super().__init__(connection)
        self._pool: BaseConnectionPool | None = pool
        self._created_at = _time() if created_at is None else created_at

    def __bool__(self) -> bool:
        return self.__dict__.get("_base") is not None

    def _destroy(self) -> None:
        self._pool = None
        self._base = None

    def close(self) -> None:
        """Return the connection to its pool (cleaned); later calls do nothing."""
        pool = self._pool
        if pool is not None and self:
            pool.put(self)
        self._destroy()


class DatabaseConnector:
    """One connection pool per (host, database): ``connector.get(host, dbname)``.

    `credentials` maps a host name (or ``"default"``) to connect keyword arguments (user,
    password...); each pool is ``conn_pool(module, *args, host=host, db=dbname, **credentials,
    **kwargs)`` (`ConnectionPool` by default).
    """

    def __init__(
        self, module: Any, credentials: dict, conn_pool: type | None = None, *args: Any, **kwargs: Any
    ) -> None:
        if module is None:
            raise ValueError("module is required")
        self._module = module
        self._credentials = credentials
        self._conn_pool_class = conn_pool if conn_pool is not None else ConnectionPool
        self._args = args
        self._kwargs = kwargs
        self._databases: dict[tuple[str, str], Any] = {}

    def credentials_for(self, host: str) -> dict:
        if host in self._credentials:
            return self._credentials[host]
        return self._credentials.get("default", {}) or {}

    def get(self, host: str, dbname: str) -> Any:
        """The pool for `dbname` on `host`, created on first use."""
        key = (host, dbname)
        pool = self._databases.get(key)
        if pool is None:
            kwargs = dict(self._kwargs, db=dbname, host=host)
            kwargs.update(self.credentials_for(host))
            pool = self._databases[key] = self._conn_pool_class(self._module, *self._args, **kwargs)
        return pool
