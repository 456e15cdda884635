"""A WSGI server on green threads: strict HTTP/1.x parsing, one green thread per connection.

Why it looks the way it does
----------------------------
*Parsing is not ours.* Request framing (where a request ends, how long a body is) is where
request-smuggling bugs live, and they lived in hand-written parsers of other green servers. Every
byte that arrives is fed to httptools (llhttp, the parser of Node.js), which rejects on its own: both
Content-Length and Transfer-Encoding, duplicate Content-Lengths, bad or overflowing chunk sizes,
obs-folded header lines, whitespace before a colon, bare CR or LF, NUL and other control bytes,
unknown methods and malformed versions. The server adds only what llhttp leaves to the caller: size
limits (414, 431, 413), HTTP versions other than 1.0/1.1 (505), Transfer-Encoding in an HTTP/1.0
request (400), and timeouts. Any framing error answers with its status and closes the connection,
because after a framing error nobody knows where the next request would start.

*Pull, don't push.* The parser is fed only when someone needs more: the connection waiting for its
next request, or the application reading ``wsgi.input``. A client therefore cannot make the server
buffer more than one receive (64 KiB) beyond what the application asked for, pipelined requests
are queued as their headers complete and answered strictly in order, and ``Expect: 100-continue``
is answered at the moment the application first reads the body.

*One timer for all connections.* Idle keep-alive, slow headers and stalled reads or writes are all
deadlines. Instead of arming and cancelling a hub timer around every wait, each connection stores
the deadline of the wait it is in, and one sweeper timer per server (a few times a second) closes
the waits that are overdue through ``hub.notify_closing``; the waiting green thread wakes with
EBADF, sees its deadline passed, answers 408 where that makes sense and closes. The same
sweeper refreshes the cached ``Date`` header, so a request costs no clock formatting.

*The hot path.* For a keep-alive request the server makes two system calls: one ``recv`` and one
``send`` carrying the status line, headers and body together (small responses are never split,
and TCP_NODELAY is set, so a client never waits for Nagle's algorithm). After a response the
connection waits for readability before calling ``recv`` -- the next request is rarely already
there, and the hub keeps the fd registered, so the wait costs no system call of its own. The
environ is a copy of a per-connection template; header names map to environ keys through a cache.

*Full.* Each connection costs a green thread and some memory, so at most ``max_connections``
are served at once. A full server that just stopped accepting would let clients that trickle
their headers (slowloris) hold every slot until the header timeout while fast clients wait in the
kernel's backlog. So when it is full and a new client knocks, the server sheds connections that
wait for a request -- idle kept-alive ones first, then those that sent the least of a request for
the longest (seconds waited per byte received), sparing any younger than a grace period -- and
accepts the newcomer in their place. Connections running the application or moving a body are
never shed; if nothing can be shed, newcomers wait in the backlog as before. Out of file
descriptors, accept fails with the client still queued; see green._accept for the backoff.

*Graceful stop.* ``Server.stop`` closes the listener, wakes idle keep-alive connections so they
close, lets requests in flight finish (their connections then close instead of waiting for
another request) and after the deadline kills whatever is left.
"""

from __future__ import annotations

import heapq
import logging
import os
import re
import sys
import traceback
from collections import deque
from email.utils import formatdate
from typing import Any, Callable, Iterable, Iterator

import httptools
from greenlet import GreenletExit, getcurrent, greenlet

from green._accept import CLIENT_ERRORS, RESOURCE_ERRORS, AcceptBackoff
from green._greenlets import throw_if_alive as _throw_if_alive
from green._stdlib import original
from green._waiter import Waiter
from green.hubs import get_hub
from green.hubs import monotonic as _hub_monotonic
from green.hubs import wait_until as _wait_until

__all__ = ["ALREADY_HANDLED", "FileWrapper", "HTTPError", "Server", "server", "main"]

_socket = original("socket")
_ssl = original("ssl")
_time = original("time")
_monotonic = _hub_monotonic  # the hub clock: deadlines agree with its timers
_unquote_to_bytes = original("urllib.parse").unquote_to_bytes

SERVER_SOFTWARE = "green.wsgi"

# Documented defaults of the limits (see `Server`).
DEFAULT_MAX_REQUEST_LINE = 8192
DEFAULT_MAX_HEADER_LINE = 8192
DEFAULT_MAX_HEADER_BYTES = 65536
DEFAULT_MAX_HEADERS = 100
DEFAULT_KEEPALIVE_TIMEOUT = 75.0
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_IO_TIMEOUT = 60.0
DEFAULT_MAX_CONNECTIONS = 1024
# Connections shed at once when the server is full and a new client arrives (see Server._shed).
SHED_BATCH = 8
# Unread request body the server discards to keep a connection alive; more than this closes it.
MAX_DRAIN = 1 << 20
RECEIVE_SIZE = 65536

_REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    501: "Not Implemented",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}

_log = logging.getLogger("green.wsgi")


class HTTPError(Exception):
    """A request the server refuses; `status` is the HTTP status code it answers with.

    Raised from ``wsgi.input`` reads when the body turns out malformed (400), too large (413) or too
    slow (408). An application that lets it propagate gets that status sent for it.
    """

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(status, reason or _REASONS.get(status, "Error"))
        self.status = status
        self.reason = reason or _REASONS.get(status, "Error")


class _ClientGone(Exception):
    """The client closed or reset the connection while we were writing to it."""


class _Expired(Exception):
    """A wait on the socket passed its deadline (the sweeper closed it)."""


def _error_response(status: int, detail: str = "") -> bytes:
    reason = _REASONS.get(status, "Error")
    body = f"{status} {reason}\n{detail}".encode("latin-1", "replace")
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n\r\n"
    ).encode("latin-1") + body


# -- environ keys -----------------------------------------------------------------------------------

_header_keys: dict[bytes, str] = {}


def _environ_key(name: bytes) -> str:
    """The environ key of request header `name` ("" for headers that are dropped)."""
    key = _header_keys.get(name)
    if key is not None:
        return key
    text = name.decode("latin-1")
    if "_" in text:
        # "X_User" and "X-User" would both become HTTP_X_USER; a proxy that vets one of them
        # would let the other spoof it. Such headers are dropped.
        key = ""
    else:
        key = text.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
    if len(_header_keys) < 2048:
        _header_keys[name] = key
    return key


# RFC 9110 section 7.2: Host = uri-host [ ":" port ], where uri-host is an IP literal in brackets
# or a reg-name (which covers IPv4 addresses); the value may be empty.
_valid_host = re.compile(rb"(?:\[[0-9A-Za-z:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(?::[0-9]*)?\Z").match

# RFC 9112 section 3: request-line = method SP request-target SP HTTP-version; method = token.
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_complete_request_line = re.compile(_TOKEN + rb" [^\x00-\x20\x7f]+ HTTP/[0-9]\.[0-9]\r\n\Z").match
_partial_request_line = re.compile(_TOKEN + rb" [^\x00-\x1f\x7f]*\Z").match


