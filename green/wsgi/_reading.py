"""The request side of a connection: the httptools parser's callbacks with the size limits, the
receive loop that feeds the parser, waiting for the next request, and ``wsgi.input``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import httptools

from green._compiled import core as _core
from green._stdlib import original
from green.hubs import monotonic as _hub_monotonic
from green.wsgi._protocol import (
    _BUSY,
    _HEADERS,
    _IDLE,
    _IO,
    MAX_DRAIN,
    RECEIVE_SIZE,
    BodyError,
    HTTPError,
    _ClientGone,
    _Expired,
    _Request,
)
from green.wsgi._writing import _Writing

if TYPE_CHECKING:
    from green.wsgi._server import Server

_ssl = original("ssl")
_monotonic = _hub_monotonic  # the hub clock: deadlines agree with its timers

# RFC 9110 section 7.2: Host = uri-host [ ":" port ], where uri-host is an IP literal in brackets
# or a reg-name (which covers IPv4 addresses); the value may be empty.
_valid_host = re.compile(rb"(?:\[[0-9A-Za-z:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(?::[0-9]*)?\Z").match
# Host values seen valid: a server answers a few names, and a set lookup costs less than the match.
_valid_hosts: set[bytes] = set()

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


# -- wsgi.input ------------------------------------------------------------------------------------


class _Input:
    """``wsgi.input``: the request body, read through the parser; never reads past the body.

    `read`, `readline`, `readlines` and iteration block (cooperatively) until the data is there or
    the body ends. Raises `BodyError` (an HTTPError, ValueError and OSError) if the body is
    malformed or the client closed the connection before its end, `HTTPError` if it is too large
    (413) or too slow (408).
    """

    __slots__ = ("connection", "request")

    def __init__(self, connection: _Reading, request: _Request) -> None:
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


class _EventletInput(_Input):
    """``wsgi.input`` for the eventlet alias (``Server(eventlet_environ=True)``): `_Input` plus
    eventlet's 100 Continue API. As in eventlet, a request with ``Expect: 100-continue`` gets its
    100 Continue at the first read even if the body has begun to arrive already."""

    __slots__ = ("continue_headers",)

    def __init__(self, connection: _Reading, request: _Request) -> None:
        self.connection = connection
        self.request = request
        self.continue_headers: Iterable[tuple[str, str]] = ()

    def set_hundred_continue_response_headers(
        self, headers: list[tuple[str, str]], capitalize_response_headers: bool = True
    ) -> None:
        """Headers for the next 100 Continue response (names capitalized word by word unless
        `capitalize_response_headers` is False)."""
        if capitalize_response_headers:
            headers = [
                ("-".join(word.capitalize() for word in name.split("-")), value) for name, value in headers
            ]
        self.continue_headers = list(headers)

    def send_hundred_continue_response(self) -> None:
        """Send a 100 Continue (with the headers set) now; nothing once the response has begun."""
        connection = self.connection
        if not connection.headers_sent:
            connection._send_continue(self.continue_headers)

    def _first_read(self) -> None:
        connection = self.connection
        if not connection.continue_sent:
            if not connection.headers_sent and connection.asks_continue(self.request):
                connection._send_continue(self.continue_headers)
            connection.continue_sent = True

    def read(self, size: int | None = -1) -> bytes:
        if not self.connection.continue_sent:
            self._first_read()
        return super().read(size)

    def readline(self, size: int | None = -1) -> bytes:
        if not self.connection.continue_sent:
            self._first_read()
        return super().readline(size)


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


class _EventletEmptyInput(_EmptyInput):
    """``wsgi.input`` and ``eventlet.input`` of a request without a body and without ``Expect``
    on a server with `Server.eventlet_environ`: one per connection. There is nothing to read and
    no 100 Continue to send, so eventlet's 100 Continue methods have nothing to do; `get_socket`
    gives the connection's socket."""

    __slots__ = ("connection",)

    def __init__(self, connection: _Reading) -> None:
        self.connection = connection

    get_socket = _Input.get_socket

    def set_hundred_continue_response_headers(
        self, headers: list[tuple[str, str]], capitalize_response_headers: bool = True
    ) -> None:
        pass

    def send_hundred_continue_response(self) -> None:
        pass


