"""GreenPool and GreenPile."""

from __future__ import annotations

import pytest

import green


def test_pool_limits_concurrency():
    pool = green.GreenPool(3)
    running = []
    peak = []

    def worker():
        running.append(1)
        peak.append(len(running))
        green.sleep(0.001)
        running.pop()

    for _ in range(10):
        pool.spawn(worker)
    pool.waitall()
    assert max(peak) == 3
    assert pool.running() == 0 and pool.free() == 3


def test_spawn_returns_thread_with_result():
    pool = green.GreenPool(2)
    assert pool.spawn(lambda: 7).wait() == 7
    pool.waitall()


def test_imap_and_starmap_keep_order():
    pool = green.GreenPool(4)

    def slow_square(value):
        green.sleep(0.001 * (5 - value % 5))
        return value * value

    assert list(pool.imap(slow_square, range(20))) == [value * value for value in range(20)]
    assert list(pool.starmap(pow, [(2, 3), (3, 2)])) == [8, 9]
    assert list(pool.imap(slow_square, [])) == []


def test_imap_without_function_yields_the_argument_tuples():
    pool = green.GreenPool(4)
    assert list(pool.imap(None, range(3), "abc")) == [(0, "a"), (1, "b"), (2, "c")]


def test_imap_propagates_exception():
    pool = green.GreenPool(2)

    def maybe_fail(value):
        if value == 3:
            raise ValueError(value)
        return value

    results = pool.imap(maybe_fail, range(5))
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError):
        next(results)
    pool.waitall()


def test_waiting_running_free_resize():
    pool = green.GreenPool(1)
    gate = green.Event()
    pool.spawn(gate.wait)
    waiter = green.spawn(pool.spawn, lambda: None)
    green.sleep(0)
    assert pool.running() == 1 and pool.waiting() == 1 and pool.free() == 0
    pool.resize(2)
    waiter.wait()
    gate.send()
    pool.waitall()
    assert pool.size == 2


def test_spawn_from_inside_full_pool_does_not_deadlock():
    pool = green.GreenPool(1)

    def outer():
        return pool.spawn(lambda: "inner").wait()

    assert pool.spawn(outer).wait() == "inner"
    pool.waitall()


def test_waitall_from_member_is_an_error():
    pool = green.GreenPool(2)
    thread = pool.spawn(pool.waitall)
    with pytest.raises(RuntimeError):
        thread.wait()


def test_green_pile():
    pile = green.GreenPile(3)
    for value in range(6):
        pile.spawn(lambda v: v * 10, value)
    assert list(pile) == [0, 10, 20, 30, 40, 50]
    assert list(green.GreenPile()) == []
