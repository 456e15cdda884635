"""After monkey_patch(): threading's Lock, RLock, Condition, Semaphore, Event, Barrier and queue's
Queue and SimpleQueue shared between green threads and real OS threads (one started *before*
patching, others from the original `_thread`, tpool workers); logging from 20 tpool workers
while 100 green threads log (patched logging locks) writes every line."""

import threading as early_threading

# A real OS thread started before patching; it serves requests through a queue made later.
_handoff = []
_handoff_ready = early_threading.Event()
_early_done = early_threading.Event()


def _early_worker():
    _handoff_ready.wait()
    requests, replies = _handoff
    while True:
        item = requests.get()
        if item is None:
            break
        replies.put(item * 2)
    _early_done.set()


_early = early_threading.Thread(target=_early_worker, daemon=True)
_early.start()

import warnings  # noqa: E402

import green  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # the early thread is there on purpose
    green.monkey_patch()

import io  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import threading  # noqa: E402

from green import tpool  # noqa: E402
from green._stdlib import original  # noqa: E402

_real_thread = original("_thread")
_real_time = original("time")


def _watchdog() -> None:
    _real_time.sleep(40)
    os.write(2, b"threads_shared_patched: hung\n")
    os._exit(1)


_real_thread.start_new_thread(_watchdog, ())


def os_thread(function):
    done = _real_thread.allocate_lock()
    done.acquire()
    started = _real_thread.allocate_lock()
    started.acquire()

    def run():
        started.release()
        try:
            function()
        finally:
            done.release()

    _real_thread.start_new_thread(run, ())
    started.acquire()

    def join():
        while not done.acquire(False):
            green.sleep(0.001)

    return join


# The thread started before patching, fed by patched queues.
requests, replies = queue.Queue(), queue.SimpleQueue()
_handoff[:] = [requests, replies]
_handoff_ready.set()
for number in range(1000):
    requests.put(number)
assert sorted(replies.get(timeout=10) for _ in range(1000)) == [n * 2 for n in range(1000)]
requests.put(None)
_early.join(10)
assert _early_done.is_set() and not _early.is_alive()

# Condition: OS threads notify, green threads wait (and the reverse), nothing lost.
condition = threading.Condition()
box = []
consumed = []


def green_consumer(count):
    for _ in range(count):
        with condition:
            while not box:
                condition.wait(10)
            consumed.append(box.pop())
            condition.notify_all()


def os_producer(base, count):
    for number in range(count):
        with condition:
            while len(box) >= 5:
                condition.wait(10)
            box.append(base + number)
            condition.notify_all()


joins = [os_thread(lambda base=base: os_producer(base, 500)) for base in (0, 10_000)]
consumers = [threading.Thread(target=green_consumer, args=(250,)) for _ in range(4)]
for consumer in consumers:
    consumer.start()
for consumer in consumers:
    consumer.join()
for join in joins:
    join()
assert sorted(consumed) == list(range(500)) + list(range(10_000, 10_500)), len(consumed)

# Semaphore and Event across OS threads.
semaphore = threading.Semaphore(0)
joins = [os_thread(semaphore.release) for _ in range(50)]
for _ in range(50):
    assert semaphore.acquire(timeout=10)
for join in joins:
    join()
event = threading.Event()
seen = []
joins = [os_thread(lambda: seen.append(event.wait(10))) for _ in range(3)]
green.sleep(0.01)
event.set()
for join in joins:
    join()
assert seen == [True, True, True]

# Barrier: 2 OS threads and 2 green threads meet three times.
barrier = threading.Barrier(4)
rounds = []


def meet():
    for _ in range(3):
        rounds.append(barrier.wait(10))


joins = [os_thread(meet) for _ in range(2)]
greens = [threading.Thread(target=meet) for _ in range(2)]
for thread in greens:
    thread.start()
for thread in greens:
    thread.join()
for join in joins:
    join()
assert sorted(rounds) == sorted(list(range(4)) * 3)

# RLock held across a green switch is exclusive against an OS thread.
rlock = threading.RLock()
order = []
with rlock:
    join = os_thread(lambda: (rlock.acquire(), order.append("os"), rlock.release()))
    with rlock:
        green.sleep(0.01)
        order.append("green")
join()
assert order == ["green", "os"]

# Logging: 20 tpool workers and 100 green threads share the patched handler locks.
stream = io.StringIO()
handler = logging.StreamHandler(stream)
handler.setFormatter(logging.Formatter("%(message)s"))
logger = logging.getLogger("shared")
logger.addHandler(handler)
logger.setLevel(logging.INFO)
logger.propagate = False
LINES = 50


def os_logging(worker):
    for line in range(LINES):
        logger.info("tpool %d %d", worker, line)


def green_logging(index):
    for line in range(LINES):
        logger.info("green %d %d", index, line)
        if line % 5 == 0:
            green.sleep(0)


pool = green.GreenPool(200)
for worker in range(20):
    pool.spawn(tpool.execute, os_logging, worker)
for index in range(100):
    pool.spawn(green_logging, index)
pool.waitall()
written = stream.getvalue().splitlines()
assert len(written) == 120 * LINES and len(set(written)) == 120 * LINES, len(written)
print("pass")
