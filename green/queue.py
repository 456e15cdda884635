"""Green replacement of the stdlib `queue` module.

`Queue`, `LifoQueue`, `PriorityQueue` and `SimpleQueue` behave like the stdlib's, with blocking
`get`/`put` parking only the calling green thread; `Empty`, `Full` (and `ShutDown` where the
running Python has it) are the stdlib's own classes. `LightQueue` is a Queue without task
tracking (`task_done`/`join`), as in eventlet. ``maxsize <= 0`` or None means unbounded.

Getters and putters are served in FIFO order: an item put while green threads wait to get is
handed to the longest waiting one, and space freed by a get goes to the longest waiting putter.

Queues may be shared with other OS threads (tpool workers, threads of the original `_thread`,
threads started before patching): a small real lock (held for a few bytecodes, never across a
switch) guards the items and the waiters, and a waiter parked in another OS thread is woken
through its own hub (see `green._waiter`).
"""

from __future__ import annotations

import collections
import heapq
from typing import Any

from green._compiled import core as _core
from green._stdlib import original
from green._waiter import Waiter, forget_waiter
from green._waiter import allocate_guard as _allocate_guard
from green.hubs.hub import TIMED_OUT

_queue = original("queue")

__green__ = "queue"
__implements__ = ["Queue", "LifoQueue", "PriorityQueue", "SimpleQueue"]
__removes__: list[str] = []

Empty = _queue.Empty
Full = _queue.Full


class ShutDown(Exception):
    """Raised by put/get on a queue that was shut down (the stdlib's class on Python 3.13+)."""


ShutDown = getattr(_queue, "ShutDown", ShutDown)  # type: ignore[misc]  # noqa: F811

__all__ = ["Empty", "Full", "LifoQueue", "LightQueue", "PriorityQueue", "Queue", "ShutDown", "SimpleQueue"]


_STORAGE_HOOKS = ("_init", "_qsize", "_put", "_get", "_put_back", "_counted", "_task_discarded")


# The state the compiled get/put read at fixed offsets (LightQueue's slots).
_STATE = ("maxsize", "_guard", "_getters", "_putters", "is_shutdown", "queue", "unfinished_tasks")


def _compiled_path_of(cls: type) -> int:
    if any(getattr(cls, name) is not LightQueue.__dict__[name] for name in _STATE):
        return 0  # a subclass that made one of them a property or a class attribute
    hooks = [getattr(cls, name, None) for name in _STORAGE_HOOKS]
    if hooks == [getattr(LightQueue, name) for name in _STORAGE_HOOKS]:
        return 1
    counting = globals().get("Queue")  # None while Queue itself is being made
    if counting is not None and hooks == [getattr(counting, name) for name in _STORAGE_HOOKS]:
        return 2
    return 0


