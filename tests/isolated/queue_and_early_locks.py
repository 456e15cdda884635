"""queue.Queue and queue.SimpleQueue are cooperative after patching (a blocked get parks only its
green thread), and an RLock created before patching is replaced by a green one: it excludes the
other green threads of its OS thread (a real RLock let them all in, as they share its ident)
without blocking the hub."""

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

# The early RLock (green now): held by one green thread across a switch, waited for by another.
order = []
inside, proceed = threading.Event(), threading.Event()


def holder():
    with early_rlock:
        order.append("holder in")
        inside.set()
        proceed.wait(5)
        order.append("holder out")


def other():
    inside.wait(5)
    taken = early_rlock.acquire(False)  # a real RLock let every green thread of its OS thread in
    proceed.set()
    assert not taken, "the early RLock let a second green thread in"
    with early_rlock:  # parks until the holder is out; the hub keeps running
        order.append("other")


threads = [threading.Thread(target=holder), threading.Thread(target=other)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(5)
assert not any(thread.is_alive() for thread in threads)
assert order == ["holder in", "holder out", "other"], order
print("pass")
