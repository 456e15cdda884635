"""green.wsgi's compiled paths (the response head, the environ, the parser callbacks, the response
framing): for every input, the same result as the Python functions they stand in for, or the same
exception."""

from __future__ import annotations

import os
import socket
from types import SimpleNamespace
from typing import Any, Callable

import pytest

from green._compiled import core
from green.wsgi import _environ, _writing


def _require_core() -> Any:
    if core is not None:
        return core
    reason = "the compiled core is not in use (GREEN_PURE=1, or green/_core.c not built)"
    if os.environ.get("CI", "").lower() == "true" and os.environ.get("GREEN_PURE") != "1":
        pytest.fail(f"{reason}; CI=true: the compiled core must be tested", pytrace=False)
    pytest.skip(reason)


def _outcome(function: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "returned", function()
    except Exception as error:
        return type(error).__name__, str(error)


class _Text(str):
    pass


_HEADERS: list[Any] = [
    [("Content-Type", "text/plain"), ("Content-Length", "13")],
    [],
    [("X-A", "1"), ("X-A", "2"), ("Date", "Thu, 03 Dec 2026 12:00:00 GMT")],
    [("Connection", "close"), ("Content-Type", "text/html")],
    [("Connection", "CLOSE"), ("Connection", "keep-alive")],
    [("Content-Length", "abc")],
    [("Content-Length", " 7 ")],
    [("content-length", "1_0")],
    [("Transfer-Encoding", "chunked")],
    [("Keep-Alive", "timeout=5")],
    [("X-Split", "a\r\nInjected: yes")],
    [("X-Split\n", "a")],
    [("X-Euro", "\u20ac")],
    [("X-Latin", "caf\xe9")],
    [["Content-Type", "text/plain"]],
    [("Content-Type", 7)],
    [("Content-Type", _Text("text/plain"))],
    [(_Text("X-Sub"), "1")],
    [("X-Short",)],
    [("a", "b", "c")],
    ("Content-Type", "text/plain"),
    [(f"X-{index}", str(index)) for index in range(40)],
    [(f"X-{index}", str(index)) for index in range(32)],
    [(7, "seven")],
]


_STATUSES = ["200 OK", "404 Not Found", "200 OK\r\nX: y", "200 \u20ac", _Text("201 Created")]


def test_the_compiled_response_head_is_the_python_one():
    compiled = _require_core()
    differences = []
    for table in (_writing._plain_heads, _writing._capitalized_heads):
        for status in _STATUSES:
            for headers in _HEADERS:
                expected = _outcome(lambda: _writing._python_response_head(status, headers, table))  # noqa: B023
                got = _outcome(lambda: compiled.response_head(status, headers, table))  # noqa: B023
                if got != expected:
                    differences.append((status, headers, table is _writing._plain_heads, expected, got))
    assert differences == []


class _Input:
    def __init__(self, connection: Any, request: Any) -> None:
        self.connection, self.request = connection, request


def _connection(**server_options: Any) -> Any:
    options = {"eventlet_environ": False, "max_body": None, "input_class": _Input}
    options.update(server_options)
    server = SimpleNamespace(**options)
    template = {"wsgi.version": (1, 0), "REMOTE_ADDR": "127.0.0.1", "wsgi.input": "empty"}
    for key in _environ._REQUEST_KEYS:
        template[key] = ""
    return SimpleNamespace(server=server, environ_template=template, upgraded=False, keep_alive=True)


_REQUESTS: list[dict[str, Any]] = [
    {"url": b"/"},
    {"url": b"/a/b?x=1&y=2"},
    {"url": b"/a#frag?x=1"},
    {"url": b"/a?x=1#frag"},
    {"url": b"/a?"},
    {"url": b"/caf%C3%A9?q=%41"},
    {"url": b"/caf\xc3\xa9"},
    {"url": b"*", "method": b"OPTIONS"},
    {"url": b"http://example.com/x?y=1"},
    {"url": b"example.com:443", "method": b"CONNECT"},
    {"url": b"/", "method": b"PURGE"},
    {"url": b"/", "version": "1.0"},
    {"url": b"/", "version": "1.0", "headers": [(b"Transfer-Encoding", b"chunked")]},
    {"url": b"/", "headers": [(b"Transfer-Encoding", b"chunked")]},
    {"url": b"/", "headers": [(b"Host", b"a"), (b"Accept", b"x"), (b"accept", b"y")]},
    {"url": b"/", "headers": [(b"Cookie", b"a=1"), (b"Cookie", b"b=2")]},
    {"url": b"/", "headers": [(b"X_Under", b"dropped"), (b"X-Under", b"kept")]},
    {"url": b"/", "headers": [(b"Content-Type", b"text/plain"), (b"Content-Length", b"5")]},
    {"url": b"/", "headers": [(b"X-Latin", b"caf\xe9")]},
    {"url": b"/", "headers": [[b"X-List", b"1"]]},
    {"url": b"/", "headers": [(b"Remote-Addr", b"spoof")]},
    {"url": b"/upload", "method": b"POST", "complete": False},
    {"url": b"/upload", "method": b"POST", "body": bytearray(b"abc")},
    {"url": b"/upload", "headers": [(b"Content-Length", b"100")], "server": {"max_body": 10}},
    {"url": b"/upload", "headers": [(b"Content-Length", b"5")], "server": {"max_body": 10}},
    {"url": b"/", "server": {"eventlet_environ": True}},
    {"url": b"/chat", "upgraded": True},
    {"url": b"", "method": b"GET"},
]


def _environ_outcome(build: Callable[[Any, Any], dict], case: dict[str, Any]) -> tuple:
    """What `build` makes of `case`: its environ (or exception) and the keep-alive flags after."""
    connection = _connection(**case.get("server", {}))
    connection.upgraded = case.get("upgraded", False)
    request = SimpleNamespace(
        url=case["url"],
        method=case.get("method", b"GET"),
        version=case.get("version", "1.1"),
        headers=case.get("headers", [(b"Host", b"example.com")]),
        keep_alive=True,
        complete=case.get("complete", True),
        body=case.get("body", bytearray()),
    )
    connection.upgrade_request = request if connection.upgraded else None
    connection.take_over = "take_over"
    outcome = _outcome(lambda: build(connection, request))
    if outcome[0] == "returned":
        environ = dict(outcome[1])
        for key, value in list(environ.items()):
            if isinstance(value, _Input):  # made for this connection: compare its arguments
                assert value.connection is connection and value.request is request
                environ[key] = "an input"
            elif not isinstance(value, (str, int, tuple, list)):
                environ[key] = type(value).__name__
        outcome = ("returned", list(environ.items()))
    return outcome, request.keep_alive, connection.keep_alive


def test_the_compiled_environ_is_the_python_one():
    compiled = _require_core()
    differences = []
    for case in _REQUESTS:
        expected = _environ_outcome(_environ._python_build_environ, case)
        got = _environ_outcome(compiled.build_environ, case)
        if got != expected:
            differences.append((case, expected, got))
    assert differences == []


_STREAMS: list[bytes] = [
    b"GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */* \t\r\nX-Empty:\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /n HTTP/1.0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT-One: 1\r\nT-Two: 2\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " + b"t" * 450 + b"\r\n\r\n",
    b"GET /" + b"u" * 300 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + b"v" * 300 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: %d\r\n" % (n, n) for n in range(8)) + b"\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: %s\r\n" % (n, b"w" * 90) for n in range(6)) + b"\r\n",
    b"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: 1\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nHEAD /h HTTP/1.1\r\nhOsT: [::1]:80\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHOST: b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: \r\n\r\nGET / HTTP/1.1\r\nHost: x:\r\n\r\n",
    b"GET / HTTP/0.9\r\nHost: a\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
]


def _parsed(connection_class: type, stream: bytes, piece: int, require_host: bool = True) -> tuple:
    """What a connection of `connection_class` makes of `stream` fed `piece` bytes at a time: the
    requests, the parser state after it, and the HTTPError that stopped it."""
    import green
    from green import wsgi
    from green.wsgi._protocol import HTTPError

    listener = green.listen(("127.0.0.1", 0))
    left, right = green.socket.socketpair()
    try:
        server = wsgi.Server(
            listener, lambda environ, start_response: [], max_request_line=200, max_header_line=200,
            max_header_bytes=400, max_headers=6, require_host=require_host,
        )  # fmt: skip
        connection = connection_class(server, left, ("127.0.0.1", 1))
        error = None
        try:
            for start in range(0, len(stream), piece):
                connection._feed(stream[start : start + piece])
        except HTTPError as raised:
            error = (type(raised).__name__, raised.status, raised.reason)
        requests = [
            (
                type(r),
                r.method,
                r.url,
                r.headers,
                r.version,
                r.keep_alive,
                r.complete,
                bytes(r.body),
                r.body_size,
            )
            for r in connection.requests
        ]
        parsing = connection.parsing
        state = [parsing is None or parsing in connection.requests] + [
            getattr(connection, name)
            for name in (
                "url", "headers", "in_headers", "header_bytes", "trailer_bytes", "messages_begun",
                "raw_header_bytes", "heads_completed",
            )
        ]  # fmt: skip
        return requests, state, error
    finally:
        listener.close()
        left.close()
        right.close()


def test_the_compiled_parser_callbacks_are_the_python_ones():
    _require_core()
    from green.wsgi._connection import _Connection
    from green.wsgi._reading import _Reading

    python_class = type("_PythonCallbacks", (_Connection,), {"__slots__": (), **_Reading._python_callbacks})
    differences = []
    for stream in _STREAMS:
        for piece, require_host in ((len(stream), True), (7, True), (1, True), (len(stream), False)):
            expected = _parsed(python_class, stream, piece, require_host)
            got = _parsed(_Connection, stream, piece, require_host)
            if got != expected:
                differences.append((stream[:60], piece, require_host, expected, got))
    assert differences == []


def _started(connection_class: type, server: Any, case: dict[str, Any]) -> tuple:
    """What `connection_class._start` sends and leaves for `case` (a response, a request, a server
    state), or the exception it raises."""
    from green.wsgi._protocol import _Request

    left, right = socket.socketpair()
    try:
        sent: list[bytes] = []
        capture = type(
            "_Capture", (connection_class,), {"__slots__": (), "_sendall": lambda self, d: sent.append(d)}
        )
        connection = capture(server, left, ("127.0.0.1", 1))
        request = _Request(case["method"], b"/", case["request_headers"], case["version"], True)
        request.complete = case["complete"]
        server.stopping = case["stopping"]
        connection.request = request
        connection.status = case["status"]
        connection.response_headers = list(case["headers"])
        connection.keep_alive = case["keep_alive"]
        connection.headers_sent = connection.continue_sent = False
        connection.sent_bytes = connection.status_code = 0
        outcome = _outcome(lambda: connection._start(case["body"], case["final"]))
        state = [
            getattr(connection, name)
            for name in (
                "status_code",
                "no_body",
                "chunked",
                "remaining",
                "keep_alive",
                "headers_sent",
                "sent_bytes",
            )
        ]
        return outcome, [type(data) for data in sent], b"".join(sent), state
    finally:
        left.close()
        right.close()


_START_RESPONSES: list[tuple[Any, list]] = [
    ("200 OK", []),
    ("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")]),
    ("200 OK", [("Content-Length", "3")]),
    ("200 OK", [("Content-Length", "99999999999999999999999")]),
    ("200 OK", [("Content-Length", "-1")]),
    ("200 OK", [("Date", "Mon, 01 Jan 2024 00:00:00 GMT"), ("Connection", "Close")]),
    ("200 OK", [("Connection", "keep-alive")]),
    ("200 OK", [("Transfer-Encoding", "chunked")]),
    ("204 No Content", []),
    ("304 Not Modified", [("Content-Length", "5")]),
    ("101 Switching Protocols", []),
    ("404 Not Found", []),
    ("200 \u20ac", []),
    (None, []),
]


