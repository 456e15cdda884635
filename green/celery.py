"""A Celery worker pool on green threads: ``celery -A proj worker -P green.celery:TaskPool``.

Why it looks like this
----------------------
Celery resolves ``-P`` with ``symbol_by_name``, so a ``module:Class`` path works without any
registration; it does so while parsing the worker's options, before the worker, its consumer and
its broker connections exist. Importing this module is therefore the earliest moment green can
act, and it does what Celery's own eventlet and gevent pools do at that point:

1. ``green.monkey_patch()`` -- sockets, threads, time, select... become green for the whole worker
   process, and with them redis-py, kombu, the result backends and the tasks' own client
   libraries. (Celery patches for its eventlet/gevent pools even earlier, in ``celery``'s
   ``__main__``, because it knows their names. For the earliest patch with green, run the worker
   under ``python -m green -m celery -A proj worker -P green.celery:TaskPool``.)
2. Tell kombu this is a greenlet environment. Kombu and Celery ask
   ``kombu.utils.compat.detect_environment()``, which knows only eventlet and gevent, and answer
   "default" otherwise: the worker would then run kombu's epoll event loop (made for the prefork
   pool) and the result backend would drain in an OS thread. Setting the cached answer to
   ``"green"`` gives the worker the loop the eventlet and gevent pools use (the consumer drains the
   broker in one green thread; every task runs in another) and the result backend a green drainer
   (registered below under that name).

The pool sets ``result_backend_thread_safe``: otherwise Celery builds a result backend (and opens a
connection) per thread, which for green threads means per task. The one shared backend then needs
a Redis pool as large as the concurrency (``redis_max_connections``, set to concurrency + 100
unless configured; redis-py's own default is 100).

Time limits are timers on the hub: the soft limit raises `SoftTimeLimitExceeded` inside the task
(which may catch it), the hard limit raises a `green.Timeout` there and reports the task as failed
with `TimeLimitExceeded`, as Celery's gevent pool does. A green thread is only interrupted where it
waits (I/O, sleep, a lock): a task computing without yielding cannot be cut, by either limit.
``revoke(terminate=True)`` kills the task's green thread. A warm shutdown waits for the running
tasks; a cold one kills them.
"""

from __future__ import annotations

import green

green.monkey_patch()

from time import monotonic  # noqa: E402
from typing import Any, Callable  # noqa: E402

from celery.backends import asynchronous  # noqa: E402
from celery.concurrency import base  # noqa: E402
from celery.exceptions import SoftTimeLimitExceeded  # noqa: E402
from greenlet import GreenletExit, getcurrent  # noqa: E402
from kombu.asynchronous import timer as kombu_timer  # noqa: E402
from kombu.utils import compat as kombu_compat  # noqa: E402

from green.event import Event  # noqa: E402
from green.greenpool import GreenPool  # noqa: E402
from green.greenthread import GreenThread, spawn, spawn_after  # noqa: E402
from green.timeout import Timeout  # noqa: E402

__all__ = ["TaskPool", "Timer"]

ENVIRONMENT = "green"
kombu_compat._environment = ENVIRONMENT  # type: ignore[assignment]


@asynchronous.register_drainer(ENVIRONMENT)
class GreenDrainer(asynchronous.greenletDrainer):  # type: ignore[misc, name-defined]
    """Drains result-backend messages in a green thread (``AsyncResult.get`` inside tasks)."""

    def spawn(self, function: Callable[[], Any]) -> GreenThread:
        thread = spawn(function)
        green.sleep(0)
        return thread

    def _event(self) -> Event:
        return _ResettableEvent()


class _ResettableEvent(Event):
    """`green.Event` with the ``is_set``/``set``/``wait(timeout)`` surface of threading.Event."""

    def is_set(self) -> bool:
        return self.ready()

    def set(self) -> None:
        if not self.ready():
            self.send(True)

    def wait(self, timeout: float | None = None) -> bool:  # type: ignore[override]
        return bool(super().wait(timeout))