class _Reading(_Writing):
    """The receiving half of a connection, also the parser's callback object."""

    __slots__ = ()

    def __init__(self, server: Server, sock: Any, address: Any) -> None:
        super().__init__(server, sock, address)
        if server.eventlet_environ:
            # The input of a request without a body is this connection's own (it gives the
            # socket) instead of the shared empty one.
            template = self.environ_template
            template["wsgi.input"] = template["eventlet.input"] = _EventletEmptyInput(self)

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
        if value and (value[-1] == 32 or value[-1] == 9):
            # RFC 9112 section 5: whitespace around a field value is not part of it (llhttp drops
            # the leading whitespace only).
            value = value.rstrip(b" \t")
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
                if value not in _valid_hosts:
                    if _valid_host(value) is None:
                        raise HTTPError(400, "invalid Host header")
                    if len(_valid_hosts) >= 256:
                        _valid_hosts.clear()
                    _valid_hosts.add(value)
        # RFC 9112 section 3.2: an HTTP/1.1 request without Host, or any request with more than
        # one, is answered 400 (a proxy and this server could disagree about the target).
        if hosts > 1:
            raise HTTPError(400, "more than one Host header")
        if not hosts and version == "1.1" and self.server.require_host:
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
        # Here, and at the top of each turn of the loop, the parser is in a head or between
        # requests (a request ending in a body returns above or at the loop's end).
        limit = self.server.max_head_bytes
        feed = self.parser.feed_data
        while data:
            budget = limit - self.raw_header_bytes
            piece = data if len(data) <= budget else data[:budget]
            heads = self.heads_completed
            between = not self.in_headers
            begun = self.messages_begun
            try:
                feed(piece)
            except (httptools.HttpParserError, httptools.HttpParserUpgrade) as error:
                self._parse_failed(error, piece, between, begun)
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
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as error:
            self._parse_failed(error, data, between, begun)

    def _parse_failed(self, error: Exception, data: bytes, between: bool, begun: int) -> None:
        """What the parser's `error` on `data` means: raises the HTTPError to answer with, or
        returns after an upgrade. `between`: the parser was between requests when given `data`;
        `begun`: the count of requests begun then."""
        if isinstance(error, httptools.HttpParserInvalidMethodError):
            # llhttp knows the registered methods only. A well-formed request line with a method
            # it does not know is answered 501 (RFC 9110 section 9.1), anything else 400; this is
            # decided when the request line starts this read, as it does but for pipelining.
            status = 400
            if between and self.messages_begun == begun + 1:
                status = _unknown_method_status(data)
            raise HTTPError(status) from None
        if isinstance(error, httptools.HttpParserUpgrade):
            # Upgrade or CONNECT: the request is answered like any other, then the connection
            # closes (this server speaks nothing but HTTP/1.x) -- unless the application takes
            # the connection over (``green.wsgi.take_over`` in its environ, e.g. a WebSocket).
            self.upgraded = True
            if self.requests:
                self.requests[-1].keep_alive = False
                self.upgrade_request = self.requests[-1]
                offset = error.args[0] if error.args and type(error.args[0]) is int else len(data)
                self.upgrade_data = bytes(data[offset:])
            return
        if isinstance(error, httptools.HttpParserCallbackError):
            cause = error.__context__
            if isinstance(cause, HTTPError):
                raise cause from None
            raise HTTPError(400, "parser callback failed") from cause
        # llhttp refuses well-formed versions it does not know (HTTP/1.2, HTTP/3.0) with this
        # message; like the versions it parses but we do not serve, they are a 505.
        status = 505 if str(error) == "Invalid HTTP version" else 400
        parsing = self.parsing
        if status == 400 and not self.in_headers and parsing is not None and not parsing.complete:
            # In a body (a bad chunk): the application still runs and its reads raise this.
            raise BodyError(400, str(error)) from None
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
            self.since = self.hub.clock()
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
                    if self.expiring:
                        # The sweeper saw the deadline coming (it runs a few times a timeout):
                        # a request that arrives after it, before the sweeper's next round, is
                        # not served.
                        if self.hub.clock() > self.deadline:
                            self._discard_unread()
                            return False
                        self.expiring = False
                if not self._receive():
                    return False
                if self.phase == _IDLE and not requests:
                    self.phase = _HEADERS
                    if answered:
                        self.since = self.hub.clock()
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
            elif answered:
                self._discard_unread()  # a request may have come in just as the connection expired
            return False
        finally:
            self.phase = _BUSY
        return True

    def _discard_unread(self) -> None:
        """Read and drop what the client sent that will not be served, so that closing sends a
        FIN the client reads as the end of the connection rather than a reset (which the kernel
        sends for a socket closed with unread data)."""
        if self.tls:
            return
        try:
            self.sock.recv(RECEIVE_SIZE)
        except OSError:
            pass

    def _receive_body(self, request: _Request) -> None:
        """Receive more of `request`'s body (sending 100 Continue first if the client asked)."""
        if self.error is not None:
            self.keep_alive = False
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
                self.error = BodyError(
                    400, "the client closed the connection before the end of the request body"
                )
                raise self.error
        except HTTPError as error:
            self.error = error
            self.keep_alive = False  # the response says so, if the application still sends one
            raise
        except _Expired:
            self.error = HTTPError(408, "request body too slow")
            self.keep_alive = False
            raise self.error from None
        finally:
            self.phase = _BUSY

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


# The compiled core's versions of the parser callbacks that run for every request; the Python
# methods above stay the reference (GREEN_PURE=1) and keep on_body.
_Reading._python_callbacks = {  # type: ignore[attr-defined]
    name: _Reading.__dict__[name]
    for name in ("on_message_begin", "on_url", "on_header", "on_headers_complete", "on_message_complete")
}
if _core is not None:
    _core.configure_request(_Request, _valid_hosts, _valid_host)
    (
        _Reading.on_message_begin,  # type: ignore[method-assign]
        _Reading.on_url,  # type: ignore[method-assign]
        _Reading.on_header,  # type: ignore[method-assign]
        _Reading.on_headers_complete,  # type: ignore[method-assign]
        _Reading.on_message_complete,  # type: ignore[method-assign]
    ) = _core.methods("wsgi", _Reading, HTTPError)
