"""Many-connection HTTP clients for the server fault tests, run as a separate process.

It uses only the stdlib (selectors, non-blocking sockets), so the process under test holds
nothing but its own server side, and the file descriptors of the two sides are counted against
two separate limits. Modes (results are one JSON line on stdout):

``hold PORT COUNT``
    Open COUNT connections (at most 512 connects in flight), send one ``GET /`` on each and read
    its response, keeping every connection open. Prints ``{"served": n, "statuses": {...}}`` once
    every connection has its response (or failed), then waits for a line on stdin and closes
    them all.
``trickle PORT COUNT INTERVAL LIMIT``
    Open COUNT connections and send a request's headers one byte per connection every INTERVAL
    seconds, never finishing them. Prints ``{"connected": n}`` once all connects are done, then
    records for each connection how long after its connect the server closed it, until all are
    closed or LIMIT seconds passed; prints ``{"closed": n, "open": n, "longest": seconds,
    "answers": {...}}`` (answers: first status line received, or "" for a bare close).
"""

from __future__ import annotations

import errno
import json
import selectors
import socket
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: load\r\n\r\n"
TRICKLE = b"GET / HTTP/1.1\r\nHost: load\r\nX-Padding: " + b"a" * 100_000


def _connect_all(port: int, count: int, on_connected, selector: selectors.BaseSelector) -> int:
    """Start every connect, at most 512 pending; on_connected(sock) for each that succeeds."""
    pending: set[socket.socket] = set()
    failed = 0
    started = 0
    while started < count or pending:
        while started < count and len(pending) < 512:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            error = sock.connect_ex(("127.0.0.1", port))
            started += 1
            if error not in (0, errno.EINPROGRESS):
                sock.close()
                failed += 1
                continue
            pending.add(sock)
            selector.register(sock, selectors.EVENT_WRITE, "connect")
        for key, _ in selector.select(5.0):
            if key.data != "connect":
                continue
            sock = key.fileobj  # type: ignore[assignment]
            selector.unregister(sock)
            pending.discard(sock)
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                sock.close()
                failed += 1
            else:
                on_connected(sock)
    return failed


def hold(port: int, count: int) -> None:
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytearray] = {}
    done: list[socket.socket] = []
    statuses: dict[str, int] = {}

    def finish(sock: socket.socket, status: str) -> None:
        selector.unregister(sock)
        statuses[status] = statuses.get(status, 0) + 1
        done.append(sock)

    def on_readable(sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except OSError as error:
            finish(sock, type(error).__name__)
            return
        buffer = buffers[sock]
        buffer += data
        head, separator, body = bytes(buffer).partition(b"\r\n\r\n")
        if separator:
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(body) >= length:
                finish(sock, head.split(b" ", 2)[1].decode())
                return
        if not data:
            finish(sock, "closed")

    def on_connected(sock: socket.socket) -> None:
        sock.send(REQUEST)  # a fresh socket's buffer takes it whole
        buffers[sock] = bytearray()
        selector.register(sock, selectors.EVENT_READ, "response")
        for key, _ in selector.select(0):
            if key.data == "response":
                on_readable(key.fileobj)  # type: ignore[arg-type]

    failed = _connect_all(port, count, on_connected, selector)
    deadline = time.monotonic() + 60
    while len(done) < len(buffers) and time.monotonic() < deadline:
        for key, _ in selector.select(1.0):
            on_readable(key.fileobj)  # type: ignore[arg-type]
    print(json.dumps({"served": statuses.get("200", 0), "statuses": statuses, "failed": failed}), flush=True)
    sys.stdin.readline()
    for sock in buffers:
        sock.close()


def trickle(port: int, count: int, interval: float, limit: float) -> None:
    selector = selectors.DefaultSelector()
    connected_at: dict[socket.socket, float] = {}
    sent: dict[socket.socket, int] = {}
    lifetimes: list[float] = []
    answers: dict[str, int] = {}

    def on_connected(sock: socket.socket) -> None:
        connected_at[sock] = time.monotonic()
        sent[sock] = 0
        selector.register(sock, selectors.EVENT_READ, "trickle")

    failed = _connect_all(port, count, on_connected, selector)
    print(json.dumps({"connected": len(connected_at), "failed": failed}), flush=True)
    deadline = time.monotonic() + limit
    next_send = time.monotonic()
    while sent and time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_send:
            for sock in list(sent):
                position = sent[sock]
                try:
                    sock.send(TRICKLE[position : position + 1])
                    sent[sock] = position + 1
                except OSError:
                    pass  # the server closed it; the read side records when
            next_send = now + interval
        for key, _ in selector.select(max(0.0, next_send - time.monotonic())):
            sock = key.fileobj  # type: ignore[assignment]
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            answer = data.split(b"\r\n", 1)[0].decode("latin-1")
            answers[answer] = answers.get(answer, 0) + 1
            lifetimes.append(time.monotonic() - connected_at[sock])
            selector.unregister(sock)
            sock.close()
            del sent[sock]
    result = {
        "closed": len(lifetimes),
        "open": len(sent),
        "longest": max(lifetimes, default=0.0),
        "answers": answers,
    }
    print(json.dumps(result), flush=True)
    for sock in sent:
        sock.close()


def main() -> None:
    mode, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode == "hold":
        hold(port, count)
    elif mode == "trickle":
        trickle(port, count, float(sys.argv[4]), float(sys.argv[5]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
