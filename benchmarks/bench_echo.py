"""TCP echo benchmark: green, eventlet, gevent, and asyncio on uvloop as a reference.

The server runs in its own process pinned to CPU 0; the load comes from another process pinned to
CPU 1. The load generator keeps N connections busy, one 64-byte message in flight on each (send,
wait for the 64-byte echo, send again), and measures round trips per second and the latency of
each round trip. It is one plain epoll loop over non-blocking sockets -- no green threads, no
framework -- so it spends a few microseconds per round trip; its CPU use during the measured
window is printed next to the server's so you can see that the server, not the load, is the
bottleneck (a server at ~100% of its CPU while the load is below it). The server's CPU time per
round trip is printed too: on a machine shared with other work (the server getting less than
a whole core) it is the steadier figure of the server's efficiency.

Servers, all written the same straightforward way for each library:

green     ``green.listen`` + ``accept`` loop, ``green.spawn`` per connection, ``recv``/``sendall``
eventlet  ``eventlet.listen`` + ``accept`` loop, ``eventlet.spawn`` per connection, same loop
gevent    ``gevent.socket`` listening socket + ``accept`` loop, ``gevent.spawn`` per connection
uvloop    asyncio ``Protocol`` server on uvloop (``data_received`` writes the data back);
          skipped with a message if uvloop is not installed
c-epoll   echo_epoll.c: one thread, one epoll loop over non-blocking sockets, in C -- what the
          machine can do without Python; compiled here with the system's C compiler (``cc``),
          skipped with a message if there is none. green's row states its target as a share of it.

Each server sets TCP_NODELAY on accepted connections (uvloop does this itself). Run
``python benchmarks/bench_echo.py --help``; ``--duration 5`` is the reported configuration.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
from _common import Row  # noqa: E402

SCRIPT = os.path.abspath(__file__)
SERVERS = ("green", "eventlet", "gevent", "uvloop", "c-epoll")
C_SOURCE = os.path.join(os.path.dirname(SCRIPT), "echo_epoll.c")
MESSAGE_SIZE = 64
BACKLOG = 2048
SERVER_CPU = 0
LOAD_CPU = 1


# -- servers (each in its own process: ``bench_echo.py --serve LIBRARY``) -------------------------


def _announce(port: int) -> None:
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()


def _echo(connection: Any) -> None:
    """The same blocking-style handler for every library: its sockets provide the calls."""
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    recv, sendall = connection.recv, connection.sendall
    try:
        while True:
            data = recv(65536)
            if not data:
                break
            sendall(data)
    except OSError:
        pass
    finally:
        connection.close()


def _serve_forever(listener: Any, spawn: Any) -> None:
    _announce(listener.getsockname()[1])
    while True:
        connection, _ = listener.accept()
        spawn(_echo, connection)


def serve_green() -> None:
    import green

    listener = green.listen(("127.0.0.1", 0), backlog=BACKLOG)
    _serve_forever(listener, green.spawn)


def serve_eventlet() -> None:
    import eventlet

    listener = eventlet.listen(("127.0.0.1", 0), backlog=BACKLOG)
    _serve_forever(listener, eventlet.spawn)


def serve_gevent() -> None:
    import gevent
    from gevent import socket as gevent_socket

    listener = gevent_socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(BACKLOG)
    _serve_forever(listener, gevent.spawn)


def serve_uvloop() -> None:
    import asyncio

    import uvloop

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(Echo, "127.0.0.1", 0, backlog=BACKLOG))
    _announce(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
    loop.run_forever()


SERVE = {"green": serve_green, "eventlet": serve_eventlet, "gevent": serve_gevent, "uvloop": serve_uvloop}


def c_server() -> str | None:
    """The compiled C reference server (built once per version of its source), or None."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    with open(C_SOURCE, "rb") as source:
        digest = hashlib.sha256(source.read()).hexdigest()[:16]
    binary = os.path.join(tempfile.gettempdir(), f"green-bench-echo-epoll-{digest}")
    if not os.path.exists(binary):
        partial = f"{binary}.{os.getpid()}"
        built = subprocess.run([compiler, "-O2", "-o", partial, C_SOURCE], capture_output=True, text=True)
        if built.returncode != 0:
            sys.stderr.write(f"could not compile {C_SOURCE}:\n{built.stderr[-2000:]}\n")
            return None
        os.replace(partial, binary)
    return binary


def _compiler_version() -> str:
    compiler = shutil.which("cc") or shutil.which("gcc") or "cc"
    try:
        first = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout.splitlines()
    except OSError:
        return "cc"
    return f"{first[0]} -O2" if first else "cc -O2"


def library_available(library: str) -> bool:
    if library == "c-epoll":
        return c_server() is not None
    return _common.installed(library)


