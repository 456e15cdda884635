"""queue.Queue and queue.SimpleQueue are cooperative after patching (a blocked get parks only its
green thread), and locks created before patching never deadlock the process: a real RLock is
shared by green threads of one OS thread (same ident) without blocking the hub."""

import threading as early_threading

early_rlock = early_threading.RLock()  # a real C RLock

import green  # noqa: E402

green.monkey_patch()

import queue  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

for kind in (queue.Queue, queue.SimpleQueue, queue.LifoQueue):
    items = kind()
    got = []
    consumer = threading.Thread(target=lambda q=items, into=got: into.append(q.get(timeout=5)))
    consumer.start()
    time.sleep(0.02)  # the consumer is parked in get(); the hub still runs this thread
    items.put("item")
    consumer.join()
    assert got == ["item"], (kind, got)
    started = time.monotonic()
    try:
        items.get(timeout=0.05)
    except queue.Empty:
        pass
    else:
        raise AssertionError("no Empty")
    assert time.monotonic() - started < 1

# The early real RLock: held by one green thread across a switch, taken by another.
order = []


def holder():
    with early_rlock:
        order.append("holder in")
        time.sleep(0.02)
        order.append("holder out")


def other():
    time.sleep(0.005)
    with early_rlock:  # same OS thread: the real RLock lets it in rather than deadlocking
        order.append("other")


threads = [threading.Thread(target=holder), threading.Thread(target=other)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(5)
assert not any(thread.is_alive() for thread in threads)
assert sorted(order) == ["holder in", "holder out", "other"], order
print("pass")
