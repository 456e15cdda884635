"""redis-py under monkey_patch(): plain commands from many green threads, BLPOP with a timeout,
BlockingConnectionPool waiting for a free connection, pub/sub, and a Timeout-cut BLPOP."""

import green

green.monkey_patch()

import time  # noqa: E402

import redis  # noqa: E402
from _common import assert_overlapped, concurrently, open_fds, server  # noqa: E402

host, port = server("redis")
client = redis.Redis(host=host, port=port, socket_connect_timeout=10)
client.flushall()


# Plain commands: 100 green threads share the default pool.
def plain(number):
    client.set(f"key:{number}", number)
    return int(client.get(f"key:{number}"))


elapsed, results, ticks = concurrently(100, plain)
assert results == list(range(100))
assert len(client.connection_pool._available_connections) <= 100

# BLPOP waits on the server: 20 of them with a 1 s timeout (whole seconds on old servers).
COUNT = 20
elapsed, results, ticks = concurrently(COUNT, lambda number: client.blpop(f"empty:{number}", timeout=1))
assert results == [None] * COUNT
assert_overlapped("redis BLPOP", elapsed, ticks, 1.0, COUNT)

# A BLPOP wakes when another green thread pushes.
waiter = green.spawn(client.blpop, "queue", 10)
green.sleep(0.05)
client.rpush("queue", "item")
assert waiter.wait() == (b"queue", b"item")

# BlockingConnectionPool: 12 BLPOPs of 0.5 s over 3 connections take ~4 rounds; the others wait
# for a connection green-ly (the hub keeps turning).
blocking = redis.Redis(
    connection_pool=redis.BlockingConnectionPool(host=host, port=port, max_connections=3, timeout=20)
)
started = time.monotonic()
elapsed, results, ticks = concurrently(12, lambda number: blocking.blpop(f"none:{number}", timeout=0.5))
assert results == [None] * 12
assert elapsed >= 1.9, f"3 connections cannot run 12 half-second BLPOPs in {elapsed:.2f} s"
assert elapsed < 6 * 4 * 0.5, elapsed
assert ticks >= 50, ticks
print(f"BlockingConnectionPool(3): 12 x 0.5 s in {elapsed:.2f} s, {ticks} hub ticks")

# A Timeout cuts a BLPOP: the connection is disconnected, not returned to the pool half-read.
before = open_fds()
for _ in range(5):
    try:
        with green.Timeout(0.1):
            blocking.blpop("never", timeout=5)
    except green.Timeout:
        pass
    else:
        raise AssertionError("the Timeout did not fire")
assert blocking.ping()
assert blocking.rpush("after", "x") == 1 and blocking.lpop("after") == b"x"
assert open_fds() <= before + 3, (before, open_fds())

# Pub/sub: a subscriber green thread receives what another publishes.
pubsub = client.pubsub()
pubsub.subscribe("news")
received = []


def listen():
    for message in pubsub.listen():
        if message["type"] == "message":
            received.append(message["data"])
            if len(received) == 3:
                return


listener = green.spawn(listen)
green.sleep(0.05)
for number in range(3):
    client.publish("news", f"item {number}")
listener.wait()
assert received == [b"item 0", b"item 1", b"item 2"], received
pubsub.close()
blocking.close()
client.close()
print("pass")
