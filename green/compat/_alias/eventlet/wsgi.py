"""eventlet.wsgi on green.wsgi: ``server()`` takes eventlet's keyword arguments.

Each request's environ carries eventlet's keys (``eventlet.input`` with ``get_socket()``,
``eventlet.posthooks``), and an application returning `ALREADY_HANDLED` has written its own
response. The server underneath is green.wsgi's own (httptools parsing, its limits and
timeouts); how eventlet's arguments map onto it:

* ``log`` (a file or a logging.Logger; default sys.stderr) and ``log_output`` give the access log:
  one line per request in ``log_format`` (eventlet's keys: client_ip, client_port, date_time,
  request_line, status_code, body_length, wall_seconds), written through green.wsgi's
  ``log_request`` hook; with ``log_x_forwarded_for`` (the default) client_ip is the request's
  X-Forwarded-For list followed by the peer's address. ``debug`` (default True, as in eventlet)
  puts tracebacks in 500 responses. The application's errors and their tracebacks go to ``log``
  too. HTTP/1.1 requests without a Host header are served (green.wsgi's ``require_host=False``).
* ``max_size`` (or a ``custom_pool``'s size) -> ``max_connections``; a ``custom_pool``'s green
  threads serve the connections (green.wsgi's ``pool``), so ``pool.waitall()`` waits for them; ``keepalive`` False/0 turns
  keep-alive off, a number is the idle timeout; ``max_http_version="HTTP/1.0"`` also turns it off;
  ``url_length_limit`` -> ``max_request_line``; ``socket_timeout`` -> ``io_timeout`` and
  ``header_timeout`` (every read of the connection waits at most that long, as in eventlet).
* ``server_event`` receives the server: ``eventlet.wsgi.Server``, a green.wsgi.Server built from
  eventlet's arguments, which also serves one connection the caller accepted
  (``process_request([address, socket, STATE_IDLE])``).
* Killing the server's green thread with KeyboardInterrupt or SystemExit stops it gracefully
  (green.wsgi.Server.stop without a deadline) and ``server()`` returns, as in eventlet.
* A listening socket wrapped with ``eventlet.wrap_ssl(..., server_side=True)`` serves TLS with
  that socket's SSLContext.
* eventlet's response habits are green.wsgi options the alias turns on:
  ``minimum_chunk_size`` (default 4096; ``environ["eventlet.minimum_write_chunk_size"]``
  overrides it per request) gathers a response iterable's pieces into writes of that size, so
  an error before the first write still becomes a 500, and such a response goes out chunked;
  str pieces are encoded as ASCII (``encode_str``); ``capitalize_response_headers`` (default
  True); a request saying ``Connection: keep-alive`` is answered with ``Connection: keep-alive``
  and ``Keep-Alive: timeout=N`` (``announce_keepalive``); ``environ["headers_raw"]``.
* Error responses are eventlet's (green.wsgi's ``error_response``): a too long header line or
  too large headers get eventlet's ``HTTP/1.0 400 Header Line Too Long`` / ``Headers Too
  Large``, a too long request line ``HTTP/1.0 414``, a 500 has the traceback as its body with
  ``debug`` and an empty one without; a request head that stalls past ``socket_timeout`` gets
  no response, the connection just closes. Other refusals (400, 413, 505, ...) are green's.
* On a Unix socket, SERVER_NAME and REMOTE_ADDR are ``"unix"``, as in eventlet.
* ``environ["wsgi.input"]`` has eventlet's 100 Continue API (``set_hundred_continue_response_headers``,
  ``send_hundred_continue_response``); a body that is malformed or that the client stops sending
  raises `ChunkReadError` from its reads (green.wsgi.BodyError: a ValueError and an OSError).
* ``protocol`` must be eventlet's default: subclasses of eventlet's HttpProtocol (a
  BaseHTTPRequestHandler) have no counterpart in green's server, so another value raises
  TypeError.
"""

from __future__ import annotations

import logging
import os
import socket as _socket_module
import sys
import time
from email.utils import formatdate
from typing import Any

from green.wsgi import ALREADY_HANDLED, BodyError, HTTPError
from green.wsgi import Server as _GreenServer
from green.wsgi._protocol import _error_response as _green_error_response

__all__ = [
    "ALREADY_HANDLED",
    "ChunkReadError",
    "DEFAULT_MAX_SIMULTANEOUS_REQUESTS",
    "HTTPError",
    "HttpProtocol",
    "MAX_REQUEST_LINE",
    "STATE_CLOSE",
    "STATE_IDLE",
    "STATE_REQUEST",
    "Server",
    "format_date_time",
    "server",
]

DEFAULT_MAX_SIMULTANEOUS_REQUESTS = 1024
DEFAULT_MAX_HTTP_VERSION = "HTTP/1.1"
MAX_REQUEST_LINE = 8192
MAX_HEADER_LINE = 8192
MAX_TOTAL_HEADER_SIZE = 65536
MINIMUM_CHUNK_SIZE = 4096
DEFAULT_LOG_FORMAT = (
    '%(client_ip)s - - [%(date_time)s] "%(request_line)s" %(status_code)s %(body_length)s %(wall_seconds).6f'
)


