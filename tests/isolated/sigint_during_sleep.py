"""SIGINT during a long time.sleep: KeyboardInterrupt reaches the main green thread at once (the
signal arrives while the hub sleeps in poll), other green threads keep their state; a Python
handler that sets an Event wakes its waiter promptly, and may block (it runs in a green thread)."""

import green

green.monkey_patch()

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

KILLER = "import os, sys, time; time.sleep(float(sys.argv[2])); os.kill(int(sys.argv[1]), int(sys.argv[3]))"


def send_later(signum, delay):
    # Another process sends the signal, so it arrives while this one sleeps in the hub.
    return subprocess.Popen([sys.executable, "-c", KILLER, str(os.getpid()), str(delay), str(int(signum))])


killer = send_later(signal.SIGINT, 0.2)
started = time.monotonic()
try:
    time.sleep(30)
except KeyboardInterrupt:
    elapsed = time.monotonic() - started
else:
    raise AssertionError("no KeyboardInterrupt")
assert elapsed < 5, elapsed
killer.wait()

# A Python handler: runs promptly, in a green thread, and may block on a lock.
event = threading.Event()
lock = threading.Lock()
calls = []


def handler(signum, frame):
    with lock:  # blocking is allowed here: the handler does not run inside the hub
        calls.append(signum)
    event.set()


previous = signal.signal(signal.SIGUSR1, handler)
assert signal.getsignal(signal.SIGUSR1) is handler
assert previous == signal.SIG_DFL
killer = send_later(signal.SIGUSR1, 0.2)
started = time.monotonic()
assert event.wait(10)
assert time.monotonic() - started < 3
assert calls == [signal.SIGUSR1]
killer.wait()
signal.signal(signal.SIGUSR1, signal.SIG_DFL)

# A handler's exception is raised in the main green thread, interrupting its blocking recv.
import socket  # noqa: E402


def raising_handler(signum, frame):
    raise ZeroDivisionError("from the handler")


signal.signal(signal.SIGALRM, raising_handler)
left, right = socket.socketpair()
signal.setitimer(signal.ITIMER_REAL, 0.1)
started = time.monotonic()
try:
    left.recv(10)
except ZeroDivisionError:
    pass
else:
    raise AssertionError("the handler's exception did not interrupt recv")
assert time.monotonic() - started < 3

# pause() parks only the caller until a handler runs.
woken = []
signal.signal(signal.SIGALRM, lambda signum, frame: woken.append(signum))
ticks = [0]


def tick_five_times():
    for _ in range(5):
        ticks[0] += 1
        time.sleep(0.01)


ticking = threading.Thread(target=tick_five_times)
ticking.start()
signal.setitimer(signal.ITIMER_REAL, 0.2)
signal.pause()
assert woken == [signal.SIGALRM]
ticking.join()
assert ticks[0] == 5
signal.signal(signal.SIGALRM, signal.SIG_DFL)
left.close()
right.close()

# Nothing but a signal handler can end this wait: the hub sleeps for it (no LoopExit).
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
killer = send_later(signal.SIGTERM, 0.2)
assert stop.wait()
signal.signal(signal.SIGTERM, signal.SIG_DFL)
killer.wait()
print("pass")