class LightQueue:
    """A FIFO queue for green threads without `task_done`/`join`."""

    # Which compiled get/put serves this class (green/_core.c): 1 with LightQueue's storage hooks,
    # 2 with Queue's, 0 (the Python methods) for a class that changes them. Set for every subclass.
    _compiled_path = 1

    # Slots for the state (`unfinished_tasks` is Queue's), and a __dict__ for whatever else a
    # subclass or a program keeps on its queues.
    __slots__ = (*_STATE, "__dict__", "__weakref__")

    def __init_subclass__(cls, **keywords: Any) -> None:
        super().__init_subclass__(**keywords)
        cls._compiled_path = _compiled_path_of(cls)

    def __init__(self, maxsize: int | None = 0) -> None:
        self.maxsize = maxsize if maxsize is not None and maxsize > 0 else 0
        self._guard = _allocate_guard()
        # Getters in the order they came (put hands to the first; an abandoned get removes its
        # own); putters keep the item each one brings.
        self._getters: list[Waiter] = []
        self._putters: dict[Waiter, Any] = {}
        self.is_shutdown = False
        self._init(self.maxsize)

    # Storage hooks, as in the stdlib: subclasses change the order.
    def _init(self, maxsize: int) -> None:
        self.queue: Any = collections.deque()

    def _qsize(self) -> int:
        return len(self.queue)

    def _put(self, item: Any) -> None:
        self.queue.append(item)

    def _get(self) -> Any:
        return self.queue.popleft()

    def _put_back(self, item: Any) -> None:
        self.queue.appendleft(item)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} maxsize={self.maxsize} size={self._qsize()} "
            f"getters={len(self._getters)} putters={len(self._putters)}>"
        )

    def qsize(self) -> int:
        return self._qsize()

    def __len__(self) -> int:
        return self._qsize()

    def empty(self) -> bool:
        return not self._qsize()

    def full(self) -> bool:
        return 0 < self.maxsize <= self._qsize()

    def getting(self) -> int:
        """How many green threads are waiting to get."""
        return len(self._getters)

    def putting(self) -> int:
        """How many green threads are waiting to put."""
        return len(self._putters)

    def resize(self, size: int | None) -> None:
        """Change `maxsize`; waiting putters are let in if there is room now."""
        with self._guard:
            self.maxsize = size if size is not None and size > 0 else 0
            self._admit_putters()

    def _counted(self) -> None:
        """A put has completed (task tracking hook; called with the guard held)."""

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Put `item`; if the queue is full, wait (at most `timeout`) or raise Full."""
        guard = self._guard
        # acquire/try/finally rather than `with` on the hot paths: half the cost on CPython 3.11.
        guard.acquire()
        try:
            if self.is_shutdown:
                raise ShutDown
            if self._getters and not self._qsize():
                waiter = self._getters.pop(0)
                waiter.wake(item)
                self._counted()
                return
            if not self.maxsize or self._qsize() < self.maxsize:
                self._put(item)
                self._counted()
                return
            if not block:
                raise Full
            if timeout is not None and timeout < 0:
                raise ValueError("'timeout' must be a non-negative number")
            waiter = Waiter()
            self._putters[waiter] = item
        finally:
            guard.release()
        try:
            result = waiter.wait(timeout)
        finally:
            if not waiter.woken:  # see get()
                with guard:
                    self._putters.pop(waiter, None)
        if waiter.woken:
            if waiter.exception is not None:
                raise waiter.exception
            return
        if result is TIMED_OUT:
            raise Full
        raise AssertionError("putter resumed without a wake-up")  # pragma: no cover

    def put_nowait(self, item: Any) -> None:
        self.put(item, False)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Remove and return an item; if empty, wait (at most `timeout`) or raise Empty."""
        guard = self._guard
        guard.acquire()
        try:
            if self._putters and not self._qsize():  # maxsize shrank to zero room while putters waited
                self._admit_putters()
            if self._qsize():
                item = self._get()
                if self._putters:
                    self._admit_putters()
                return item
            if self.is_shutdown:
                raise ShutDown
            if not block:
                raise Empty
            if timeout is not None and timeout < 0:
                raise ValueError("'timeout' must be a non-negative number")
            waiter = Waiter()
            self._getters.append(waiter)
        finally:
            guard.release()
        try:
            result = waiter.wait(timeout)
        except BaseException:
            self._get_abandoned(waiter)
            raise
        # `woken` is only set under the guard, together with the removal from `_getters`: once
        # seen True it stays True, and only a waiter that was not woken needs the guard.
        if not waiter.woken:
            return self._get_unwoken(waiter, result)
        if waiter.exception is not None:
            raise waiter.exception
        return waiter.value

    def _get_abandoned(self, waiter: Waiter) -> None:
        # A parked get resumed by an exception (killed, a Timeout): if an item was handed to it
        # meanwhile, the next getter gets it.
        with self._guard:
            forget_waiter(self._getters, waiter)
            if waiter.woken and waiter.exception is None:
                self._put_back(waiter.value)
                self._wake_getter()

    def _get_unwoken(self, waiter: Waiter, result: Any) -> Any:
        # A parked get resumed without a wake-up seen (its timeout): a wake-up may still have come
        # in between, under the guard.
        with self._guard:
            forget_waiter(self._getters, waiter)
        if waiter.woken:
            if waiter.exception is not None:
                raise waiter.exception
            return waiter.value
        if result is TIMED_OUT:
            raise Empty
        raise AssertionError("getter resumed without a wake-up")  # pragma: no cover

    def get_nowait(self) -> Any:
        return self.get(False)

    def _wake_getter(self) -> None:
        if self._getters and self._qsize():
            self._getters.pop(0).wake(self._get())

    def _admit_putters(self) -> None:
        while self._putters and (not self.maxsize or self._qsize() < self.maxsize):
            waiter = next(iter(self._putters))
            item = self._putters.pop(waiter)
            self._put(item)
            self._counted()
            waiter.wake()
        self._wake_getter()

    def shutdown(self, immediate: bool = False) -> None:
        """Make future puts raise ShutDown; gets raise it once the queue is empty.

        With `immediate`, the queue is emptied at once. Waiting putters (and, when the queue is
        empty, getters) wake with ShutDown.
        """
        with self._guard:
            self.is_shutdown = True
            if immediate:
                while self._qsize():
                    self._get()
                    self._task_discarded()
            for waiter in list(self._putters):
                waiter.throw(ShutDown())
            self._putters.clear()
            if not self._qsize():
                for waiter in list(self._getters):
                    waiter.throw(ShutDown())
                self._getters.clear()

    def _task_discarded(self) -> None:
        """An unfinished item was dropped by shutdown(immediate=True) (task tracking hook)."""


