"""green.celery.TaskPool: real `celery worker` processes on a real Redis broker and result backend."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import Server, require_module

# The module's Celery app keeps its broker connections open from test to test (green sockets
# registered with the hub in the patched run).
pytestmark = pytest.mark.leaks_allowed("fds")

APP = Path(__file__).parent / "celery_app"
POOL = "green.celery:TaskPool"  # Celery 5 takes a class path through CELERY_CUSTOM_WORKER_POOL


@pytest.fixture(scope="module")
def broker(redis_server: Server) -> str:
    require_module("celery")
    return f"redis://{redis_server.host}:{redis_server.port}/3"


@pytest.fixture(scope="module")
def app(broker: str):
    os.environ["GREEN_TEST_CELERY_BROKER"] = broker
    sys.path.insert(0, str(APP))
    try:
        import proj

        proj.app.conf.broker_url = broker
        proj.app.conf.result_backend = broker
        with proj.app.connection_for_write() as connection:
            connection.default_channel.client.flushdb()
        yield proj
    finally:
        sys.path.remove(str(APP))


class Worker:
    def __init__(
        self,
        broker: str,
        name: str,
        concurrency: int,
        *options: str,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.name = f"{name}@localhost"
        environment = {**os.environ, **(environment or {})}
        environment.update({"GREEN_TEST_CELERY_BROKER": broker, "PYTHONPATH": str(APP)})
        environment["CELERY_CUSTOM_WORKER_POOL"] = POOL
        command = [sys.executable, "-m", "celery", "-A", "proj", "worker", "-P", "custom"]
        command += ["-c", str(concurrency), "-n", self.name, "-l", "INFO", *options]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        self.log = tempfile.TemporaryFile("w+")  # read back into failure messages; gone afterwards
        self.process = subprocess.Popen(
            command, cwd=str(APP), env=environment, stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, app, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.name} exited {self.process.returncode}:\n{self.output()}")
            if app.control.ping(destination=[self.name], timeout=0.5):
                return
        raise AssertionError(f"worker {self.name} not ready in {timeout} s:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


@pytest.fixture(scope="module")
def worker(app, broker: str) -> Iterator[Worker]:
    # The settings the README gives for many short tasks (no ack emulation); the two workers of
    # test_two_workers_share_one_broker_each_within_its_concurrency run with Celery's defaults.
    started = Worker(broker, "main", 1000, environment={"GREEN_TEST_CELERY_ACK_EMULATION": "0"})
    try:
        started.wait_ready(app.app)
        yield started
    finally:
        output = started.output()
        assert started.stop() == 0, output
    # Errors Celery only logs (a failed result store, a failing remote-control command) count too.
    assert "Traceback" not in output, output


def test_worker_runs_patched(app, worker: Worker) -> None:
    assert app.patched.delay().get(timeout=20) == {"socket": True, "green_socket": True}
    stats = app.app.control.inspect(destination=[worker.name], timeout=5).stats()
    assert stats[worker.name]["pool"]["max-concurrency"] == 1000


def test_500_half_second_tasks_at_concurrency_1000(app, worker: Worker) -> None:
    from celery import group

    started = time.time()
    result = group(app.timed_nap.s(0.5) for _ in range(500)).apply_async()
    published = time.time()
    spans = result.get(timeout=60)
    finished = time.time()
    first_start = min(start for start, _ in spans)
    last_end = max(end for _, end in spans)
    # The most tasks running at one instant, from the workers' own start and end times.
    running = peak = 0
    for _, change in sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans]):
        running += change
        peak = max(peak, running)
    print(
        f"500 tasks of 0.5 s at concurrency 1000: {finished - started:.2f} s in all "
        f"(publishing {published - started:.2f} s); in the worker, first start to last end "
        f"{last_end - first_start:.2f} s, at most {peak} at once"
    )
    # Measured on 2 shared cores (load 5-8): 1.5-3.7 s in all, 1.2-3.6 s from the first start to
    # the last end, 236-458 tasks at once; with kombu's default ack emulation and a STARTED state
    # per task (this app's task_track_started) 4.4-5.2 s in all at the same moments. The worker's
    # time goes to Celery, kombu and redis-py (0.8-1.8 ms of CPU per task), the test's to publishing;
    # one after another the tasks would take 250 s. The margins are for busy CI machines.
    assert len(spans) == 500
    assert peak >= 20, f"at most {peak} tasks ran at once"
    assert last_end - first_start < 10, f"{last_end - first_start:.2f} s from first start to last end"
    assert finished - started < 25, f"{finished - started:.2f} s"


def test_soft_time_limit_is_raised_in_the_task(app, worker: Worker) -> None:
    assert app.soft_limited.delay().get(timeout=20) == "soft limit caught"


def test_hard_time_limit_fails_the_task(app, worker: Worker) -> None:
    from celery.exceptions import TimeLimitExceeded

    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded):
        app.hard_limited.delay().get(timeout=20)
    assert time.monotonic() - started < 3


def test_revoke_terminate_kills_the_running_task(app, worker: Worker) -> None:
    result = app.nap.delay(30)
    deadline = time.monotonic() + 20
    while result.state != "STARTED":
        assert time.monotonic() < deadline, result.state
        time.sleep(0.05)
    result.revoke(terminate=True)
    while result.state != "REVOKED":
        assert time.monotonic() < deadline, result.state
        time.sleep(0.05)
    assert app.nap.delay(0).get(timeout=20) == "done"  # the worker carries on
    active = app.app.control.inspect(destination=[worker.name], timeout=5).active()
    assert result.id not in [task["id"] for task in active[worker.name]], active


def test_two_workers_share_one_broker_each_within_its_concurrency(app, broker: str) -> None:
    options = ("--prefetch-multiplier", "1")
    first = Worker(broker, "first", 2, "-Q", "shared,first_only", *options)
    second = Worker(broker, "second", 2, "-Q", "shared", *options)
    try:
        first.wait_ready(app.app)
        second.wait_ready(app.app)
        stats = app.app.control.inspect(destination=[first.name, second.name], timeout=5).stats()
        assert {name: stats[name]["pool"]["max-concurrency"] for name in stats} == {
            first.name: 2,
            second.name: 2,
        }
        started = time.monotonic()
        results = [app.where.apply_async((0.5,), queue="shared") for _ in range(12)]
        hosts = [result.get(timeout=30) for result in results]
        elapsed = time.monotonic() - started
        counts = {name: hosts.count(name) for name in set(hosts)}
        print(f"12 tasks of 0.5 s on 2 workers of concurrency 2: {elapsed:.2f} s, per worker: {counts}")
        assert set(counts) == {first.name, second.name}, counts
        assert elapsed >= 1.4, f"4 green threads in all ran 12 tasks of 0.5 s in {elapsed:.2f} s"

        # Warm shutdown: SIGTERM while a task runs; the worker finishes it, then exits cleanly.
        result = app.nap.apply_async((1.5,), queue="first_only")
        deadline = time.monotonic() + 20
        while result.state != "STARTED":
            assert time.monotonic() < deadline, result.state
            time.sleep(0.05)
        first.process.send_signal(signal.SIGTERM)
        assert result.get(timeout=20) == "done"
        assert first.stop() == 0
    finally:
        first.stop()
        assert second.stop() == 0
