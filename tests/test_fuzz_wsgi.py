"""Fuzzing green.wsgi's request path with hypothesis, against a real server on loopback.

Each example is a byte stream built from valid requests (methods, targets, headers, bodies with
Content-Length or chunked, pipelining, HTTP/1.0 and 1.1), either sent as it is or mutated at the
byte level, then delivered in random pieces with random pauses, ending with a half-close or an
abrupt reset. For every example:

* nothing escapes: no "error serving a connection" or application error in the "green.wsgi"
  log, no report to the hub's exception handler;
* no hang: the server answers and closes within seconds of the client's half-close;
* what comes back is a clean close or a sequence of well-formed HTTP/1.1 responses with a status
  the server documents (200 from the echo application, 100, 400, 408, 413, 414, 431, 505);
* the server keeps serving: a valid request on a new connection is answered 200.

The budget is small in the default run (see tests/fuzzing.py); `tox -e fuzz` runs many more.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from fuzzing import TIMEOUT, apply_mutations, fuzz_settings, mutations
from hypothesis import event, given
from hypothesis import strategies as st
from wsgi_helpers import connect, get, running

import green
from green import socket as green_socket
from green.hubs import Hub

LIMITS = {
    "max_request_line": 512,
    "max_header_line": 512,
    "max_header_bytes": 2048,
    "max_headers": 12,
    "max_body": 600,
    "header_timeout": 5.0,
    "io_timeout": 5.0,
    "keepalive_timeout": 5.0,
}
ALLOWED_STATUSES = {100, 200, 400, 408, 413, 414, 431, 501, 505}
# A response must be complete this long after the client's half-close.
ANSWER_TIMEOUT = 10.0


def echo(environ: dict, start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [environ["REQUEST_METHOD"].encode("latin-1"), b" ", body]


def streaming(environ: dict, start_response: Any) -> Any:
    """Reads the body line by line and answers without a Content-Length (chunked or close)."""
    lines = list(environ["wsgi.input"])
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"lines:%d\n" % len(lines))
    yield from lines


# -- generating requests -------------------------------------------------------------------------

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
PATH_CHARS = TOKEN_CHARS + "/._~%!$&'()*+,;=:@"
VALUE_CHARS = TOKEN_CHARS + " /.,;=\"'()[]{}<>?@!#$%&*+^_`|~\t"

methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
targets = st.one_of(
    st.just("/"),
    st.text(PATH_CHARS, min_size=1, max_size=40).map(lambda text: "/" + text),
    st.tuples(st.text(PATH_CHARS, max_size=20), st.text(PATH_CHARS + "?/", min_size=0, max_size=30)).map(
        lambda parts: f"/{parts[0]}?{parts[1]}"
    ),
    st.just("*"),
    st.just("http://example.test/absolute?x=1"),
    st.integers(400, 700).map(lambda length: "/" + "t" * length),
    # Percent-escapes of any byte, which the server decodes into PATH_INFO.
    st.lists(
        st.one_of(
            st.text(TOKEN_CHARS, min_size=1, max_size=4), st.integers(0, 255).map(lambda byte: f"%{byte:02X}")
        ),
        min_size=1,
        max_size=8,
    ).map(lambda parts: "/" + "".join(parts)),
)
header_names = st.one_of(
    st.sampled_from(["Accept", "User-Agent", "X-Trace", "Cookie", "Accept-Encoding", "X_Under"]),
    st.text(TOKEN_CHARS, min_size=1, max_size=20),
)
header_values = st.one_of(
    st.text(VALUE_CHARS, max_size=60), st.integers(300, 700).map(lambda length: "v" * length)
)
extra_headers = st.lists(st.tuples(header_names, header_values), max_size=14)


@st.composite
def bodies(draw: Any) -> tuple[list[tuple[str, str]], bytes]:
    """(framing headers, encoded body) for one request."""
    kind = draw(st.sampled_from(["none", "length", "chunked"]))
    payload = draw(st.one_of(st.binary(max_size=300), st.integers(500, 900).map(lambda n: b"p" * n)))
    if kind == "none":
        return [], b""
    if kind == "length":
        return [("Content-Length", str(len(payload)))], payload
    pieces = []
    rest = payload
    while rest:
        size = draw(st.integers(1, max(1, len(rest))))
        piece, rest = rest[:size], rest[size:]
        extension = draw(st.sampled_from(["", ";name=value", ";x"]))
        pieces.append(b"%x%s\r\n%s\r\n" % (len(piece), extension.encode(), piece))
    trailers = draw(st.sampled_from([b"", b"X-Checksum: 1\r\n"]))
    return [("Transfer-Encoding", "chunked")], b"".join(pieces) + b"0\r\n" + trailers + b"\r\n"


@st.composite
def valid_requests(draw: Any) -> bytes:
    method = draw(methods)
    target = draw(targets)
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/2.0"]))
    framing, body = draw(bodies())
    if version == "HTTP/1.0" and framing and framing[0][0] == "Transfer-Encoding":
        framing, body = [("Content-Length", str(len(body)))], body
    headers = [("Host", "fuzz.test")] + draw(extra_headers) + framing
    if draw(st.booleans()):
        headers.append(("Expect", "100-continue"))
    if draw(st.integers(0, 4)) == 0:
        headers.append(("Connection", draw(st.sampled_from(["close", "keep-alive"]))))
    headers = draw(st.permutations(headers))
    head = f"{method} {target} {version}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers)
    return head.encode("latin-1") + b"\r\n" + body


@st.composite
def streams(draw: Any) -> bytes:
    """One to three pipelined requests, mutated or not."""
    data = b"".join(draw(st.lists(valid_requests(), min_size=1, max_size=3)))
    if draw(st.booleans()):
        data = apply_mutations(data, draw(mutations()))
    return data


@st.composite
def deliveries(draw: Any) -> tuple[bytes, list[int], list[bool], str]:
    data = draw(streams())
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    pauses = draw(st.lists(st.booleans(), min_size=len(cuts) + 1, max_size=len(cuts) + 1))
    ending = draw(st.sampled_from(["half-close", "half-close", "half-close", "reset"]))
    return data, cuts, pauses, ending


# -- checking responses --------------------------------------------------------------------------

STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) [^\r\n]*\r\n")
HEADER_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+): ([^\r\n]*)\r\n")


def check_responses(data: bytes) -> list[int]:
    """Statuses of the well-formed HTTP responses `data` consists of; fails on anything else."""
    statuses = []
    position = 0
    while position < len(data):
        match = STATUS_LINE.match(data, position)
        assert match, f"not a status line at {position}: {data[position : position + 80]!r}"
        status = int(match.group(1))
        assert status in ALLOWED_STATUSES, f"unexpected status {status}: {data!r}"
        statuses.append(status)
        position = match.end()
        headers: dict[bytes, bytes] = {}
        while not data.startswith(b"\r\n", position):
            header = HEADER_LINE.match(data, position)
            assert header, f"bad header line at {position}: {data[position : position + 80]!r}"
            headers[header.group(1).lower()] = header.group(2)
            position = header.end()
        position += 2
        if 100 <= status < 200 or status in (204, 304):
            continue
        if b"content-length" in headers:
            length = int(headers[b"content-length"])
            assert len(data) - position >= length, f"truncated body: {data!r}"
            position += length
        elif headers.get(b"transfer-encoding") == b"chunked":
            while True:
                end = data.index(b"\r\n", position)
                size = int(data[position:end].split(b";")[0], 16)
                position = end + 2
                if size == 0:
                    assert data.startswith(b"\r\n", position), f"bad chunked ending: {data!r}"
                    position += 2
                    break
                position += size
                assert data.startswith(b"\r\n", position), f"bad chunk: {data!r}"
                position += 2
        else:
            assert headers.get(b"connection") == b"close", f"unframed body without close: {data!r}"
            position = len(data)
    return statuses


class Problems(logging.Handler):
    """Collects what must never happen: errors logged by green.wsgi, reports to the hub."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.found.append(self.format(record))

    def hub_report(self, where: str, exc_info: tuple) -> None:
        self.found.append(f"hub: {where}: {exc_info[1]!r}")


