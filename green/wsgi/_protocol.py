"""What the parts of green.wsgi share: the limits and their defaults, the errors, a parsed request,
the phases of a connection's wait."""

from __future__ import annotations

import logging

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


class BodyError(HTTPError, ValueError, OSError):
    """The request body is malformed (a bad chunk) or ended early: the client closed the
    connection before sending all of it. Status 400.

    Raised from ``wsgi.input`` reads. It is an `HTTPError`, and also a ValueError and an OSError,
    so an application can catch it as the error of a bad value or of a broken connection (as it
    would catch eventlet's ``ChunkReadError`` or an IOError). The server keeps serving; the
    connection closes after the response.
    """


class _ClientGone(Exception):
    """The client closed or reset the connection while we were writing to it."""


class _Expired(Exception):
    """A wait on the socket passed its deadline (the sweeper closed it)."""


def _error_response(status: int, reason: str = "", detail: str = "") -> bytes:
    """green.wsgi's error response: text/plain, the status line and `detail` as its body (`reason`,
    the server's own words for what was wrong, is not sent)."""
    reason = _REASONS.get(status, "Error")
    body = f"{status} {reason}\n{detail}".encode("latin-1", "replace")
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n\r\n"
    ).encode("latin-1") + body


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
