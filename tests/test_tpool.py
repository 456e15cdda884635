"""green.tpool: blocking calls in OS threads while green threads keep running."""

from __future__ import annotations

import hashlib
import sqlite3
import traceback

import pytest

import green
from green import tpool
from green._stdlib import original

_real_time = original("time")


def _ticker(ticks: list[int], stop: green.Event) -> None:
    while not stop.ready():
        ticks.append(1)
        green.sleep(0.005)


def _while_ticking(function, *args):
    """Run execute(function, *args) and count how often another green thread ran meanwhile."""
    ticks: list[int] = []
    stop = green.Event()
    ticker = green.spawn(_ticker, ticks, stop)
    try:
        result = tpool.execute(function, *args)
    finally:
        stop.send()
        ticker.wait()
    return result, len(ticks)


def test_execute_from_a_worker_runs_the_function_right_there():
    real_thread = original("_thread")

    def outer() -> tuple:
        inner = tpool.execute(real_thread.get_ident)  # a worker would deadlock a full pool
        return real_thread.get_ident(), inner

    worker, inner = tpool.execute(outer)
    assert worker == inner != real_thread.get_ident()
    assert tpool._worker_flag.active is False  # the class default, in this thread


def test_original_sleep_does_not_block_the_hub():
    result, ticks = _while_ticking(lambda: (_real_time.sleep(0.2), "done")[1])
    assert result == "done"
    assert ticks >= 5


def test_large_hashlib_digest_runs_beside_green_threads():
    data = b"x" * (64 << 20)
    digest, ticks = _while_ticking(lambda: hashlib.sha256(data).hexdigest())
    assert digest == hashlib.sha256(data).hexdigest()
    assert ticks >= 2


def test_sqlite_query_through_proxy():
    connection = tpool.Proxy(sqlite3.connect(":memory:", check_same_thread=False), autowrap=(sqlite3.Cursor,))
    try:
        cursor = connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) SELECT sum(i) FROM n"
        )
        assert isinstance(cursor, tpool.Proxy)
        ((total,),) = list(cursor)
        assert total == 300000 * 300001 // 2
    finally:
        connection.close()


def test_exception_comes_back_with_its_traceback():
    def failing():
        raise KeyError("deep")

    with pytest.raises(KeyError) as info:
        tpool.execute(failing)
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "failing" in frames


def test_many_green_threads_at_once():
    def work(number: int) -> int:
        _real_time.sleep(0.01)
        return number * 2

    pool = green.GreenPool(50)
    results = list(pool.imap(lambda number: tpool.execute(work, number), range(100)))
    assert results == [number * 2 for number in range(100)]


def test_calls_overlap_in_several_threads():
    started = _real_time.monotonic()
    threads = [green.spawn(tpool.execute, _real_time.sleep, 0.2) for _ in range(5)]
    for thread in threads:
        thread.wait()
    assert _real_time.monotonic() - started < 0.6


def test_kwargs_and_proxy_attributes():
    class Thing:
        value = 7

        def add(self, a: int, b: int = 0) -> int:
            return a + b + self.value

    proxy = tpool.Proxy(Thing())
    assert proxy.value == 7
    assert proxy.add(1, b=2) == 10
    assert tpool.execute(int, "10", base=2) == 2


def test_proxy_prints_as_its_object_and_autowraps_calls():
    proxy = tpool.Proxy({"a": 1})
    assert repr(proxy) == "{'a': 1}" and str(proxy) == "{'a': 1}"

    def identity(value):
        return value

    assert tpool.Proxy(identity)(4) == 4  # not wrapped unless asked
    wrapped = tpool.Proxy(identity, autowrap_names=("__call__",))(4)
    assert isinstance(wrapped, tpool.Proxy) and wrapped == 4 and str(wrapped) == "4"


def test_pool_size_from_environment(monkeypatch):
    monkeypatch.setenv("GREEN_THREADPOOL_SIZE", "3")
    assert tpool._size_from_environment() == 3
    monkeypatch.setenv("GREEN_THREADPOOL_SIZE", "zero")
    with pytest.raises(ValueError):
        tpool._size_from_environment()


def test_set_num_threads_limits_concurrency():
    tpool.set_num_threads(2)
    try:
        started = _real_time.monotonic()
        threads = [green.spawn(tpool.execute, _real_time.sleep, 0.1) for _ in range(4)]
        for thread in threads:
            thread.wait()
        elapsed = _real_time.monotonic() - started
        assert 0.19 < elapsed < 0.5
        assert len(tpool._get_pool().workers) == 2
    finally:
        tpool.set_num_threads(tpool._size_from_environment())


def test_killed_waiter_does_not_break_the_hub():
    # Compared with the count before: in the patched run, pytest-timeout's SIGALRM handler is a
    # green handler, which holds a reference of its own.
    references = green.get_hub().references
    thread = green.spawn(tpool.execute, _real_time.sleep, 0.1)
    green.sleep(0)
    thread.kill()
    # The job still finishes; its result is dropped and the hub reference released.
    tpool.execute(_real_time.sleep, 0.15)
    assert green.get_hub().references == references


def test_execute_inside_hub_is_refused():
    hub = green.get_hub()
    errors: list[BaseException] = []

    def in_hub() -> None:
        try:
            tpool.execute(int)
        except green.BlockingInHubError as error:
            errors.append(error)

    hub.call_soon(in_hub)
    green.sleep(0)
    assert errors


def _may_use_batch_policy() -> bool:
    """Can a plain OS thread here switch itself to SCHED_BATCH (Linux, not forbidden)?"""
    import os

    if not hasattr(os, "SCHED_BATCH"):
        return False
    outcome: list[bool] = []
    done = original("_thread").allocate_lock()
    done.acquire()

    def probe() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
            outcome.append(os.sched_getscheduler(0) == os.SCHED_BATCH)
        except OSError:
            outcome.append(False)
        finally:
            done.release()

    original("_thread").start_new_thread(probe, ())
    done.acquire()
    return outcome[0]


def test_workers_run_under_the_batch_policy_and_leave_the_caller_alone():
    import os

    if not _may_use_batch_policy():
        pytest.skip("this system has no SCHED_BATCH or forbids setting it; workers keep the default")
    before = os.sched_getscheduler(0)
    assert tpool.execute(os.sched_getscheduler, 0) == os.SCHED_BATCH
    # Only the worker's own thread changed policy.
    assert os.sched_getscheduler(0) == before
