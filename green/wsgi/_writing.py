"""The response side of a connection: PEP 3333 ``start_response`` and ``write``, the status line
and headers, Content-Length or chunked framing, ``wsgi.file_wrapper`` with sendfile, 100 Continue
and the error responses."""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator

from green._compiled import core as _core
from green._stdlib import original
from green.hubs import monotonic as _hub_monotonic
from green.wsgi._protocol import _BUSY, _IO, _REASONS, _ClientGone, _Expired, _log, _Request
from green.wsgi._state import _ConnectionState

_ssl = original("ssl")
_monotonic = _hub_monotonic  # the hub clock: deadlines agree with its timers

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


# What the response head needs of each header name: name -> (kind, the line's start "Name: "),
# one table with the names as given and one with the names capitalised word by word
# (``capitalize_response_headers``), so that neither kind of server pays per request for the other.
_HeaderTable = dict[str, tuple[int, str]]
_plain_heads: _HeaderTable = {}
_capitalized_heads: _HeaderTable = {}


def _head_entry(table: _HeaderTable, name: str) -> tuple[int, str]:
    """`name`'s entry in `table` (computed and kept, up to a bound)."""
    shown = _capitalized(name) if table is _capitalized_heads else name
    entry = (_response_kind(name), f"{shown}: ")
    if len(table) < 2048:
        table[name] = entry
    return entry


def _python_response_head(status: str, headers: list, table: _HeaderTable) -> tuple[bytes, int, bool, bool]:
    """The start of a response head: the status line and the application's `headers`, checked
    and encoded, each line ended by CR LF; with what the rest of the head needs to know of them:
    ``(text, Content-Length or -1, has Date, says Connection: close)``. Raises ValueError for a
    hop-by-hop header, a CR or LF in the status or a header (it would split the response) or a
    Content-Length that is not a number."""
    lines = [f"HTTP/1.1 {status}"]
    length = -1
    close = has_date = False
    for name, value in headers:
        entry = table.get(name)
        if entry is None:
            entry = _head_entry(table, name)
        kind, start = entry
        if kind:
            if kind == _LENGTH:
                length = int(value)
            elif kind == _CONNECTION:
                if value.lower() == "close":
                    close = True
                continue
            elif kind == _DATE:
                has_date = True
            else:
                raise ValueError(f"hop-by-hop header {name!r} set by the application")
        lines.append(f"{start}{value}")
    lines.append("")
    text = "\r\n".join(lines)
    separators = len(lines) - 1
    if text.count("\n") != separators or text.count("\r") != separators:
        raise ValueError("CR or LF in the response status or headers")
    return text.encode("latin-1"), length, has_date, close


# The compiled core's version takes the usual headers (a list of str pairs) and gives the rest
# to the Python function.
if _core is not None:
    _core.configure_head(_head_entry, _python_response_head)
    _response_head = _core.response_head
else:
    _response_head = _python_response_head


def _asks_keep_alive(request: _Request) -> bool:
    """True if `request` has a ``Connection`` header with the option ``keep-alive``."""
    for name, value in request.headers:
        if len(name) == 10 and name.lower() == b"connection":
            if b"keep-alive" in [option.strip() for option in value.lower().split(b",")]:
                return True
    return False


class _AlreadyHandled:
    def __repr__(self) -> str:
        return "green.wsgi.ALREADY_HANDLED"


#: Returned by an application that wrote its whole response on the socket itself (see
#: `_Input.get_socket`): the server sends nothing more and closes the connection.
ALREADY_HANDLED: Any = _AlreadyHandled()


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


def _capitalized(name: str) -> str:
    """`name` with each dash-separated word capitalised: ``content-TYPE`` -> ``Content-Type``.
    Only ASCII letters change (a header name is sent as latin-1, and ``ß`` or ``ÿ`` have no
    capital there). Raises UnicodeEncodeError for a name latin-1 cannot carry."""
    raw = name.encode("latin-1")
    return b"-".join([word.capitalize() for word in raw.split(b"-")]).decode("latin-1")