class HttpProtocol:
    """Stands for eventlet's default protocol in ``server(protocol=...)``; never instantiated."""

    #: eventlet's default write buffering, read by programs; green.wsgi does not buffer writes.
    minimum_chunk_size = MINIMUM_CHUNK_SIZE


#: Raised from ``wsgi.input`` reads when the body is malformed or the client closed the connection
#: before its end; green.wsgi.BodyError, which is also a ValueError and an OSError.
ChunkReadError = BodyError


def format_date_time(timestamp: float) -> str:
    """An HTTP date (RFC 7231 IMF-fixdate) for a POSIX timestamp."""
    return formatdate(timestamp, usegmt=True)


def _access_log(log: Any) -> logging.Logger:
    if isinstance(log, logging.Logger):
        return log
    logger = logging.getLogger(f"eventlet.wsgi.server.{id(log)}")
    if not logger.handlers:
        handler = logging.StreamHandler(log if log is not None else sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _log_request(logger: logging.Logger, log_format: str, forwarded_for: bool) -> Any:
    """green.wsgi's ``log_request`` hook writing eventlet's access log line in `log_format`."""

    def log_request(environ: dict, status: str, headers: list, sent: int, seconds: float) -> None:
        host = environ.get("REMOTE_ADDR") or "unix"  # no address: a Unix socket's peer
        if forwarded_for:
            forwarded = environ.get("HTTP_X_FORWARDED_FOR", "").replace(" ", "")
            if forwarded:
                host = f"{forwarded},{host}"
        method = environ.get("REQUEST_METHOD", "-")
        if method == "-":
            request_line = "-"  # nothing that parsed as a request
        else:
            target = environ.get("RAW_PATH_INFO", "")
            query = environ.get("QUERY_STRING")
            if query:
                target = f"{target}?{query}"
            request_line = f"{method} {target} {environ.get('SERVER_PROTOCOL', '')}"
        now = time.localtime()
        date_time = f"{now.tm_mday:02d}/{_MONTHS[now.tm_mon]}/{now.tm_year:04d} {now.tm_hour:02d}:{now.tm_min:02d}:{now.tm_sec:02d}"
        logger.info(
            log_format
            % {
                "client_ip": host,
                "client_port": environ.get("REMOTE_PORT", ""),
                "date_time": date_time,
                "request_line": request_line,
                "status_code": int(status[:3]),
                "body_length": sent,
                "wall_seconds": seconds,
            }
        )

    return log_request


def _error_response(status: int, reason: str, detail: str) -> bytes:
    """green.wsgi's ``error_response`` hook giving eventlet's error responses."""
    if status == 431:
        words = b"Header Line Too Long" if reason == "header line too long" else b"Headers Too Large"
        return b"HTTP/1.0 400 %b\r\nConnection: close\r\nContent-length: 0\r\n\r\n" % words
    if status == 414:
        return b"HTTP/1.0 414 Request URI Too Long\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    if status == 408:
        return b""  # eventlet's socket timeout closes the connection without a response
    if status == 500:
        body = detail.encode("utf-8", "replace")
        return (
            b"HTTP/1.1 500 Internal Server Error\r\nContent-type: text/plain\r\nContent-length: %d\r\n"
            b"Date: %b\r\nConnection: close\r\n\r\n%b"
            % (len(body), format_date_time(time.time()).encode("ascii"), body)
        )
    return _green_error_response(status, reason, detail)


def _socket_name(sock: Any) -> str:
    scheme = "https" if getattr(sock, "server_side", False) else "http"
    name = sock.getsockname()
    if isinstance(name, tuple):
        host = f"[{name[0]}]" if ":" in name[0] else name[0]
        return f"{scheme}://{host}:{name[1]}"
    return f"{scheme}:{name}"


STATE_IDLE = "idle"
STATE_REQUEST = "request"
STATE_CLOSE = "close"


class Server(_GreenServer):
    """eventlet's ``Server(socket, address, app, ...)``: green.wsgi.Server built from eventlet's
    arguments (see the module docstring; `address` is not needed: the socket knows it).

    `serve_forever` serves the listening `socket`; `process_request` serves one connection
    accepted by the caller. Raises TypeError for a custom `protocol`.
    """

    def __init__(
        self,
        socket: Any,
        address: Any,
        app: Any,
        log: Any = None,
        environ: dict | None = None,
        max_http_version: str | None = None,
        protocol: Any = HttpProtocol,
        minimum_chunk_size: int | None = None,
        log_x_forwarded_for: bool = True,
        keepalive: Any = True,
        log_output: bool = True,
        log_format: str = DEFAULT_LOG_FORMAT,
        url_length_limit: int = MAX_REQUEST_LINE,
        debug: bool = True,
        socket_timeout: float | None = None,
        capitalize_response_headers: bool = True,
        max_connections: int | None = None,
        pool: Any = None,
    ) -> None:
        if protocol is not HttpProtocol:
            raise TypeError(
                "eventlet.wsgi.Server(protocol=...): custom HttpProtocol classes have no counterpart "
                "in green's WSGI server"
            )
        # eventlet serves HTTP/1.1 requests without a Host header.
        options: dict[str, Any] = {
            "debug": debug,
            "environ": environ,
            "eventlet_environ": True,
            "require_host": False,
            "capitalize_response_headers": capitalize_response_headers,
            "minimum_chunk_size": max(
                1, MINIMUM_CHUNK_SIZE if minimum_chunk_size is None else minimum_chunk_size
            ),
            "encode_str": True,
            "announce_keepalive": True,
            "error_response": _error_response,
            "unix_remote_addr": "unix",
        }
        if getattr(socket, "family", None) == _socket_module.AF_UNIX:
            options["environ"] = {"SERVER_NAME": "unix", **(environ or {})}
        if max_connections is not None:
            options["max_connections"] = max_connections
        if pool is not None:
            options["pool"] = pool
        if keepalive is False or max_http_version == "HTTP/1.0":
            options["keepalive_timeout"] = 0
        elif keepalive is not True and keepalive is not None:
            options["keepalive_timeout"] = float(keepalive)
        if url_length_limit:
            options["max_request_line"] = url_length_limit
        if socket_timeout is not None:
            options["io_timeout"] = options["header_timeout"] = socket_timeout
        self.log: logging.Logger | None = None
        if log_output:
            self.log = _access_log(log)
            options["log_request"] = _log_request(self.log, log_format, log_x_forwarded_for)
            options["error_log"] = self.log  # tracebacks of the application's errors, as in eventlet
        context = getattr(socket, "context", None)
        if context is not None and getattr(socket, "server_side", False):
            # eventlet serves TLS on a listening socket wrapped with wrap_ssl(); green's server
            # takes the context and wraps each accepted connection itself.
            options["ssl_context"] = context
        super().__init__(socket, app, **options)

    def process_request(self, conn_state: list) -> None:
        """Serve the connection ``conn_state = [address, socket, state]`` (a socket the caller
        accepted, green or TLS-wrapped) in the calling green thread, until it closes.

        Outside `serve_forever` no sweeper runs, so the server's timeouts (``socket_timeout``,
        ``keepalive``) are not enforced on it: a client that sends nothing keeps it waiting, as a
        socket without a timeout does in eventlet.
        """
        address, sock = conn_state[0], conn_state[1]
        sock.settimeout(0.0)  # the server does its own waiting
        self.active += 1
        self._handle(sock, address)


def server(
    sock: Any,
    site: Any,
    log: Any = None,
    environ: dict | None = None,
    max_size: int | None = None,
    max_http_version: str = DEFAULT_MAX_HTTP_VERSION,
    protocol: Any = HttpProtocol,
    server_event: Any = None,
    minimum_chunk_size: int | None = None,
    log_x_forwarded_for: bool = True,
    custom_pool: Any = None,
    keepalive: Any = True,
    log_output: bool = True,
    log_format: str = DEFAULT_LOG_FORMAT,
    url_length_limit: int = MAX_REQUEST_LINE,
    debug: bool = True,
    socket_timeout: float | None = None,
    capitalize_response_headers: bool = True,
) -> None:
    """Serve the WSGI application `site` on the listening socket `sock` until killed.

    eventlet's keyword arguments, mapped onto green.wsgi.Server as the module docstring says.
    Raises TypeError for a custom `protocol`.
    """
    if protocol is not HttpProtocol:
        raise TypeError(
            "eventlet.wsgi.server(protocol=...): custom HttpProtocol classes have no counterpart in "
            "green's WSGI server"
        )
    serv = Server(
        sock,
        None,
        site,
        log=log,
        environ=environ,
        max_http_version=max_http_version,
        minimum_chunk_size=minimum_chunk_size,
        log_x_forwarded_for=log_x_forwarded_for,
        keepalive=keepalive,
        log_output=log_output,
        log_format=log_format,
        url_length_limit=url_length_limit,
        debug=debug,
        socket_timeout=socket_timeout,
        capitalize_response_headers=capitalize_response_headers,
        max_connections=custom_pool.size if custom_pool is not None else max_size,
        pool=custom_pool,  # its green threads serve the connections, as in eventlet
    )
    logger = serv.log
    if server_event is not None:
        server_event.send(serv)
    if logger is not None:
        logger.info("(%d) wsgi starting up on %s", os.getpid(), _socket_name(sock))
    try:
        try:
            serv.serve_forever()
        except (KeyboardInterrupt, SystemExit):
            # As in eventlet: the server green thread killed with one of these stops serving,
            # closes idle connections and returns once the requests in flight are answered.
            if logger is not None:
                logger.info("wsgi exiting")
            serv.stop(None)
        if logger is not None:
            logger.info("(%d) wsgi exited", os.getpid())
    finally:
        try:
            sock.close()
        except OSError:
            pass
