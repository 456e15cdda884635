"""psycopg2 under monkey_patch(): the wait callback parks on the hub; a Timeout cancels the query
on the server and leaves the connection usable."""

import green

green.monkey_patch()

import time  # noqa: E402

import psycopg2  # noqa: E402
from _common import assert_overlapped, concurrently, server  # noqa: E402
from psycopg2 import extensions  # noqa: E402

from green.patcher._libraries import psycopg2_wait  # noqa: E402

host, port = server("postgres")
DSN = f"host={host} port={port} user=postgres dbname=postgres connect_timeout=10"
assert extensions.get_wait_callback() is psycopg2_wait

COUNT = 20


def sleeper(number):
    connection = psycopg2.connect(DSN)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(0.5), %s", (number,))
            return cursor.fetchone()[1]
    finally:
        connection.close()


elapsed, results, ticks = concurrently(COUNT, sleeper)
assert results == list(range(COUNT)), results
assert_overlapped("psycopg2 pg_sleep", elapsed, ticks, 0.5, COUNT)

# A Timeout cuts a long query: it is cancelled on the server (not left running for 30 s) and
# psycopg2 closes the connection; a pool hands out a fresh one afterwards.
from psycopg2.pool import ThreadedConnectionPool  # noqa: E402

pool = ThreadedConnectionPool(1, 2, DSN)
connection = pool.getconn()
cursor = connection.cursor()
RUNNING = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = 'SELECT pg_sleep(30)'"


def long_query():
    started = time.monotonic()
    try:
        with green.Timeout(30):
            cursor.execute("SELECT pg_sleep(30)")
    except green.Timeout:
        return time.monotonic() - started
    raise AssertionError("the Timeout did not fire")


# PostgreSQL ignores a cancel request that arrives before the backend starts the query, so the
# cut comes once the server shows the query running (a loaded machine may take a while to start it).
watcher = psycopg2.connect(DSN)
watcher.autocommit = True  # pg_stat_activity is read once per transaction: each poll is its own
querying = green.spawn(long_query)
with watcher.cursor() as watching:
    for _ in range(200):
        watching.execute(RUNNING)
        if watching.fetchone() == (1,):
            break
        green.sleep(0.05)
    else:
        raise AssertionError("the long query never showed up on the server")
    started = time.monotonic()
    green.kill(querying, green.Timeout())
    assert querying.wait() < 30
    assert time.monotonic() - started < 5
    assert connection.closed, "a connection cut mid-query was handed back open"
    for _ in range(100):  # the cancel request is asynchronous on the server side
        watching.execute(RUNNING)
        if watching.fetchone() == (0,):
            break
        green.sleep(0.1)
    else:
        raise AssertionError("the cut query still runs on the server")
watcher.close()
pool.putconn(connection)
connection = pool.getconn()
cursor = connection.cursor()
cursor.execute("SELECT 41 + 1")
assert cursor.fetchone() == (42,)
connection.rollback()
# Errors keep their psycopg2 types through the callback, and leave the connection open.
try:
    cursor.execute("SELECT * FROM no_such_table")
except psycopg2.errors.UndefinedTable:
    connection.rollback()
else:
    raise AssertionError("no error for a missing table")
cursor.execute("SELECT 1")
pool.putconn(connection)
pool.closeall()
print("pass")
