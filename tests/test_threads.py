"""Green primitives shared between green threads and real OS threads: nothing lost, nothing
deadlocked, no greenlet.error, no LoopExit while an OS thread can still wake the hub.

The OS threads come from the original `_thread` (tests/patched.py), so these tests mean the same
in the plain and in the patched run; in the patched run `threading` and `queue` are green too.
"""

from __future__ import annotations

import errno
import logging
import sys

import pytest
from patched import start_os_thread

import green
from green import socket as green_socket
from green import tpool
from green._stdlib import original
from green.queue import LightQueue, Queue, SimpleQueue
from green.thread import LockType, RLock

_real_time = original("time")

PRODUCERS = 4
ITEMS = 5_000
CONSUMERS = 8
HANDOFFS = 10_000


def _report(label: str, count: int, started: float) -> None:
    elapsed = _real_time.monotonic() - started
    print(f"{label}: {count} in {elapsed:.3f} s ({count / elapsed:,.0f}/s)")


@pytest.mark.parametrize("queue_class", [Queue, LightQueue, SimpleQueue])
def test_os_threads_to_green_consumers(queue_class):
    """4 OS threads x 5,000 items through one queue to 8 green consumers: every item once."""
    items = queue_class()
    received: list[tuple[int, int]] = []
    started = _real_time.monotonic()

    def produce(producer: int) -> None:
        for number in range(ITEMS):
            items.put((producer, number))

    def consume() -> None:
        while True:
            item = items.get()
            if item is None:
                return
            received.append(item)

    consumers = [green.spawn(consume) for _ in range(CONSUMERS)]
    joins = [start_os_thread(lambda producer=producer: produce(producer)) for producer in range(PRODUCERS)]
    for join in joins:
        assert join()
    for _ in consumers:
        items.put(None)
    for consumer in consumers:
        consumer.wait()
    _report(f"OS -> green via {queue_class.__name__}", len(received), started)
    assert sorted(received) == [
        (producer, number) for producer in range(PRODUCERS) for number in range(ITEMS)
    ]


@pytest.mark.parametrize("queue_class", [Queue, SimpleQueue])
def test_green_producers_to_os_consumers(queue_class):
    """The reverse: 8 green producers, 4 OS consumer threads blocking in get()."""
    items = queue_class()
    per_producer = PRODUCERS * ITEMS // CONSUMERS
    received: list[list[tuple[int, int]]] = [[] for _ in range(PRODUCERS)]
    started = _real_time.monotonic()

    def consume(index: int) -> None:
        while True:
            item = items.get()
            if item is None:
                return
            received[index].append(item)

    joins = [start_os_thread(lambda index=index: consume(index)) for index in range(PRODUCERS)]

    def produce(producer: int) -> None:
        for number in range(per_producer):
            items.put((producer, number))
            if number % 100 == 0:
                green.sleep(0)

    producers = [green.spawn(produce, producer) for producer in range(CONSUMERS)]
    for producer in producers:
        producer.wait()
    for _ in joins:
        items.put(None)
    for join in joins:
        assert join()
    everything = sorted(item for part in received for item in part)
    _report(f"green -> OS via {queue_class.__name__}", len(everything), started)
    assert everything == [
        (producer, number) for producer in range(CONSUMERS) for number in range(per_producer)
    ]


def test_bounded_queue_both_ways_blocks_and_wakes():
    """A small bounded queue: OS producers block in put() until green consumers make room."""
    items = Queue(maxsize=4)
    total = 2_000
    received: list[int] = []

    def consume() -> None:
        for _ in range(total):
            received.append(items.get())

    consumer = green.spawn(consume)
    join = start_os_thread(lambda: [items.put(number) for number in range(total)])
    consumer.wait()
    assert join()
    assert received == list(range(total))


@pytest.mark.parametrize("lock_class", [LockType, RLock])
def test_lock_hand_offs_each_way(lock_class):
    """10,000 hand-offs green -> OS thread and 10,000 back, with two locks as a ping-pong."""
    ping, pong = LockType(), LockType()
    ping.acquire()
    pong.acquire()
    counter = [0]
    started = _real_time.monotonic()

    def os_side() -> None:
        for _ in range(HANDOFFS):
            assert ping.acquire(timeout=30)
            counter[0] += 1
            pong.release()

    join = start_os_thread(os_side)
    for expected in range(1, HANDOFFS + 1):
        ping.release()
        assert pong.acquire(timeout=30)
        assert counter[0] == expected
    assert join()
    _report("lock hand-offs, each way", HANDOFFS, started)

    # Mutual exclusion under contention: OS threads and green threads on one lock.
    lock = lock_class()
    shared = [0]

    def bump(times: int) -> None:
        for _ in range(times):
            with lock:
                value = shared[0]
                shared[0] = value + 1

    joins = [start_os_thread(lambda: bump(2_000)) for _ in range(2)]
    workers = [green.spawn(bump, 2_000) for _ in range(4)]
    for worker in workers:
        worker.wait()
    for join in joins:
        assert join()
    assert shared[0] == 12_000


