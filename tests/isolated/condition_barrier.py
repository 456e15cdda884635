"""threading primitives between green Threads: Condition (producer/consumer, wait timeout),
Barrier (with abort), Semaphore, Event, Timer, RLock, local, join(timeout), enumerate,
active_count, current_thread, main_thread."""

import green

green.monkey_patch()

import threading  # noqa: E402
import time  # noqa: E402

import green.thread  # noqa: E402

# Condition: a producer hands items to consumers.
items = []
condition = threading.Condition()
consumed = []


def consumer():
    with condition:
        while not items:
            condition.wait()
        consumed.append(items.pop())


consumers = [threading.Thread(target=consumer) for _ in range(5)]
for thread in consumers:
    thread.start()
for number in range(5):
    with condition:
        items.append(number)
        condition.notify()
for thread in consumers:
    thread.join()
assert sorted(consumed) == list(range(5))
with condition:
    started = time.monotonic()
    assert condition.wait(0.05) is False
    assert 0.04 < time.monotonic() - started < 0.5
    assert condition.wait_for(lambda: True, 1)

# Barrier: parties meet; one index each; abort breaks waiters.
barrier = threading.Barrier(4)
indexes = []
threads = [threading.Thread(target=lambda: indexes.append(barrier.wait())) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert sorted(indexes) == [0, 1, 2, 3]
broken = []


def waits_for_abort():
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        broken.append(True)


waiter = threading.Thread(target=waits_for_abort)
waiter.start()
time.sleep(0.01)
barrier.abort()
waiter.join()
assert broken == [True]

# Semaphore bounds concurrency.
semaphore = threading.BoundedSemaphore(3)
inside = [0]
peak = [0]


def limited():
    with semaphore:
        inside[0] += 1
        peak[0] = max(peak[0], inside[0])
        time.sleep(0.01)
        inside[0] -= 1


threads = [threading.Thread(target=limited) for _ in range(10)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert peak[0] == 3

# Event, Timer, join(timeout), is_alive, enumerate, active_count, names, idents.
event = threading.Event()
timer = threading.Timer(0.05, event.set)
timer.start()
assert event.wait(2)
timer.join()
sleeper = threading.Thread(target=time.sleep, args=(0.3,), name="sleeper")
sleeper.start()
sleeper.join(0.05)
assert sleeper.is_alive()
assert sleeper in threading.enumerate()
assert threading.active_count() == 2
assert threading.current_thread() is threading.main_thread()
assert threading.get_ident() == threading.main_thread().ident
idents = []
threading.Thread(
    target=lambda: idents.append((threading.current_thread().name, threading.get_ident()))
).start()
sleeper.join()
assert not sleeper.is_alive()
assert idents and idents[0][1] != threading.main_thread().ident

# RLock is green and reentrant; a foreign release fails.
rlock = threading.RLock()
assert isinstance(rlock, green.thread.RLock)
with rlock, rlock:
    pass
rlock.acquire()
errors = []


def foreign_release():
    try:
        rlock.release()
    except RuntimeError:
        errors.append(True)


thread = threading.Thread(target=foreign_release)
thread.start()
thread.join()
rlock.release()
assert errors == [True]

# local: per green thread.
data = threading.local()
data.value = "main"
seen = []


def read_local():
    seen.append(getattr(data, "value", None))
    data.value = "thread"


thread = threading.Thread(target=read_local)
thread.start()
thread.join()
assert seen == [None] and data.value == "main"

# Lock with timeout while another thread holds it.
lock = threading.Lock()
lock.acquire()
started = time.monotonic()
results = []
thread = threading.Thread(target=lambda: results.append(lock.acquire(timeout=0.05)))
thread.start()
thread.join()
assert results == [False] and time.monotonic() - started < 0.5
lock.release()
print("pass")