class Queue(LightQueue):
    """A FIFO queue with `task_done` and `join`, like `queue.Queue`."""

    def __init__(self, maxsize: int | None = 0) -> None:
        self.unfinished_tasks = 0
        self._joiners: dict[Waiter, None] = {}
        super().__init__(maxsize)

    def _counted(self) -> None:
        self.unfinished_tasks += 1

    def _task_discarded(self) -> None:
        self._finish_task()

    def task_done(self) -> None:
        """Mark one item from `get` as processed; raises ValueError if called too often."""
        with self._guard:
            self._finish_task()

    def _finish_task(self) -> None:
        if self.unfinished_tasks <= 0:
            raise ValueError("task_done() called too many times")
        self.unfinished_tasks -= 1
        if self.unfinished_tasks == 0:
            joiners, self._joiners = self._joiners, {}
            for waiter in joiners:
                waiter.wake()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every item put has been marked with `task_done`.

        Returns True; False only if the (green-only) `timeout` passed first.
        """
        guard = self._guard
        with guard:
            if self.unfinished_tasks == 0:
                return True
            waiter = Waiter()
            self._joiners[waiter] = None
        try:
            waiter.wait(timeout)
        finally:
            with guard:
                self._joiners.pop(waiter, None)
        return waiter.woken


class LifoQueue(Queue):
    """Last in, first out."""

    def _init(self, maxsize: int) -> None:
        self.queue = []

    def _put(self, item: Any) -> None:
        self.queue.append(item)

    def _get(self) -> Any:
        return self.queue.pop()

    def _put_back(self, item: Any) -> None:
        self.queue.append(item)


class PriorityQueue(Queue):
    """Lowest first (entries are typically ``(priority, data)`` tuples)."""

    def _init(self, maxsize: int) -> None:
        self.queue = []

    def _put(self, item: Any) -> None:
        heapq.heappush(self.queue, item)

    def _get(self) -> Any:
        return heapq.heappop(self.queue)

    def _put_back(self, item: Any) -> None:
        heapq.heappush(self.queue, item)


class SimpleQueue:
    """An unbounded FIFO queue without task tracking, like `queue.SimpleQueue`."""

    def __init__(self) -> None:
        self._queue = LightQueue()

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self._queue.put(item)

    def put_nowait(self, item: Any) -> None:
        self._queue.put(item)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        return self._queue.get(block, timeout)

    def get_nowait(self) -> Any:
        return self._queue.get(False)

    def empty(self) -> bool:
        return self._queue.empty()

    def qsize(self) -> int:
        return self._queue.qsize()

    __class_getitem__ = classmethod(lambda cls, item: cls)  # type: ignore[assignment]


Queue._compiled_path = 2

if _core is not None:
    # The compiled get/put (green/_core.c) take the common cases and call these for the rest.
    LightQueue._python_get = LightQueue.get  # type: ignore[attr-defined]
    LightQueue._python_put = LightQueue.put  # type: ignore[attr-defined]
    LightQueue.get, LightQueue.put = _core.methods("queue", LightQueue, Waiter)  # type: ignore[method-assign]

for _cls in (LightQueue, Queue, LifoQueue, PriorityQueue):
    _cls.__class_getitem__ = classmethod(lambda cls, item: cls)  # type: ignore[attr-defined]
