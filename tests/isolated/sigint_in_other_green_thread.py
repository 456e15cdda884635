"""SIGINT that lands while a green thread other than the main one runs Python code raises
KeyboardInterrupt in the main green thread, as it would with OS threads: the green thread that
happened to run is not disturbed. A second SIGINT while the first is undelivered raises in place
(the way out of a loop that never yields). User handlers' exceptions reach the main one too."""

import green

green.monkey_patch()

import os  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

# The example: a Timer thread sends SIGINT while the main thread sleeps.
hooked = []
threading.excepthook = lambda arguments: hooked.append(arguments.exc_type)
timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
timer.start()
started = time.monotonic()
try:
    time.sleep(30)
except KeyboardInterrupt:
    pass
else:
    raise AssertionError("the main thread never saw KeyboardInterrupt")
assert time.monotonic() - started < 15
timer.join()
assert hooked == [], hooked

# Ctrl-C while a worker computes: the worker finishes its work, the main thread is interrupted.
progress = []


go = threading.Event()  # the signal must come once the main thread waits in join()


def compute():
    go.wait()
    os.kill(os.getpid(), signal.SIGINT)
    total = 0
    for number in range(200_000):  # Python code running while the handler is due
        total += number
    progress.append(total)


worker = threading.Thread(target=compute)
worker.start()
go.set()
try:
    worker.join()
except KeyboardInterrupt:
    pass
else:
    raise AssertionError("join() was not interrupted")
worker.join()
assert progress == [sum(range(200_000))], progress
assert hooked == [], hooked

# Two SIGINTs before the worker yields: the second is raised where it lands.
caught = []


def stubborn():
    try:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100_000):
            pass
    except KeyboardInterrupt:
        caught.append("worker")


worker = threading.Thread(target=stubborn)
worker.start()
worker.join()  # the first SIGINT was consumed by the second: nothing left for the main thread
assert caught == ["worker"], caught
time.sleep(0.01)


# A user handler that raises: raised in the main thread, the worker is untouched.
def raising_handler(signum, frame):
    raise LookupError("from the handler")


signal.signal(signal.SIGUSR1, raising_handler)
progress.clear()
go.clear()


def signal_then_work():
    go.wait()
    os.kill(os.getpid(), signal.SIGUSR1)
    for _ in range(100_000):
        pass
    progress.append("done")


worker = threading.Thread(target=signal_then_work)
worker.start()
go.set()
try:
    worker.join()
except LookupError:
    pass
else:
    raise AssertionError("the handler's exception did not reach the main thread")
worker.join()
assert progress == ["done"]
signal.signal(signal.SIGUSR1, signal.SIG_DFL)

# Restoring the default handler through the green module keeps the behaviour.
assert signal.signal(signal.SIGINT, signal.default_int_handler) is signal.default_int_handler
timer = threading.Timer(0.05, lambda: os.kill(os.getpid(), signal.SIGINT))
timer.start()
try:
    time.sleep(30)
except KeyboardInterrupt:
    pass
else:
    raise AssertionError("no KeyboardInterrupt after reinstalling the default handler")
timer.join()
assert hooked == [], hooked
print("pass")