class Timer(kombu_timer.Timer):
    """Kombu's timer interface on the hub: every entry is a green thread spawned after its delay."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._threads: set[GreenThread] = set()

    def _enter(self, eta: Any, priority: Any, entry: Any, push: Any = True) -> Any:
        thread = spawn_after(max(eta - monotonic(), 0.0), entry)
        thread.entry = entry  # type: ignore[attr-defined]
        thread.eta = eta  # type: ignore[attr-defined]
        thread.priority = priority  # type: ignore[attr-defined]
        thread.canceled = False  # type: ignore[attr-defined]
        self._threads.add(thread)
        thread.link(self._discard, entry)
        return thread

    def _discard(self, thread: GreenThread, entry: Any) -> None:
        self._threads.discard(thread)
        if thread._exc_info is not None and isinstance(thread._exc_info[1], GreenletExit):  # type: ignore[attr-defined]
            entry.cancel()
            thread.canceled = True  # type: ignore[attr-defined]

    def clear(self) -> None:
        while self._threads:
            self._threads.pop().kill()

    def cancel(self, tref: Any) -> None:
        tref.kill()

    @property
    def queue(self) -> list[Any]:
        return list(self._threads)


def _run_task(
    target: Callable[..., Any],
    args: tuple,
    kwargs: dict,
    callback: Callable[..., Any] | None,
    accept_callback: Callable[..., Any] | None,
    timeout: float | None,
    soft_timeout: float | None,
    timeout_callback: Callable[[bool, float], Any] | None,
) -> Any:
    """One task in its green thread: accept it, run it under its time limits, report it."""
    thread = getcurrent()
    soft_report: GreenThread | None = None
    soft_limit: Timeout | None = None
    hard_limit: Timeout | None = None
    if soft_timeout:
        soft_limit = Timeout(soft_timeout, SoftTimeLimitExceeded(soft_timeout))
        if timeout_callback is not None:
            soft_report = spawn_after(soft_timeout, timeout_callback, True, soft_timeout)
    if timeout:
        hard_limit = Timeout(timeout)
    try:
        return base.apply_target(
            target, args, kwargs, callback, accept_callback, pid=id(thread), propagate=(Timeout,)
        )
    except Timeout as fired:
        if fired is not hard_limit:
            raise
        if timeout_callback is not None:
            return timeout_callback(False, timeout)  # type: ignore[arg-type]
        return None
    except GreenletExit:
        return None  # terminated by revoke(terminate=True); the request reports it
    finally:
        if soft_limit is not None:
            soft_limit.cancel()
        if hard_limit is not None:
            hard_limit.cancel()
        if soft_report is not None and not soft_report.dead:
            soft_report.kill()


class _Job:
    """What `TaskPool.on_apply` returns: Celery's request keeps a weak reference to it and calls
    ``terminate(signal)`` on ``revoke(terminate=True)``."""

    __slots__ = ("thread", "__weakref__")

    def __init__(self, thread: GreenThread) -> None:
        self.thread = thread

    def terminate(self, signal: Any = None) -> None:
        """Kill the task's green thread (the signal number is meaningless for a green thread)."""
        if not self.thread.dead:
            self.thread.kill()


class TaskPool(base.BasePool):
    """Celery's execution pool on green threads (``-P green.celery:TaskPool``).

    ``--concurrency`` is the number of tasks running at once (each in its own green thread);
    for I/O-bound tasks hundreds or thousands are normal. Supports soft and hard time limits,
    ``revoke(terminate=True)``, autoscale (grow/shrink), warm and cold shutdown.
    """

    Timer = Timer
    signal_safe = False
    is_green = True
    task_join_will_block = False
    body_can_be_buffer = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool: GreenPool | None = None
        self._running: dict[int, _Job] = {}

    def on_start(self) -> None:
        self._pool = GreenPool(self.limit or 1000)
        if self.app is not None:
            # Celery keeps one result backend per thread unless told it is thread-safe, and green
            # threads are threads here: every task would build its own backend and open its own
            # connection to store one result. One shared backend is what a green worker needs
            # (the Redis, memcached, database and RPC backends share fine).
            self.app.conf.result_backend_thread_safe = True
            # That one backend's Redis pool then serves every running task at once; redis-py's
            # default cap (100 connections) would fail the stores of a busier worker.
            if not self.app.conf.redis_max_connections:
                self.app.conf.redis_max_connections = self.limit + 100

    def on_apply(
        self,
        target: Callable[..., Any],
        args: tuple | None = None,
        kwargs: dict | None = None,
        callback: Callable[..., Any] | None = None,
        accept_callback: Callable[..., Any] | None = None,
        timeout: float | None = None,
        soft_timeout: float | None = None,
        timeout_callback: Callable[[bool, float], Any] | None = None,
        **_: Any,
    ) -> _Job:
        assert self._pool is not None, "the pool is not started"
        thread = self._pool.spawn(
            _run_task,
            target,
            args or (),
            kwargs or {},
            callback,
            accept_callback,
            timeout,
            soft_timeout,
            timeout_callback,
        )
        job = _Job(thread)
        key = id(thread)
        self._running[key] = job
        thread.link(lambda finished: self._running.pop(key, None))
        return job

    def spawn_n(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run a worker service (the remote-control mailbox loop) in its own green thread."""
        spawn(function, *args, **kwargs)

    def terminate_job(self, pid: int, signal: Any = None) -> None:
        """Kill the task running in the green thread `pid` (``revoke(terminate=True)``)."""
        job = self._running.get(pid)
        if job is not None:
            job.terminate(signal)

    def on_stop(self) -> None:
        """Warm shutdown: let the running tasks finish."""
        if self._pool is not None:
            self._pool.waitall()

    def on_terminate(self) -> None:
        """Cold shutdown: kill the running tasks."""
        for job in list(self._running.values()):
            job.terminate()

    def grow(self, n: int = 1) -> None:
        assert self._pool is not None
        self.limit += n
        self._pool.resize(self.limit)

    def shrink(self, n: int = 1) -> None:
        assert self._pool is not None
        self.limit -= n
        self._pool.resize(self.limit)

    @property
    def num_processes(self) -> int:
        return self.limit

    def _get_info(self) -> dict[str, Any]:
        info = super()._get_info()
        if self._pool is not None:
            info.update(
                {
                    "max-concurrency": self.limit,
                    "free-threads": self._pool.free(),
                    "running-threads": self._pool.running(),
                }
            )
        return info
