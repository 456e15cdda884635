"""psycopg 3 (sync API, C extension where installed) under monkey_patch(): connect and queries
park on the hub; a Timeout cancels the query on the server and the connection stays usable."""

import green

green.monkey_patch()

import time  # noqa: E402

import psycopg  # noqa: E402
from _common import assert_overlapped, concurrently, server  # noqa: E402
from psycopg import waiting  # noqa: E402

host, port = server("postgres")
DSN = f"host={host} port={port} user=postgres dbname=postgres connect_timeout=10"
assert waiting.wait.__module__ == "green.patcher._libraries", waiting.wait
print("psycopg implementation:", psycopg.pq.__impl__)

COUNT = 20


def sleeper(number):
    with psycopg.connect(DSN) as connection:
        row = connection.execute("SELECT pg_sleep(0.5), %s::int", (number,)).fetchone()
        return row[1]


elapsed, results, ticks = concurrently(COUNT, sleeper)
assert results == list(range(COUNT)), results
assert_overlapped("psycopg pg_sleep", elapsed, ticks, 0.5, COUNT)

connection = psycopg.connect(DSN, autocommit=True)
started = time.monotonic()
try:
    with green.Timeout(0.3):
        connection.execute("SELECT pg_sleep(30)")
except green.Timeout:
    pass
else:
    raise AssertionError("the Timeout did not fire")
assert time.monotonic() - started < 5, "the cut query was not cancelled on the server"
assert not connection.closed
assert connection.execute("SELECT 41 + 1").fetchone() == (42,)
active = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%'"
assert connection.execute(active).fetchone() == (0,), "the cut query still runs on the server"

# LISTEN/NOTIFY: a green thread waiting for a notification does not block the others.
listener = psycopg.connect(DSN, autocommit=True)
listener.execute("LISTEN green_channel")
received = []


def listen():
    for notification in listener.notifies(timeout=10, stop_after=1):
        received.append(notification.payload)


waiting_thread = green.spawn(listen)
green.sleep(0.1)
connection.execute("NOTIFY green_channel, 'hello'")
waiting_thread.wait()
assert received == ["hello"], received
listener.close()
connection.close()
print("pass")
