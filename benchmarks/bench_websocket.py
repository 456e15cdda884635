"""WebSocket echo benchmark: green.websocket, eventlet.websocket and gevent-websocket.

Each server runs in its own process pinned to CPU 0 and echoes every message back; the load
generator runs in another process pinned to CPU 1. It opens N WebSocket connections (the
opening handshake written out by hand), then keeps one 64-byte masked text message in flight
on each (send, wait for the 66-byte echo frame, send again) in one plain epoll loop, and reports
messages per second, round-trip latency, and the CPU the server spent per message -- the
steadier figure on a shared machine. The load generator's own CPU use is printed too, to show the
server, not the load, is the bottleneck.

Servers, each the library's documented way of serving a WebSocket:

green     ``green.wsgi.server`` + ``green.websocket.WebSocketWSGI`` (``ws.wait`` / ``ws.send``)
eventlet  ``eventlet.wsgi.server`` + ``eventlet.websocket.WebSocketWSGI`` (same handler)
gevent    ``gevent.pywsgi.WSGIServer`` with gevent-websocket's ``WebSocketHandler``
          (``environ["wsgi.websocket"]``: ``receive`` / ``send``)

``--parsers`` measures the framing alone, without sockets, in CPU time of the process (steady on
a shared machine): receiving one 64-byte masked text frame and building its echo frame, with wsproto (its ``WSConnection`` and its lower-level
``FrameProtocol``) and with green.websocket's own framing. This is the measurement behind
green.websocket's choice of hand-written framing (see its module docstring and the README).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
from _common import Row  # noqa: E402

SCRIPT = os.path.abspath(__file__)
SERVERS = ("green", "eventlet", "gevent")
MESSAGE_SIZE = 64
REPLY_SIZE = MESSAGE_SIZE + 2  # an unmasked server frame: 2-byte header + payload
BACKLOG = 2048
SERVER_CPU = 0
LOAD_CPU = 1
MASK = b"\x12\x34\x56\x78"


def masked_text_frame(payload: bytes) -> bytes:
    """A client text frame (payload < 126 bytes), masked with MASK."""
    masked = bytes(byte ^ MASK[index % 4] for index, byte in enumerate(payload))
    return bytes((0x81, 0x80 | len(payload))) + MASK + masked


# -- servers (each in its own process: ``bench_websocket.py --serve LIBRARY``) ----------------------


def _announce(port: int) -> None:
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()


def _echo(ws: Any) -> None:
    """The same handler for green and eventlet: their WebSocket objects provide wait/send."""
    while True:
        message = ws.wait()
        if message is None:
            return
        ws.send(message)


def serve_green() -> None:
    import green
    from green import websocket, wsgi

    listener = green.listen(("127.0.0.1", 0), backlog=BACKLOG)
    _announce(listener.getsockname()[1])
    wsgi.server(listener, websocket.WebSocketWSGI(_echo))


def serve_eventlet() -> None:
    import eventlet
    from eventlet import websocket, wsgi

    listener = eventlet.listen(("127.0.0.1", 0), backlog=BACKLOG)
    _announce(listener.getsockname()[1])
    wsgi.server(listener, websocket.WebSocketWSGI(_echo), log_output=False, max_size=4096)


def serve_gevent() -> None:
    from gevent import pywsgi
    from geventwebsocket.handler import WebSocketHandler

    def application(environ: dict, start_response: Any) -> list[bytes]:
        ws = environ["wsgi.websocket"]
        while True:
            message = ws.receive()
            if message is None:
                break
            ws.send(message)
        return []

    server = pywsgi.WSGIServer(
        ("127.0.0.1", 0), application, handler_class=WebSocketHandler, log=None, backlog=BACKLOG
    )
    server.start()
    _announce(server.server_port)
    server.serve_forever()


SERVE = {"green": serve_green, "eventlet": serve_eventlet, "gevent": serve_gevent}


def library_available(library: str) -> bool:
    if library == "gevent":
        return _common.installed("gevent") and _common.installed("geventwebsocket")
    return _common.installed(library)


# -- the load generator (its own process) ---------------------------------------------------------


def open_websocket(port: int) -> socket.socket:
    """A connected, handshaken WebSocket client socket (blocking during the handshake)."""
    connection = socket.create_connection(("127.0.0.1", port))
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connection.sendall(
        b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    response = b""
    while b"\r\n\r\n" not in response:
        data = connection.recv(4096)
        if not data:
            raise ConnectionError("the server closed the connection during the handshake")
        response += data
    if not response.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {response[:200]!r}")
    if len(response) > response.index(b"\r\n\r\n") + 4:
        raise ConnectionError("unexpected data after the handshake")
    connection.setblocking(False)
    return connection


def generate_load(params: dict[str, Any]) -> dict[str, Any]:
    """Keep `connections` WebSockets busy for `warmup` + `duration` seconds; measure the last part."""
    port, count = params["port"], params["connections"]
    sockets = [open_websocket(port) for _ in range(count)]
    return _common.drive_round_trips(sockets, masked_text_frame(b"m" * MESSAGE_SIZE), REPLY_SIZE, params)


# -- framing alone: wsproto against green.websocket's framing ----------------------------------


class _NullSocket:
    """Stands in for a socket: green.websocket's send path writes here, nothing is read."""

    def fileno(self) -> int:
        return -1

    def send(self, data: bytes) -> int:
        return len(data)


