"""green.gunicorn_worker.GreenWorker under a real gunicorn on a loopback port."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pytest
from wsgi_helpers import connect, read_response

import green

pytest.importorskip("gunicorn", reason="gunicorn is a test dependency of the worker")

APP = textwrap.dedent(
    """
    import os
    import time

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            time.sleep(0.5)  # monkey-patched by the worker: only this green thread waits
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
    """
)


def _control_socket_option() -> list[str]:
    # gunicorn 27 opens a control socket in the home directory; tests must not share one.
    from gunicorn.config import KNOWN_SETTINGS

    return ["--no-control-socket"] if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS) else []


_NO_CONTROL_SOCKET = _control_socket_option()


def _free_port() -> int:
    sock = green.listen(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class Gunicorn:
    def __init__(self, directory: Path, *arguments: str) -> None:
        (directory / "gunicorn_app.py").write_text(APP)
        self.port = _free_port()
        self.log_path = directory / "gunicorn.log"
        self.log = open(self.log_path, "wb")
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-k",
            "green.gunicorn_worker.GreenWorker",
            "-b",
            f"127.0.0.1:{self.port}",
            "--chdir",
            str(directory),
            *_NO_CONTROL_SOCKET,
            "--graceful-timeout",
            "5",
            *arguments,
            "gunicorn_app:app",
        ]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 15.0) -> None:
        with green.Timeout(timeout):
            while True:
                try:
                    self.get("/")
                    return
                except OSError:
                    assert self.process.poll() is None, self.log_path.read_text()
                    green.sleep(0.05)

    def get(self, path: str) -> tuple[int, str]:
        with connect(self.port) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
            reader = sock.makefile("rb")
            response = read_response(reader)
            reader.close()
        return response.status, response.body.decode()

    def wait_exit(self, timeout: float = 10.0) -> int:
        with green.Timeout(timeout):
            while self.process.poll() is None:
                green.sleep(0.05)
        return self.process.returncode

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator:
    started: list[Gunicorn] = []

    def start(*arguments: str) -> Gunicorn:
        instance = Gunicorn(tmp_path, *arguments)
        started.append(instance)
        instance.wait_ready()
        return instance

    yield start
    for instance in started:
        instance.close()


def test_requests_served_by_two_workers_and_slow_requests_overlap(gunicorn):
    server = gunicorn("-w", "2")
    pids = {server.get("/")[1] for _ in range(20)}
    assert all(pid.isdigit() for pid in pids)
    started = green.hubs.hub.monotonic()
    threads = [green.spawn(server.get, "/slow") for _ in range(10)]
    results = [thread.wait() for thread in threads]
    elapsed = green.hubs.hub.monotonic() - started
    assert [status for status, _ in results] == [200] * 10
    # Ten half-second requests on two workers: serial would take 2.5 s at best.
    assert elapsed < 1.5, elapsed


def test_term_stops_gracefully_after_requests_in_flight(gunicorn):
    server = gunicorn("-w", "1")
    slow = green.spawn(server.get, "/slow")
    green.sleep(0.15)
    server.process.send_signal(signal.SIGTERM)
    assert slow.wait()[0] == 200
    assert server.wait_exit() == 0
    with pytest.raises(OSError):
        server.get("/")


def test_hup_reloads_workers_gracefully(gunicorn):
    server = gunicorn("-w", "1")
    _, first_pid = server.get("/")
    slow = green.spawn(server.get, "/slow")
    green.sleep(0.15)
    server.process.send_signal(signal.SIGHUP)
    assert slow.wait()[0] == 200
    with green.Timeout(10):
        while True:
            status, pid = server.get("/")
            assert status == 200
            if pid != first_pid:
                break
            green.sleep(0.05)


def test_max_requests_restarts_the_worker(gunicorn):
    server = gunicorn("-w", "1", "--max-requests", "5")
    pids = set()
    with green.Timeout(10):
        while len(pids) < 2:
            try:
                pids.add(server.get("/")[1])
            except OSError:
                green.sleep(0.05)  # between the old worker leaving and the new one accepting
    assert server.process.poll() is None


def test_heartbeat_keeps_an_idle_worker_alive(gunicorn):
    server = gunicorn("-w", "1", "--timeout", "2")
    _, pid = server.get("/")
    green.sleep(4.5)
    assert server.get("/") == (200, pid)
    assert "WORKER TIMEOUT" not in server.log_path.read_text()


def test_worker_connections_and_keepalive(gunicorn):
    server = gunicorn("-w", "1", "--worker-connections", "1", "--keep-alive", "1")
    first = connect(server.port)
    first.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    reader = first.makefile("rb")
    assert read_response(reader).status == 200
    # The one connection slot is taken by the idle keep-alive connection until it times out.
    second = green.spawn(server.get, "/")
    green.sleep(0.3)
    assert not second.dead
    assert reader.read() == b""  # closed by the server after keepalive seconds
    assert second.wait()[0] == 200
    reader.close()
    first.close()


def test_access_log_uses_gunicorns_access_log_format(gunicorn, tmp_path):
    access = tmp_path / "access.log"
    server = gunicorn(
        "-w",
        "1",
        "--access-logfile",
        str(access),
        "--access-logformat",
        "ACCESS %(m)s %(U)s?%(q)s %(H)s %(s)s %(b)s %({host}i)s %({content-type}o)s %(r)s",
    )
    assert server.get("/path?x=1")[0] == 200
    with connect(server.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")  # no Host: refused before it has an environ
        reader = sock.makefile("rb")
        assert read_response(reader).status == 400
        reader.close()
    with green.Timeout(10):
        while access.read_text().count("ACCESS") < 3:  # the wait_ready request, and these two
            green.sleep(0.05)
    lines = access.read_text().splitlines()
    assert "ACCESS GET /path?x=1 HTTP/1.1 200 " in lines[1]
    assert lines[1].endswith(" test text/plain GET /path?x=1 HTTP/1.1"), lines[1]
    assert lines[2].startswith("ACCESS - ? - 400 0 - - - - -"), lines[2]
