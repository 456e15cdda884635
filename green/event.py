"""Event: a one-shot result that any number of green threads can wait for (eventlet semantics)."""

from __future__ import annotations

from typing import Any

from green._compiled import core as _core
from green._waiter import Waiter, forget_waiter
from green._waiter import allocate_guard as _allocate_guard
from green.greenthread import _exception_from
from green.hubs.hub import TIMED_OUT

__all__ = ["Event"]

_NOT_READY: Any = object()


class Event:
    """`send(value)` once; every `wait()` returns that value (or raises the sent exception).

    Unlike `threading.Event`, an Event carries a value and must be `reset()` before it can be
    sent again; sending twice raises AssertionError. It may be shared with other OS threads: a
    small real lock guards its state, and a waiter in another OS thread is woken through its hub.
    """

    # Slots for the state (the compiled methods read them at fixed offsets, as the lock's), and a
    # __dict__ for whatever else a program keeps on its Events.
    __slots__ = ("_guard", "_waiters", "_result", "_exception", "__dict__", "__weakref__")

    def __init__(self) -> None:
        self._guard = _allocate_guard()
        # A list: a wait appends, `send` takes them all; an abandoned wait (timeout, kill) removes
        # its own, most often the first or the only one.
        self._waiters: list[Waiter] = []
        self._result: Any = _NOT_READY
        self._exception: BaseException | None = None

    def __repr__(self) -> str:
        state = "ready" if self.ready() else f"{len(self._waiters)} waiting"
        return f"<Event {state}>"

    def ready(self) -> bool:
        """True once a value or an exception has been sent."""
        return self._result is not _NOT_READY

    def has_exception(self) -> bool:
        return self._exception is not None

    def has_result(self) -> bool:
        return self.ready() and self._exception is None

    def poll(self, notready: Any = None) -> Any:
        """The sent value (or raise the sent exception) if ready, else `notready`."""
        if self.ready():
            return self.wait()
        return notready

    def reset(self) -> None:
        """Make a sent Event sendable again; raises AssertionError if it was never sent."""
        guard = self._guard
        guard.acquire()
        try:
            if self._result is _NOT_READY:
                raise AssertionError("reset() on an Event that has not been sent")
            self._result = _NOT_READY
            self._exception = None
        finally:
            guard.release()

    def wait(self, timeout: float | None = None) -> Any:
        """Return the sent value (raise the sent exception); None if `timeout` passes first."""
        if self._result is _NOT_READY:
            guard = self._guard
            # acquire/release rather than `with`: this is every hand-off's path.
            guard.acquire()
            try:
                waiter = Waiter() if self._result is _NOT_READY else None
                if waiter is not None:
                    self._waiters.append(waiter)
            finally:
                guard.release()
            if waiter is not None:
                try:
                    timed_out = waiter.wait(timeout) is TIMED_OUT
                finally:
                    # `send` sets `woken` under the guard as it takes the waiter off the list:
                    # once seen True it stays True, and only a waiter not woken needs the guard.
                    if not waiter.woken:
                        self._wait_abandoned(waiter)
                if timed_out and not waiter.woken:
                    return None
        if self._exception is not None:
            raise self._exception
        return self._result

    def _wait_abandoned(self, waiter: Waiter) -> None:
        with self._guard:
            forget_waiter(self._waiters, waiter)

    def send(self, result: Any = None, exc: Any = None) -> None:
        """Wake every waiter with `result` (or with `exc`, an exception or exc_info tuple)."""
        exception = _exception_from(exc if isinstance(exc, tuple) else (exc,)) if exc is not None else None
        guard = self._guard
        guard.acquire()
        try:
            if self._result is not _NOT_READY:
                raise AssertionError("send() on an Event that was already sent; reset() it first")
            if exception is not None:
                self._exception = exception
                self._result = None
            else:
                self._result = result
            waiters = self._waiters
            if waiters:
                self._waiters = []
                for waiter in waiters:
                    waiter.wake()
        finally:
            guard.release()

    def send_exception(self, *args: Any) -> None:
        """Make every waiter raise: ``send_exception(ValueError("x"))`` or
        ``send_exception(ValueError, "x")`` or an exc_info triple."""
        self.send(None, args)


if _core is not None:
    # The compiled wait (without a timeout), send (a value) and reset in green/_core.c; the
    # methods above take the other calls.
    Event._python_wait = Event.wait  # type: ignore[attr-defined]
    Event._python_send = Event.send  # type: ignore[attr-defined]
    Event._python_reset = Event.reset  # type: ignore[attr-defined]
    Event.wait, Event.send, Event.reset = _core.methods("event", Event, Waiter, _NOT_READY)  # type: ignore[method-assign]
