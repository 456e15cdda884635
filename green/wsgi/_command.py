"""``python -m green.wsgi module:app``: the development server's command line."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Callable

from greenlet import greenlet

from green._stdlib import original
from green.hubs import get_hub
from green.wsgi._protocol import DEFAULT_KEEPALIVE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, _log
from green.wsgi._server import Server

_socket = original("socket")
_ssl = original("ssl")

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
