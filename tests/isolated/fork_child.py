"""os.fork() in a patched process: the child gets a working hub (sleep, sockets, subprocess) and
only the green thread that forked survives there (threading reports one thread; the others'
work stops). Forking from a non-main green thread: the child ends when that thread ends. The
parent is unaffected and collects the children with a green os.waitpid."""

import green

green.monkey_patch()

import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

ticks = [0]
stop = threading.Event()


def ticker():
    while not stop.is_set():
        ticks[0] += 1
        time.sleep(0.005)


tick_thread = threading.Thread(target=ticker, name="ticker")
tick_thread.start()
time.sleep(0.02)


def child_checks():
    problems = []
    before = ticks[0]
    time.sleep(0.1)
    if ticks[0] != before:
        problems.append("the parent's ticker ran in the child")
    if threading.active_count() != 1:
        problems.append(f"threads in the child: {threading.enumerate()}")
    left, right = socket.socketpair()
    echo = threading.Thread(target=lambda: right.sendall(right.recv(10)))
    echo.start()
    left.sendall(b"ping")
    if left.recv(10) != b"ping":
        problems.append("socket round trip failed")
    echo.join()
    left.close()
    right.close()
    if subprocess.run([sys.executable, "-c", "pass"], timeout=10).returncode != 0:
        problems.append("subprocess failed")
    return problems


pid = os.fork()
if pid == 0:
    problems = child_checks()
    if problems:
        print("child:", problems, flush=True)
    os._exit(1 if problems else 0)
before = ticks[0]
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
assert ticks[0] > before, "the parent's ticker stopped while waiting for the child"

# Fork from a non-main green thread: the child runs that thread to its end, then exits 0,
# never returning into the main green thread's code.
read_end, write_end = os.pipe()
forked = []


def fork_here():
    child = os.fork()
    if child == 0:
        os.write(write_end, b"child thread ran;")
        return  # the child exits here
    forked.append(child)


thread = threading.Thread(target=fork_here)
thread.start()
thread.join()
_, status = os.waitpid(forked[0], 0)
os.close(write_end)
written = b""
while True:
    chunk = os.read(read_end, 100)
    if not chunk:
        break
    written += chunk
os.close(read_end)
assert os.waitstatus_to_exitcode(status) == 0, status
assert written == b"child thread ran;", written

stop.set()
tick_thread.join()
print("pass")
