"""green.pools and green.db_pool (against sqlite3, a real DB-API module)."""

from __future__ import annotations

import itertools
import sqlite3

import pytest

import green
from green import db_pool, pools


def counter_pool(**options):
    numbers = itertools.count()
    return pools.Pool(create=lambda: next(numbers), **options)


def test_creates_on_demand_up_to_max_size_then_waits_fifo():
    pool = counter_pool(max_size=2)
    assert pool.free() == 2
    first, second = pool.get(), pool.get()
    assert (first, second) == (0, 1) and pool.free() == 0
    got = []
    threads = [green.spawn(lambda n=n: got.append((n, pool.get()))) for n in range(2)]
    green.sleep(0)
    assert pool.waiting() == 2
    pool.put(first)
    pool.put(second)
    for thread in threads:
        thread.wait()
    assert got == [(0, 0), (1, 1)]  # the longest waiter first, nothing created beyond max_size
    assert pool.current_size == 2 and pool.waiting() == 0


def test_round_robin_and_stack_order():
    pool = counter_pool(max_size=3, min_size=3)
    assert list(pool.free_items) == [0, 1, 2]
    items = [pool.get() for _ in range(3)]
    for item in items:
        pool.put(item)
    assert pool.get() == 0  # round robin: the oldest free item
    stack = counter_pool(max_size=3, min_size=3, order_as_stack=True)
    items = [stack.get() for _ in range(3)]
    for item in items:
        stack.put(item)
    assert stack.get() == 2  # stack: the most recently returned


def test_item_context_manager_returns_the_item_even_on_error():
    pool = counter_pool(max_size=1)
    with pytest.raises(ZeroDivisionError):
        with pool.item() as thing:
            assert thing == 0 and pool.free() == 0
            raise ZeroDivisionError
    assert pool.free() == 1 and list(pool.free_items) == [0]


def test_create_failure_frees_the_slot():
    calls = []

    def create():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("first try fails")
        return "ok"

    pool = pools.Pool(max_size=1, create=create)
    with pytest.raises(ConnectionError):
        pool.get()
    assert pool.current_size == 0
    assert pool.get() == "ok"


def test_resize_shrinks_on_return_and_grows_for_waiters():
    pool = counter_pool(max_size=2)
    a, b = pool.get(), pool.get()
    pool.resize(1)
    pool.put(a)  # surplus: dropped
    assert pool.current_size == 1 and not pool.free_items
    waiter = green.spawn(pool.get)
    green.sleep(0)
    pool.resize(2)  # room again: the waiter gets a new item
    assert waiter.wait() == 2
    pool.put(b)


def test_killed_waiter_leaves_the_queue():
    pool = counter_pool(max_size=1)
    item = pool.get()
    victim = green.spawn(pool.get)
    heir = green.spawn(pool.get)
    green.sleep(0)
    victim.kill()  # a killed waiter leaves the queue...
    assert pool.waiting() == 1
    pool.put(item)  # ...so the item goes to the next one
    assert heir.wait() == item


def test_token_pool_limits_concurrency():
    pool = pools.TokenPool(max_size=3)
    active = []
    peak = []

    def work():
        with pool.item():
            active.append(1)
            peak.append(len(active))
            green.sleep(0)
            active.pop()

    threads = [green.spawn(work) for _ in range(10)]
    for thread in threads:
        thread.wait()
    assert max(peak) == 3 and isinstance(pool.get(), pools.Token)


def test_base_pool_without_create_says_so():
    with pytest.raises(NotImplementedError, match="create"):
        pools.Pool().get()


# -- db_pool ---------------------------------------------------------------------------------------


@pytest.fixture(params=["raw", "tpooled"])
def connection_pool(request, tmp_path):
    path = str(tmp_path / "test.db")
    setup = sqlite3.connect(path)
    setup.execute("create table items (name text)")
    setup.commit()
    setup.close()
    cls = db_pool.RawConnectionPool if request.param == "raw" else db_pool.TpooledConnectionPool
    pool = cls(sqlite3, 0, 2, 10, 30, 5, db_pool.cleanup_rollback, path, check_same_thread=False)
    yield pool
    pool.clear()


