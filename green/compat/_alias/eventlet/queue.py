"""eventlet.queue: green's queues with eventlet's meaning of `maxsize`, and the stdlib's Empty
and Full.

eventlet and the stdlib disagree on one thing: ``maxsize``. For the stdlib (and green.queue,
which replaces `queue` after monkey-patching) ``Queue(0)`` is unbounded. For eventlet, the
unbounded queue is ``Queue()`` / ``Queue(None)`` (its ``maxsize`` reads None) and ``Queue(0)`` is
a *channel*: it holds no item at all, ``put`` waits until a getter has taken the item (and lets
that getter run before it returns), ``get`` takes the item of a waiting putter, and ``full()`` is
always True. Programs written for eventlet use ``Queue(0)`` as a rendezvous, so the classes here
keep eventlet's meaning.

Only construction, ``full`` and ``resize`` differ for a bounded or unbounded queue: ``put`` and
``get`` are green's own methods, unchanged. A channel is the same object with a class that adds
the rendezvous ``put``/``get`` (`_Channel`); ``resize`` moves a queue between the two classes, so
``resize(1)`` on a channel with a waiting putter admits its item, as in eventlet.
"""

from __future__ import annotations

from typing import Any

from greenlet import getcurrent

import green.queue as _green_queue
from green._waiter import Waiter, forget_waiter
from green.hubs import get_hub
from green.hubs.hub import TIMED_OUT
from green.queue import Empty, Full, ShutDown

__all__ = ["Empty", "Full", "LifoQueue", "LightQueue", "PriorityQueue", "Queue"]


def _eventlet_maxsize(maxsize: int | None) -> int | None:
    """eventlet's normalisation: None or negative means unbounded (None)."""
    if maxsize is None or maxsize < 0:
        return None
    return maxsize


class _EventletMaxsize:
    """`maxsize` as eventlet reads it (None: unbounded; 0: a channel, see `_Channel`)."""

    maxsize: Any
    _guard: Any

    def __init__(self, maxsize: int | None = None) -> None:
        super().__init__(0)  # type: ignore[call-arg]  # green's unbounded queue; maxsize set below
        self.maxsize = _eventlet_maxsize(maxsize)
        if self.maxsize == 0:
            self.__class__ = _channel_class(type(self))

    def full(self) -> bool:
        """Whether a put would have to wait: never for an unbounded queue, always for a channel."""
        return self.maxsize is not None and self.qsize() >= self.maxsize  # type: ignore[attr-defined]

    def resize(self, size: int | None) -> None:
        """Change `maxsize` (None: unbounded, 0: a channel); waiting putters are let in if there
        is room now."""
        with self._guard:
            self.maxsize = _eventlet_maxsize(size)
            plain = getattr(type(self), "_plain_class", type(self))
            self.__class__ = _channel_class(plain) if self.maxsize == 0 else plain
            self._admit_putters()  # type: ignore[attr-defined]


class _Channel:
    """The rendezvous `put`/`get` of an eventlet queue whose maxsize is 0.

    Items left in the queue by a resize to 0 are still handed out first; a getter resumed with
    an item it cannot keep puts it back there (green's `get`), so nothing is lost.
    """

    _plain_class: type
    _guard: Any
    _getters: list[Waiter]
    _putters: dict[Waiter, Any]
    is_shutdown: bool

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Hand `item` to a getter, waiting (at most `timeout`) for one; raise Full if none came
        (at once when not `block`)."""
        guard = self._guard
        with guard:
            if self.is_shutdown:
                raise ShutDown
            if self._getters:
                waiter = self._getters.pop(0)
                waiter.wake(item)
                self._counted()  # type: ignore[attr-defined]
                handed = True
            elif not block:
                raise Full
            elif timeout is not None and timeout < 0:
                raise ValueError("'timeout' must be a non-negative number")
            else:
                handed = False
                waiter = Waiter()
                self._putters[waiter] = item
        if handed:
            # As in eventlet, the getter runs before the putter goes on (not possible in the hub).
            hub = get_hub()
            if getcurrent() is not hub:
                from green.greenthread import sleep

                sleep(0)
            return
        try:
            result = waiter.wait(timeout)
        finally:
            if not waiter.woken:
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
        """Take the item of a waiting putter, waiting (at most `timeout`) for one; raise Empty if
        none came (at once when not `block`)."""
        guard = self._guard
        with guard:
            if self._qsize():  # type: ignore[attr-defined]
                return self._get()  # type: ignore[attr-defined]
            if self._putters:
                putter = next(iter(self._putters))
                item = self._putters.pop(putter)
                self._counted()  # type: ignore[attr-defined]
                putter.wake()
                return item
            if self.is_shutdown:
                raise ShutDown
            if not block:
                raise Empty
            if timeout is not None and timeout < 0:
                raise ValueError("'timeout' must be a non-negative number")
            waiter = Waiter()
            self._getters.append(waiter)
        try:
            result = waiter.wait(timeout)
        except BaseException:
            with guard:
                forget_waiter(self._getters, waiter)
                if waiter.woken and waiter.exception is None:
                    self._put_back(waiter.value)  # type: ignore[attr-defined]
                    self._wake_getter()  # type: ignore[attr-defined]
            raise
        if not waiter.woken:
            with guard:
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

    def _admit_putters(self) -> None:
        # No room ever: only hand items to getters (left in the queue, or of waiting putters).
        self._wake_getter()  # type: ignore[attr-defined]
        while self._putters and self._getters:
            putter = next(iter(self._putters))
            getter = self._getters.pop(0)
            getter.wake(self._putters.pop(putter))
            self._counted()  # type: ignore[attr-defined]
            putter.wake()


_channels: dict[type, type] = {}


def _channel_class(plain: type) -> type:
    """The channel variant of an eventlet queue class (made once per class, subclasses too)."""
    channel = _channels.get(plain)
    if channel is None:
        channel = type(
            plain.__name__, (_Channel, plain), {"_plain_class": plain, "__module__": plain.__module__}
        )
        _channels[plain] = channel
    return channel


class LightQueue(_EventletMaxsize, _green_queue.LightQueue):
    """green's LightQueue (no task tracking) with eventlet's `maxsize`: None unbounded, 0 a
    channel."""


class Queue(_EventletMaxsize, _green_queue.Queue):
    """green's Queue (task_done/join) with eventlet's `maxsize`: None unbounded, 0 a channel."""


class LifoQueue(_green_queue.LifoQueue, Queue):
    """Last in, first out; eventlet's `maxsize`."""


class PriorityQueue(_green_queue.PriorityQueue, Queue):
    """Lowest first; eventlet's `maxsize`."""
