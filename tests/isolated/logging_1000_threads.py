"""logging from 1,000 green threads: logging was imported and configured *before* patching (its
module lock and handler lock are real locks then), every record arrives whole, and the hub is
never blocked (a ticker keeps running while the threads log)."""

import io
import logging

handler_stream = io.StringIO()
logging.basicConfig(stream=handler_stream, level=logging.INFO, format="%(threadName)s %(message)s")
log = logging.getLogger("isolated")

import green  # noqa: E402

green.monkey_patch()

import threading  # noqa: E402
import time  # noqa: E402

ticks = []
stop = threading.Event()


def ticker():
    while not stop.is_set():
        ticks.append(1)
        time.sleep(0.001)


def worker(number):
    for step in range(3):
        log.info("worker %d step %d", number, step)
        time.sleep(0)


tick_thread = threading.Thread(target=ticker)
tick_thread.start()
threads = [threading.Thread(target=worker, args=(number,), name=f"w{number}") for number in range(1000)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
stop.set()
tick_thread.join()

lines = handler_stream.getvalue().splitlines()
assert len(lines) == 3000, len(lines)
expected = {f"w{number} worker {number} step {step}" for number in range(1000) for step in range(3)}
assert set(lines) == expected
assert ticks, "the ticker never ran: logging blocked the hub"
# Locks taken over from before patching are green now.
from green.thread import RLock  # noqa: E402

assert isinstance(logging.getLogger().handlers[0].lock, RLock)
print("pass")