def _unknown_method_status(data: bytes) -> int:
    """501 if `data` (a request the parser refused for its method) starts with a well-formed
    request line (or, if the line is not complete yet, a method, a space and printable bytes),
    else 400."""
    data = data.lstrip(b"\r\n")
    end = data.find(b"\n")
    if end >= 0:
        well_formed = _complete_request_line(data[: end + 1]) is not None
    else:
        well_formed = _partial_request_line(data) is not None
    return 501 if well_formed else 400


_methods: dict[bytes, str] = {
    method: method.decode("ascii")
    for method in (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS")
}

# Response header names the server must look at: name -> kind.
_LENGTH, _CONNECTION, _DATE, _FORBIDDEN, _ORDINARY = 1, 2, 3, 4, 0
_response_kinds: dict[str, int] = {}


def _response_kind(name: str) -> int:
    kind = _response_kinds.get(name)
    if kind is not None:
        return kind
    lower = name.lower()
    if lower == "content-length":
        kind = _LENGTH
    elif lower == "connection":
        kind = _CONNECTION
    elif lower == "date":
        kind = _DATE
    elif lower in ("transfer-encoding", "keep-alive", "upgrade", "trailer", "proxy-authenticate"):
        kind = _FORBIDDEN
    else:
        kind = _ORDINARY
    if len(_response_kinds) < 2048:
        _response_kinds[name] = kind
    return kind


# -- wsgi.input ------------------------------------------------------------------------------------


class _Input:
    """``wsgi.input``: the request body, read through the parser; never reads past the body.

    `read`, `readline`, `readlines` and iteration block (cooperatively) until the data is there or
    the body ends. Raises `HTTPError` if the body is malformed, too large or too slow.
    """

    __slots__ = ("connection", "request")

    def __init__(self, connection: _Connection, request: _Request) -> None:
        self.connection = connection
        self.request = request

    def read(self, size: int | None = -1) -> bytes:
        request = self.request
        body = request.body
        if size is None or size < 0:
            while not request.complete:
                self.connection._receive_body(request)
            data = bytes(body)
            body.clear()
            return data
        while len(body) < size and not request.complete:
            self.connection._receive_body(request)
        data = bytes(body[:size])
        del body[:size]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        request = self.request
        body = request.body
        if size is None:
            size = -1
        start = 0
        while True:
            index = body.find(b"\n", start)
            if index >= 0:
                end = index + 1
                break
            if 0 <= size <= len(body) or request.complete:
                end = len(body)
                break
            start = len(body)
            self.connection._receive_body(request)
        if 0 <= size < end:
            end = size
        data = bytes(body[:end])
        del body[:end]
        return data

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def get_socket(self) -> Any:
        """The connection's socket, for an application that speaks on it directly (eventlet's
        ``environ["eventlet.input"].get_socket()``): a green socket over plain TCP, the server's
        non-blocking SSL socket over TLS.

        Bytes the client sent beyond this request and the server already received are not in it.
        An application that writes its own response returns `ALREADY_HANDLED`.
        """
        sock = self.connection.sock
        if self.connection.tls:
            return sock
        from green.socket import socket as green_socket

        return green_socket._from_real(sock, None)


class _AlreadyHandled:
    def __repr__(self) -> str:
        return "green.wsgi.ALREADY_HANDLED"


#: Returned by an application that wrote its whole response on the socket itself (see
#: `_Input.get_socket`): the server sends nothing more and closes the connection.
ALREADY_HANDLED: Any = _AlreadyHandled()


class _EmptyInput:
    """``wsgi.input`` of a request without a body."""

    __slots__ = ()

    def read(self, size: int | None = -1) -> bytes:
        return b""

    def readline(self, size: int | None = -1) -> bytes:
        return b""

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return []

    def __iter__(self) -> Iterator[bytes]:
        return iter(())


_EMPTY_INPUT = _EmptyInput()


class FileWrapper:
    """``wsgi.file_wrapper``: returned by an app to send a file; a regular file goes out with
    ``os.sendfile`` (zero copy) when the connection is plain TCP, else it is read in blocks.
    """

    def __init__(self, filelike: Any, block_size: int = 65536) -> None:
        self.filelike = filelike
        self.block_size = block_size
        close = getattr(filelike, "close", None)
        if close is not None:
            self.close = close

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        while True:
            data = read(self.block_size)
            if not data:
                return
            yield data


# -- requests and connections ----------------------------------------------------------------------


class _Request:
    __slots__ = ("method", "url", "headers", "version", "keep_alive", "body", "complete", "body_size")

    def __init__(self, method: bytes, url: bytes, headers: list, version: str, keep_alive: bool) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.version = version
        self.keep_alive = keep_alive
        self.body = bytearray()
        self.complete = False
        self.body_size = 0


# Phases of a connection's wait, for the sweeper and for graceful stop.
_BUSY, _IDLE, _HEADERS, _IO = 0, 1, 2, 3


class _Handshaking:
    """A connection in its TLS handshake, as the sweeper, `Server._shed` and `Server.stop` see it:
    waiting for the client's bytes like a connection waiting for its first request."""

    __slots__ = (
        "fd",
        "greenlet",
        "phase",
        "deadline",
        "since",
        "raw_header_bytes",
        "answered",
        "shed",
        "expired",
    )

    def __init__(self, fd: int, header_timeout: float) -> None:
        self.fd = fd
        self.greenlet = getcurrent()
        self.phase = _HEADERS
        self.since = _monotonic()
        self.deadline = self.since + header_timeout
        self.raw_header_bytes = 0
        self.answered = False
        self.shed = False
        self.expired = False


class _Connection:
    """One client connection, served by one green thread; also the parser's callback object."""

    def __init__(self, server: Server, sock: Any, address: Any) -> None:
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.hub = server.hub
        self.greenlet = getcurrent()
        self.parser = httptools.HttpRequestParser(self)
        self.requests: deque[_Request] = deque()
        self.parsing: _Request | None = None
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.in_headers = False
        self.header_bytes = 0
        self.raw_header_bytes = 0
        self.messages_begun = 0
        self.heads_completed = 0
        self.trailer_bytes = 0
        self.error: HTTPError | None = None
        self.upgraded = False
        # The request that asked for a protocol upgrade, and the bytes that followed it.
        self.upgrade_request: _Request | None = None
        self.upgrade_data = b""
        # Plain TCP, after a response: wait for readability before recv (a fresh connection
        # usually has its request waiting already). Never with TLS, whose buffer may hold
        # decrypted bytes the kernel knows nothing about.
        self.wait_first = False
        self.answered = False
        self.tls = server.ssl_context is not None
        self.phase = _BUSY
        self.deadline = 0.0
        self.expired = False
        # When the wait for the current request began (accept, or the end of the last response),
        # and whether the server shed this connection to make room for a new one.
        self.since = _monotonic()
        self.shed = False
        # Per request response state.
        self.request: _Request | None = None
        self.status: str | None = None
        self.response_headers: list[tuple[str, str]] = []
        self.headers_sent = False
        self.continue_sent = False
        self.no_body = False
        self.chunked = False
        self.remaining = -1
        self.keep_alive = True
        self.sent_bytes = 0
        self.status_code: str | int = 0
        if type(address) is tuple:
            host, port = address[0], str(address[1])
        else:
            host, port = "", ""
        self.environ_template = dict(server.base_environ, REMOTE_ADDR=host, REMOTE_PORT=port)
        self.peer = f"{host}:{port}" if port else "local client"

    # -- parser callbacks (called inside parser.feed_data) --

    def on_message_begin(self) -> None:
        self.messages_begun += 1
        self.url = b""
        self.headers = []
        self.in_headers = True
        self.header_bytes = 0
        self.trailer_bytes = 0

    def on_url(self, fragment: bytes) -> None:
        url = self.url + fragment
        if len(url) > self.server.max_request_line:
            raise HTTPError(414)
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + 4
        if not self.in_headers:  # a trailer: discarded, but bounded
            self.trailer_bytes += size
            if self.trailer_bytes > self.server.max_header_bytes:
                raise HTTPError(431, "trailers too large")
            return
        server = self.server
        if size > server.max_header_line:
            raise HTTPError(431, "header line too long")
        self.header_bytes += size
        if self.header_bytes > server.max_header_bytes:
            raise HTTPError(431, "headers too large")
        headers = self.headers
        headers.append((name, value))
        if len(headers) > server.max_headers:
            raise HTTPError(431, "too many headers")

    def on_headers_complete(self) -> None:
        parser = self.parser
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            raise HTTPError(505)
        hosts = 0
        for name, value in self.headers:
            if len(name) == 4 and name.lower() == b"host":
                hosts += 1
                if _valid_host(value) is None:
                    raise HTTPError(400, "invalid Host header")
        # RFC 9112 section 3.2: an HTTP/1.1 request without Host, or any request with more than
        # one, is answered 400 (a proxy and this server could disagree about the target).
        if hosts > 1:
            raise HTTPError(400, "more than one Host header")
        if not hosts and version == "1.1":
            raise HTTPError(400, "missing Host header")
        request = _Request(parser.get_method(), self.url, self.headers, version, parser.should_keep_alive())
        self.in_headers = False
        self.raw_header_bytes = 0
        self.heads_completed += 1
        self.parsing = request
        self.requests.append(request)

    def on_body(self, data: bytes) -> None:
        request = self.parsing
        assert request is not None
        request.body += data
        request.body_size += len(data)
        limit = self.server.max_body
        if limit is not None and request.body_size > limit:
            raise HTTPError(413)

    def on_message_complete(self) -> None:
        request = self.parsing
        assert request is not None
        request.complete = True
        self.in_headers = False

    # -- receiving --

    def _feed(self, data: bytes) -> None:
        """Give received bytes to the parser; raises HTTPError for anything malformed.

        While a request's head (request line and headers) is incomplete, the parser is given at
        most what is left of the head's budget (`Server.max_head_bytes`), so an over-long head is
        refused with 431 before more of it is buffered. (A head that starts in the same read as
        the end of the previous request, after a body or a pipelined head, is counted from the
        next read on: its first read may go past the budget by at most that read.)
        """
        parsing = self.parsing
        if not (self.in_headers or parsing is None or parsing.complete):
            self._parse(data)  # in a body: no budget
            return
        limit = self.server.max_head_bytes
        while data:
            budget = limit - self.raw_header_bytes
            piece = data if len(data) <= budget else data[:budget]
            heads = self.heads_completed
            self._parse(piece)
            data = data[len(piece) :]
            parsing = self.parsing
            if not (self.in_headers or parsing is None or parsing.complete):
                if data:
                    self._parse(data)  # the rest goes to the body
                return
            if heads == self.heads_completed:
                self.raw_header_bytes += len(piece)
                if self.raw_header_bytes >= limit:
                    raise HTTPError(431)  # (a long request line alone is caught by on_url: 414)

    def _parse(self, data: bytes) -> None:
        parsing = self.parsing
        between = not self.in_headers and (parsing is None or parsing.complete)
        begun = self.messages_begun
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserInvalidMethodError:
            # llhttp knows the registered methods only. A well-formed request line with a method
            # it does not know is answered 501 (RFC 9110 section 9.1), anything else 400; this is
            # decided when the request line starts this read, as it does but for pipelining.
            status = 400
            if between and self.messages_begun == begun + 1:
                status = _unknown_method_status(data)
            raise HTTPError(status) from None
        except httptools.HttpParserUpgrade as upgrade:
            # Upgrade or CONNECT: the request is answered like any other, then the connection
            # closes (this server speaks nothing but HTTP/1.x) -- unless the application takes
            # the connection over (``green.wsgi.take_over`` in its environ, e.g. a WebSocket).
            self.upgraded = True
            if self.requests:
                self.requests[-1].keep_alive = False
                self.upgrade_request = self.requests[-1]
                offset = upgrade.args[0] if upgrade.args and type(upgrade.args[0]) is int else len(data)
                self.upgrade_data = bytes(data[offset:])
            return
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            if isinstance(cause, HTTPError):
                raise cause from None
            raise HTTPError(400, "parser callback failed") from cause
        except httptools.HttpParserError as error:
            # llhttp refuses well-formed versions it does not know (HTTP/1.2, HTTP/3.0) with this
            # message; like the versions it parses but we do not serve, they are a 505.
            status = 505 if str(error) == "Invalid HTTP version" else 400
            raise HTTPError(status, str(error)) from None

    def _receive(self) -> bool:
        """One `recv` (waiting as needed) fed to the parser. False at end of stream."""
        sock = self.sock
        while True:
            try:
                data = sock.recv(RECEIVE_SIZE)
                break
            except BlockingIOError:
                pass
            except _ssl.SSLWantReadError:
                pass
            except _ssl.SSLWantWriteError:
                self._wait(False)
                continue
            except (ConnectionError, _ssl.SSLError):
                return False
            self._wait(True)
        if not data:
            return False
        self._feed(data)
        return True

    def _wait(self, readable: bool) -> None:
        """Park until the socket is ready; raises _Expired when the sweeper ends the wait."""
        try:
            if readable:
                self.hub.wait_readable(self.fd)
            else:
                self.hub.wait_writable(self.fd)
        except OSError:
            if self.expired:
                raise _Expired from None
            raise

    def _read_request(self) -> bool:
        """Wait for the next request's headers; False if the connection should close."""
        server = self.server
        if self.error is not None:
            return False
        if self.upgraded:
            return False
        self.phase = _IDLE
        # A new connection gets header_timeout for its first request (counted from the accept),
        # so connections that never send anything, or send slowly, cannot hold their slots for
        # longer; a kept-alive connection gets header_timeout from the first byte of a request.
        answered = self.answered
        if answered:
            self.since = _monotonic()
            self.deadline = self.since + server.keepalive_timeout
        else:
            self.deadline = self.since + server.header_timeout
        requests = self.requests
        try:
            while not requests:
                if self.phase == _IDLE and self.wait_first:
                    self._wait(True)
                    if server.stopping:
                        return False
                if not self._receive():
                    return False
                if self.phase == _IDLE and not requests:
                    self.phase = _HEADERS
                    if answered:
                        self.since = _monotonic()
                        self.deadline = self.since + server.header_timeout
        except HTTPError as error:
            if requests:  # answer what arrived intact first
                self.error = error
                return True
            self._send_error(error.status, error.reason)
            return False
        except _Expired:
            if self.phase == _HEADERS:
                if self.shed:
                    self._send_error(503, "", wait=False)
                else:
                    self._send_error(408, "")
            return False
        finally:
            self.phase = _BUSY
        return True

    def _receive_body(self, request: _Request) -> None:
        """Receive more of `request`'s body (sending 100 Continue first if the client asked)."""
        if self.error is not None:
            raise self.error
        if not self.continue_sent:
            # The application asked for the body: a client waiting for permission gets it now.
            self.continue_sent = True
            if not self.headers_sent and self.expect_continue(request):
                self._sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.phase = _IO
        self.deadline = _monotonic() + self.server.io_timeout
        try:
            if not self._receive():
                self.error = HTTPError(400, "request body truncated")
                raise self.error
        except HTTPError as error:
            self.error = error
            raise
        except _Expired:
            self.error = HTTPError(408, "request body too slow")
            raise self.error from None
        finally:
            self.phase = _BUSY

    def _expect_pending(self, request: _Request) -> bool:
        """True if the client still waits for a 100 Continue we never sent."""
        return not self.continue_sent and self.expect_continue(request)

    def expect_continue(self, request: _Request) -> bool:
        if request.version != "1.1" or request.body_size:
            return False
        for name, value in request.headers:
            if len(name) == 6 and name.lower() == b"expect":
                return value.lower() == b"100-continue"
        return False

    # -- sending --

    def _sendall(self, data: bytes | memoryview) -> None:
        sock = self.sock
        try:
            sent = sock.send(data)
        except (BlockingIOError, _ssl.SSLWantWriteError, _ssl.SSLWantReadError):
            sent = 0
        except (ConnectionError, _ssl.SSLError) as error:
            raise _ClientGone(error) from None
        if sent == len(data):
            return
        view = memoryview(data)[sent:]
        self.phase = _IO
        try:
            while view:
                self.deadline = _monotonic() + self.server.io_timeout
                try:
                    sent = sock.send(view)
                except (BlockingIOError, _ssl.SSLWantWriteError):
                    self._wait(False)
                    continue
                except _ssl.SSLWantReadError:
                    self._wait(True)
                    continue
                except (ConnectionError, _ssl.SSLError) as error:
                    raise _ClientGone(error) from None
                view = view[sent:]
        except _Expired:
            raise _ClientGone("write timed out") from None
        finally:
            self.phase = _BUSY

    def _send_error(self, status: int, detail: str, wait: bool = True, log: bool = True) -> None:
        """Send an error response; with `wait` False only what the socket takes at once; with
        `log` False the caller reports it to the access log."""
        response = _error_response(status, detail if self.server.debug else "")
        try:
            if wait:
                self._sendall(response)
            else:
                self.sock.send(response)
        except (_ClientGone, OSError, _ssl.SSLError):
            pass
        if not log:
            return
        server = self.server
        if server.access_log is not None:
            server.access_log.info('%s - - "-" %d -', self.peer, status)
        if server.log_request is not None:
            # No request to speak of (malformed, or none before a timeout).
            environ = dict(
                self.environ_template,
                REQUEST_METHOD="-",
                RAW_PATH_INFO="-",
                PATH_INFO="",
                QUERY_STRING="",
                SERVER_PROTOCOL="-",
            )
            self._call_log_request(environ, f"{status} {_REASONS.get(status, 'Error')}", [], 0, 0.0)

    # -- one request --

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
        """PEP 3333 ``start_response``; returns the ``write`` callable."""
        if exc_info is not None:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response called a second time without exc_info")
        if type(status) is not str or len(status) < 4 or status[3] != " ":
            raise ValueError(f"invalid status {status!r}")
        self.status = status
        self.response_headers = headers
        return self.write

    def _start(self, body: bytes, final: bool) -> None:
        """Send the status line and headers, together with the first piece of `body`."""
        status = self.status
        if status is None:
            raise AssertionError("the application did not call start_response")
        request = self.request
        assert request is not None
        code = status[:3]
        self.status_code = code
        lines = [f"HTTP/1.1 {status}"]
        length = -1
        keep_alive = self.keep_alive
        has_date = False
        kinds = _response_kinds
        for name, value in self.response_headers:
            kind = kinds.get(name)
            if kind is None:
                kind = _response_kind(name)
            if kind:
                if kind == _LENGTH:
                    length = int(value)
                elif kind == _CONNECTION:
                    if value.lower() == "close":
                        keep_alive = False
                    continue
                elif kind == _DATE:
                    has_date = True
                else:
                    raise ValueError(f"hop-by-hop header {name!r} set by the application")
            lines.append(f"{name}: {value}")
        if not has_date:
            lines.append(self.server.date_header)
        method = request.method
        if code == "200" and method != b"HEAD":
            no_body = False
        else:
            no_body = method == b"HEAD" or code == "204" or code == "304" or code[0] == "1"
        self.no_body = no_body
        self.chunked = False
        if length >= 0:
            self.remaining = length
        elif no_body:
            if final and body and method == b"HEAD" and code[0] != "1" and code not in ("204", "304"):
                lines.append(f"Content-Length: {len(body)}")
            self.remaining = -1
        elif final:
            lines.append(f"Content-Length: {len(body)}")
            self.remaining = len(body)
        elif request.version == "1.1":
            lines.append("Transfer-Encoding: chunked")
            self.chunked = True
            self.remaining = -1
        else:
            keep_alive = False
            self.remaining = -1
        if keep_alive and (self.server.stopping or (not request.complete and self._expect_pending(request))):
            keep_alive = False
        if not keep_alive:
            lines.append("Connection: close")
        elif request.version == "1.0":
            lines.append("Connection: keep-alive")
        self.keep_alive = keep_alive
        lines.append("\r\n")
        text = "\r\n".join(lines)
        # A CR or LF inside a name, value or the status would split the response.
        separators = len(lines)
        if text.count("\n") != separators or text.count("\r") != separators:
            raise ValueError("CR or LF in the response status or headers")
        head = text.encode("latin-1")
        self.headers_sent = True
        if no_body or not body:
            self._sendall(head)
            return
        size = len(body)
        if self.chunked:
            self._sendall(b"%b%x\r\n%b\r\n" % (head, size, body))
            self.sent_bytes = size
            return
        remaining = self.remaining
        if remaining >= 0:
            if size > remaining:
                body = body[:remaining]
                size = remaining
                self.keep_alive = False
            self.remaining = remaining - size
        self.sent_bytes = size
        self._sendall(head + body)

    def write(self, data: bytes) -> None:
        """PEP 3333 ``write``: send `data` now (headers first if not yet sent)."""
        if type(data) is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"WSGI response data must be bytes, not {type(data).__name__}")
            data = bytes(data)
        if not data:
            return
        if not self.headers_sent:
            self._start(data, False)
            return
        if self.no_body or not data:
            return
        if self.chunked:
            if len(data) < 65536:
                self._sendall(b"%x\r\n%b\r\n" % (len(data), data))
            else:
                self._sendall(b"%x\r\n" % len(data))
                self._sendall(data)
                self._sendall(b"\r\n")
        else:
            if self.remaining >= 0:
                if len(data) > self.remaining:
                    data = data[: self.remaining]
                    self.keep_alive = False
                self.remaining -= len(data)
            self._sendall(data)
        self.sent_bytes += len(data)

    def _finish(self) -> None:
        if not self.headers_sent:
            self._start(b"", True)
        elif self.chunked:
            self._sendall(b"0\r\n\r\n")
        elif self.remaining > 0 and not self.no_body:
            # The application promised more than it gave: the client cannot find the end.
            self.keep_alive = False

    def _send_file(self, wrapper: FileWrapper) -> bool:
        """Send a FileWrapper's file with sendfile; False if it must be iterated instead."""
        if self.server.ssl_context is not None:
            return False
        try:
            fileno = wrapper.filelike.fileno()
            position = wrapper.filelike.tell()
            size = os.fstat(fileno).st_size
        except (AttributeError, OSError, ValueError):
            return False
        available = max(0, size - position)
        if not self.headers_sent:
            if not any(_response_kind(name) == _LENGTH for name, _ in self.response_headers):
                assert self.response_headers is not None
                self.response_headers = list(self.response_headers) + [("Content-Length", str(available))]
            self._start(b"", False)
        if self.no_body:
            return True
        count = available if self.remaining < 0 else min(available, self.remaining)
        offset = position
        self.phase = _IO
        try:
            while count > 0:
                self.deadline = _monotonic() + self.server.io_timeout
                try:
                    sent = os.sendfile(self.fd, fileno, offset, count)
                except BlockingIOError:
                    self._wait(False)
                    continue
                except ConnectionError as error:
                    raise _ClientGone(error) from None
                if sent == 0:
                    break
                offset += sent
                count -= sent
                self.sent_bytes += sent
                if self.remaining >= 0:
                    self.remaining -= sent
        except _Expired:
            raise _ClientGone("write timed out") from None
        finally:
            self.phase = _BUSY
        return True

    def _environ(self, request: _Request) -> dict:
        environ = self.environ_template.copy()
        url = request.url
        if url[:1] == b"/":
            path, _, query = url.partition(b"?")
        elif url == b"*":
            path, query = b"*", b""
        elif request.method == b"CONNECT":
            # authority-form ("host:port"): no path; RAW_PATH_INFO keeps the target.
            environ["RAW_PATH_INFO"] = url.decode("latin-1")
            environ["PATH_INFO"] = environ["QUERY_STRING"] = ""
            path = query = b""
        else:
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                raise HTTPError(400, "invalid request target") from None
            path = parsed.path or b"/"
            query = parsed.query or b""
        if b"#" in query:
            query = query.partition(b"#")[0]
        if b"#" in path:
            path = path.partition(b"#")[0]
        if path:
            raw_path = path.decode("latin-1")
            environ["RAW_PATH_INFO"] = raw_path
            environ["PATH_INFO"] = raw_path if b"%" not in path else _unquote_to_bytes(path).decode("latin-1")
            environ["QUERY_STRING"] = query.decode("latin-1")
        method = _methods.get(request.method)
        if method is None:
            method = request.method.decode("latin-1")
        environ["REQUEST_METHOD"] = method
        environ["SERVER_PROTOCOL"] = "HTTP/1.1" if request.version == "1.1" else "HTTP/1.0"
        header_keys = _header_keys
        for name, value in request.headers:
            key = header_keys.get(name)
            if key is None:
                key = _environ_key(name)
            if not key:
                continue
            text = value.decode("latin-1")
            if key in environ:
                text = environ[key] + ("; " if key == "HTTP_COOKIE" else ", ") + text
            environ[key] = text
        if request.version == "1.0" and "HTTP_TRANSFER_ENCODING" in environ:
            raise HTTPError(400, "Transfer-Encoding in an HTTP/1.0 request")
        limit = self.server.max_body
        if limit is not None and int(environ.get("CONTENT_LENGTH") or 0) > limit:
            raise HTTPError(413)
        if request.complete and not request.body:
            environ["wsgi.input"] = _EMPTY_INPUT
        else:
            environ["wsgi.input"] = _Input(self, request)
        if self.upgraded and request is self.upgrade_request and request.complete:
            environ["green.wsgi.take_over"] = self.take_over
        return environ

    def take_over(self) -> tuple[Any, bytes]:
        """``environ["green.wsgi.take_over"]()``: hand the connection to the application.

        Offered only for a request that asked for a protocol upgrade (``Connection: Upgrade``).
        Returns ``(sock, data)``: the connection's socket (non-blocking; a real socket, or an
        ``ssl.SSLSocket`` over TLS -- wait on it with the hub's ``wait_readable``/``wait_writable``)
        and the bytes the client already sent after the request. From then on the server sends
        nothing on the connection: the application writes its own response (``101 Switching
        Protocols``) and speaks the new protocol until it returns; then the server closes the
        socket. Raises RuntimeError if the response has already started.
        """
        if self.headers_sent:
            raise RuntimeError("take_over after the response started")
        self.headers_sent = True
        self.no_body = True
        self.keep_alive = False
        self.status_code = 101
        data, self.upgrade_data = self.upgrade_data, b""
        return self.sock, data

    def _respond(self, request: _Request) -> bool:
        """Run the application for `request` and send its response; True to keep the connection."""
        server = self.server
        self.request = request
        self.status = None
        self.headers_sent = False
        self.continue_sent = False
        self.keep_alive = request.keep_alive and server.keepalive_timeout > 0 and not server.stopping
        self.sent_bytes = 0
        self.status_code = 0
        if self.error is not None and not request.complete:
            # The body is already known to be malformed or too large: the app never sees it.
            self.status_code = self.error.status
            self._send_error(self.error.status, self.error.reason)
            return False
        logging_requests = server.access_log is not None or server.log_request is not None
        started = _monotonic() if logging_requests else 0.0
        environ: dict | None = None
        result: Any = None
        try:
            environ = self._environ(request)
            if server.eventlet_environ:
                environ["eventlet.input"] = environ["wsgi.input"] = _Input(self, request)
                environ["eventlet.posthooks"] = []
            result = server.app(environ, self.start_response)
            if type(result) is list and not self.headers_sent and len(result) == 1:
                body = result[0]
                if type(body) is not bytes:
                    raise TypeError(f"WSGI response data must be bytes, not {type(body).__name__}")
                self._start(body, True)
            elif type(result) is list and not self.headers_sent:
                self._start(b"".join(result), True)
            elif type(result) is FileWrapper and self._send_file(result):
                self._finish()
            elif result is ALREADY_HANDLED:
                self.keep_alive = False
            else:
                for data in result:
                    if data:
                        self.write(data)
                self._finish()
        except _ClientGone as error:
            _log.info(
                "client %s disconnected during the response to %s %s (%s)",
                self.peer,
                request.method.decode("latin-1"),
                request.url.decode("latin-1"),
                error.args[0] if error.args else error,
            )
            return False
        except HTTPError as error:
            self.keep_alive = False
            if not self.headers_sent:
                self.status_code = error.status
                self._send_error(error.status, error.reason, log=False)
        except Exception:
            self.keep_alive = False
            _log.exception(
                "error in the application serving %s %s",
                request.method.decode("latin-1"),
                request.url.decode("latin-1"),
            )
            if not self.headers_sent:
                self.status_code = 500
                self._send_error(500, traceback.format_exc() if server.debug else "", log=False)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    _log.exception("error closing the application's response iterable")
            server.requests_served += 1
            if environ is not None and server.eventlet_environ:
                self._run_posthooks(environ)
        if logging_requests:
            if server.access_log is not None:
                self._log_access(request, started)
            if server.log_request is not None:
                self._report(request, environ, started)
        if not self.keep_alive:
            return False
        if not request.complete:
            return self._drain(request)
        return True

    def _run_posthooks(self, environ: dict) -> None:
        """Call each ``(function, args, kwargs)`` of ``environ["eventlet.posthooks"]`` as
        ``function(environ, *args, **kwargs)``, after the response."""
        for function, args, kwargs in environ.get("eventlet.posthooks", ()):
            try:
                function(environ, *args, **kwargs)
            except Exception:
                _log.exception("error in a posthook of %s", environ.get("PATH_INFO"))

    def _drain(self, request: _Request) -> bool:
        """Discard the unread rest of the body to reuse the connection; False to close."""
        if self._expect_pending(request):
            return False  # the client is still waiting for permission to send it
        request.body.clear()
        start = request.body_size
        try:
            while not request.complete:
                if request.body_size - start > MAX_DRAIN:
                    return False
                self._receive_body(request)
                request.body.clear()
        except (HTTPError, _ClientGone, OSError):
            return False
        return True

    def _log_access(self, request: _Request, started: float) -> None:
        log = self.server.access_log
        assert log is not None
        log.info(
            '%s - - [%s] "%s %s HTTP/%s" %s %d %.6f',
            self.peer,
            _time.strftime("%d/%b/%Y:%H:%M:%S"),
            request.method.decode("latin-1"),
            request.url.decode("latin-1"),
            request.version,
            self.status_code,
            self.sent_bytes,
            _monotonic() - started,
        )

    def _report(self, request: _Request, environ: dict | None, started: float) -> None:
        """Call the server's `log_request` for the request just answered."""
        code = self.status_code
        status = self.status
        if status is None or status[:3] != str(code):
            status = f"{code} {_REASONS.get(int(code), 'Error')}" if code else "000 No Response"
        if environ is None:  # the request was refused before its environ was complete
            url = request.url.decode("latin-1")
            environ = dict(
                self.environ_template,
                REQUEST_METHOD=request.method.decode("latin-1"),
                RAW_PATH_INFO=url.partition("?")[0],
                PATH_INFO=url.partition("?")[0],
                QUERY_STRING=url.partition("?")[2],
                SERVER_PROTOCOL=f"HTTP/{request.version}",
            )
        headers = self.response_headers if self.headers_sent and self.status is not None else []
        self._call_log_request(environ, status, headers, self.sent_bytes, _monotonic() - started)

    def _call_log_request(self, environ: dict, status: str, headers: list, sent: int, seconds: float) -> None:
        log_request = self.server.log_request
        assert log_request is not None
        try:
            log_request(environ, status, headers, sent, seconds)
        except Exception:
            _log.exception("error in log_request")

    def serve(self) -> None:
        """Answer requests until the connection should close."""
        requests = self.requests
        respond = self._respond
        server = self.server
        while True:
            if not requests:
                if not self._read_request():
                    if self.error is not None and not requests:
                        self._send_error(self.error.status, self.error.reason)
                    return
                if not requests:
                    return
            if not respond(requests.popleft()):
                return
            self.answered = True
            self.wait_first = not self.tls
            if server.stopping and not requests:
                return
            if not requests and self.error is not None:
                self._send_error(self.error.status, self.error.reason)
                return

    def close(self) -> None:
        self.hub.notify_closing(self.fd)
        try:
            self.sock.close()
        except OSError:
            pass


