"""tpool after monkey_patch(): its workers are real OS threads, so execute() returns while the
hub keeps running (before the fix they were green threads blocked in a real SimpleQueue.get()
and the first execute() hung the process)."""

import green

green.monkey_patch()

import os  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from green import tpool  # noqa: E402
from green._stdlib import original  # noqa: E402

_real_thread = original("_thread")
_real_time = original("time")


def _watchdog() -> None:
    # A hung hub cannot run a green Timeout: a real OS thread ends the process instead.
    _real_time.sleep(20)
    os.write(2, b"tpool_patched: hung\n")
    os._exit(1)


_real_thread.start_new_thread(_watchdog, ())

assert tpool.execute(lambda: 42) == 42

# The call runs in another OS thread, not a green thread of this one.
main_ident = _real_thread.get_ident()
assert tpool.execute(_real_thread.get_ident) != main_ident

# Green threads keep running while workers block in the real time.sleep.
ticks = []
stop = threading.Event()


def tick() -> None:
    while not stop.is_set():
        ticks.append(1)
        time.sleep(0.01)


ticker = threading.Thread(target=tick)
ticker.start()
started = time.monotonic()
threads = [threading.Thread(target=tpool.execute, args=(_real_time.sleep, 0.3)) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
elapsed = time.monotonic() - started
stop.set()
ticker.join()
assert elapsed < 2.0, elapsed  # eight 0.3 s sleeps in parallel, not one after the other
assert len(ticks) >= 10, len(ticks)

# Exceptions come back; a nested execute inside a worker runs there directly.
try:
    tpool.execute(int, "not a number")
except ValueError:
    pass
else:
    raise AssertionError("ValueError expected")
assert tpool.execute(lambda: tpool.execute(_real_thread.get_ident)) != main_ident

# A patched lock shared with a worker: the worker's release wakes the green waiter.
lock = threading.Lock()
lock.acquire()
tpool.execute(lock.release)
assert lock.acquire(timeout=5)
lock.release()

# The pool stops and starts again.
tpool.killall()
assert tpool.execute(lambda: "again") == "again"
print("pass")