def test_db_pool_reuses_commits_and_rolls_back_on_return(connection_pool):
    connection = connection_pool.get()
    cursor = connection.cursor()
    cursor.execute("insert into items values ('kept')")
    connection.commit()
    cursor.execute("insert into items values ('rolled back')")
    base = connection._base
    connection.close()  # back to the pool, rolled back
    assert not connection
    with pytest.raises(AttributeError):
        connection.cursor()
    with connection_pool.item() as again:
        assert again._base is base  # the same connection, reused
        rows = again.cursor().execute("select name from items").fetchall()
        assert [tuple(row) for row in rows] == [("kept",)]
    assert connection_pool.current_size == 1 and len(connection_pool.free_items) == 1


def test_db_pool_max_size_waits_and_max_age_zero_closes(tmp_path):
    path = str(tmp_path / "x.db")
    pool = db_pool.RawConnectionPool(sqlite3, max_size=1, max_age=0, database=path)
    first = pool.get()
    base = first._base
    waiter = green.spawn(pool.get)
    green.sleep(0)
    assert pool.waiting() == 1
    pool.put(first)  # max_age=0: closed, the waiter gets a fresh connection
    second = waiter.wait()
    assert second._base is not base
    with pytest.raises(sqlite3.ProgrammingError):
        base.execute("select 1")  # really closed
    pool.put(second)
    assert pool.current_size == 0
    pool.clear()


def test_db_pool_idle_connections_expire(tmp_path):
    pool = db_pool.RawConnectionPool(sqlite3, max_idle=0.05, max_age=30, database=str(tmp_path / "x.db"))
    connection = pool.get()
    base = connection._base
    pool.put(connection)
    assert len(pool.free_items) == 1
    green.sleep(0.2)  # the expiry timer closes it
    assert not pool.free_items and pool.current_size == 0
    with pytest.raises(sqlite3.ProgrammingError):
        base.execute("select 1")
    pool.clear()


def test_db_pool_failing_cleanup_replaces_the_connection(tmp_path):
    def bad_cleanup(connection):
        raise RuntimeError("cleanup failed")

    pool = db_pool.RawConnectionPool(sqlite3, cleanup=bad_cleanup, database=str(tmp_path / "x.db"))
    connection = pool.get()
    pool.put(connection)
    assert pool.current_size == 0 and not pool.free_items
    pool.put(pool.get(), cleanup=None)  # per-call cleanup override
    assert len(pool.free_items) == 1
    pool.clear()


def test_db_pool_put_none_frees_a_dead_connection_slot(tmp_path):
    pool = db_pool.RawConnectionPool(sqlite3, max_size=1, database=str(tmp_path / "x.db"))
    connection = pool.get()
    assert pool.free() == 0
    pool.put(None)  # "its connection died"
    assert pool.free() == 1
    replacement = pool.get()
    assert replacement and replacement._base is not connection._base
    pool.put(replacement)
    pool.put(replacement)  # a second return of the same wrapper changes nothing
    assert pool.current_size == 1 and len(pool.free_items) == 1
    connection._base.close()
    pool.clear()


def test_db_pool_fatal_cleanup_propagates_and_frees_the_slot(tmp_path):
    def cleanup(connection):
        raise KeyboardInterrupt

    pool = db_pool.RawConnectionPool(sqlite3, max_size=1, cleanup=cleanup, database=str(tmp_path / "x.db"))
    with pytest.raises(KeyboardInterrupt):
        pool.put(pool.get())
    assert pool.current_size == 0


def test_db_pool_connect_errors_propagate_and_free_the_slot():
    pool = db_pool.RawConnectionPool(sqlite3, max_size=1, database="/nonexistent/dir/x.db")
    with pytest.raises(sqlite3.OperationalError):
        pool.get()
    assert pool.current_size == 0


def test_tpooled_connect_timeout():
    class SlowModule:
        @staticmethod
        def connect():
            import time

            time.sleep(0.5)  # a real OS-thread sleep in the tpool worker

    pool = db_pool.TpooledConnectionPool(SlowModule, connect_timeout=0.05)
    with pytest.raises(db_pool.ConnectTimeout):
        pool.get()
    assert pool.current_size == 0


def test_database_connector_one_pool_per_host_and_db():
    made = []

    class Pool:
        def __init__(self, module, **kwargs):
            made.append(kwargs)

    connector = db_pool.DatabaseConnector(
        sqlite3, {"default": {"user": "u"}, "special": {"user": "s"}}, conn_pool=Pool, timeout=3
    )
    assert connector.get("h1", "a") is connector.get("h1", "a")
    connector.get("special", "b")
    assert made == [
        {"timeout": 3, "db": "a", "host": "h1", "user": "u"},
        {"timeout": 3, "db": "b", "host": "special", "user": "s"},
    ]