# -- the server ------------------------------------------------------------------------------------


def _listening_socket(sock: Any) -> Any:
    """A real non-blocking socket sharing `sock`'s listening fd (a dup; the caller keeps `sock`)."""
    fd = os.dup(sock.fileno())
    try:
        listener = _socket.socket(fileno=fd)
    except OSError:
        os.close(fd)
        raise
    listener.setblocking(False)
    return listener


class Server:
    """A WSGI server on a listening socket; each connection is served by its own green thread.

    `sock` is a bound, listening socket (green or stdlib; the server works on a duplicate of its
    fd and leaves `sock` itself to the caller -- note the fd is switched to non-blocking mode).

    Options and their defaults:
      max_connections (1024): connections served at once. When all are taken and a new client
        arrives, the server sheds connections that wait for a request (idle kept-alive ones
        first, then those that sent the least of a request for the longest, but none younger than
        a tenth of header_timeout, at most 1 s); idle clients get closed, slow ones 503. If none
        can be shed, new clients wait in the kernel's backlog.
      keepalive_timeout (75 s): idle time before a keep-alive connection is closed; 0 disables
        keep-alive.
      header_timeout (10 s): time from the first byte of a request to the end of its headers;
        slower clients get 408 and are dropped.
      io_timeout (60 s): longest wait for one read of the body or one write of the response.
      max_request_line (8192): bytes of request-target; longer gives 414.
      max_header_line (8192): bytes of one header line; longer gives 431.
      max_header_bytes (65536): bytes of all header lines together; more gives 431.
      max_headers (100): number of header lines; more gives 431.
      max_body (None): largest request body in bytes, None for unlimited; larger gives 413.
      debug (False): put tracebacks in 500 responses.
      access_log (None): a logging.Logger receiving one line per request.
      log_request (None): a callable ``log_request(environ, status, response_headers,
        bytes_sent, seconds)`` called after each response (for malformed requests, with an
        environ whose REQUEST_METHOD is "-"); for access logs in a format of your own. Its
        exceptions are logged and otherwise ignored.
      ssl_context (None): an ssl.SSLContext; connections are then served over TLS.
      environ (None): extra keys for every request's environ.
      eventlet_environ (False): eventlet's environ keys too: ``eventlet.input`` (``wsgi.input``,
        with ``get_socket()``) and ``eventlet.posthooks`` (a list of ``(function, args, kwargs)``
        called as ``function(environ, *args, **kwargs)`` after the response); used by the
        eventlet alias (green.compat.eventlet).
    Errors in the application are logged to the "green.wsgi" logger and answered with 500.
    """

    def __init__(
        self,
        sock: Any,
        app: Callable[[dict, Callable], Iterable[bytes]],
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        io_timeout: float = DEFAULT_IO_TIMEOUT,
        max_request_line: int = DEFAULT_MAX_REQUEST_LINE,
        max_header_line: int = DEFAULT_MAX_HEADER_LINE,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        max_headers: int = DEFAULT_MAX_HEADERS,
        max_body: int | None = None,
        debug: bool = False,
        access_log: logging.Logger | None = None,
        log_request: Callable[[dict, str, list, int, float], Any] | None = None,
        ssl_context: Any = None,
        environ: dict | None = None,
        multiprocess: bool = False,
        eventlet_environ: bool = False,
    ) -> None:
        self.hub = get_hub()
        self.app = app
        self.listener = _listening_socket(sock)
        self.max_connections = max_connections
        # A connection is never shed before it had this long to send its request.
        self.shed_grace = min(1.0, header_timeout / 10)
        self.keepalive_timeout = keepalive_timeout
        self.header_timeout = header_timeout
        self.io_timeout = io_timeout
        self.max_request_line = max_request_line
        self.max_header_line = max_header_line
        self.max_header_bytes = max_header_bytes
        # Raw bytes a request head may take: the request line (method, target, version), the
        # header lines, and some slack for line ends and optional whitespace.
        self.max_head_bytes = max_request_line + max_header_bytes + 256
        self.max_headers = max_headers
        self.max_body = max_body
        self.debug = debug
        self.access_log = access_log
        self.log_request = log_request
        self.ssl_context = ssl_context
        self.eventlet_environ = eventlet_environ
        self.stopping = False
        self.stopped = False
        self.requests_served = 0
        self.connections: set[Any] = set()  # _Connection, and _Handshaking during TLS handshakes
        self.active = 0
        self.shed_pending = 0  # connections shed whose green threads have not ended yet
        self._slot_waiter: Waiter | None = None
        self._backoff = AcceptBackoff(_log, "a connection closes")
        self._done_waiters: list[Waiter] = []
        self._serving = False
        self._sweeper: Any = None
        self.date_header = ""
        self._update_date()
        address = self.listener.getsockname()
        if isinstance(address, tuple):
            server_name, server_port = str(address[0]), str(address[1])
        else:
            server_name, server_port = str(address), ""
        self.address = address
        self.base_environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if ssl_context is not None else "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": multiprocess,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
            "wsgi.file_wrapper": FileWrapper,
            "SERVER_SOFTWARE": SERVER_SOFTWARE,
            "SERVER_NAME": server_name,
            "SERVER_PORT": server_port,
            "SCRIPT_NAME": "",
            "GATEWAY_INTERFACE": "CGI/1.1",
        }
        if environ:
            self.base_environ.update(environ)

    def _update_date(self) -> None:
        self.date_header = f"Date: {formatdate(usegmt=True)}"

    def _sweep(self) -> None:
        """Timer callback: refresh the Date header, end overdue waits, reschedule."""
        self._update_date()
        now = _monotonic()
        hub = self.hub
        for connection in self.connections:
            if connection.phase and connection.deadline < now:
                connection.expired = True
                hub.notify_closing(connection.fd)
        self._sweeper = hub.call_later(self._sweep_interval(), self._sweep)

    def _sweep_interval(self) -> float:
        shortest = min(
            t for t in (self.keepalive_timeout, self.header_timeout, self.io_timeout, 4.0) if t > 0
        )
        return min(1.0, shortest / 4)

    def serve_forever(self) -> None:
        """Accept and serve connections until `stop` is called (then return once it finished)."""
        hub = self.hub
        listener = self.listener
        listen_fd = listener.fileno()
        self._serving = True
        self._sweeper = hub.call_later(self._sweep_interval(), self._sweep)
        # Out of file descriptors (or kernel memory): see green._accept.
        backoff = self._backoff = AcceptBackoff(_log, "a connection closes")
        try:
            while not self.stopping:
                if self.active >= self.max_connections:
                    # Full. Nothing to do until a new client knocks; then make room for it by
                    # shedding the connections that sent the least of a request for the longest,
                    # or else wait for one to finish.
                    try:
                        hub.wait_readable(listen_fd)
                    except OSError:
                        if self.stopping:
                            break
                        raise
                    if self.active < self.max_connections or self.stopping:
                        continue
                    # Connections shed before end at the hub's next turn; shed more only then.
                    retry = self._shed() if not self.shed_pending else None
                    if self.active >= self.max_connections:
                        self._wait_for_slot(retry)
                    continue
                try:
                    client, address = listener.accept()
                except BlockingIOError:
                    try:
                        hub.wait_readable(listen_fd)
                    except OSError:
                        if self.stopping:
                            break
                        raise
                    continue
                except OSError as error:
                    if self.stopping:
                        break
                    if error.errno in RESOURCE_ERRORS:
                        backoff.failed(error)
                        continue
                    if error.errno in CLIENT_ERRORS:
                        continue
                    raise
                backoff.succeeded()
                client.setblocking(False)
                if client.family != _socket.AF_UNIX:
                    client.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
                self.active += 1
                thread = greenlet(self._handle, parent=hub)
                hub.schedule((thread.switch, (client, address)))
        finally:
            self._serving = False
            if not self.stopping:
                self._begin_stop()
        if not self.stopped:
            waiter = Waiter(hub)
            self._done_waiters.append(waiter)
            waiter.wait()

    def _wait_for_slot(self, timeout: float | None) -> None:
        """Park the accept loop until a connection ends (or `timeout`, or the stop)."""
        self._slot_waiter = Waiter(self.hub)
        try:
            self._slot_waiter.wait(timeout)
        finally:
            self._slot_waiter = None

    def _shed(self) -> float | None:
        """Close a few connections to make room (one per 128 slots, at most SHED_BATCH); returns
        when to try again, if ever.

        Only connections waiting for a request are candidates: idle kept-alive ones first (oldest
        first; a client must expect those to close), then those whose request has not arrived
        (scored by seconds waited per byte received, so a silent or trickling client goes before
        one that is sending). A connection is spared for its first `shed_grace` seconds, so a new
        client is never closed before it had a chance to send. Returns None if no connection can
        become a candidate by waiting, else a number of seconds after which one may.
        """
        now = _monotonic()
        grace = self.shed_grace
        young = False
        scored: list[tuple[float, Any]] = []
        for connection in self.connections:
            phase = connection.phase
            if (phase != _IDLE and phase != _HEADERS) or connection.shed:
                continue
            waited = now - connection.since
            if waited < grace:
                young = True
                continue
            if phase == _IDLE and connection.answered:
                score = 1e12 + waited
            else:
                score = waited / (connection.raw_header_bytes + 1)
            scored.append((score, connection))
        hub = self.hub
        batch = max(1, min(SHED_BATCH, self.max_connections // 128))
        for _, connection in heapq.nlargest(batch, scored, key=_first):
            self.shed_pending += 1
            connection.shed = True
            connection.expired = True
            hub.notify_closing(connection.fd)
        if scored:
            return None  # the shed connections end at the hub's next turn and free their slots
        return grace if young else None

    def _handle(self, sock: Any, address: Any) -> None:
        connection: _Connection | None = None
        try:
            if self.ssl_context is not None:
                tls = self._handshake(sock)
                if tls is None:
                    sock = None  # the handshake failed, and closed the socket
                    return
                sock = tls
            connection = _Connection(self, sock, address)
            self.connections.add(connection)
            # Accepted before a stop began: its request is answered (and the connection closed).
            connection.serve()
        except GreenletExit:
            pass
        except Exception:
            _log.exception("error serving a connection")
        finally:
            self.active -= 1
            if connection is not None and connection.shed:
                self.shed_pending -= 1
            if connection is not None:
                self.connections.discard(connection)
                connection.close()
            elif sock is not None:
                self.hub.notify_closing(sock.fileno())
                sock.close()
            if self._slot_waiter is not None:
                self._slot_waiter.wake()
            self._backoff.wake()
            if self.stopping and not self.active:
                self._finished()

    def _handshake(self, sock: Any) -> Any:
        """Wrap an accepted socket in TLS and complete the handshake within header_timeout."""
        fd = sock.fileno()
        hub = self.hub
        try:
            tls = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            # Non-blocking whatever the context's class (a green.ssl context gives green sockets
            # that would otherwise wait on their own): the server does its own waiting.
            tls.settimeout(0.0)
        except (OSError, ValueError):
            hub.notify_closing(fd)
            sock.close()
            return None
        deadline = _monotonic() + self.header_timeout
        # Visible to the shedding (a client that never completes its handshake is as idle as one
        # that never sends a request) and to the sweeper.
        handshaking = _Handshaking(fd, self.header_timeout)
        self.connections.add(handshaking)
        try:
            while True:
                if deadline <= _monotonic():
                    raise TimeoutError
                try:
                    tls.do_handshake()
                    return tls
                except _ssl.SSLWantReadError:
                    ready = _wait_until(fd, False, deadline)
                except _ssl.SSLWantWriteError:
                    ready = _wait_until(fd, True, deadline)
                if not ready:
                    raise TimeoutError
        except (OSError, ValueError) as error:
            if not handshaking.expired:
                _log.info("TLS handshake with %s failed: %s", sock, error)
            hub.notify_closing(fd)
            tls.close()
            return None
        except BaseException:  # killed by Server.stop: the TLS object owns the fd now
            hub.notify_closing(fd)
            tls.close()
            raise
        finally:
            self.connections.discard(handshaking)
            if handshaking.shed:
                self.shed_pending -= 1

    def _begin_stop(self) -> None:
        self.stopping = True
        self.hub.notify_closing(self.listener.fileno())
        self.listener.close()
        if self._slot_waiter is not None:
            self._slot_waiter.wake()
        self._backoff.wake()
        for connection in list(self.connections):
            # Idle between requests: close. A new connection that has not sent its first request
            # yet is different: the client is about to send it, so it is answered.
            if connection.phase == _IDLE and connection.answered:
                connection.expired = True
                self.hub.notify_closing(connection.fd)
        if not self.active:
            self._finished()

    def _finished(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for waiter in self._done_waiters:
            waiter.wake()
        self._done_waiters.clear()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop gracefully: stop accepting, close idle connections, let requests in flight finish.

        Connections still busy after `timeout` seconds are killed. Returns when all are closed.
        """
        if not self.stopping:
            self._begin_stop()
        if self.stopped:
            return
        waiter = Waiter(self.hub)
        self._done_waiters.append(waiter)
        from green.hubs.hub import TIMED_OUT

        if waiter.wait(timeout) is TIMED_OUT:
            self._done_waiters.remove(waiter)
            for connection in list(self.connections):
                thread = connection.greenlet
                if not thread.dead:
                    self.hub.schedule((_throw_if_alive, (thread, GreenletExit())))
            if not self.stopped:
                waiter = Waiter(self.hub)
                self._done_waiters.append(waiter)
                waiter.wait()


def _first(item: tuple[float, Any]) -> float:
    return item[0]


def server(sock: Any, app: Callable[[dict, Callable], Iterable[bytes]], **options: Any) -> None:
    """Serve `app` on the listening socket `sock` until stopped; options as for `Server`."""
    Server(sock, app, **options).serve_forever()


# -- command line ----------------------------------------------------------------------------------


def _load_app(spec: str) -> Callable:
    import importlib

    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    app: Any = module
    for part in (attribute or "application").split("."):
        app = getattr(app, part)
    return app


def main(argv: list[str] | None = None) -> int:
    """``python -m green.wsgi module:app --bind HOST:PORT``: a development server with an access log."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m green.wsgi", description=main.__doc__)
    parser.add_argument("app", help="module:attribute of the WSGI application")
    parser.add_argument("--bind", default="127.0.0.1:8000", help="HOST:PORT to listen on")
    parser.add_argument("--backlog", type=int, default=1024)
    parser.add_argument("--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS)
    parser.add_argument("--keepalive-timeout", type=float, default=DEFAULT_KEEPALIVE_TIMEOUT)
    parser.add_argument("--max-body", type=int, default=None)
    parser.add_argument("--certfile", help="serve HTTPS with this certificate chain")
    parser.add_argument("--keyfile")
    parser.add_argument("--debug", action="store_true", help="tracebacks in 500 responses")
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--monkey-patch", action="store_true", help="call green.monkey_patch() first")
    options = parser.parse_args(argv)
    if options.monkey_patch:
        import green

        green.monkey_patch()
    sys.path.insert(0, os.getcwd())
    app = _load_app(options.app)
    host, _, port = options.bind.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = _socket.AF_INET6 if ":" in host else _socket.AF_INET
    sock = _socket.socket(family, _socket.SOCK_STREAM)
    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(options.backlog)
    context = None
    if options.certfile:
        context = _ssl.create_default_context(_ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(options.certfile, options.keyfile)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    access_log = None if options.no_access_log else logging.getLogger("green.wsgi.access")
    instance = Server(
        sock,
        app,
        max_connections=options.max_connections,
        keepalive_timeout=options.keepalive_timeout,
        max_body=options.max_body,
        debug=options.debug,
        access_log=access_log,
        ssl_context=context,
    )
    sock.close()
    hub = get_hub()

    def stop_on_signal(signum: int, frame: Any) -> None:
        def stop() -> None:
            greenlet(instance.stop, parent=hub).switch(10.0)

        hub.call_soon_threadsafe(stop)

    signal.signal(signal.SIGTERM, stop_on_signal)
    scheme = "https" if context else "http"
    _log.info("green.wsgi serving %s on %s://%s", options.app, scheme, options.bind)
    try:
        instance.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