class _Writing(_ConnectionState):
    """The sending half of a connection."""

    __slots__ = ()

    # -- 100 Continue --

    def _expect_pending(self, request: _Request) -> bool:
        """True if the client still waits for a 100 Continue we never sent."""
        return not self.continue_sent and self.expect_continue(request)

    def expect_continue(self, request: _Request) -> bool:
        """True if `request` asks for a 100 Continue and its body has not begun to arrive."""
        if request.body_size:
            return False
        return self.asks_continue(request)

    def asks_continue(self, request: _Request) -> bool:
        """True if `request` carries ``Expect: 100-continue`` (ignored in HTTP/1.0, as RFC 9110
        section 10.1.1 says)."""
        if request.version != "1.1":
            return False
        for name, value in request.headers:
            if len(name) == 6 and name.lower() == b"expect":
                return value.lower() == b"100-continue"
        return False

    def _send_continue(self, headers: Iterable[tuple[str, str]]) -> None:
        """Send a 100 Continue response carrying `headers` (before the final response only)."""
        lines = ["HTTP/1.1 100 Continue"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        lines.append("\r\n")
        text = "\r\n".join(lines)
        separators = len(lines)
        if text.count("\n") != separators or text.count("\r") != separators:
            raise ValueError("CR or LF in a 100 Continue header")
        self.continue_sent = True
        self._sendall(text.encode("latin-1"))

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

    def _send_error(
        self, status: int, reason: str, wait: bool = True, log: bool = True, detail: str | None = None
    ) -> None:
        """Send an error response (made by the server's `error_response`; `detail` defaults to
        `reason` when debugging, else ""); with `wait` False only what the socket takes at once;
        with `log` False the caller reports it to the access log."""
        server = self.server
        if detail is None:
            detail = reason if server.debug else ""
        response = server.error_response(status, reason or _REASONS.get(status, "Error"), detail)
        try:
            if not response:
                pass  # the server's error_response chose to close without a word
            elif wait:
                self._sendall(response)
            else:
                self.sock.send(response)
        except (_ClientGone, OSError, _ssl.SSLError):
            pass
        if not log:
            return
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

    def _call_log_request(self, environ: dict, status: str, headers: list, sent: int, seconds: float) -> None:
        log_request = self.server.log_request
        assert log_request is not None
        try:
            log_request(environ, status, headers, sent, seconds)
        except Exception:
            _log.exception("error in log_request")

    # -- the response --

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

    _asks_keep_alive = staticmethod(_asks_keep_alive)

    def _start(self, body: bytes, final: bool) -> None:
        """Send the status line and headers, together with the first piece of `body`."""
        status = self.status
        if status is None:
            raise AssertionError("the application did not call start_response")
        request = self.request
        assert request is not None
        server = self.server
        head_start, length, has_date, close = _response_head(status, self.response_headers, server.head_table)
        code = status[:3]
        self.status_code = code
        keep_alive = self.keep_alive and not close
        lines = [] if has_date else [server.date_header]
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
        if keep_alive and (server.stopping or (not request.complete and self._expect_pending(request))):
            keep_alive = False
        if not keep_alive:
            lines.append("Connection: close")
        elif request.version == "1.0":
            lines.append("Connection: keep-alive")
            if server.keepalive_line:
                lines.append(server.keepalive_line)
        elif server.announce_keepalive and self._asks_keep_alive(request):
            lines.append("Connection: keep-alive")
            if server.keepalive_line:
                lines.append(server.keepalive_line)
        self.keep_alive = keep_alive
        lines.append("\r\n")
        head = head_start + "\r\n".join(lines).encode("latin-1")
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
            data = self._as_bytes(data)
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

    def _as_bytes(self, data: Any) -> bytes:
        """A piece of the response that is not bytes, as bytes; raises TypeError for what is
        not bytes-like (a str only with the server's encode_str; UnicodeEncodeError if it is
        not ASCII)."""
        if isinstance(data, (bytearray, memoryview, bytes)):
            return bytes(data)
        if type(data) is str and self.server.encode_str:
            return data.encode("ascii")
        raise TypeError(f"WSGI response data must be bytes, not {type(data).__name__}")

    def _write_gathered(self, result: Iterable[Any], minimum: int) -> None:
        """Send the response iterable `result`, gathering its pieces into writes of at least
        `minimum` bytes (the server's minimum_chunk_size); then end the response. A sized
        iterable (one with ``len``) is sent whole, with its length; for any other, a response
        still unsent when it ends is sent as a write too (chunked in HTTP/1.1 unless the
        application set Content-Length)."""
        if not self.headers_sent and hasattr(result, "__len__"):
            # A sized response (a tuple, say) is all there: it is sent with its length.
            body = b"".join([data if type(data) is bytes else self._as_bytes(data) for data in result])
            self._start(body, True)
            return
        pieces: list[bytes] = []
        size = 0
        for data in result:
            if type(data) is not bytes:
                data = self._as_bytes(data)
            if not data:
                continue
            pieces.append(data)
            size += len(data)
            if size >= minimum:
                self.write(pieces[0] if len(pieces) == 1 else b"".join(pieces))
                pieces.clear()
                size = 0
        if pieces:
            self.write(pieces[0] if len(pieces) == 1 else b"".join(pieces))
        if not self.headers_sent:
            self._start(b"", False)
        self._finish()

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


# The compiled core's _start (the head and framing of every response); the Python method stays the
# reference (GREEN_PURE=1) and takes a body that is not bytes.
_Writing._python_start = _Writing._start  # type: ignore[attr-defined]
if _core is not None:
    (_Writing._start,) = _core.methods("wsgi_response", _Writing)  # type: ignore[method-assign]
