"""Client libraries on green threads: green against gevent, same servers, same run.

Cases (100 green threads each, for ``--duration`` seconds after a warm-up):

* ``psycopg2``: each thread has its own connection and runs ``SELECT 1`` in a loop; green's
  ``monkey_patch()`` (its psycopg2 wait callback) against gevent's ``patch_all()`` with
  psycogreen's ``patch_psycopg()``. Figure: queries per second.
* ``requests``: one ``requests.Session`` (urllib3 pool of 100) shared by the threads, ``GET`` in a
  loop against a local HTTP/1.1 keep-alive server. Figure: requests per second.

The PostgreSQL server is started here (tests/servers.py: the Debian ``postgresql`` package); the
HTTP server is green's own WSGI server in a separate process, pinned to CPU 1 while the clients
run pinned to CPU 0 (``--no-pin`` disables that). Each measurement runs in a fresh interpreter that
imports one library only; rounds rotate the libraries (see _common.py)::

    python benchmarks/bench_clients.py                      # both cases, 3 rounds of 3 s
    python benchmarks/bench_clients.py --cases requests --duration 2 --rounds 1
    python benchmarks/bench_clients.py --cases requests --threads 1 --baseline   # + no patching
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from typing import Any

import _common

HERE = os.path.dirname(os.path.abspath(__file__))
LIBRARIES = ("green", "gevent")
THREADS = 100


def _patch(library: str) -> Any:
    """Monkey-patch for `library`; returns its (spawn, joinall-like wait) helpers."""
    if library == "unpatched":
        return None
    if library == "green":
        import green

        green.monkey_patch()
        return green
    from gevent import monkey

    monkey.patch_all()
    if library == "gevent":
        try:
            import psycogreen.gevent

            psycogreen.gevent.patch_psycopg()
        except ImportError:
            pass
    import gevent

    return gevent


def _run_threads(library_module: Any, library: str, work: Any, params: dict[str, Any]) -> dict[str, float]:
    """Run `work(start_at, stop_at, done)` in ``params["threads"]`` green threads; each returns its count of
    operations finished inside the measured window and appends 1 to `done` for every operation.

    Returns the rate (operations per measured second) and the client's CPU time per operation
    over the whole run (warm-up included): the rate depends on how much of its CPU a busy,
    shared machine gives the client, the CPU per operation much less so."""
    counts: list[int] = []
    done: list[int] = []
    duration = params["duration"]
    start_at = time.monotonic() + params["warmup"]
    stop_at = start_at + duration

    def loop() -> None:
        counts.append(work(start_at, stop_at, done))

    cpu_before = time.process_time()
    if library == "unpatched":  # --baseline: the library's own cost, one plain blocking loop
        loop()
        threads = []
    else:
        threads = [library_module.spawn(loop) for _ in range(params["threads"])]
    if library == "unpatched":
        pass
    elif library == "green":
        for thread in threads:
            thread.wait()
    else:
        library_module.joinall(threads, raise_error=True)
    cpu = time.process_time() - cpu_before
    return {"rate": sum(counts) / duration, "cpu_us": cpu / max(len(done), 1) * 1e6}


def child_psycopg2(library: str, params: dict[str, Any]) -> dict[str, Any]:
    module = _patch(library)
    import psycopg2

    dsn = params["dsn"]

    def work(start_at: float, stop_at: float, done: list[int]) -> int:
        connection = psycopg2.connect(dsn)
        cursor = connection.cursor()
        count = 0
        while True:
            cursor.execute("SELECT 1")
            cursor.fetchone()
            done.append(1)
            now = time.monotonic()
            if now >= stop_at:
                break
            if now >= start_at:
                count += 1
        connection.close()
        return count

    return _run_threads(module, library, work, params)


def child_requests(library: str, params: dict[str, Any]) -> dict[str, Any]:
    module = _patch(library)
    import requests

    session = requests.Session()
    session.mount(
        "http://", requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=params["threads"])
    )
    url = params["url"]

    def work(start_at: float, stop_at: float, done: list[int]) -> int:
        count = 0
        while True:
            response = session.get(url)
            assert response.status_code == 200
            done.append(1)
            now = time.monotonic()
            if now >= stop_at:
                break
            if now >= start_at:
                count += 1
        return count

    return _run_threads(module, library, work, params)


CASES = {"psycopg2": child_psycopg2, "requests": child_requests}


def _hello(environ: dict, start_response: Any) -> list[bytes]:
    body = b"hello, world\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def serve_http(port_file: str, cpu: int | None) -> None:
    """Child: green's WSGI server on a free loopback port (written to `port_file`)."""
    import green
    from green import wsgi

    _common.pin_to_cpu(cpu)
    listener = green.listen(("127.0.0.1", 0), backlog=1024)
    with open(port_file, "w") as file:
        file.write(str(listener.getsockname()[1]))
    wsgi.server(listener, _hello)


