"""After monkey_patch(): a green.websocket server echoes for 50 stdlib-socket clients running in
threading.Threads, sqlite3 connections come from a RawConnectionPool (4 connections) shared by 20
threads, and a DAGPool computes over the results. (The tpooled pool is tested unpatched in
tests/test_pools.py.)"""

import green

green.monkey_patch()

import base64  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import sqlite3  # noqa: E402
import struct  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from green import db_pool, websocket, wsgi  # noqa: E402
from green.dagpool import DAGPool  # noqa: E402

CLIENTS = 50


def echo(ws):
    for message in ws:
        ws.send(message)


listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(128)
port = listener.getsockname()[1]
server = wsgi.Server(listener, websocket.WebSocketWSGI(echo))
listener.close()
serving = threading.Thread(target=server.serve_forever)
serving.start()

results = {}


def client(number):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"HTTP/1.1 101"), "no 101"
        while reader.readline() != b"\r\n":
            pass
        replies = []
        for index in range(5):
            payload = f"{number}:{index}".encode()
            mask = os.urandom(4)
            masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
            sock.sendall(bytes((0x81, 0x80 | len(payload))) + mask + masked)
            header = reader.read(2)
            replies.append(reader.read(header[1] & 0x7F).decode())
        sock.sendall(bytes((0x88, 0x82)) + b"\0\0\0\0" + struct.pack("!H", 1000))
        assert reader.read(2)[0] & 0x0F == 0x8
        reader.close()
        results[number] = replies


threads = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert results == {n: [f"{n}:{i}" for i in range(5)] for n in range(CLIENTS)}, results
server.stop(timeout=5)
serving.join()

with tempfile.TemporaryDirectory() as directory:
    path = os.path.join(directory, "db.sqlite")
    pool = db_pool.RawConnectionPool(
        sqlite3, 0, 4, 10, 30, 5, db_pool.cleanup_rollback, path, check_same_thread=False
    )
    with pool.item() as connection:
        connection.cursor().execute("create table t (n integer)")
        connection.cursor().executemany("insert into t values (?)", [(n,) for n in range(20)])
        connection.commit()

    def query(number):
        with pool.item() as connection:
            (value,) = connection.cursor().execute("select n from t where n = ?", (number,)).fetchone()
            time.sleep(0.001)  # green after patching: the other threads queue for a connection
            peak.append(pool.waiting())
            found.append(value)

    peak = []
    found = []
    workers = [threading.Thread(target=query, args=(n,)) for n in range(20)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert pool.current_size == 4 and max(peak) > 0, (pool.current_size, peak)
    assert sorted(found) == list(range(20))
    with pool.item() as connection:
        (total,) = connection.cursor().execute("select sum(n) from t").fetchone()
    pool.clear()

dag = DAGPool({"total": total})
dag.spawn("double", ["total"], lambda key, results: 2 * dict(results)["total"])
assert dag.waitall() == {"total": 190, "double": 380}
print("pass")
