"""A connection's state, set up in one place, and its one way to wait on the socket.

The connection is one object built in layers, each a module: `_ConnectionState` (here), the
response side (`_writing._Writing`), the request side (`_reading._Reading`) and the loop
(`_connection._Connection`). Each layer uses the ones below it."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import httptools
from greenlet import getcurrent

from green.hubs import monotonic as _hub_monotonic
from green.wsgi._protocol import _BUSY, HTTPError, _Expired, _Request

_monotonic = _hub_monotonic  # the hub clock: deadlines agree with its timers

if TYPE_CHECKING:
    from green.wsgi._server import Server


class _ConnectionState:
    """The attributes every layer of a connection reads and writes."""

    # Slots: a connection has more attributes than CPython 3.11 shares between instances'
    # dicts, and its every request reads and writes them.
    __slots__ = (
        "server",
        "sock",
        "fd",
        "hub",
        "greenlet",
        "parser",
        "requests",
        "parsing",
        "url",
        "headers",
        "in_headers",
        "header_bytes",
        "raw_header_bytes",
        "messages_begun",
        "heads_completed",
        "trailer_bytes",
        "error",
        "upgraded",
        "upgrade_request",
        "upgrade_data",
        "taken_over",
        "wait_first",
        "answered",
        "tls",
        "phase",
        "deadline",
        "expired",
        "expiring",
        "since",
        "shed",
        "request",
        "status",
        "response_headers",
        "headers_sent",
        "continue_sent",
        "no_body",
        "chunked",
        "remaining",
        "keep_alive",
        "sent_bytes",
        "status_code",
        "environ_template",
        "peer",
    )

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
        # The application took the connection over (``take_over``): it speaks its own protocol.
        self.taken_over = False
        # Plain TCP, after a response: wait for readability before recv (a fresh connection
        # usually has its request waiting already). Never with TLS, whose buffer may hold
        # decrypted bytes the kernel knows nothing about.
        self.wait_first = False
        self.answered = False
        self.tls = server.ssl_context is not None
        self.phase = _BUSY
        self.deadline = 0.0
        self.expired = False
        # Set by the sweeper when the deadline falls before its next round: the wait then checks
        # the clock itself when it wakes.
        self.expiring = False
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
        else:  # a Unix socket's peer: no address
            host, port = server.unix_remote_addr, ""
        # A copy keeps the server's template's room for a request's keys (see _environ).
        template = server.request_template.copy()
        template["REMOTE_ADDR"] = host
        template["REMOTE_PORT"] = port
        self.environ_template = template
        self.peer = f"{host}:{port}" if port else (host or "local client")

    def _wait(self, readable: bool) -> None:
        """Park until the socket is ready; raises _Expired when the sweeper ends the wait."""
        # No deadline of its own: the server's sweeper ends overdue waits (see the package's essay).
        try:
            if readable:
                self.hub.wait_readable(self.fd)
            else:
                self.hub.wait_writable(self.fd)
        except OSError:
            if self.expired:
                raise _Expired from None
            raise