def test_the_compiled_response_framing_is_the_python_one():
    _require_core()
    import itertools

    import green
    from green import wsgi
    from green.wsgi._connection import _Connection
    from green.wsgi._writing import _Writing

    python_class = type("_PythonStart", (_Connection,), {"__slots__": (), "_start": _Writing._python_start})
    listener = green.listen(("127.0.0.1", 0))
    servers = [
        wsgi.Server(listener, lambda environ, start_response: []),
        wsgi.Server(
            listener, lambda environ, start_response: [], announce_keepalive=True, keepalive_timeout=5
        ),
        wsgi.Server(
            listener, lambda environ, start_response: [], announce_keepalive=True, keepalive_timeout=0.5
        ),
    ]
    for server in servers:
        server.date_header = "Date: Tue, 01 Dec 2026 00:00:00 GMT"
    requests = [
        (b"GET", "1.1", []),
        (b"HEAD", "1.1", []),
        (b"GET", "1.0", [(b"Connection", b"keep-alive")]),
        (b"POST", "1.1", [(b"Connection", b"Keep-Alive"), (b"Expect", b"100-continue")]),
    ]
    differences = []
    cases = 0
    try:
        for (status, headers), (method, version, request_headers), body, final, flags, server in itertools.product(
            _START_RESPONSES, requests, (b"", b"hello", bytearray(b"hi")), (True, False),
            ((True, True, False), (True, False, False), (False, True, False), (True, True, True)), servers,
        ):  # fmt: skip
            keep_alive, complete, stopping = flags
            case = {
                "status": status, "headers": headers, "method": method, "version": version,
                "request_headers": request_headers, "body": body, "final": final, "keep_alive": keep_alive,
                "complete": complete, "stopping": stopping,
            }  # fmt: skip
            cases += 1
            expected = _started(python_class, server, case)
            got = _started(_Connection, server, case)
            if got != expected:
                differences.append((case, expected, got))
    finally:
        listener.close()
    assert cases > 1000
    assert differences == []
