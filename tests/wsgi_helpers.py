"""Shared helpers for the green.wsgi tests: a live server in a green thread and a raw HTTP client."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any, Iterator

import green
from green import socket as green_socket
from green import wsgi


@contextlib.contextmanager
def running(app: Any, backlog: int = 50, **options: Any) -> Iterator[tuple[wsgi.Server, int]]:
    """A green.wsgi Server for `app` on a free loopback port, stopped afterwards."""
    listener = green.listen(("127.0.0.1", 0), backlog=backlog)
    port = listener.getsockname()[1]
    try:
        server = wsgi.Server(listener, app, **options)
    finally:
        listener.close()
    thread = green.spawn(server.serve_forever)
    try:
        yield server, port
    finally:
        server.stop(timeout=1.0)
        thread.wait()


def connect(port: int, timeout: float = 5.0) -> green_socket.socket:
    sock = green_socket.create_connection(("127.0.0.1", port))
    sock.settimeout(timeout)
    return sock


def read_response(reader: Any, head: bool = False) -> SimpleNamespace | None:
    """Read one response from a buffered reader; None at end of stream."""
    status_line = reader.readline()
    if not status_line:
        return None
    version, status, reason = status_line.rstrip(b"\r\n").split(b" ", 2)
    headers: dict[str, str] = {}
    raw_headers = []
    while True:
        line = reader.readline()
        assert line.endswith(b"\r\n"), line
        if line == b"\r\n":
            break
        name, _, value = line.decode("latin-1").partition(":")
        raw_headers.append((name, value.strip()))
        headers[name.lower()] = value.strip()
    code = int(status)
    if head or code in (204, 304) or 100 <= code < 200:
        body = b""
    elif "content-length" in headers:
        body = reader.read(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        parts = []
        while True:
            size = int(reader.readline().split(b";")[0], 16)
            if size == 0:
                assert reader.readline() == b"\r\n"
                break
            parts.append(reader.read(size))
            assert reader.readline() == b"\r\n"
        body = b"".join(parts)
    else:
        body = reader.read()
    return SimpleNamespace(
        version=version.decode(),
        status=code,
        reason=reason.decode(),
        headers=headers,
        raw_headers=raw_headers,
        body=body,
    )


def request(port: int, data: bytes, count: int = 1, head: bool = False) -> list[SimpleNamespace]:
    """Send raw `data` on a new connection and read `count` responses (fewer if it closes)."""
    with connect(port) as sock:
        sock.sendall(data)
        reader = sock.makefile("rb")
        responses = []
        for _ in range(count):
            response = read_response(reader, head)
            if response is None:
                break
            responses.append(response)
        reader.close()
        return responses


def get(port: int, path: str = "/", headers: str = "") -> SimpleNamespace:
    (response,) = request(port, f"GET {path} HTTP/1.1\r\nHost: test\r\n{headers}\r\n".encode("latin-1"))
    return response


def receive_until_closed(sock: Any) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)
