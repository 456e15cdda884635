"""A client connection's loop: read a request, run the application, send the response, again while
the connection is kept alive; the access log; handing the connection over (``take_over``)."""

from __future__ import annotations

import traceback
from typing import Any

from green._stdlib import original
from green.hubs import monotonic as _hub_monotonic
from green.timeout import Timeout
from green.wsgi._environ import _build_environ
from green.wsgi._protocol import _REASONS, BodyError, HTTPError, _ClientGone, _log, _Request
from green.wsgi._reading import _Reading
from green.wsgi._writing import ALREADY_HANDLED, FileWrapper

_time = original("time")
_monotonic = _hub_monotonic  # the hub clock: deadlines agree with its timers


class _Connection(_Reading):
    """One client connection, served by one green thread; also the parser's callback object."""

    __slots__ = ()

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
        self.taken_over = True
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
        if self.error is not None and not request.complete and type(self.error) is not BodyError:
            # The body is already known to be too large: the app never sees it. (A malformed
            # body reaches the application, whose reads of it raise the BodyError.)
            self.status_code = self.error.status
            self._send_error(self.error.status, self.error.reason)
            return False
        if self.error is not None and not request.complete:
            self.keep_alive = False  # a malformed body: the application runs, then the connection closes
        logging_requests = server.access_log is not None or server.log_request is not None
        started = _monotonic() if logging_requests else 0.0
        environ: dict | None = None
        result: Any = None
        try:
            environ = _build_environ(self, request)
            result = server.app(environ, self.start_response)
            if type(result) is list and not self.headers_sent and len(result) == 1:
                body = result[0]
                if type(body) is not bytes:
                    body = self._as_bytes(body)
                self._start(body, True)
            elif type(result) is list and not self.headers_sent:
                try:
                    body = b"".join(result)
                except TypeError:
                    body = b"".join([self._as_bytes(data) for data in result])
                self._start(body, True)
            elif type(result) is FileWrapper and self._send_file(result):
                self._finish()
            elif result is ALREADY_HANDLED:
                self.keep_alive = False
            elif server.minimum_chunk_size:
                minimum = server.minimum_chunk_size
                if server.eventlet_environ:
                    minimum = int(environ.get("eventlet.minimum_write_chunk_size", minimum))
                self._write_gathered(result, minimum)
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
        except (Exception, Timeout):  # a green Timeout the application let escape is its error too
            self.keep_alive = False
            server.error_log.exception(
                "error in the application serving %s %s",
                request.method.decode("latin-1"),
                request.url.decode("latin-1"),
            )
            if not self.headers_sent:
                self.status_code = 500
                self._send_error(500, "", log=False, detail=traceback.format_exc() if server.debug else "")
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    server.error_log.exception("error closing the application's response iterable")
            server.requests_served += 1
            if environ is not None and server.eventlet_environ and environ.get("eventlet.posthooks"):
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
                self.server.error_log.exception("error in a posthook of %s", environ.get("PATH_INFO"))

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
