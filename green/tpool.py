"""Run blocking calls in real OS threads while green threads keep running: `execute` and `Proxy`.

Why it works this way
---------------------
Some calls block the whole OS thread and cannot be made cooperative: C extensions that do their
own I/O or long computations (a database driver, sqlite3, a large hashlib digest with the GIL
released), or ``time.sleep`` of the real ``time`` module. Run in a green thread they would stop the
hub and every other green thread with it. `execute` hands such a call to a pool of real OS threads
and parks only the calling green thread.

The worker threads are started with the real ``_thread`` module (through ``green._stdlib.original``),
never with ``threading``: `monkey_patch` patches ``threading`` *in place*, so even the "original"
``threading`` module makes green threads once patched, and a green worker blocked in a real
``SimpleQueue.get()`` would stop the hub for good. For the same reason the pool's locks are real
``_thread`` locks and a worker is recognised by a real thread-local flag, not by its
``threading`` name. Jobs travel to the workers through the original ``queue.SimpleQueue``;
results travel back through ``hub.call_soon_threadsafe`` -- the one thread-safe door into a hub --
which resumes the waiting green thread from inside the hub's loop. While a job is outstanding the
hub holds a reference (``hub.add_reference``), so a hub with nothing else to do sleeps until the
result arrives instead of declaring the program deadlocked.

On Linux the workers run under the SCHED_BATCH policy (see `_batch_policy`).

The pool starts lazily, grows one worker per outstanding job up to its size (``GREEN_THREADPOOL_SIZE``,
default 20), and is stopped at interpreter exit. A green thread that stops waiting (killed, or a
``Timeout``) does not stop the OS thread: the call runs to its end and its result is dropped.
"""

from __future__ import annotations

import atexit
import os
from typing import Any, Callable

from greenlet import getcurrent

from green._stdlib import original
from green._waiter import Waiter, _quiet
from green.hubs import get_hub
from green.hubs.hub import BlockingInHubError, Hub

__all__ = ["Proxy", "execute", "killall", "set_num_threads"]

_thread = original("_thread")
_queue = original("queue")

# Set in each worker OS thread (a real thread-local: green threads of one OS thread share it).


class _WorkerFlag(_thread._local):  # type: ignore[name-defined]
    # A class default, not a missing attribute: `execute` asks on every call, and a missing
    # one would build and drop an AttributeError each time.
    active = False


_worker_flag = _WorkerFlag()

DEFAULT_SIZE = 20


def _size_from_environment() -> int:
    text = os.environ.get("GREEN_THREADPOOL_SIZE", "")
    try:
        size = int(text) if text.strip() else DEFAULT_SIZE
    except ValueError:
        raise ValueError(f"GREEN_THREADPOOL_SIZE must be an integer, not {text!r}") from None
    if size < 1:
        raise ValueError(f"GREEN_THREADPOOL_SIZE must be at least 1, not {size}")
    return size


class _Pool:
    """OS worker threads taking jobs from one queue."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.jobs: Any = _queue.SimpleQueue()
        # One real lock per worker, held while it runs and released as its last act: joining a
        # worker is acquiring its lock.
        self.workers: list[Any] = []
        self.idle = 0
        self.lock = _thread.allocate_lock()

    def submit(self, job: tuple) -> None:
        with self.lock:
            if self.idle == 0 and len(self.workers) < self.size:
                running = _thread.allocate_lock()
                running.acquire()
                self.workers.append(running)
                try:
                    _thread.start_new_thread(self._work, (running,))
                except BaseException:
                    self.workers.remove(running)
                    raise
            else:
                self.idle -= 1
        self.jobs.put(job)

    def _work(self, running: Any) -> None:
        _worker_flag.active = True
        _batch_policy()
        try:
            self._serve()
        finally:
            running.release()

    def _serve(self) -> None:
        jobs = self.jobs
        # Waiting for a job, this thread cannot wake any green thread: it does not count as one
        # that might (an idle hub may then report a deadlock; see green._waiter). It goes quiet
        # *before* delivering a result: the green thread it wakes must not find it still busy,
        # or that green thread's next wait would hold off LoopExit for good.
        _quiet(1)
        try:
            while True:
                job = jobs.get()
                if job is None:
                    return
                _quiet(-1)
                function, args, kwargs, hub, waiter = job
                outcome: tuple[bool, Any] | None
                try:
                    outcome = (True, function(*args, **kwargs))
                except BaseException as error:
                    outcome = (False, error)
                # Drop references before idling so results and arguments can be freed.
                job = function = args = kwargs = None
                with self.lock:
                    self.idle += 1
                _quiet(1)
                hub.call_soon_threadsafe(_deliver, hub, waiter, outcome)
                outcome = waiter = hub = None
        finally:
            _quiet(-1)

    def stop(self, timeout: float) -> None:
        with self.lock:
            workers = list(self.workers)
            self.workers.clear()
        for _ in workers:
            self.jobs.put(None)
        for running in workers:
            if running.acquire(True, timeout):
                running.release()


def _batch_policy() -> None:
    """Run the calling worker under Linux's SCHED_BATCH policy, where the system allows it.

    The worker keeps its share of the CPU and its nice value; what changes is that waking it
    does not preempt the thread that woke it. `execute` wakes a worker while its hub holds the
    GIL: preempted there, the hub would hand the CPU to a worker that can only wait for the GIL
    and sleep again, two wasted context switches per call when both share a CPU. Under
    SCHED_BATCH the hub runs on until it sleeps in poll, and the worker then finds the GIL free.
    Threads and processes the worker starts inherit the policy, as they would a nice value.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):
        pass  # not Linux, or a sandbox that forbids it: the default policy works, only slower


