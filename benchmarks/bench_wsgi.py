"""Hello-world WSGI throughput: green.wsgi vs eventlet.wsgi vs gevent.pywsgi, and gunicorn workers.

Usage::

    python benchmarks/bench_wsgi.py [--duration 5] [--rounds 3] [--connections 100] [--skip-gunicorn]

Each server runs in its own process pinned to CPU 0 (``taskset -c 0``); the load comes from
``wrk`` pinned to CPU 1 (keep-alive, 100 connections, one wrk thread). The libraries take turns
round by round, in a rotating order, and the table shows the median requests/s and the median of
wrk's p50/p99 latencies over the rounds, plus green/other ratios. The second table compares two
gunicorn workers (both pinned to CPU 0): ``green.gunicorn_worker.GreenWorker`` against gunicorn's
own ``gevent`` worker. Access logs are off everywhere. ``BENCH_QUICK=1`` makes it one short round.

The script also serves as its own server process: ``bench_wsgi.py --serve LIBRARY PORT``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BODY = b"Hello, World!"


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))])
    return [BODY]


# -- server side (child process) -------------------------------------------------------------------


def serve(library: str, port: int) -> None:
    address = ("127.0.0.1", port)
    if library == "green":
        import green
        from green import wsgi

        listener = green.listen(address, backlog=1024)
        wsgi.Server(listener, application, max_connections=10000).serve_forever()
    elif library == "eventlet":
        import eventlet
        import eventlet.wsgi

        eventlet.wsgi.server(
            eventlet.listen(address, backlog=1024), application, log_output=False, max_size=10000
        )
    elif library == "gevent":
        from gevent.pywsgi import WSGIServer

        WSGIServer(address, application, log=None, backlog=1024).serve_forever()
    else:
        raise SystemExit(f"unknown library {library!r}")


# -- parser comparison (the figure behind choosing httptools) --------------------------------------

TYPICAL_REQUEST = (
    b"GET /api/v2/servers/detail?limit=50&marker=abc HTTP/1.1\r\n"
    b"Host: compute.example.org:8774\r\n"
    b"User-Agent: python-novaclient/18.4.0 keystoneauth1/5.6.0 python-requests/2.31.0 CPython/3.11.7\r\n"
    b"Accept: application/json\r\n"
    b"Accept-Encoding: gzip, deflate\r\n"
    b"Connection: keep-alive\r\n"
    b"X-Auth-Token: gAAAAABl3bK7c2VjcmV0LXRva2VuLXZhbHVlLWZvci1iZW5jaG1hcmtpbmc\r\n"
    b"X-OpenStack-Nova-API-Version: 2.79\r\n"
    b"Content-Type: application/json\r\n"
    b"\r\n"
)


def parse_rates(seconds: float = 1.0) -> dict[str, float]:
    """Requests parsed per second (one CPU) by httptools and by h11 for TYPICAL_REQUEST."""
    import h11
    import httptools

    class Collect:
        def on_url(self, url: bytes) -> None:
            self.url = url

        def on_header(self, name: bytes, value: bytes) -> None:
            self.headers.append((name, value))

        def on_message_begin(self) -> None:
            self.headers = []

        def on_headers_complete(self) -> None:
            pass

        def on_message_complete(self) -> None:
            pass

    def httptools_parse(count: int) -> None:
        parser = httptools.HttpRequestParser(Collect())
        for _ in range(count):
            parser.feed_data(TYPICAL_REQUEST)
            parser.get_method()
            parser.get_http_version()

    def h11_parse(count: int) -> None:
        for _ in range(count):
            connection = h11.Connection(h11.SERVER)
            connection.receive_data(TYPICAL_REQUEST)
            event = connection.next_event()
            assert isinstance(event, h11.Request)
            assert isinstance(connection.next_event(), h11.EndOfMessage)

    rates = {}
    for name, function in (("httptools", httptools_parse), ("h11", h11_parse)):
        count, elapsed = 1000, 0.0
        while elapsed < seconds:
            count *= 2
            started = time.perf_counter()
            function(count)
            elapsed = time.perf_counter() - started
        rates[name] = count / elapsed
    return rates


# -- load side -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, process: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if sock.recv(100).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not come up")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(port: int, duration: float, connections: int) -> dict[str, float]:
    command = [
        "taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency",
        f"http://127.0.0.1:{port}/",
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}
    for percent, key in (("50", "p50"), ("99", "p99")):
        result[key] = _milliseconds(re.search(rf"\s{percent}%\s+(\S+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", output)
    result["errors"] = 1.0 if errors else 0.0
    return result


def measure(command: list[str], port: int, duration: float, connections: int) -> dict[str, float]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(port, process)
        run_wrk(port, 1, connections)  # warm-up
        return run_wrk(port, duration, connections)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def server_command(library: str, port: int) -> list[str]:
    return ["taskset", "-c", "0", sys.executable, os.path.abspath(__file__), "--serve", library, str(port)]


def gunicorn_command(worker: str, port: int, workers: int) -> list[str]:
    return [
        "taskset", "-c", "0", sys.executable, "-m", "gunicorn", "-k", worker, "-w", str(workers),
        "-b", f"127.0.0.1:{port}", "--no-control-socket", "--worker-connections", "10000",
        "--keep-alive", "75", "--chdir", HERE, "--log-level", "warning", "bench_wsgi:application",
    ]  # fmt: skip


def compare(
    entries: dict[str, callable], rounds: int, duration: float, connections: int
) -> dict[str, list[dict]]:
    names = list(entries)
    results: dict[str, list[dict]] = {name: [] for name in names}
    for round_number in range(rounds):
        order = names[round_number % len(names) :] + names[: round_number % len(names)]
        for name in order:
            port = free_port()
            result = measure(entries[name](port), port, duration, connections)
            results[name].append(result)
            print(
                f"  round {round_number + 1}: {name:10} {result['rps']:10.0f} req/s  "
                f"p50 {result['p50']:.2f} ms  p99 {result['p99']:.2f} ms",
                file=sys.stderr,
                flush=True,
            )
    return results


def table(title: str, results: dict[str, list[dict]], reference: str) -> str:
    medians = {
        name: {key: statistics.median(r[key] for r in rows) for key in ("rps", "p50", "p99")}
        for name, rows in results.items()
    }
    lines = [title, f"{'server':26} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'green/this req/s':>17}"]
    for name, values in medians.items():
        ratio = medians[reference]["rps"] / values["rps"]
        lines.append(
            f"{name:26} {values['rps']:10.0f} {values['p50']:8.2f} {values['p99']:8.2f} {ratio:16.2f}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", nargs=2, metavar=("LIBRARY", "PORT"))
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--skip-gunicorn", action="store_true")
    parser.add_argument("--parsers", action="store_true", help="only compare httptools and h11 parsing speed")
    options = parser.parse_args(argv)
    if options.serve:
        serve(options.serve[0], int(options.serve[1]))
        return 0
    if options.parsers:
        pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
        if not os.environ.get("BENCH_PINNED") and pin:
            environment = dict(os.environ, BENCH_PINNED="1")
            return subprocess.call(
                [*pin, sys.executable, os.path.abspath(__file__), "--parsers"], env=environment
            )
        rates = parse_rates()
        print(
            f"parsing a typical {len(TYPICAL_REQUEST)}-byte API request (9 headers), requests/s on one CPU:"
        )
        for name, rate in rates.items():
            print(f"  {name:10} {rate:12.0f}")
        print(f"  httptools/h11: {rates['httptools'] / rates['h11']:.1f}x")
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 1
    if os.environ.get("BENCH_QUICK"):
        options.duration, options.rounds = 2.0, 1
    duration, rounds, connections = options.duration, options.rounds, options.connections
    print(
        f"wrk -t1 -c{connections} -d{duration:g}s keep-alive; server on CPU 0, wrk on CPU 1; "
        f"median of {rounds} rounds",
        flush=True,
    )
    servers = {
        "green.wsgi": lambda port: server_command("green", port),
        "eventlet.wsgi": lambda port: server_command("eventlet", port),
        "gevent.pywsgi": lambda port: server_command("gevent", port),
    }
    print(
        table("\nsingle process", compare(servers, rounds, duration, connections), "green.wsgi"), flush=True
    )
    if not options.skip_gunicorn and importlib.util.find_spec("gunicorn") is None:
        print(
            "\nskipping the gunicorn workers: gunicorn is not installed here (pip install gunicorn)",
            flush=True,
        )
    elif not options.skip_gunicorn:
        workers = {
            "gunicorn -w2 green worker": lambda port: gunicorn_command(
                "green.gunicorn_worker.GreenWorker", port, 2
            ),
            "gunicorn -w2 gevent worker": lambda port: gunicorn_command("gevent", port, 2),
        }
        results = compare(workers, rounds, duration, connections)
        print(table("\ngunicorn, two workers on CPU 0", results, "gunicorn -w2 green worker"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
