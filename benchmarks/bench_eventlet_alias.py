"""eventlet's API through green's eventlet alias against green's own names: the same speed?

Usage::

    python benchmarks/bench_eventlet_alias.py [--rounds 5] [--duration 3] [--skip-wsgi] [--instructions]

Three cases, each run by a fresh process pinned to CPU 0, with green's native names and with
``import eventlet`` under the alias (green.compat.eventlet), the two taking turns round by round;
the table shows medians and alias/native ratios (1.00 = same speed):

spawn      spawn 100,000 green threads running an empty function, then wait for each
switch     two green threads pass a token through two Queues, 100,000 round trips
wsgi       hello-world requests/s of ``green.wsgi.Server`` against ``eventlet.wsgi.server``
           (keep-alive, wrk with 100 connections pinned to CPU 1; access logs off)

With ``--instructions`` each case is also counted in instructions per operation (valgrind's
callgrind, user space only), a figure a busy machine does not blur: the difference of two runs of
different sizes over the difference of their sizes, so that start-up and imports cancel out
(spawn and switch: 10,000 and 30,000 operations; wsgi: the server runs under valgrind while 100
keep-alive connections send requests in lock step, 100 and then 300 per connection). Needs
valgrind; takes about four minutes.

The script is also its own child: ``--case NAME native|alias [COUNT]`` and ``--serve native|alias
PORT``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
ROOT = os.path.dirname(HERE)


def _names(kind: str) -> object:
    if kind == "alias":
        from green.compat.eventlet import install

        install(children=False)
        import eventlet

        return eventlet
    import green

    return green


def case_spawn(kind: str, count: int = 100_000) -> float:
    library = _names(kind)

    def nothing() -> None:
        pass

    started = time.perf_counter()
    threads = [library.spawn(nothing) for _ in range(count)]  # type: ignore[attr-defined]
    for thread in threads:
        thread.wait()
    return count / (time.perf_counter() - started)


def case_switch(kind: str, rounds: int = 100_000) -> float:
    library = _names(kind)
    ping, pong = library.Queue(), library.Queue()  # type: ignore[attr-defined]

    def responder() -> None:
        for _ in range(rounds):
            pong.put(ping.get())

    thread = library.spawn(responder)  # type: ignore[attr-defined]
    started = time.perf_counter()
    for index in range(rounds):
        ping.put(index)
        pong.get()
    elapsed = time.perf_counter() - started
    thread.wait()
    return rounds / elapsed


def serve(kind: str, port: int) -> None:
    import signal

    from bench_wsgi import application

    # A normal exit on SIGTERM, so that valgrind counts to the end (--instructions).
    signal.signal(signal.SIGTERM, lambda number, frame: os._exit(0))

    address = ("127.0.0.1", port)
    if kind == "alias":
        _names("alias")
        import eventlet
        import eventlet.wsgi

        eventlet.wsgi.server(
            eventlet.listen(address, backlog=1024), application, log_output=False, max_size=10000
        )
    else:
        import green
        from green import wsgi

        wsgi.server(green.listen(address, backlog=1024), application, max_connections=10000)


def _drive(server: subprocess.Popen, port: int, rounds: int, connections: int) -> None:
    """Send `rounds` requests on each of `connections` keep-alive connections, in lock step: a
    request on each, then each response."""
    import socket

    from bench_wsgi import BODY, wait_ready

    wait_ready(port, server, timeout=300)
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port
    for _ in range(rounds):
        for sock in sockets:
            sock.sendall(request)
        for sock in sockets:
            data = b""
            while not data.endswith(BODY):
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("the server closed a connection")
                data += chunk
    for sock in sockets:
        sock.close()


def _valgrind(arguments: list[str], drive: Any = None) -> int:
    """Instructions valgrind counts in this script run as a child with `arguments`; `drive`, if
    given, is called with the child's Popen while it runs and the child is then terminated."""
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, os.path.abspath(__file__), *arguments,
    ]  # fmt: skip
    child = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_environment()
    )
    try:
        if drive is not None:
            drive(child)
    finally:
        if drive is not None:
            child.terminate()
        _, errors = child.communicate(timeout=600)
    for line in errors.splitlines():
        if "Collected :" in line:
            return int(line.split(":")[-1])
    raise RuntimeError(f"no instruction count from valgrind:\n{errors[-2000:]}")