# -- the load generator (its own process: ``bench_echo.py --load PARAMS``) ------------------------


def generate_load(params: dict[str, Any]) -> dict[str, Any]:
    """Keep `connections` sockets busy for `warmup` + `duration` seconds; measure the last part.

    One epoll loop; per socket one message in flight. Returns round trips per second, latency
    percentiles (microseconds) and the CPU used by this process and by the server process
    during the measured window.
    """
    port, count = params["port"], params["connections"]
    sockets = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port))
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.setblocking(False)
        sockets.append(connection)
    return _common.drive_round_trips(sockets, b"m" * MESSAGE_SIZE, MESSAGE_SIZE, params)


# -- the parent -----------------------------------------------------------------------------------


def run_pair(library: str, connections: int, duration: float, warmup: float, pin: bool) -> dict[str, Any]:
    """Start a `library` echo server, aim the load generator at it, return the load's result."""
    environment = dict(os.environ, PYTHONWARNINGS="ignore")
    if library == "c-epoll":
        binary = c_server()
        assert binary is not None
        server_command = [binary]
    else:
        server_command = [sys.executable, SCRIPT, "--serve", library]
        if pin:
            server_command += ["--cpu", str(SERVER_CPU)]
    server = subprocess.Popen(
        server_command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    )
    if pin and library == "c-epoll":
        os.sched_setaffinity(server.pid, {SERVER_CPU})
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
    parser.add_argument("--connections", nargs="+", type=int, default=[100, 1000])
    parser.add_argument("--servers", nargs="+", default=list(SERVERS), metavar="SERVER")
    parser.add_argument(
        "--duration", type=float, default=None, help="measured seconds per run (default 2; 1 with --quick)"
    )
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds before each run")
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds per server (default 3; 1 with --quick)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and load to CPUs 0 and 1")
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    arguments = parser.parse_args(argv)
    duration = arguments.duration if arguments.duration is not None else (1.0 if arguments.quick else 2.0)
    rounds = arguments.rounds if arguments.rounds is not None else (1 if arguments.quick else 3)
    servers = []
    for server in arguments.servers:
        if server not in SERVERS:
            parser.error(f"unknown server {server!r}; choose from {', '.join(SERVERS)}")
        if library_available(server):
            servers.append(server)
        else:
            print(f"skipping {server}: not installed", file=sys.stderr)
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    pin = not arguments.no_pin and {SERVER_CPU, LOAD_CPU} <= cpus

    rows: list[Row] = []
    for connections in arguments.connections:
        progress = _common.progress_printer(f"echo {connections} connections")

        def run_one(library: str, connections: int = connections) -> dict[str, Any]:
            return run_pair(library, connections, duration, arguments.warmup, pin)

        results = _common.measure(
            run_one,
            servers,
            rounds,
            progress,
        )

        def medians(key: str, results: dict[str, list[dict[str, Any]]] = results) -> dict[str, float | None]:
            return {library: _common.median_of(runs, key) for library, runs in results.items()}

        # The target: 65% of the C server on the same pinning, or twice gevent without it.
        target = ("c-epoll", 0.65) if "c-epoll" in servers else ("gevent", 2.0)
        rows.append(Row(f"echo {connections} conns", "round trips/s", True, medians("per_second"), target))
        rows.append(Row("  latency p50", "us", False, medians("p50_us")))
        rows.append(Row("  latency p99", "us", False, medians("p99_us")))
        rows.append(Row("  server CPU", "% of a core", False, medians("server_cpu")))
        # The same target in CPU: a server doing 65% of the C server's work per CPU second spends
        # at most 1/0.65 of its CPU time per round trip; this holds when the load generator, not
        # the server, is what limits the C server's round trips (its CPU below 100% of a core).
        cpu_target = ("c-epoll", round(1 / 0.65, 2)) if "c-epoll" in servers else None
        rows.append(
            Row("  server CPU per round trip", "us", False, medians("server_us_per_trip"), cpu_target)
        )
        rows.append(Row("  load generator CPU", "% of a core", False, medians("load_cpu")))
    sys.stderr.write("\n")
    placement = f"server pinned to CPU {SERVER_CPU}, load to CPU {LOAD_CPU}" if pin else "not pinned"
    title = (
        f"TCP echo, {MESSAGE_SIZE}-byte messages, one in flight per connection, {duration:g} s measured "
        f"after {arguments.warmup:g} s warm-up, median of {rounds} round(s); {placement}\n"
        f"({_common.versions_line([s for s in servers if s not in ('green', 'c-epoll')] + ['green'])}"
        f"{'; c-epoll: ' + _compiler_version() if 'c-epoll' in servers else ''})"
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
        _common.child_main({"load": lambda library, params: generate_load(params)})
    else:
        sys.exit(main())