def parse_case(library: str, params: dict[str, Any]) -> dict[str, Any]:
    count = params["messages"]
    frame = masked_text_frame(b"m" * MESSAGE_SIZE)
    if library == "green":
        from green import websocket

        ws = websocket.WebSocket(_NullSocket(), {})
        buffer, read, send = ws._buffer, ws._read_message, ws.send
        started = time.process_time()
        for _ in range(count):
            buffer += frame
            send(read())
    elif library == "wsproto-frames":
        from wsproto.frame_protocol import FrameProtocol

        protocol = FrameProtocol(client=False, extensions=[])
        started = time.process_time()
        for _ in range(count):
            protocol.receive_bytes(frame)
            for received in protocol.received_frames():
                protocol.send_data(received.payload, fin=True)
    else:
        import wsproto
        from wsproto import events

        client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        server.receive_data(client.send(events.Request(host="x", target="/")))
        for _ in server.events():
            client.receive_data(server.send(events.AcceptConnection()))
        started = time.process_time()
        for _ in range(count):
            server.receive_data(frame)
            for event in server.events():
                server.send(events.TextMessage(data=event.data))
    elapsed = time.process_time() - started
    return {"per_second": count / elapsed, "us_per_message": 1e6 * elapsed / count}


def run_parsers(rounds: int, messages: int, cpu: int | None) -> int:
    libraries = ["green", "wsproto-frames", "wsproto"]
    available = [lib for lib in libraries if lib == "green" or _common.installed("wsproto")]
    results = _common.measure(
        lambda library: _common.run_child(
            SCRIPT, "parse", library, {"messages": messages, "cpu": cpu}, timeout=300
        ),
        available,
        rounds,
        _common.progress_printer("framing"),
    )
    sys.stderr.write("\n")
    rows = [
        Row(
            "receive + echo frame",
            "messages/s",
            True,
            {library: _common.median_of(runs, "per_second") for library, runs in results.items()},
        ),
        Row(
            "  per message",
            "us",
            False,
            {library: _common.median_of(runs, "us_per_message") for library, runs in results.items()},
        ),
    ]
    title = (
        f"WebSocket framing alone, CPU time: one {MESSAGE_SIZE}-byte masked text frame in, its echo frame out, "
        f"{messages:,} messages, median of {rounds} round(s)\n({_common.versions_line(['wsproto'])})"
    )
    _common.print_table(title, rows, available)
    return 0


# -- the parent -----------------------------------------------------------------------------------


