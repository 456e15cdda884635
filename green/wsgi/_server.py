"""The server: the accept loop, the limit on connections and the shedding, the sweeper of
deadlines, TLS handshakes, graceful stop."""

from __future__ import annotations

import heapq
import logging
import os
import sys
from email.utils import formatdate
from typing import Any, Callable, Iterable

from greenlet import GreenletExit, getcurrent, greenlet

from green._accept import CLIENT_ERRORS, RESOURCE_ERRORS, AcceptBackoff
from green._greenlets import throw_if_alive as _throw_if_alive
from green._stdlib import original
from green._waiter import Waiter
from green.hubs import get_hub
from green.hubs import monotonic as _hub_monotonic
from green.hubs import wait_until as _wait_until
from green.wsgi._connection import _Connection
from green.wsgi._environ import _request_template
from green.wsgi._protocol import (
    _HEADERS,
    _IDLE,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_IO_TIMEOUT,
    DEFAULT_KEEPALIVE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADER_LINE,
    DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_REQUEST_LINE,
    SERVER_SOFTWARE,
    SHED_BATCH,
    _error_response,
    _log,
)
from green.wsgi._reading import _EventletInput, _Input
from green.wsgi._writing import FileWrapper, _capitalized_heads, _plain_heads

_socket = original("socket")
_ssl = original("ssl")
_monotonic = _hub_monotonic  # the hub clock: deadlines agree with its timers


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
        "expiring",
        "taken_over",
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
        self.expiring = False
        self.taken_over = False


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
      error_log (None): a logging.Logger receiving the application's errors with their
        tracebacks (None: the "green.wsgi" logger).
      require_host (True): answer an HTTP/1.1 request without a Host header with 400 (RFC 9112
        section 3.2); False serves it (for old clients and hand-written probes; eventlet did).
      log_request (None): a callable ``log_request(environ, status, response_headers,
        bytes_sent, seconds)`` called after each response (for malformed requests, with an
        environ whose REQUEST_METHOD is "-"); for access logs in a format of your own. Its
        exceptions are logged and otherwise ignored.
      ssl_context (None): an ssl.SSLContext; connections are then served over TLS.
      environ (None): extra keys for every request's environ.
      eventlet_environ (False): eventlet's environ keys too: ``eventlet.input`` (``wsgi.input``,
        with ``get_socket()``) and ``eventlet.posthooks`` (a list of ``(function, args, kwargs)``
        called as ``function(environ, *args, **kwargs)`` after the response), and
        ``headers_raw`` (the request's header lines as a tuple of ``(name, value)`` str pairs,
        names as the client spelled them); used by the eventlet alias (green.compat.eventlet).
    Options for eventlet's habits (the eventlet alias turns them on; each costs nothing when off):
      capitalize_response_headers (False): send response header names capitalised word by word
        (``content-TYPE`` goes out as ``Content-Type``; only ASCII letters change); by default
        they go out as the application gave them.
      minimum_chunk_size (0): gather the pieces of an application's response iterable until
        this many bytes wait, then send them as one write, so an error before the first write
        can still become a 500. A sized iterable (a tuple) is sent whole with its length; any
        other goes out chunked (HTTP/1.1) unless the application set Content-Length, even if
        it ended within the first write. 0 sends each piece as it comes. (With
        `eventlet_environ`, ``environ["eventlet.minimum_write_chunk_size"]`` overrides it.)
      encode_str (False): accept str pieces in a response (iterable or ``write``) and encode them
        as ASCII; a non-ASCII one is an error of the application. By default only bytes are
        accepted (PEP 3333).
      announce_keepalive (False): answer a request that asks for keep-alive in so many words
        (``Connection: keep-alive``) with ``Connection: keep-alive`` in HTTP/1.1 too, and such
        answers (HTTP/1.0 too) with ``Keep-Alive: timeout=N``, keepalive_timeout in whole seconds
        (when at least 1).
      error_response (None): a callable ``error_response(status, reason, detail)`` returning the
        bytes of a whole error response the server sends on its own (400, 408, 413, 414, 431,
        500, 503, 505), or b"" to close the connection without a response. `reason` says what
        was wrong ("header line too long"; else the status's reason phrase), `detail` is what
        `debug` allows to show ("" without it; the reason, or the traceback of a 500, with it).
        None: a text/plain response whose body is the status line and the detail.
      unix_remote_addr (""): REMOTE_ADDR (and the access log's client) of a peer on a Unix
        socket, which has no address.
      pool (None): a green.GreenPool (anything with ``spawn(function, *args)``) whose green
        threads serve the connections, so that ``pool.waitall()`` waits for them; the accept loop
        waits in ``spawn`` while the pool is full. Set max_connections to its size (or less):
        shedding only happens at max_connections.
    Errors in the application are logged to `error_log` and answered with 500.
    """

    # Slots for the settings and state each request reads (more attributes than CPython 3.11
    # shares between instances' dicts); a __dict__ still takes any other attribute.
    __slots__ = (
        "hub",
        "app",
        "listener",
        "max_connections",
        "shed_grace",
        "keepalive_timeout",
        "header_timeout",
        "io_timeout",
        "max_request_line",
        "max_header_line",
        "max_header_bytes",
        "max_head_bytes",
        "max_headers",
        "max_body",
        "debug",
        "access_log",
        "error_log",
        "require_host",
        "log_request",
        "ssl_context",
        "eventlet_environ",
        "capitalize_response_headers",
        "head_table",
        "minimum_chunk_size",
        "encode_str",
        "announce_keepalive",
        "keepalive_line",
        "error_response",
        "unix_remote_addr",
        "pool",
        "stopping",
        "stopped",
        "requests_served",
        "connections",
        "active",
        "shed_pending",
        "_slot_waiter",
        "_backoff",
        "_done_waiters",
        "_serving",
        "_sweeper",
        "date_header",
        "address",
        "base_environ",
        "request_template",
        "input_class",
        "__dict__",
        "__weakref__",
    )

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
        error_log: logging.Logger | None = None,
        require_host: bool = True,
        log_request: Callable[[dict, str, list, int, float], Any] | None = None,
        ssl_context: Any = None,
        environ: dict | None = None,
        multiprocess: bool = False,
        eventlet_environ: bool = False,
        capitalize_response_headers: bool = False,
        minimum_chunk_size: int = 0,
        encode_str: bool = False,
        announce_keepalive: bool = False,
        error_response: Callable[[int, str, str], bytes] | None = None,
        unix_remote_addr: str = "",
        pool: Any = None,
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
        self.error_log = error_log if error_log is not None else _log
        self.require_host = require_host
        self.log_request = log_request
        self.ssl_context = ssl_context
        self.eventlet_environ = eventlet_environ
        self.capitalize_response_headers = capitalize_response_headers
        self.head_table = _capitalized_heads if capitalize_response_headers else _plain_heads
        self.minimum_chunk_size = minimum_chunk_size
        self.encode_str = encode_str
        self.announce_keepalive = announce_keepalive
        # The line announcing the idle timeout with Connection: keep-alive ("" for none).
        seconds = int(keepalive_timeout)
        self.keepalive_line = f"Keep-Alive: timeout={seconds}" if announce_keepalive and seconds >= 1 else ""
        self.error_response = error_response if error_response is not None else _error_response
        self.unix_remote_addr = unix_remote_addr
        self.pool = pool
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
        self.request_template = _request_template(self.base_environ, eventlet_environ)
        self.input_class = _EventletInput if eventlet_environ else _Input

    def _update_date(self) -> None:
        self.date_header = f"Date: {formatdate(usegmt=True)}"

    def _sweep(self) -> None:
        """Timer callback: refresh the Date header, end overdue waits, reschedule."""
        self._update_date()
        now = _monotonic()
        hub = self.hub
        interval = self._sweep_interval()
        soon = now + interval
        for connection in self.connections:
            if connection.phase:
                deadline = connection.deadline
                if deadline < now:
                    connection.expired = True
                    hub.notify_closing(connection.fd)
                elif deadline < soon:
                    connection.expiring = True  # due before the next round: see _read_request
        self._sweeper = hub.call_later(interval, self._sweep)

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
        pool = self.pool
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
                if pool is None:
                    thread = greenlet(self._handle, parent=hub)
                    hub.schedule((thread.switch, (client, address)))
                else:
                    pool.spawn(self._handle, client, address)
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
            if getattr(sock, "do_handshake", None) is not None:
                tls = sock  # accepted from a TLS listener (eventlet's process_request): already wrapped
            else:
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
            elif connection.taken_over and not connection.greenlet.dead:
                # The application speaks its own protocol there (a WebSocket, which may stay open
                # for hours): it is stopped now, as the stop's deadline would (a WebSocket then
                # tells its client 1001, going away), not after waiting for the deadline.
                self.hub.schedule((_throw_if_alive, (connection.greenlet, GreenletExit())))
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
