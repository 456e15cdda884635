"""eventlet.wsgi on green.wsgi: ``server()`` takes eventlet's keyword arguments.

Each request's environ carries eventlet's keys (``eventlet.input`` with ``get_socket()``,
``eventlet.posthooks``), and an application returning `ALREADY_HANDLED` has written its own
response. The server underneath is green.wsgi's own (httptools parsing, its limits and
timeouts); how eventlet's arguments map onto it:

* ``log`` (a file or a logging.Logger; default sys.stderr) and ``log_output`` give the access log
  (one line per request, in the layout of eventlet's default ``log_format``; another
  ``log_format`` is not applied). ``debug`` (default True, as in eventlet) puts tracebacks in 500
  responses.
* ``max_size`` (or a ``custom_pool``'s size) -> ``max_connections``; ``keepalive`` False/0 turns
  keep-alive off, a number is the idle timeout; ``max_http_version="HTTP/1.0"`` also turns it off;
  ``url_length_limit`` -> ``max_request_line``; ``socket_timeout`` -> ``io_timeout``.
* ``server_event`` receives the green.wsgi.Server.
* A listening socket wrapped with ``eventlet.wrap_ssl(..., server_side=True)`` serves TLS with
  that socket's SSLContext.
* ``minimum_chunk_size``, ``log_x_forwarded_for`` and ``capitalize_response_headers`` are
  accepted and change nothing: green sends each write as it comes and headers as given.
* ``protocol`` must be eventlet's default: subclasses of eventlet's HttpProtocol (a
  BaseHTTPRequestHandler) have no counterpart in green's server, so another value raises
  TypeError.
"""

from __future__ import annotations

import logging
import sys
from email.utils import formatdate
from typing import Any

from green.wsgi import ALREADY_HANDLED, HTTPError, Server

__all__ = [
    "ALREADY_HANDLED",
    "DEFAULT_MAX_SIMULTANEOUS_REQUESTS",
    "HTTPError",
    "HttpProtocol",
    "MAX_REQUEST_LINE",
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


class ChunkReadError(ValueError):
    """A malformed chunked request body (green raises green.wsgi.HTTPError(400) instead)."""


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
    options: dict[str, Any] = {"debug": debug, "environ": environ, "eventlet_environ": True}
    if custom_pool is not None:
        options["max_connections"] = custom_pool.size
    elif max_size is not None:
        options["max_connections"] = max_size
    if keepalive is False or max_http_version == "HTTP/1.0":
        options["keepalive_timeout"] = 0
    elif keepalive is not True and keepalive is not None:
        options["keepalive_timeout"] = float(keepalive)
    if url_length_limit:
        options["max_request_line"] = url_length_limit
    if socket_timeout is not None:
        options["io_timeout"] = socket_timeout
    if log_output:
        options["access_log"] = _access_log(log)
    context = getattr(sock, "context", None)
    if context is not None and getattr(sock, "server_side", False):
        # eventlet serves TLS on a listening socket wrapped with wrap_ssl(); green's server
        # takes the context and wraps each accepted connection itself.
        options["ssl_context"] = context
    serv = Server(sock, site, **options)
    if server_event is not None:
        server_event.send(serv)
    try:
        serv.serve_forever()
    finally:
        try:
            sock.close()
        except OSError:
            pass