@pytest.fixture
def problems() -> Any:
    collector = Problems()
    logger = logging.getLogger("green.wsgi")
    logger.addHandler(collector)
    previous = Hub.exception_handler
    Hub.exception_handler = staticmethod(collector.hub_report)  # type: ignore[assignment]
    try:
        yield collector
    finally:
        Hub.exception_handler = previous  # type: ignore[method-assign]
        logger.removeHandler(collector)


def exchange(port: int, delivery: tuple[bytes, list[int], list[bool], str]) -> bytes | None:
    """Send one fuzz case; the bytes answered, or None when the client reset the connection."""
    data, cuts, pauses, ending = delivery
    sock = connect(port, timeout=ANSWER_TIMEOUT)
    try:
        start = 0
        for cut, pause in zip(cuts + [len(data)], pauses, strict=True):
            try:
                sock.sendall(data[start:cut])
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered an error and closed: allowed
            start = cut
            if pause:
                green.sleep(0.001)
            else:
                green.sleep(0)
        if ending == "reset":
            sock.setsockopt(
                green_socket.SOL_SOCKET, green_socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            return None
        try:
            sock.shutdown(green_socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break  # closed with unread request bytes: a clean close
            except TimeoutError:
                raise AssertionError(f"no answer within {ANSWER_TIMEOUT} s to {data!r}") from None
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        sock.close()


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("app", [echo, streaming], ids=["echo", "streaming"])
def test_fuzzed_requests(app: Any, problems: Problems) -> None:
    with running(app, **LIMITS) as (server, port):

        @fuzz_settings(examples_scale=0.5)
        @given(deliveries())
        def case(delivery: tuple[bytes, list[int], list[bool], str]) -> None:
            answer = exchange(port, delivery)
            if answer:
                event(f"statuses {sorted(set(check_responses(answer)))}")
            else:
                event("reset by the client" if answer is None else "closed without an answer")
            assert not problems.found, problems.found
            response = get(port, "/after")
            assert response.status == 200, response

        case()
        # Every connection of the run is finished and closed.
        for _ in range(100):
            if not server.connections:
                break
            green.sleep(0.01)
        assert not server.connections, server.connections


def test_response_checker_rejects_garbage() -> None:
    """The checker above really fails on what it must not accept."""
    check_responses(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    check_responses(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nx")
    for bad in (
        b"garbage",
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
    ):
        with pytest.raises(AssertionError):
            check_responses(bad)


@pytest.mark.timeout(TIMEOUT)
def test_one_connection_many_fuzzed_pipelines(problems: Problems) -> None:
    """Valid requests pipelined behind each other on one keep-alive connection are all answered."""
    with running(echo, **LIMITS) as (_server, port):

        @fuzz_settings(examples_scale=0.2)
        @given(st.lists(valid_requests(), min_size=1, max_size=8))
        def case(requests: list[bytes]) -> None:
            with connect(port, timeout=ANSWER_TIMEOUT) as sock:
                sock.sendall(b"".join(requests))
                sock.shutdown(green_socket.SHUT_WR)
                received = []
                while chunk := sock.recv(65536):
                    received.append(chunk)
            statuses = [status for status in check_responses(b"".join(received)) if status != 100]
            # Requests after one that closes the connection (Connection: close, HTTP/1.0, an
            # error) are never answered; the first one always is.
            assert statuses, requests
            assert set(statuses) <= {200, 400, 413, 414, 431, 505}, statuses
            assert not problems.found, problems.found

        case()
