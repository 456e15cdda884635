"""Soak: does green.wsgi stay flat over millions of requests? And what does an idle connection cost?

Usage::

    python benchmarks/bench_soak.py [--requests 1000000] [--every 100000] [--connections 50]
                                    [--idle 10000] [--skip-soak] [--skip-idle]

*Soak.* A green.wsgi server runs in its own process (pinned to CPU 0). ``wrk`` (pinned to CPU 1)
sends it ``--requests`` keep-alive requests, then ``--requests`` requests each on a new connection
(``Connection: close``). Every ``--every`` requests the server prints its resident memory, open
file descriptors, live green threads and connections; the table shows them, and the growth from
the first sample of each phase (the warm-up) to the last. Target: under 1 MB and 0 fds.

*Idle connections.* A server (green.wsgi, then gevent.pywsgi) in its own process; ``--idle``
connections each send one request, read the response and stay open (keep-alive, idle). The
server's resident memory before and after, divided by the number of connections, is the memory
per idle connection.

``BENCH_QUICK=1`` runs 200,000 requests per phase sampled every 50,000, and 2,000 idle connections.
The script also serves as its own server process: ``bench_soak.py --serve LIBRARY PORT [EVERY]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BODY = b"Hello, World!"


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))])
    return [BODY]


def rss_kib(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/PID/status")


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- server side (child process) -------------------------------------------------------------------


def serve(library: str, port: int, every: int) -> None:
    raise_fd_limit()
    address = ("127.0.0.1", port)
    if library == "gevent":
        from gevent.pywsgi import WSGIServer

        gevent_server = WSGIServer(address, application, log=None, backlog=4096)
        gevent_server.start()
        print("READY", flush=True)
        gevent_server.serve_forever()
        return
    from greenlet import greenlet

    import green
    from green import wsgi

    listener = green.listen(address, backlog=4096)
    server = wsgi.Server(listener, application, max_connections=20000)

    def live_green_threads() -> int:
        return sum(1 for item in gc.get_objects() if type(item) is greenlet and not item.dead)

    def sample(kind: str, served: int) -> None:
        fds = len(os.listdir("/proc/self/fd"))
        print(f"{kind} {served} {rss_kib()} {fds} {live_green_threads()} {server.active}", flush=True)

    def monitor() -> None:
        # A sample every `every` requests, and one at rest (no connection left) after each burst.
        next_sample = every
        rested = True
        while True:
            green.sleep(0.05)
            served = server.requests_served
            if every and served >= next_sample:
                sample("SAMPLE", served)
                while next_sample <= served:
                    next_sample += every
            if server.active:
                rested = False
            elif not rested:
                rested = True
                gc.collect()
                sample("REST", served)

    green.spawn(monitor)
    print("READY", flush=True)
    server.serve_forever()


def start_server(library: str, every: int) -> tuple[subprocess.Popen, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, os.path.abspath(__file__), "--serve", library, str(port), str(every)]
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        command = ["taskset", "-c", "0", *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "READY":
        process.kill()
        raise SystemExit(f"the {library} server did not start: {line!r}")
    return process, port


# -- soak ------------------------------------------------------------------------------------------


def soak(requests: int, every: int, connections: int) -> None:
    wrk = shutil.which("wrk")
    if wrk is None:
        print("soak skipped: wrk is not installed (apt-get install wrk)")
        return
    process, port = start_server("green", every)
    assert process.stdout is not None
    print(f"green.wsgi soak: {requests:,} keep-alive requests, then {requests:,} on new connections")
    print(
        f"{'phase':12} {'requests':>10} {'RSS MiB':>9} {'fds':>5} {'greenlets':>9} {'conns':>6} {'req/s':>8}"
    )
    try:
        total = 0
        for phase, headers in (("keep-alive", []), ("new conns", ["-H", "Connection: close"])):
            command = [wrk, "-t1", f"-c{connections}", "-d3600s", *headers, f"http://127.0.0.1:{port}/"]
            if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
                command = ["taskset", "-c", "1", *command]
            load = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            target = (total + requests) // every * every  # samples fall on multiples of `every`
            samples = []
            started = last_time = time.monotonic()
            last_served = total
            try:
                while True:
                    line = process.stdout.readline()
                    if not line:
                        raise SystemExit("the server died")
                    if not line.startswith("SAMPLE "):
                        continue  # (a REST sample while wrk reconnects)
                    served, rss, fds, threads, active = map(int, line.split()[1:])
                    now = time.monotonic()
                    rate = (served - last_served) / (now - last_time)
                    last_served, last_time = served, now
                    samples.append((rss, fds, threads, served, active))
                    print(
                        f"{phase:12} {served - total:>10,} {rss / 1024:>9.1f} {fds:>5} {threads:>9} "
                        f"{active:>6} {rate:>8,.0f}",
                        flush=True,
                    )
                    if served >= target:
                        break
            finally:
                load.terminate()
                load.wait()
            elapsed = time.monotonic() - started
            while True:  # the server at rest, every client gone
                line = process.stdout.readline()
                if not line:
                    raise SystemExit("the server died")
                if line.startswith("REST "):
                    break
            served, rss, fds, threads, active = map(int, line.split()[1:])
            print(
                f"{'at rest':12} {served - total:>10,} {rss / 1024:>9.1f} {fds:>5} {threads:>9} {active:>6}"
            )
            first, last = samples[0], samples[-1]
            print(
                f"{phase:12} growth from the first sample to the last: {(last[0] - first[0]) / 1024:+.2f} MiB, "
                f"{(last[1] - last[4]) - (first[1] - first[4]):+d} fds not held by a connection "
                f"({requests / elapsed:,.0f} requests/s overall)"
            )
            total = served
    finally:
        process.kill()
        process.wait()


# -- memory per idle connection ----------------------------------------------------------------------


def open_idle(port: int, count: int) -> list[socket.socket]:
    """`count` connections that each sent a request and read its response, left open."""
    selector = selectors.DefaultSelector()
    request = b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n"
    done: list[socket.socket] = []
    received: dict[socket.socket, bytes] = {}
    opened = 0
    while len(done) < count:
        while opened < count and len(received) < 500:
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(request)
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
            received[sock] = b""
            opened += 1
        for key, _ in selector.select(10):
            sock = key.fileobj  # type: ignore[assignment]
            data = received[sock] + sock.recv(4096)
            if not data or data.endswith(BODY):
                selector.unregister(sock)
                del received[sock]
                done.append(sock)
            else:
                received[sock] = data
    selector.close()
    return done


def idle_memory(count: int) -> None:
    raise_fd_limit()
    print(f"memory per idle keep-alive connection, {count:,} connections")
    for library in ("green", "gevent"):
        if library == "gevent":
            try:
                import gevent  # noqa: F401
            except ImportError:
                print(f"{'gevent.pywsgi':16} skipped: gevent is not installed")
                continue
        process, port = start_server(library, 0)
        try:
            for sock in open_idle(port, 100):  # warm up: imports, caches, the first allocations
                sock.close()
            time.sleep(1.0)
            before = rss_kib(process.pid)
            sockets = open_idle(port, count)
            time.sleep(1.0)
            after = rss_kib(process.pid)
            name = "green.wsgi" if library == "green" else "gevent.pywsgi"
            per = (after - before) * 1024 / count
            print(
                f"{name:16} RSS {before / 1024:7.1f} -> {after / 1024:7.1f} MiB: {per / 1024:6.1f} KiB per connection"
            )
            for sock in sockets:
                sock.close()
        finally:
            process.kill()
            process.wait()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 0)
        return
    quick = os.environ.get("BENCH_QUICK") == "1"
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200_000 if quick else 1_000_000)
    parser.add_argument("--every", type=int, default=50_000 if quick else 100_000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--idle", type=int, default=2_000 if quick else 10_000)
    parser.add_argument("--skip-soak", action="store_true")
    parser.add_argument("--skip-idle", action="store_true")
    options = parser.parse_args()
    if not options.skip_idle:
        idle_memory(options.idle)
    if not options.skip_soak:
        soak(options.requests, options.every, options.connections)


if __name__ == "__main__":
    main()