def instructions(name: str, kind: str) -> int:
    """Instructions per operation of case `name` with `kind` names: the difference of two runs of
    different sizes over the difference of their sizes (start-up and imports cancel out)."""
    if name == "wsgi":
        from bench_wsgi import free_port

        totals = []
        for rounds in (100, 300):  # requests per connection, 100 connections
            port = free_port()
            drive = lambda server, rounds=rounds, port=port: _drive(server, port, rounds, 100)  # noqa: E731
            totals.append(_valgrind(["--serve", kind, str(port)], drive))
        return (totals[1] - totals[0]) // 20_000
    small, large = (_valgrind(["--case", name, kind, str(size)]) for size in (10_000, 30_000))
    return (large - small) // 20_000


def _child(arguments: list[str]) -> list[str]:
    return ["taskset", "-c", "0", sys.executable, os.path.abspath(__file__), *arguments]


def _environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, environment.get("PYTHONPATH")]))
    return environment


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--skip-wsgi", action="store_true")
    parser.add_argument("--instructions", action="store_true", help="also count instructions per request")
    parser.add_argument("--case", nargs="+", metavar="NAME KIND [COUNT]")
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "PORT"))
    options = parser.parse_args()
    if options.case:
        name, kind, *count = options.case
        print({"spawn": case_spawn, "switch": case_switch}[name](kind, *map(int, count)))
        return 0
    if options.serve:
        serve(options.serve[0], int(options.serve[1]))
        return 0

    kinds = ["native", "alias"]
    results: dict[tuple[str, str], list[float]] = {}
    for round_number in range(options.rounds):
        order = kinds if round_number % 2 == 0 else kinds[::-1]
        for name in ("spawn", "switch"):
            for kind in order:
                done = subprocess.run(
                    _child(["--case", name, kind]),
                    capture_output=True,
                    text=True,
                    check=True,
                    env=_environment(),
                )
                results.setdefault((name, kind), []).append(float(done.stdout))
        if not options.skip_wsgi:
            from bench_wsgi import free_port, measure

            for kind in order:
                port = free_port()
                command = _child(["--serve", kind, str(port)])
                os.environ["PYTHONPATH"] = _environment()["PYTHONPATH"]
                result = measure(command, port, options.duration, 100)
                results.setdefault(("wsgi", kind), []).append(result["rps"])
        print(f"round {round_number + 1} done", file=sys.stderr, flush=True)

    print(f"{'case':8} {'native':>14} {'alias':>14} {'alias/native':>13}")
    units = {"spawn": "spawns/s", "switch": "round trips/s", "wsgi": "requests/s"}
    for name in ("spawn", "switch", "wsgi"):
        if (name, "native") not in results:
            continue
        native = statistics.median(results[(name, "native")])
        alias = statistics.median(results[(name, "alias")])
        print(
            f"{name:8} {native:14.0f} {alias:14.0f} {alias / native:13.3f}   ({units[name]}, median of {options.rounds})"
        )
    if options.instructions:
        if shutil.which("valgrind") is None:
            print("instructions: skipped, valgrind is not installed (apt-get install valgrind)")
        else:
            print(
                f"{'case':8} {'native':>14} {'alias':>14} {'native/alias':>13}   (instructions per operation)"
            )
            for name in ("spawn", "switch", "wsgi"):
                native, alias = instructions(name, "native"), instructions(name, "alias")
                print(f"{name:8} {native:14,} {alias:14,} {native / alias:13.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
