"""green.queue: the cooperative replacement of the stdlib queue module."""

from __future__ import annotations

import queue as stdlib_queue
import time

import pytest

import green
from green import queue
from green.hubs import get_hub


def test_empty_and_full_are_the_stdlib_classes():
    assert queue.Empty is stdlib_queue.Empty
    assert queue.Full is stdlib_queue.Full
    assert green.Queue is queue.Queue


def test_fifo_lifo_priority_order():
    for cls, expected in (
        (queue.Queue, [3, 1, 2]),
        (queue.LifoQueue, [2, 1, 3]),
        (queue.PriorityQueue, [1, 2, 3]),
    ):
        q = cls()
        for item in (3, 1, 2):
            q.put(item)
        assert [q.get() for _ in range(3)] == expected


def test_zero_and_none_maxsize_are_unbounded():
    for size in (0, None, -1):
        q = queue.Queue(size)
        for item in range(1000):
            q.put_nowait(item)
        assert q.qsize() == 1000 and not q.full()


def test_get_nowait_empty_and_put_nowait_full():
    q = queue.Queue(1)
    with pytest.raises(queue.Empty):
        q.get_nowait()
    q.put_nowait(1)
    with pytest.raises(stdlib_queue.Full):
        q.put_nowait(2)


def test_get_and_put_timeouts():
    q = queue.Queue(1)
    started = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.02)
    assert time.monotonic() - started >= 0.019
    q.put(1)
    with pytest.raises(queue.Full):
        q.put(2, timeout=0.01)
    with pytest.raises(ValueError):
        q.get(timeout=-1) if q.empty() else q.put(3, timeout=-1)


def test_getters_woken_in_fifo_order():
    q = queue.Queue()
    got = []
    threads = [green.spawn(lambda name=name: got.append((name, q.get()))) for name in range(5)]
    green.sleep(0)
    for item in "abcde":
        q.put(item)
    for thread in threads:
        thread.wait()
    assert got == list(enumerate("abcde"))


def test_putters_woken_in_fifo_order():
    q = queue.Queue(1)
    q.put("first")
    threads = [green.spawn(q.put, name) for name in range(4)]
    green.sleep(0)
    assert q.putting() == 4
    assert [q.get() for _ in range(5)] == ["first", 0, 1, 2, 3]
    for thread in threads:
        thread.wait()


def test_running_thread_cannot_steal_item_handed_to_waiter():
    q = queue.Queue()
    waiter = green.spawn(q.get)
    green.sleep(0)
    q.put("for the waiter")
    with pytest.raises(queue.Empty):
        q.get_nowait()
    assert waiter.wait() == "for the waiter"


def test_killed_getter_gives_handed_item_back():
    q = queue.Queue()
    first = green.spawn(q.get)
    second = green.spawn(q.get)
    green.sleep(0)

    def hand_over_then_kill():
        q.put("item")
        first.throw(green.GreenletExit())

    get_hub().call_soon(hand_over_then_kill)
    assert second.wait() == "item"


def test_task_done_and_join():
    q = queue.Queue()
    done = []

    def worker():
        while True:
            item = q.get()
            if item is None:
                q.task_done()
                return
            done.append(item)
            green.sleep(0)
            q.task_done()

    thread = green.spawn(worker)
    for item in range(5):
        q.put(item)
    q.put(None)
    q.join()
    assert done == list(range(5))
    thread.wait()
    with pytest.raises(ValueError):
        q.task_done()


def test_light_queue_has_no_task_tracking():
    q = queue.LightQueue()
    assert not hasattr(q, "task_done")


def test_resize_admits_putters():
    q = queue.Queue(1)
    q.put(0)
    putter = green.spawn(q.put, 1)
    green.sleep(0)
    q.resize(2)
    putter.wait()
    assert q.qsize() == 2


def test_simple_queue():
    q = queue.SimpleQueue()
    consumer = green.spawn(q.get)
    green.sleep(0)
    q.put("x")
    assert consumer.wait() == "x"
    assert q.empty()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.001)


def test_shutdown_wakes_getters_and_rejects_puts():
    q = queue.Queue()
    getter = green.spawn(q.get)
    green.sleep(0)
    q.shutdown()
    with pytest.raises(queue.ShutDown):
        getter.wait()
    with pytest.raises(queue.ShutDown):
        q.put(1)


def test_shutdown_immediate_drains():
    q = queue.Queue()
    q.put(1)
    q.put(2)
    q.shutdown(immediate=True)
    assert q.empty()
    assert q.join() is True


def test_ping_pong_between_threads():
    ping, pong = queue.Queue(), queue.Queue()

    def echo():
        for _ in range(1000):
            pong.put(ping.get())

    thread = green.spawn(echo)
    for index in range(1000):
        ping.put(index)
        assert pong.get() == index
    thread.wait()


def test_abandoned_gets_leave_only_themselves_and_order_holds():
    # Gets that end by timeout or kill, at the front, in the middle and at the back, take out
    # their own place; the other getters get the items in the order they came.
    queue = green.Queue()
    got: list[tuple[int, object]] = []

    def getter(index: int, timeout: float | None) -> None:
        try:
            got.append((index, queue.get(timeout=timeout)))
        except stdlib_queue.Empty:
            got.append((index, "empty"))

    threads = [green.spawn(getter, index, 0.01 if index in (0, 3, 7) else None) for index in range(8)]
    green.sleep(0)
    threads[5].kill()
    for index in (0, 3, 7):
        threads[index].wait()
    assert queue.getting() == 4
    for item in "abcd":
        queue.put(item)
    for index in (1, 2, 4, 6):
        threads[index].wait()
    assert got == [(0, "empty"), (3, "empty"), (7, "empty"), (1, "a"), (2, "b"), (4, "c"), (6, "d")]
    assert queue.getting() == 0 and queue.qsize() == 0
