"""Instructions per operation, counted by valgrind: a figure a busy machine does not blur.

    python benchmarks/instructions.py [--libraries green gevent] [--cases pingpong sleep0 ...]

Each case runs in a fresh interpreter under ``valgrind --tool=callgrind`` twice, with a small and
a large number of operations; the difference of the two instruction totals divided by the
difference of the sizes is the cost of one operation in user space, without the interpreter's
start-up and imports. Kernel time (system calls) is not counted. It takes about 20 s per run;
run.py does not run this script. Needs valgrind (``apt-get install valgrind``).

Cases (each library's own primitives):

pingpong   a round trip of a token through two queues between two green threads
sleep0     one ``sleep(0)`` of one of 100 green threads
handoff    a round trip through two semaphores of counter 0 between two green threads
event      a round trip through two events between two green threads (set, then wait and clear:
           eventlet's and green's send/wait/reset, gevent's set/wait/clear, as bound methods)
spawnjoin  spawn a green thread running an empty function, then join it (all spawned first)
sockpp     a round trip of 64 bytes through a socketpair between two green threads
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

CASES = ("pingpong", "sleep0", "handoff", "event", "spawnjoin", "sockpp")
SIZES = (10_000, 30_000)

CHILD = r"""
import sys
library, case, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
if library == "green":
    import green
    from green import socket as green_socket
    from green.semaphore import Semaphore
    spawn, sleep, Queue, join, sock = green.spawn, green.sleep, green.Queue, (lambda t: t.wait()), green_socket
    Event, SET, CLEAR = green.Event, "send", "reset"
elif library == "gevent":
    import gevent, gevent.lock, gevent.queue
    from gevent import socket as gevent_socket
    spawn, sleep, Queue, join, sock = gevent.spawn, gevent.sleep, gevent.queue.Queue, (lambda t: t.join()), gevent_socket
    Semaphore = gevent.lock.Semaphore
    import gevent.event
    Event, SET, CLEAR = gevent.event.Event, "set", "clear"
else:
    import eventlet, eventlet.queue, eventlet.semaphore
    from eventlet.green import socket as eventlet_socket
    spawn, sleep, Queue, join, sock = eventlet.spawn, eventlet.sleep, eventlet.queue.Queue, (lambda t: t.wait()), eventlet_socket
    Semaphore = eventlet.semaphore.Semaphore
    import eventlet.event
    Event, SET, CLEAR = eventlet.event.Event, "send", "reset"

def pingpong():
    ping, pong = Queue(), Queue()
    def echo():
        for _ in range(count):
            pong.put(ping.get())
    thread = spawn(echo)
    for number in range(count):
        ping.put(number)
        pong.get()
    join(thread)

def sleep0():
    def loop():
        for _ in range(count // 100):
            sleep(0)
    for thread in [spawn(loop) for _ in range(100)]:
        join(thread)

def handoff():
    first, second = Semaphore(0), Semaphore(0)
    def other():
        for _ in range(count):
            first.acquire()
            second.release()
    thread = spawn(other)
    for _ in range(count):
        first.release()
        second.acquire()
    join(thread)

def event():
    ping, pong = Event(), Event()
    ping_wait, ping_clear, ping_set = ping.wait, getattr(ping, CLEAR), getattr(ping, SET)
    pong_wait, pong_clear, pong_set = pong.wait, getattr(pong, CLEAR), getattr(pong, SET)
    def other():
        for _ in range(count):
            ping_wait()
            ping_clear()
            pong_set()
    thread = spawn(other)
    for _ in range(count):
        ping_set()
        pong_wait()
        pong_clear()
    join(thread)

def spawnjoin():
    for thread in [spawn(lambda: None) for _ in range(count)]:
        join(thread)

def sockpp():
    left, right = sock.socketpair()
    message = b"x" * 64
    def echo():
        for _ in range(count):
            right.sendall(right.recv(64))
    thread = spawn(echo)
    for _ in range(count):
        left.sendall(message)
        left.recv(64)
    join(thread)
    left.close()
    right.close()

globals()[case]()
"""


def instructions(library: str, case: str, count: int) -> int:
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", CHILD,
         library, case, str(count)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    for line in result.stderr.splitlines():
        if "Collected :" in line:
            return int(line.split(":")[-1])
    raise RuntimeError(f"no instruction count from valgrind:\n{result.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--libraries", nargs="+", default=["green", "gevent"], choices=["green", "gevent", "eventlet"]
    )
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    arguments = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: apt-get install valgrind")
        return 1
    print(
        f"{'case':<10} "
        + " ".join(f"{name:>12}" for name in arguments.libraries)
        + "   (instructions per operation)"
    )
    for case in arguments.cases:
        row = []
        for library in arguments.libraries:
            small, large = (instructions(library, case, size) for size in SIZES)
            row.append((large - small) // (SIZES[1] - SIZES[0]))
        print(f"{case:<10} " + " ".join(f"{value:>12,}" for value in row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
