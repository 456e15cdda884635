"""mysqlclient (MySQLdb, C) under monkey_patch(): its network calls run through green.tpool, so
SELECT SLEEP() calls overlap and the hub keeps turning; unbuffered cursors work too."""

import green

green.monkey_patch()

import MySQLdb  # noqa: E402
import MySQLdb.cursors  # noqa: E402
from _common import Ticker, assert_overlapped, concurrently, server  # noqa: E402

assert green.is_monkey_patched("MySQLdb")
host, port = server("mariadb")
COUNT = 10  # below tpool's default size (20): every call gets a worker thread


def connect(**options):
    return MySQLdb.connect(host=host, port=port, user="root", connect_timeout=10, **options)


def sleeper(number):
    connection = connect()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT SLEEP(0.5), %s", (number,))
        return int(cursor.fetchone()[1])
    finally:
        connection.close()


elapsed, results, ticks = concurrently(COUNT, sleeper)
assert results == list(range(COUNT)), results
assert_overlapped("MySQLdb SELECT SLEEP", elapsed, ticks, 0.5, COUNT)

# Unbuffered (server-side) cursor: rows are fetched over the network while iterating.
connection = connect(cursorclass=MySQLdb.cursors.SSCursor)
connection.query("CREATE DATABASE IF NOT EXISTS green_test")
connection.select_db("green_test")
cursor = connection.cursor()
ticker = Ticker()
cursor.execute("SELECT seq FROM seq_1_to_20000")
total = sum(row[0] for row in cursor)
assert total == 20000 * 20001 // 2, total
cursor.close()
ticker.stop()
# Transactions, autocommit and errors keep working through the thread hop.
connection.autocommit(False)
plain = connection.cursor(MySQLdb.cursors.Cursor)
plain.execute("CREATE TABLE IF NOT EXISTS green_test.items (id INT PRIMARY KEY)")
plain.execute("INSERT INTO green_test.items VALUES (1)")
connection.rollback()
plain.execute("SELECT count(*) FROM green_test.items")
assert plain.fetchone() == (0,)
try:
    plain.execute("SELECT * FROM green_test.missing")
except MySQLdb.ProgrammingError:
    pass
else:
    raise AssertionError("no error for a missing table")
plain.execute("DROP DATABASE green_test")
connection.ping()
connection.close()
print("pass")
