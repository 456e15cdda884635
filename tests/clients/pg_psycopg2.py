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
started = time.monotonic()
try:
    with green.Timeout(0.3):
        cursor.execute("SELECT pg_sleep(30)")
except green.Timeout:
    pass
else:
    raise AssertionError("the Timeout did not fire")
assert time.monotonic() - started < 5
assert connection.closed, "a connection cut mid-query was handed back open"
pool.putconn(connection)
connection = pool.getconn()
cursor = connection.cursor()
cursor.execute("SELECT 41 + 1")
assert cursor.fetchone() == (42,)
active = "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'"
for _ in range(50):  # the cancel request is asynchronous on the server side
    cursor.execute(active)
    if cursor.fetchone() == (0,):
        break
    green.sleep(0.1)
else:
    raise AssertionError("the cut query still runs on the server")
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
