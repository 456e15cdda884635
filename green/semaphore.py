"""Semaphore, BoundedSemaphore and CappedSemaphore for green threads.

A release with green threads waiting hands the unit straight to the first of them, so waiters
acquire in FIFO order and a running green thread cannot barge ahead of one that waited.

They may be shared with other OS threads: a small real lock (held for a few bytecodes, never
across a switch) guards the counter and the waiters, and a waiter parked in another OS thread
is woken through its own hub (see `green._waiter`).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from green._compiled import core as _core
from green._waiter import Waiter, forget_waiter
from green._waiter import allocate_guard as _allocate_guard

__all__ = ["BoundedSemaphore", "CappedSemaphore", "Semaphore"]


class Semaphore:
    """A counter; `acquire` waits while it is zero. Like `threading.Semaphore`, cooperatively."""

    # 1: the compiled acquire/release (green/_core.c) serve this class; 0: a subclass with its own
    # release check (BoundedSemaphore), served by the Python methods. Set for every subclass.
    _compiled_path = 1

    # Slots for the state (the compiled methods read them at fixed offsets), and a __dict__ for
    # whatever else a program keeps on its semaphores.
    __slots__ = ("counter", "_guard", "_waiters", "__dict__", "__weakref__")

    def __init_subclass__(cls, **keywords: Any) -> None:
        super().__init_subclass__(**keywords)
        cls._compiled_path = (
            1
            if cls._check_release is Semaphore._check_release
            and all(
                getattr(cls, name) is Semaphore.__dict__[name] for name in ("counter", "_guard", "_waiters")
            )
            else 0
        )

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError(f"Semaphore value must be >= 0, not {value!r}")
        self.counter = value
        self._guard = _allocate_guard()
        # In the order they came: acquire appends, release takes the first, an abandoned acquire
        # (timeout, kill) removes its own.
        self._waiters: list[Waiter] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} counter={self.counter} waiters={len(self._waiters)}>"

    def locked(self) -> bool:
        return self.counter <= 0

    @property
    def balance(self) -> int:
        """The counter minus the number of waiting green threads."""
        return self.counter - len(self._waiters)

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take one unit; returns False if not `blocking` or `timeout` passes first."""
        if timeout is not None and not blocking:
            raise ValueError("can't specify a timeout for a non-blocking call")
        guard = self._guard
        guard.acquire()
        try:
            if self.counter > 0 and not self._waiters:
                self.counter -= 1
                return True
            if not blocking:
                return False
            waiter = Waiter()
            self._waiters.append(waiter)
        finally:
            guard.release()
        try:
            waiter.wait(timeout)
        except BaseException:
            self._acquire_abandoned(waiter)
            raise
        if not waiter.woken:
            return self._acquire_unwoken(waiter)
        return True

    def _acquire_abandoned(self, waiter: Waiter) -> None:
        # A waiting acquire resumed by an exception (killed, a Timeout).
        with self._guard:
            forget_waiter(self._waiters, waiter)
            handed = waiter.woken
        if handed:  # the unit was handed to us; pass it on
            self.release()

    def _acquire_unwoken(self, waiter: Waiter) -> bool:
        # A waiting acquire resumed without a hand-off seen (its timeout); woken is set under the
        # guard, with the removal from _waiters.
        with self._guard:
            forget_waiter(self._waiters, waiter)
        return waiter.woken

    def _check_release(self) -> None:
        """Raise if a release is not allowed (called with the guard held)."""

    def release(self, blocking: bool = True) -> bool:
        """Give one unit back, waking the longest waiting green thread if any."""
        self._guard.acquire()
        try:
            self._check_release()
            waiters = self._waiters
            while waiters:
                waiter = waiters.pop(0)
                if not waiter.woken:
                    waiter.wake(True)
                    return True
            self.counter += 1
        finally:
            self._guard.release()
        return True

    def __enter__(self) -> Semaphore:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


if _core is not None:
    Semaphore._python_acquire = Semaphore.acquire  # type: ignore[attr-defined]
    Semaphore._python_release = Semaphore.release  # type: ignore[attr-defined]
    Semaphore.acquire, Semaphore.release = _core.methods("semaphore", Semaphore, Waiter)  # type: ignore[method-assign]


class BoundedSemaphore(Semaphore):
    """A Semaphore whose `release` raises ValueError if it would exceed the initial value."""

    def __init__(self, value: int = 1) -> None:
        super().__init__(value)
        self.original_counter = value

    def _check_release(self) -> None:
        if self.counter >= self.original_counter and not self._waiters:
            raise ValueError("BoundedSemaphore released too many times")


class CappedSemaphore:
    """A Semaphore whose `release` *waits* while the counter is at `limit` (eventlet)."""

    def __init__(self, count: int, limit: int) -> None:
        if count < 0:
            raise ValueError("CappedSemaphore count must be >= 0")
        if count > limit:
            count = limit
        self.lower_bound = Semaphore(count)
        self.upper_bound = Semaphore(limit - count)

    def __repr__(self) -> str:
        return f"<CappedSemaphore balance={self.balance}>"

    @property
    def balance(self) -> int:
        return self.lower_bound.balance - self.upper_bound.balance

    @property
    def counter(self) -> int:
        return self.lower_bound.counter

    def locked(self) -> bool:
        return self.lower_bound.locked()

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        if not blocking and self.lower_bound.locked():
            return False
        # Make room first: a release waiting at the limit can then hand its unit to this waiting
        # acquire (with limit 0 that is the only way the two ever meet), as in eventlet.
        self.upper_bound.release()
        try:
            acquired = self.lower_bound.acquire(blocking, timeout)
        except BaseException:
            self._take_back_room()
            raise
        if not acquired:
            self._take_back_room()
        return acquired

    def _take_back_room(self) -> None:
        # An acquire gave up: withdraw the room it made. If a release already used that room,
        # its unit is in `lower_bound` and cancels out against the room instead.
        if not self.upper_bound.acquire(blocking=False):
            self.lower_bound.acquire(blocking=False)

    def release(self, blocking: bool = True, timeout: float | None = None) -> bool:
        if not self.upper_bound.acquire(blocking, timeout):
            return False
        self.lower_bound.release()
        return True

    def __enter__(self) -> CappedSemaphore:
        self.acquire()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()