def _start_http(cpu: int | None) -> tuple[subprocess.Popen, str]:
    port_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"bench-clients-{os.getpid()}.port")
    if os.path.exists(port_file):
        os.unlink(port_file)
    process = subprocess.Popen([sys.executable, __file__, "--serve-http", port_file, str(cpu)])
    deadline = time.monotonic() + 20
    while not os.path.exists(port_file) or not open(port_file).read():
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("the HTTP server did not start")
        time.sleep(0.05)
    port = int(open(port_file).read())
    os.unlink(port_file)
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    return process, f"http://127.0.0.1:{port}/"


def _cpu_row(metric: str, results: dict[str, list[dict[str, Any]]], libraries: list[str]) -> _common.Row:
    values = {library: _common.median_of(results.get(library, []), "cpu_us") for library in libraries}
    return _common.Row(metric, "µs", False, values, ("gevent", 1.0))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds before each run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=THREADS, help="green threads per case")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="with --threads 1: also run the loop unpatched, in one plain thread (the library's own cost)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin clients and server to CPUs 0 and 1")
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.duration, arguments.rounds = 1.0, 1
    client_cpu, server_cpu = (None, None) if arguments.no_pin else (0, 1)
    libraries = [library for library in LIBRARIES if _common.installed(library)]
    if arguments.baseline:
        if arguments.threads != 1:
            parser.error("--baseline needs --threads 1")
        libraries.append("unpatched")
    if not _common.installed("psycogreen") and "psycopg2" in arguments.cases:
        print("psycogreen is not installed: gevent's psycopg2 figure would block; pip install psycogreen")
        libraries = [library for library in libraries if library != "gevent"] or ["green"]

    sys.path.insert(0, os.path.join(HERE, "..", "tests"))
    rows: list[_common.Row] = []
    base = {
        "duration": arguments.duration,
        "warmup": arguments.warmup,
        "cpu": client_cpu,
        "threads": arguments.threads,
    }
    if "psycopg2" in arguments.cases:
        import servers

        postgres = servers.start_postgres()
        try:
            dsn = f"host={postgres.host} port={postgres.port} user=postgres dbname=postgres"
            params = {**base, "dsn": dsn}
            results = _common.measure(
                lambda library: _common.run_child(__file__, "psycopg2", library, params),
                libraries,
                arguments.rounds,
                _common.progress_printer("psycopg2"),
            )
        finally:
            servers._stop(postgres.process)
            shutil.rmtree(postgres.directory, ignore_errors=True)
        sys.stderr.write("\n")
        values = {library: _common.median_of(results.get(library, []), "rate") for library in libraries}
        rows.append(
            _common.Row(
                f"psycopg2 SELECT 1, {arguments.threads} threads", "queries/s", True, values, ("gevent", 1.0)
            )
        )
        rows.append(_cpu_row("psycopg2 client CPU per query", results, libraries))
    if "requests" in arguments.cases:
        server, url = _start_http(server_cpu)
        try:
            params = {**base, "url": url}
            results = _common.measure(
                lambda library: _common.run_child(__file__, "requests", library, params),
                libraries,
                arguments.rounds,
                _common.progress_printer("requests"),
            )
        finally:
            server.kill()
            server.wait()
        sys.stderr.write("\n")
        values = {library: _common.median_of(results.get(library, []), "rate") for library in libraries}
        rows.append(
            _common.Row(
                f"requests GET, {arguments.threads} threads", "requests/s", True, values, ("gevent", 1.0)
            )
        )
        rows.append(_cpu_row("requests client CPU per request", results, libraries))
    versions = _common.versions_line([library for library in libraries if library != "unpatched"])
    title = f"client libraries, {arguments.rounds} rounds of {arguments.duration} s ({versions})"
    _common.print_table(title, rows, libraries)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-http":
        serve_http(sys.argv[2], None if sys.argv[3] == "None" else int(sys.argv[3]))
    elif not _common.child_main(CASES):
        sys.exit(main())
