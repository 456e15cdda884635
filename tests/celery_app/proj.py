"""The Celery app the green pool tests run: Redis broker and result backend from the environment."""

from __future__ import annotations

import os
import time

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

broker = os.environ.get("GREEN_TEST_CELERY_BROKER", "redis://127.0.0.1:6379/0")
app = Celery("proj", broker=broker, backend=broker)
app.conf.update(
    task_track_started=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    result_expires=600,
)
if os.environ.get("GREEN_TEST_CELERY_ACK_EMULATION") == "0":
    # The README's settings for many short tasks on a Redis broker: no unacked-message
    # bookkeeping (two MULTI/EXEC round trips per message) in the worker.
    app.conf.broker_transport_options = {"ack_emulation": False}
if os.environ.get("GREEN_TEST_CELERY_THREAD_SAFE_BACKEND") == "1":
    # What green's pool sets by itself; benchmarks/bench_celery.py gives it to gevent's pool too.
    app.conf.result_backend_thread_safe = True
    app.conf.redis_max_connections = 1100


@app.task
def nap(seconds: float) -> str:
    time.sleep(seconds)
    return "done"


@app.task(track_started=False)
def timed_nap(seconds: float) -> tuple[float, float]:
    """Sleep; return when the task started and ended (time.time() in the worker)."""
    started = time.time()
    time.sleep(seconds)
    return started, time.time()


@app.task(bind=True)
def where(self, seconds: float) -> str:
    time.sleep(seconds)
    return self.request.hostname


@app.task
def patched() -> dict[str, bool]:
    import socket

    import green

    return {
        "socket": green.is_monkey_patched("socket"),
        "green_socket": socket.socket.__module__.startswith("green"),
    }


@app.task(soft_time_limit=0.3, time_limit=5)
def soft_limited() -> str:
    try:
        time.sleep(3)
    except SoftTimeLimitExceeded:
        return "soft limit caught"
    return "not interrupted"


@app.task(time_limit=0.5)
def hard_limited() -> str:
    time.sleep(3)
    return "not interrupted"
