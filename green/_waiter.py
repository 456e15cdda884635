"""Waiter: one parked green thread, resumed at most once, always through the hub.

Synchronisation objects (Event, Semaphore, Queue, GreenThread.wait) keep a list of Waiters.
Waking one records a value and queues `_resume` on the hub; if the green thread was resumed
some other way meanwhile (its timeout fired, it was killed), `_resume` finds it gone and does
nothing, so a stale wake-up never reaches a green thread that is already waiting on something
else.
"""

from __future__ import annotations

from typing import Any

from greenlet import getcurrent, greenlet

from green.hubs import get_hub
from green.hubs.hub import TIMED_OUT, BlockingInHubError, Hub

_switch_into = greenlet.switch


class Waiter:
    __slots__ = ("hub", "greenlet", "value", "woken", "exception")

    def __init__(self, hub: Hub | None = None) -> None:
        self.hub = hub if hub is not None else get_hub()
        self.greenlet: greenlet | None = None
        self.value: Any = None
        self.exception: BaseException | None = None
        self.woken = False

    def wait(self, timeout: float | None = None) -> Any:
        """Park until `wake`/`throw`; returns the value, or TIMED_OUT after `timeout` seconds."""
        hub = self.hub
        current = getcurrent()
        if current is hub:
            raise BlockingInHubError("cannot block inside the hub (a timer or callback)")
        self.greenlet = current
        if timeout is None:
            try:
                return _switch_into(hub)
            finally:
                self.greenlet = None
        timer = hub.call_later(timeout, self._expire)
        try:
            return _switch_into(hub)
        finally:
            self.greenlet = None
            timer.cancel()

    def wake(self, value: Any = None) -> None:
        """Resume the parked green thread with `value` (from a green thread or the hub)."""
        if not self.woken:
            self.woken = True
            self.value = value
            self.hub._ready.append((self._resume, ()))

    def throw(self, exception: BaseException) -> None:
        """Resume the parked green thread by raising `exception` in it."""
        if not self.woken:
            self.woken = True
            self.exception = exception
            self.hub._ready.append((self._resume, ()))

    def _resume(self) -> None:
        waiting = self.greenlet
        if waiting is not None:
            self.greenlet = None
            if self.exception is not None:
                waiting.throw(self.exception)
            else:
                waiting.switch(self.value)

    def _expire(self) -> None:
        waiting = self.greenlet
        if waiting is not None and not self.woken:
            self.greenlet = None
            waiting.switch(TIMED_OUT)
