"""A gunicorn worker that serves with green threads: ``gunicorn -k green.gunicorn_worker.GreenWorker``.

gunicorn manages the processes (forking, reloading on HUP, restarting dead workers, killing hung
ones); inside each worker process, `GreenWorker` runs a `green.wsgi.Server` on every listening
socket, one green thread per connection. The worker's main green thread is its heartbeat: it
touches gunicorn's liveness file (``notify``) at least once a second, watches for a new parent,
counts requests against ``max_requests`` and wakes at once when a signal arrives (gunicorn points
the signal wake-up fd at the worker's pipe, which the heartbeat waits on).

Settings honoured: ``worker_connections`` (connections served at once per worker), ``keepalive``
(idle keep-alive seconds; 0 disables keep-alive), ``timeout`` (heartbeat), ``graceful_timeout``
(how long requests in flight may take after TERM or a HUP reload), ``max_requests`` and
``max_requests_jitter``, ``limit_request_line``, ``limit_request_fields``,
``limit_request_field_size``, ``certfile``/``keyfile`` (HTTPS), and the access log as gunicorn
configures it (``accesslog``, ``access_log_format``, ``logconfig``, syslog: each request goes to
gunicorn's logger's ``access``). TERM and HUP stop gracefully; QUIT and INT stop at once.

The worker calls ``green.monkey_patch()`` when it starts (set ``GreenWorker.patch_stdlib = False``
in a subclass to skip it), so that blocking libraries the application uses cooperate.
"""

from __future__ import annotations

import datetime
import os
import sys
import warnings
from types import SimpleNamespace
from typing import Any

from gunicorn.workers.base import Worker

import green
from green import wsgi
from green.hubs import get_hub

__all__ = ["GreenWorker"]


class GreenWorker(Worker):
    """gunicorn worker class serving WSGI apps with `green.wsgi` (see the module docstring)."""

    patch_stdlib = True
    alive: bool

    def init_process(self) -> None:
        if self.patch_stdlib:
            with warnings.catch_warnings():
                # gunicorn itself has bound a few stdlib objects already; it does not block on them
                # while serving, so the patcher's warning about them is noise here.
                warnings.simplefilter("ignore", RuntimeWarning)
                green.monkey_patch()
        super().init_process()

    def _server_options(self) -> dict[str, Any]:
        cfg = self.cfg
        options: dict[str, Any] = {
            "max_connections": cfg.worker_connections,
            "keepalive_timeout": float(cfg.keepalive),
            "multiprocess": cfg.workers > 1,
            "environ": {"SERVER_SOFTWARE": f"green.wsgi/{green.__version__} gunicorn"},
        }
        if cfg.limit_request_line > 0:
            options["max_request_line"] = cfg.limit_request_line
        if cfg.limit_request_fields > 0:
            options["max_headers"] = cfg.limit_request_fields
        if cfg.limit_request_field_size > 0:
            options["max_header_line"] = cfg.limit_request_field_size
        if cfg.is_ssl:
            from gunicorn.sock import ssl_context

            options["ssl_context"] = ssl_context(cfg)
        log = self.log
        if getattr(log, "access_log_enabled", bool(cfg.accesslog)):
            options["log_request"] = self._log_request
        return options

    def _log_request(self, environ: dict, status: str, headers: list, sent: int, seconds: float) -> None:
        """green.wsgi's `log_request`: hand the request to gunicorn's access logger, which applies
        ``access_log_format`` (its atoms read gunicorn's own environ key RAW_URI and request
        header list, made here from green.wsgi's environ)."""
        if "RAW_URI" not in environ:
            query = environ.get("QUERY_STRING")
            raw_path = environ.get("RAW_PATH_INFO", environ.get("PATH_INFO", ""))
            environ["RAW_URI"] = f"{raw_path}?{query}" if query else raw_path
        request_headers = [
            (key[5:].replace("_", "-"), value)
            for key, value in environ.items()
            if key.startswith("HTTP_") and isinstance(value, str)
        ]
        response = SimpleNamespace(status=status, headers=headers, sent=sent, response_length=sent)
        request = SimpleNamespace(headers=request_headers)
        self.log.access(response, request, environ, datetime.timedelta(seconds=seconds))

    def run(self) -> None:
        hub = get_hub()
        options = self._server_options()
        servers = [wsgi.Server(listener, self.wsgi, **options) for listener in self.sockets]
        threads = [green.spawn(server.serve_forever) for server in servers]
        signal_pipe = self.PIPE[0]
        # The arbiter kills a worker silent for `timeout` seconds: beat at least twice per timeout.
        beat = min(1.0, max(0.05, self.timeout / 2))
        while self.alive:
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                break
            if sum(server.requests_served for server in servers) >= self.max_requests:
                self.log.info("Autorestarting worker after current request.")
                break
            if hub.wait_readable(signal_pipe, beat):
                try:
                    while os.read(signal_pipe, 4096):
                        pass
                except BlockingIOError:
                    pass
        self.alive = False
        # Graceful stop: every server stops accepting at once, then requests in flight get
        # graceful_timeout seconds; the heartbeat goes on meanwhile.
        stoppers = [green.spawn(server.stop, self.cfg.graceful_timeout) for server in servers]
        while not all(stopper.dead for stopper in stoppers):
            self.notify()
            green.sleep(0.1)
        for thread in threads:
            thread.wait()
        hub.notify_closing(signal_pipe)

    def handle_quit(self, sig: int, frame: Any) -> None:
        # Immediate stop (QUIT, INT). The signal handler may run inside any green thread or the
        # hub; SystemExit reaches the main green thread from either.
        self.alive = False
        self.cfg.worker_int(self)
        sys.exit(0)
