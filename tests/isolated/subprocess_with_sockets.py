"""subprocess.run / check_output / Popen.communicate / wait with timeouts run concurrently with
socket I/O: a ping-pong over a socketpair keeps going while children run, and waiting for a
child never blocks the hub."""

import green

green.monkey_patch()

import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

left, right = socket.socketpair()
round_trips = [0]
stop = threading.Event()


def pinger():
    while not stop.is_set():
        left.sendall(b"x")
        assert left.recv(1) == b"x"
        round_trips[0] += 1
        time.sleep(0.001)


def ponger():
    while True:
        data = right.recv(1)
        if not data:
            return
        right.sendall(data)


threads = [threading.Thread(target=pinger), threading.Thread(target=ponger)]
for thread in threads:
    thread.start()

# run with captured output and input.
before = round_trips[0]
result = subprocess.run(
    [sys.executable, "-c", "import sys, time; time.sleep(0.3); print(sys.stdin.read().upper())"],
    input=b"hello",
    capture_output=True,
    timeout=10,
)
assert result.returncode == 0 and result.stdout.strip() == b"HELLO", result
assert round_trips[0] - before > 20, "socket I/O stalled while the child ran"

# check_output in text mode; CalledProcessError for a failure.
assert subprocess.check_output([sys.executable, "-c", "print('hi')"], text=True) == "hi\n"
try:
    subprocess.run([sys.executable, "-c", "raise SystemExit(3)"], check=True)
except subprocess.CalledProcessError as failure:
    assert failure.returncode == 3
else:
    raise AssertionError("no CalledProcessError")

# A timeout kills the child and keeps the partial output.
started = time.monotonic()
try:
    subprocess.run(
        [sys.executable, "-u", "-c", "import time; print('partial', flush=True); time.sleep(30)"],
        capture_output=True,
        timeout=0.5,
    )
except subprocess.TimeoutExpired as expired:
    assert b"partial" in (expired.stdout or b""), expired.stdout
else:
    raise AssertionError("no TimeoutExpired")
assert time.monotonic() - started < 5

# communicate() again after a timeout continues; wait(timeout) raises then succeeds.
process = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(0.3); print('done')"], stdout=subprocess.PIPE
)
try:
    process.communicate(timeout=0.05)
except subprocess.TimeoutExpired:
    pass
else:
    raise AssertionError("no TimeoutExpired")
out, _ = process.communicate(timeout=10)
assert out == b"done\n", out
process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
try:
    process.wait(timeout=0.05)
except subprocess.TimeoutExpired:
    pass
assert process.wait(timeout=10) == 0

# Ten children at once finish in about the time of one.
started = time.monotonic()
children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.4)"]) for _ in range(10)]
waiters = [threading.Thread(target=child.wait) for child in children]
for thread in waiters:
    thread.start()
for thread in waiters:
    thread.join()
assert all(child.returncode == 0 for child in children)
assert time.monotonic() - started < 3

# os.waitpid parks only the caller.
pid = os.fork()
if pid == 0:
    time.sleep(0.2)
    os._exit(7)
before = round_trips[0]
waited_pid, status = os.waitpid(pid, 0)
assert waited_pid == pid and os.waitstatus_to_exitcode(status) == 7
assert round_trips[0] - before > 10, "waitpid blocked the hub"

stop.set()
threads[0].join()
left.close()
threads[1].join()
right.close()
print("pass")
