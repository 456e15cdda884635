"""grpcio's sync API under monkey_patch(), as it is today (README, "gRPC"):

* a sync client call blocks the whole hub while it waits (grpc's C core polls its own completion
  queue): 5 green threads making 0.3 s calls take 5 x 0.3 s and the hub does not turn;
* the same calls through green.tpool overlap and the hub keeps turning (the recommended way);
* a grpc.server() in a monkey-patched process never finishes start(): its serving thread is a
  green thread blocked in the C core's poll, so run gRPC servers in an unpatched process.
"""

import green

green.monkey_patch()

import gc  # noqa: E402
import sys  # noqa: E402

import grpc  # noqa: E402
from _common import concurrently  # noqa: E402

from green import tpool  # noqa: E402
from green.patcher import original  # noqa: E402

real_subprocess = original("subprocess")
server = real_subprocess.Popen(
    [sys.executable, "_grpc_server.py"], stdin=real_subprocess.PIPE, stdout=real_subprocess.PIPE, text=True
)
port = int(server.stdout.readline())


def check_client(port):
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    slow = channel.unary_unary("/green.Test/Slow")
    assert slow(b"0", timeout=10) == b"0"

    elapsed, results, ticks = concurrently(5, lambda number: slow(b"0.3", timeout=10))
    assert results == [b"0.3"] * 5
    assert elapsed >= 5 * 0.3 * 0.9, f"direct calls overlapped ({elapsed:.2f} s): update the README"
    assert ticks <= 5, f"the hub turned {ticks} times during direct calls: update the README"
    print(f"grpc direct: 5 x 0.3 s in {elapsed:.2f} s, {ticks} hub ticks (blocks the hub)")

    elapsed, results, ticks = concurrently(5, lambda number: tpool.execute(slow, b"0.3", timeout=10))
    assert results == [b"0.3"] * 5
    assert elapsed < 5 * 0.3 / 2, elapsed
    assert ticks >= 10, ticks
    print(f"grpc through tpool: 5 x 0.3 s in {elapsed:.2f} s, {ticks} hub ticks")
    channel.close()


check_client(port)
gc.collect()  # grpc's call-state finalizers take a lock: let them run now, not at exit
server.stdin.close()
server.wait(10)

patched = real_subprocess.Popen(
    [sys.executable, "_grpc_server.py", "--patched"], stdin=real_subprocess.PIPE, stdout=real_subprocess.PIPE
)
try:
    output, _ = patched.communicate(timeout=3)
except real_subprocess.TimeoutExpired:
    output = None  # still inside server.start()
finally:
    patched.kill()
    patched.wait()
assert output is None, f"a monkey-patched grpc.server() started ({output!r}): update the README"
print("pass")