def test_event_and_semaphore_from_os_threads():
    """green.Event sent and green.Semaphore released from OS threads wake green waiters, and
    OS threads wait on them too."""
    event = green.Event()
    join = start_os_thread(lambda: (_real_time.sleep(0.01), event.send("from OS")))
    assert event.wait() == "from OS"
    assert join()

    semaphore = green.Semaphore(0)
    joins = [start_os_thread(semaphore.release) for _ in range(20)]
    for _ in range(20):
        assert semaphore.acquire(timeout=30)
    for join in joins:
        assert join()

    back = green.Event()
    seen = []
    join = start_os_thread(lambda: seen.append(back.wait()))
    green.sleep(0.01)
    back.send("from green")
    assert join()
    assert seen == ["from green"]


def test_wait_with_timeout_races_os_wake_without_loss():
    """Short timeouts racing wake-ups from an OS thread: an item is either returned or still in
    the queue, never lost."""
    items = Queue()
    total = 3_000
    received: list[int] = []

    def consume() -> None:
        while len(received) < total:
            try:
                received.append(items.get(timeout=0.0005))
            except Exception as error:  # queue.Empty
                assert type(error).__name__ == "Empty"

    consumer = green.spawn(consume)
    join = start_os_thread(lambda: [items.put(number) for number in range(total)])
    consumer.wait()
    assert join()
    assert sorted(received) == list(range(total))


def test_logging_from_tpool_workers_and_green_threads():
    """20 tpool workers and 100 green threads log through one handler: every line written, no
    deadlock (OpenStack's classic hang with patched logging locks)."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("green.tests.threads")
    handler = Collect()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    lines = 50
    try:

        def os_work(worker: int) -> None:
            for line in range(lines):
                logger.info("tpool %d %d", worker, line)

        def green_work(index: int) -> None:
            for line in range(lines):
                logger.info("green %d %d", index, line)
                if line % 10 == 0:
                    green.sleep(0)

        pool = green.GreenPool(200)
        for worker in range(20):
            pool.spawn(tpool.execute, os_work, worker)
        for index in range(100):
            pool.spawn(green_work, index)
        pool.waitall()
    finally:
        logger.removeHandler(handler)
    assert len(records) == 120 * lines
    assert len(set(records)) == 120 * lines


@pytest.mark.parametrize("direction", ["read", "write"])
def test_socket_closed_in_another_os_thread_wakes_waiter(direction):
    """A green thread waiting on a socket wakes at once with EBADF when an OS thread closes it."""
    left, right = green_socket.socketpair()
    try:
        if direction == "write":
            left.setblocking(False)
            try:
                while True:
                    left.send(b"x" * 65536)
            except BlockingIOError:
                pass
            left.setblocking(True)
        errors: list[BaseException] = []

        def wait() -> None:
            try:
                if direction == "read":
                    left.recv(1)
                else:
                    left.sendall(b"y" * 65536)
            except OSError as error:
                errors.append(error)

        waiter = green.spawn(wait)
        green.sleep(0.01)  # parked on the fd now
        started = _real_time.monotonic()
        assert start_os_thread(left.close)()
        with green.Timeout(10):
            waiter.wait()
        assert _real_time.monotonic() - started < 5
        assert errors and errors[0].errno == errno.EBADF, errors
    finally:
        left.close()
        right.close()


def test_os_thread_without_hub_waits_on_a_real_lock():
    """A plain OS thread waiting on a green primitive gets no hub (no fds) and no busy loop."""
    from green.hubs import existing_hub

    items = Queue()
    seen = []

    def consume() -> None:
        seen.append(items.get(timeout=30))
        seen.append(existing_hub())

    join = start_os_thread(consume)
    green.sleep(0.01)
    items.put("item")
    assert join()
    assert seen == ["item", None]


def test_socket_module_is_usable_from_os_thread():
    """Sanity: a green socket pair used entirely inside an OS thread (its own hub)."""

    def work() -> None:
        left, right = green_socket.socketpair()
        with left, right:
            right.sendall(b"ping")
            assert left.recv(4) == b"ping"

    assert start_os_thread(work)()


def test_green_thread_waited_for_from_os_threads():
    """GreenThread.wait() from a plain OS thread and from another OS thread's hub returns the
    result (before: it switched into the green thread's hub from the wrong OS thread)."""
    release = green.Event()
    thread = green.spawn(lambda: (release.wait(), "result")[1])
    seen: list[object] = []

    def in_plain_thread() -> None:
        seen.append(thread.wait())

    def in_green_thread_of_other_os_thread() -> None:
        seen.append(green.spawn(thread.wait).wait())

    joins = [start_os_thread(in_plain_thread), start_os_thread(in_green_thread_of_other_os_thread)]
    green.sleep(0.02)
    release.send()
    for join in joins:
        assert join()
    assert seen == ["result", "result"]
    # Finished already: returns at once, from anywhere.
    again: list[object] = []
    assert start_os_thread(lambda: again.append(thread.wait()))()
    assert again == ["result"]


def test_idle_tpool_workers_do_not_hide_a_deadlock():
    """Once tpool has run, its idle workers (real OS threads waiting for jobs) cannot wake
    anybody: a green deadlock is still reported with LoopExit instead of hanging.

    In a fresh interpreter: in this one, an OS thread another test left running (which may wake
    a green thread, so it rightly holds off LoopExit) would make the answer depend on test order.
    """
    program = (
        "import green\n"
        "from green import tpool\n"
        "assert tpool.execute(lambda: 42) == 42\n"
        "try:\n"
        "    green.Event().wait()\n"
        "except green.LoopExit:\n"
        "    print('pass')\n"
    )
    done = original("subprocess").run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=50
    )
    assert done.stdout.strip() == "pass", done.stderr