def _deliver(hub: Hub, waiter: Waiter, outcome: tuple[bool, Any]) -> None:
    hub.remove_reference()
    waiter.wake(outcome)


_pool: _Pool | None = None
_pool_lock = _thread.allocate_lock()


def _get_pool() -> _Pool:
    global _pool
    pool = _pool
    if pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = _Pool(_size_from_environment())
            pool = _pool
    return pool


def execute(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``function(*args, **kwargs)`` in an OS worker thread; return its result or raise its exception.

    Only the calling green thread waits; the hub and every other green thread keep running. The
    exception raised by `function` is re-raised here with its traceback (the worker's frames
    included). Raises BlockingInHubError when called from inside the hub. Called from a thread
    that is itself a tpool worker, `function` simply runs there.
    """
    hub = get_hub()
    current = getcurrent()
    if current is hub:
        raise BlockingInHubError("tpool.execute() called inside the hub (a timer or callback)")
    if _worker_flag.active:
        return function(*args, **kwargs)
    waiter = Waiter(hub)
    hub.add_reference()
    try:
        _get_pool().submit((function, args, kwargs, hub, waiter))
    except BaseException:
        hub.remove_reference()
        raise
    succeeded, value = waiter.wait()
    if succeeded:
        return value
    # Raised here, below this frame, so the worker's frames stay in the traceback.
    try:
        raise value.with_traceback(value.__traceback__)
    finally:
        value = None


def set_num_threads(size: int) -> None:
    """Set the pool size (default from GREEN_THREADPOOL_SIZE, else 20); stops the current workers."""
    global _pool
    if size < 1:
        raise ValueError(f"the pool needs at least one thread, not {size}")
    killall()
    with _pool_lock:
        _pool = _Pool(size)


def killall(timeout: float = 5.0) -> None:
    """Stop the worker threads after the jobs already queued (waiting up to `timeout` for each).

    The next `execute` starts a fresh pool. Runs at interpreter exit.
    """
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.stop(timeout)


atexit.register(killall)


def _forget_pool_in_child() -> None:
    # The worker threads do not exist in a forked child; start over there.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = _thread.allocate_lock()


os.register_at_fork(after_in_child=_forget_pool_in_child)


class Proxy:
    """Wrap `obj` so that calling its methods runs them through `execute` in the thread pool.

    Attributes that are not callable are returned as they are. A returned object whose type is in
    `autowrap`, or that a method named in `autowrap_names` returned, is wrapped in a Proxy too (a
    database connection returning cursors, for example; ``"__call__"`` in `autowrap_names` wraps
    what calling the Proxy returns). Calling the Proxy itself, iterating it, ``len`` and item
    access also go through the pool; ``repr``/``str`` are those of `obj` (computed in the caller,
    not in the pool), so a Proxy prints as the object it stands for.
    """

    def __init__(
        self, obj: Any, autowrap: tuple[type, ...] = (), autowrap_names: tuple[str, ...] = ()
    ) -> None:
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_autowrap", tuple(autowrap))
        object.__setattr__(self, "_autowrap_names", tuple(autowrap_names))

    def _wrap(self, value: Any, name: str = "") -> Any:
        if (self._autowrap and isinstance(value, self._autowrap)) or (name and name in self._autowrap_names):
            return Proxy(value, self._autowrap, self._autowrap_names)
        return value

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._obj, name)
        if not callable(value):
            return self._wrap(value, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._wrap(execute(value, *args, **kwargs), name)

        call.__name__ = name
        call.__doc__ = getattr(value, "__doc__", None)
        return call

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._obj, name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._obj, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._wrap(execute(self._obj, *args, **kwargs), "__call__")

    def __iter__(self) -> Any:
        iterator = execute(iter, self._obj)
        if iterator is self._obj:
            return self
        return Proxy(iterator, self._autowrap, self._autowrap_names)

    def __next__(self) -> Any:
        return self._wrap(execute(next, self._obj))

    def __len__(self) -> int:
        return execute(len, self._obj)

    def __getitem__(self, key: Any) -> Any:
        return self._wrap(execute(self._obj.__getitem__, key))

    def __setitem__(self, key: Any, value: Any) -> None:
        execute(self._obj.__setitem__, key, value)

    def __enter__(self) -> Any:
        return self._wrap(execute(self._obj.__enter__))

    def __exit__(self, *exc_info: Any) -> Any:
        return execute(self._obj.__exit__, *exc_info)

    def __bool__(self) -> bool:
        return bool(self._obj)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Proxy):
            other = other._obj
        return bool(self._obj == other)

    def __hash__(self) -> int:
        return hash(self._obj)

    def __repr__(self) -> str:
        return repr(self._obj)

    def __str__(self) -> str:
        return str(self._obj)
