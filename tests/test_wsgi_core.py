"""green.wsgi's two compiled paths, the response head and the environ: for every input, the same
result as the Python functions they stand in for, or the same exception."""

from __future__ import annotations

import os
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
                got = _outcome(
                    lambda: compiled.response_head(
                        status,  # noqa: B023
                        headers,  # noqa: B023
                        table,  # noqa: B023
                        _writing._head_entry,
                        _writing._python_response_head,
                    )
                )
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
