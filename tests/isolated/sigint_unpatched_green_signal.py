"""Without monkey-patching: once green.signal handles SIGINT, Ctrl-C while a green thread other
than the main one computes raises KeyboardInterrupt in the main green thread, not in that one."""

import os
import signal

import green
import green.signal

green.signal.signal(signal.SIGINT, signal.default_int_handler)
assert green.signal.getsignal(signal.SIGINT) is signal.default_int_handler

finished = []


def compute():
    os.kill(os.getpid(), signal.SIGINT)
    total = 0
    for number in range(100_000):
        total += number
    finished.append(total)


worker = green.spawn(compute)
try:
    green.sleep(30)
except KeyboardInterrupt:
    pass
else:
    raise AssertionError("the main green thread never saw KeyboardInterrupt")
worker.wait()
assert finished == [sum(range(100_000))], finished
print("pass")
