"""Celery on green threads: many short tasks through a real Redis broker and result backend.

A `celery worker` at ``-c 1000`` runs bursts of 500 tasks that each sleep 0.5 s (the app is
tests/celery_app/proj.py, task ``timed_nap``, which returns its start and end time). Pools:
``green`` (``CELERY_CUSTOM_WORKER_POOL=green.celery:TaskPool ... -P custom``) and Celery's own
``gevent`` pool, one fresh worker per burst, the pools taking turns, on the same Redis
(tests/servers.py starts it: Debian's ``redis-server``). Figures per burst, medians over the
rounds:

* all: from the first publish to the last result, in this (unpatched) process;
* worker: from the first task's start to the last task's end, as the tasks saw them;
* CPU per task: the worker process's CPU time over the burst, divided by the tasks.

``--settings`` picks the worker's configuration: ``fast`` (default) is what README's Celery
section recommends for many short tasks on Redis (kombu's ack emulation off, prefetch
multiplier 1, and for gevent ``result_backend_thread_safe``, which green's pool sets itself);
``default`` leaves kombu's ack emulation on. Either way ``timed_nap`` stores no STARTED state::

    python benchmarks/bench_celery.py                       # fast settings, 3 rounds
    python benchmarks/bench_celery.py --settings default --rounds 2
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

import _common

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(HERE, "..", "tests", "celery_app")
POOLS = ("green", "gevent")


def _worker(pool: str, broker: str, concurrency: int, settings: str) -> subprocess.Popen:
    environment = {**os.environ, "GREEN_TEST_CELERY_BROKER": broker, "PYTHONPATH": APP}
    options = []
    if settings == "fast":
        environment["GREEN_TEST_CELERY_ACK_EMULATION"] = "0"
        options = ["--prefetch-multiplier", "1"]
        if pool == "gevent":
            environment["GREEN_TEST_CELERY_THREAD_SAFE_BACKEND"] = "1"
    if pool == "green":
        environment["CELERY_CUSTOM_WORKER_POOL"] = "green.celery:TaskPool"
        pool_option = "custom"
    else:
        pool_option = pool
    command = [sys.executable, "-m", "celery", "-A", "proj", "worker", "-P", pool_option]
    command += ["-c", str(concurrency), "-n", f"bench-{pool}@localhost", "-l", "WARNING", *options]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    return subprocess.Popen(
        command, cwd=APP, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _burst(proj: Any, tasks: int, worker_pid: int) -> dict[str, float]:
    from celery import group

    cpu_before = _common.cpu_seconds(worker_pid)
    started = time.time()
    result = group(proj.timed_nap.s(0.5) for _ in range(tasks)).apply_async()
    published = time.time()
    spans = result.get(timeout=300)
    finished = time.time()
    cpu = _common.cpu_seconds(worker_pid) - cpu_before
    result.forget()
    return {
        "all": finished - started,
        "publish": published - started,
        "worker": max(end for _, end in spans) - min(start for start, _ in spans),
        "cpu_us": cpu / tasks * 1e6,
    }


def _one_worker(proj: Any, pool: str, broker: str, arguments: argparse.Namespace) -> dict[str, float]:
    """Start a worker with `pool`, run one burst on it, stop it (warm shutdown)."""
    worker = _worker(pool, broker, arguments.concurrency, arguments.settings)
    try:
        deadline = time.monotonic() + 60
        name = f"bench-{pool}@localhost"
        while not proj.app.control.ping(destination=[name], timeout=0.5):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {pool} worker did not start")
        proj.timed_nap.delay(0).get(timeout=30)  # the worker's connections are up
        return _burst(proj, arguments.tasks, worker.pid)
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="bursts per pool, each on a fresh worker")
    parser.add_argument("--settings", choices=("fast", "default"), default="fast")
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.rounds = 1
    pools = [pool for pool in POOLS if pool == "green" or _common.installed(pool)]
    if not _common.installed("celery"):
        print("celery is not installed: pip install 'celery[redis]'")
        return 0

    sys.path.insert(0, os.path.join(HERE, "..", "tests"))
    import servers

    redis = servers.start_redis()
    broker = f"redis://{redis.host}:{redis.port}/5"
    os.environ["GREEN_TEST_CELERY_BROKER"] = broker
    sys.path.insert(0, APP)
    results: dict[str, list[dict[str, float]]] = {pool: [] for pool in pools}
    try:
        import proj

        for round_number in range(arguments.rounds):
            for pool in _common.rotated(pools, round_number):
                figures = _one_worker(proj, pool, broker, arguments)
                results[pool].append(figures)
                sys.stderr.write(
                    f"  {pool} round {round_number + 1}: "
                    + ", ".join(f"{key} {value:.2f}" for key, value in figures.items())
                    + "\n"
                )
    finally:
        servers._stop(redis.process)
        shutil.rmtree(redis.directory, ignore_errors=True)

    def median(pool: str, key: str) -> float | None:
        values = [figures[key] for figures in results[pool]]
        return statistics.median(values) if values else None

    burst = f"{arguments.tasks} tasks of 0.5 s, -c {arguments.concurrency}"
    rows = [
        _common.Row(f"{burst}: all", "s", False, {pool: median(pool, "all") for pool in pools}),
        _common.Row(f"{burst}: in the worker", "s", False, {pool: median(pool, "worker") for pool in pools}),
        _common.Row("worker CPU per task", "µs", False, {pool: median(pool, "cpu_us") for pool in pools}),
    ]
    title = (
        f"Celery on Redis, {arguments.settings} settings, {arguments.rounds} rounds "
        f"({_common.versions_line(pools)})"
    )
    _common.print_table(title, rows, pools)
    return 0


if __name__ == "__main__":
    sys.exit(main())
