"""pymemcache under monkey_patch(): a pooled client shared by many green threads, and a client
whose server never answers times out without blocking the hub."""

import green

green.monkey_patch()

import socket  # noqa: E402
import time  # noqa: E402

from _common import Ticker, concurrently, server  # noqa: E402
from pymemcache.client.base import Client, PooledClient  # noqa: E402
from pymemcache.exceptions import MemcacheUnexpectedCloseError  # noqa: E402

host, port = server("memcached")
# pymemcache's pool raises instead of waiting when exhausted: size it to the concurrency. Its
# default noreply=True makes set() not wait for the server; these checks read back at once.
client = PooledClient((host, port), max_pool_size=100, connect_timeout=10, timeout=10, default_noreply=False)


def roundtrip(number):
    client.set(f"key{number}", str(number).encode())
    return int(client.get(f"key{number}"))


elapsed, results, ticks = concurrently(100, roundtrip)
assert results == list(range(100))
print(f"pymemcache: 100 green threads doing set/get over a pool of up to 100 connections in {elapsed:.2f} s")
assert client.incr("counter", 1) is None
client.set("counter", b"0")
concurrently(50, lambda number: client.incr("counter", 1))
assert int(client.get("counter")) == 50
client.close()

# A server that accepts and never answers (memcached always answers at once): 10 clients each
# wait their 0.5 s timeout at the same time, on the hub.
silent = socket.socket()
silent.bind(("127.0.0.1", 0))
silent.listen(20)
silent_address = silent.getsockname()
accepted = []


def accept_forever():
    while True:
        accepted.append(silent.accept()[0])


acceptor = green.spawn(accept_forever)


def stalled(number):
    stuck = Client(silent_address, connect_timeout=5, timeout=0.5)
    try:
        stuck.get("anything")
    except TimeoutError:
        return "timed out"
    except MemcacheUnexpectedCloseError:
        return "closed"
    finally:
        stuck.close()
    return "answered"


ticker = Ticker()
started = time.monotonic()
outcomes = list(green.GreenPool(10).imap(stalled, range(10)))
elapsed = time.monotonic() - started
ticks = ticker.stop()
assert outcomes == ["timed out"] * 10, outcomes
assert elapsed < 10 * 0.5 / 3, elapsed
assert ticks > 10, ticks
acceptor.kill()
for connection in accepted:
    connection.close()
silent.close()
print("pass")