def run_pair(library: str, connections: int, duration: float, warmup: float, pin: bool) -> dict[str, Any]:
    """Start a `library` WebSocket server, aim the load generator at it, return the load's result."""
    environment = dict(os.environ, PYTHONWARNINGS="ignore")
    server_command = [sys.executable, SCRIPT, "--serve", library]
    if pin:
        server_command += ["--cpu", str(SERVER_CPU)]
    server = subprocess.Popen(
        server_command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("PORT "):
            server.kill()
            _, error = server.communicate(timeout=10)
            raise _common.ChildFailed(f"{library} server did not start:\n{error[-3000:]}")
        params = {
            "port": int(line.split()[1]),
            "connections": connections,
            "duration": duration,
            "warmup": warmup,
            "server_pid": server.pid,
            "cpu": LOAD_CPU if pin else None,
        }
        result = _common.run_child(SCRIPT, "load", library, params, timeout=duration + warmup + 120)
        if server.poll() is not None:
            raise _common.ChildFailed(f"{library} server exited with {server.returncode}")
        return result
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGKILL)
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
        if server.stderr is not None:
            server.stderr.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", nargs="+", type=int, default=[100])
    parser.add_argument("--servers", nargs="+", default=list(SERVERS), metavar="SERVER")
    parser.add_argument(
        "--duration", type=float, default=None, help="measured seconds per run (default 2; 1 with --quick)"
    )
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds before each run")
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds per server (default 3; 1 with --quick)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and load to CPUs 0 and 1")
    parser.add_argument("--parsers", action="store_true", help="measure the framing alone (see above)")
    parser.add_argument("--messages", type=int, default=100_000, help="messages for --parsers")
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    arguments = parser.parse_args(argv)
    duration = arguments.duration if arguments.duration is not None else (1.0 if arguments.quick else 2.0)
    rounds = arguments.rounds if arguments.rounds is not None else (1 if arguments.quick else 3)
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    pin = not arguments.no_pin and {SERVER_CPU, LOAD_CPU} <= cpus
    if arguments.parsers:
        return run_parsers(rounds, arguments.messages, SERVER_CPU if pin else None)
    servers = []
    for server in arguments.servers:
        if server not in SERVE:
            parser.error(f"unknown server {server!r}; choose from {', '.join(SERVERS)}")
        if library_available(server):
            servers.append(server)
        else:
            print(f"skipping {server}: not installed", file=sys.stderr)

    rows: list[Row] = []
    for connections in arguments.connections:
        progress = _common.progress_printer(f"websocket {connections} connections")

        def run_one(library: str, connections: int = connections) -> dict[str, Any]:
            return run_pair(library, connections, duration, arguments.warmup, pin)

        results = _common.measure(run_one, servers, rounds, progress)

        def medians(key: str, results: dict[str, list[dict[str, Any]]] = results) -> dict[str, float | None]:
            return {library: _common.median_of(runs, key) for library, runs in results.items()}

        rows.append(
            Row(f"echo {connections} websockets", "messages/s", True, medians("per_second"), ("gevent", 1.0))
        )
        rows.append(Row("  latency p50", "us", False, medians("p50_us")))
        rows.append(Row("  latency p99", "us", False, medians("p99_us")))
        rows.append(Row("  server CPU", "% of a core", False, medians("server_cpu")))
        rows.append(Row("  server CPU per message", "us", False, medians("server_us_per_trip")))
        rows.append(Row("  load generator CPU", "% of a core", False, medians("load_cpu")))
    sys.stderr.write("\n")
    placement = f"server pinned to CPU {SERVER_CPU}, load to CPU {LOAD_CPU}" if pin else "not pinned"
    title = (
        f"WebSocket echo, {MESSAGE_SIZE}-byte text messages, one in flight per connection, "
        f"{duration:g} s measured after {arguments.warmup:g} s warm-up, median of {rounds} round(s); "
        f"{placement}\n({_common.versions_line([s for s in servers if s != 'green'] + ['gevent-websocket', 'green'])})"
    )
    _common.print_table(title, rows, servers)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        if "--cpu" in sys.argv:
            _common.pin_to_cpu(int(sys.argv[sys.argv.index("--cpu") + 1]))
        _common.raise_fd_limit()
        SERVE[sys.argv[2]]()
    elif len(sys.argv) > 1 and sys.argv[1] == "--child":
        _common.raise_fd_limit()
        _common.child_main({"load": lambda library, params: generate_load(params), "parse": parse_case})
    else:
        sys.exit(main())
