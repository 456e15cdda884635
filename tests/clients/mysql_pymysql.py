"""PyMySQL (pure Python, through the green socket) under monkey_patch(): SELECT SLEEP() calls
overlap; a Timeout closes the cut connection and the server is still usable."""

import green

green.monkey_patch()

import pymysql  # noqa: E402
from _common import assert_overlapped, concurrently, server  # noqa: E402

host, port = server("mariadb")
COUNT = 20


def connect():
    # PyMySQL builds a default SSL context on every connect unless told not to: ~0.1 s of CPU
    # (loading the CA bundle) during which no green thread runs. The server here has no TLS.
    return pymysql.connect(host=host, port=port, user="root", connect_timeout=10, ssl_disabled=True)


def sleeper(number):
    connection = connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT SLEEP(0.5), %s", (number,))
            return cursor.fetchone()[1]
    finally:
        connection.close()


elapsed, results, ticks = concurrently(COUNT, sleeper)
assert results == list(range(COUNT)), results
assert_overlapped("PyMySQL SELECT SLEEP", elapsed, ticks, 0.5, COUNT)

# Cut by a Timeout: PyMySQL's protocol state is mid-packet, so the connection must not be reused;
# PyMySQL closes it on a failed read (pools check .open).
connection = connect()
try:
    with green.Timeout(0.2):
        connection.cursor().execute("SELECT SLEEP(30)")
except green.Timeout:
    pass
else:
    raise AssertionError("the Timeout did not fire")
connection.close()
fresh = connect()
with fresh.cursor() as cursor:
    cursor.execute("SELECT 41 + 1")
    assert cursor.fetchone() == (42,)
fresh.close()
print("pass")
