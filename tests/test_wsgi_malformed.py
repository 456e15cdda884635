"""green.wsgi against malformed and hostile requests: each gets its status, the server keeps serving.

Every case runs against a live server; afterwards a valid request on a new connection must still
be answered. Framing errors (smuggling vectors) must also close the connection, so whatever the
client sent after them is never parsed as a request.
"""

from __future__ import annotations

import pytest
from wsgi_helpers import connect, get, receive_until_closed, request, running

import green
from green import socket as green_socket


def echo(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"echo:" + body]


LIMITS = {
    "max_request_line": 1024,
    "max_header_line": 1024,
    "max_header_bytes": 4096,
    "max_headers": 20,
    "max_body": 1000,
}

# name -> (bytes sent, expected status or None for "closed without a response")
CASES: dict[str, tuple[bytes, int | None]] = {
    "request line too long": (b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    "request line endless": (b"GET /" + b"a" * 200_000, 414),
    "header line too long": (b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 2000 + b"\r\n\r\n", 431),
    "header line endless": (b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 200_000, 431),
    "too many headers": (
        b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(30)) + b"\r\n",
        431,
    ),
    "headers too large": (
        b"GET / HTTP/1.1\r\nHost: t\r\n"
        + b"X-A: "
        + b"a" * 1000
        + b"\r\n"
        + b"X-B: "
        + b"b" * 1000
        + b"\r\n"
        + b"X-C: "
        + b"c" * 1000
        + b"\r\n"
        + b"X-D: "
        + b"d" * 1000
        + b"\r\n"
        + b"X-E: "
        + b"e" * 1000
        + b"\r\n\r\n",
        431,
    ),
    # 15 short headers padded with optional whitespace: few bytes of names and values, but the
    # raw head (about 6,100 bytes) is over max_request_line + max_header_bytes + 256.
    "head too large in whitespace": (
        b"GET / HTTP/1.1\r\nHost: t\r\n"
        + b"".join(b"X-%d:" % i + b" " * 400 + b"v\r\n" for i in range(15))
        + b"\r\n",
        431,
    ),
    "head too large, incomplete": (
        b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d:" % i + b" " * 400 + b"v\r\n" for i in range(15)),
        431,
    ),
    "body over max_body": (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n" + b"x" * 2000, 413),
    "chunked body over max_body": (
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"200\r\n"
        + b"x" * 512
        + b"\r\n"
        + b"200\r\n"
        + b"x" * 512
        + b"\r\n0\r\n\r\n",
        413,
    ),
    "CL+TE": (
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
        400,
    ),
    "TE+CL": (
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
        400,
    ),
    "duplicate CL, same value": (
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    ),
    "duplicate CL, different values": (
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd",
        400,
    ),
    "CL list": (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4, 4\r\n\r\nabcd", 400),
    "CL negative": (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400),
    "CL with plus sign": (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +4\r\n\r\nabcd", 400),
    "CL overflow": (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
    "chunk-size overflow": (
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF1\r\nab\r\n0\r\n\r\n",
        400,
    ),
    "chunk-size not hex": (
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
        400,
    ),
    "chunk-size negative": (
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\nab\r\n0\r\n\r\n",
        400,
    ),
    "chunk data longer than size": (
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n",
        400,
    ),
    "TE gzip only": (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nabc", 400),
    "TE xchunked": (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
    "TE chunked, gzip": (
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        400,
    ),
    "bare CR in request line": (b"GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
    "bare LF line endings": (b"GET / HTTP/1.1\nHost: a\n\n", 400),
    "bare CR in header value": (b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),
    "NUL in header value": (b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", 400),
    "NUL in path": (b"GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "DEL in header value": (b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x7fb\r\n\r\n", 400),
    "obs-fold": (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400),
    "whitespace before colon": (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    "empty header name": (b"GET / HTTP/1.1\r\nHost: t\r\n: b\r\n\r\n", 400),
    "invalid method": (b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "unknown method": (b"FROB / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
    "unknown method, absolute target": (b"FROB http://a/b HTTP/1.1\r\nHost: a\r\n\r\n", 501),
    "unknown method, known prefix": (b"PROPFUND / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
    "unknown method, request line incomplete": (b"FROB /a", 501),
    "lowercase method": (b"get / HTTP/1.1\r\nHost: a\r\n\r\n", 501),  # methods are case-sensitive
    "unknown method, bad version": (b"FROB / HTTX/1.1\r\nHost: a\r\n\r\n", 400),
    "unknown method, no target": (b"FROB\r\nHost: a\r\n\r\n", 400),
    "unknown method, control byte": (b"FROB /\x01 HTTP/1.1\r\n\r\n", 400),
    "unknown version HTTP/1.7": (b"GET / HTTP/1.7\r\nHost: a\r\n\r\n", 505),
    "garbage version": (b"GET / HTXP/1.1\r\nHost: a\r\n\r\n", 400),
    "HTTP/2.0 version": (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    "HTTP/0.9 request": (b"GET /\r\n\r\n", 505),
    "binary garbage": (bytes(range(256)), 400),
    "TLS hello on plain port": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, 400),
    "HTTP/1.1 without Host": (b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400),
    "two Host headers": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "two Host headers, same value": (b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400),
    "two Host headers in HTTP/1.0": (b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "Host with a path": (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    "Host with a space": (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    "Host with user info": (b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400),
    "Host port not numeric": (b"GET / HTTP/1.1\r\nHost: a:http\r\n\r\n", 400),
    "truncated headers": (b"GET / HTTP/1.1\r\nHost: a\r\n", None),
    "truncated body": (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc", 400),
    "truncated chunked body": (
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        400,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_request(name):
    data, expected = CASES[name]
    with running(echo, **LIMITS) as (_, port):
        with connect(port) as sock:
            try:
                sock.sendall(data)
            except ConnectionError:
                pass  # the server may answer and close before reading everything
            try:
                sock.shutdown(green_socket.SHUT_WR)
            except OSError:
                pass
            answer = receive_until_closed(sock)
        if expected is None:
            assert answer == b""
        else:
            assert answer.startswith(b"HTTP/1.1 %d " % expected), answer[:200]
            assert b"Connection: close\r\n" in answer
            assert answer.count(b"HTTP/1.1 ") == 1, "bytes after a framing error were parsed as a request"
        response = get(port)
        assert response.status == 200 and response.body == b"echo:"


def test_head_just_within_the_limits_accepted():
    # A request line of max_request_line bytes and headers of nearly max_header_bytes.
    target = b"/" + b"a" * (LIMITS["max_request_line"] - 1)
    headers = b"".join(b"X-%02d: " % i + b"h" * 200 + b"\r\n" for i in range(19))  # 19 x 209 bytes
    assert len(headers) < LIMITS["max_header_bytes"]
    with running(echo, **LIMITS) as (_, port):
        (response,) = request(port, b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n")
        assert response.status == 200


@pytest.mark.parametrize(
    "host_lines",
    [
        b"Host: example.com\r\n",
        b"Host: example.com:8080\r\n",
        b"Host: 127.0.0.1:80\r\n",
        b"Host: [::1]:8080\r\n",
        b"Host: xn--caf-dma.example\r\n",
        b"Host:\r\n",  # empty: allowed when the target URI has no authority
    ],
)
def test_valid_host_accepted(host_lines):
    with running(echo) as (_, port):
        (response,) = request(port, b"GET / HTTP/1.1\r\n" + host_lines + b"\r\n")
        assert response.status == 200


def test_hosts_seen_valid_are_kept_to_a_bound_and_invalid_ones_still_refused():
    from green.wsgi import _reading

    with running(echo) as (_, port):
        data = b"".join(b"GET / HTTP/1.1\r\nHost: h%d.example\r\n\r\n" % number for number in range(300))
        responses = request(port, data, count=300)
        assert [response.status for response in responses] == [200] * 300
        assert 0 < len(_reading._valid_hosts) <= 256
        (response,) = request(port, b"GET / HTTP/1.1\r\nHost: h1.example\r\n\r\n")
        assert response.status == 200
        (response,) = request(port, b"GET / HTTP/1.1\r\nHost: bad host\r\n\r\n")
        assert response.status == 400


def test_http_1_0_without_host_accepted():
    with running(echo) as (_, port):
        (response,) = request(port, b"GET / HTTP/1.0\r\n\r\n")
        assert response.status == 200


def test_pipelined_request_without_host_answered_after_the_good_one():
    with running(echo) as (_, port):
        data = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\n\r\nGET /third HTTP/1.1\r\nHost: a\r\n\r\n"
        first, second = request(port, data, count=3)
        assert first.status == 200
        assert second.status == 400 and second.headers["connection"] == "close"


def test_slow_headers_dropped_after_timeout():
    with running(echo, header_timeout=0.2) as (_, port):
        with connect(port) as sock:
            for piece in (b"GET / HT", b"TP/1.1\r\n", b"Host: a\r\n"):
                sock.sendall(piece)
                green.sleep(0.08)
            answer = receive_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert get(port).status == 200


def test_silent_connection_dropped_after_header_timeout():
    with running(echo, header_timeout=0.2, keepalive_timeout=30) as (_, port):
        with connect(port) as sock:
            assert receive_until_closed(sock) == b""
        assert get(port).status == 200


def test_slow_body_dropped_after_io_timeout():
    with running(echo, io_timeout=0.2) as (_, port):
        with connect(port) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
            answer = receive_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert get(port).status == 200


def test_many_bad_clients_at_once_do_not_disturb_a_good_one():
    with running(echo, **LIMITS) as (_, port):
        sockets = []
        for data, _ in list(CASES.values())[:20]:
            sock = connect(port)
            sock.sendall(data[:5000])
            sockets.append(sock)
        assert get(port).status == 200
        for sock in sockets:
            sock.close()
