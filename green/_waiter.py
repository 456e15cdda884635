"""Waiter: one parked green thread, resumed at most once, always through the hub.

Synchronisation objects (Event, Semaphore, Queue, GreenThread.wait) keep a list of Waiters.
Waking one records a value and queues `_resume` on the hub; if the green thread was resumed
some other way meanwhile (its timeout fired, it was killed), `_resume` finds it gone and does
nothing, so a stale wake-up never reaches a green thread that is already waiting on something
else.

Across OS threads
-----------------
A Waiter may be woken from any OS thread (a tpool worker, a thread of the original `_thread`,
a thread started before monkey-patching). Waking from the waiter's own OS thread appends to its
hub's ready queue, as always; waking from another one goes through ``hub.call_soon_threadsafe``,
the one thread-safe door into a hub, which also interrupts its poll. The objects that keep
Waiters guard their own state with a small real lock, so deciding *which* waiter gets an item
and marking it woken happen together; ``woken`` is therefore only ever set under that lock.

While real OS threads exist (``_thread._count()`` of the original module), a parked green thread
holds a reference on its hub: one of those threads may still wake it, so an otherwise idle hub
sleeps in poll instead of raising `LoopExit`. Threads green keeps for itself are not counted
while they sit idle (a tpool worker waiting for a job, the blocking detector between samples):
they cannot wake anybody then, and a program that once used tpool still gets its deadlocks
reported.

An OS thread that has no hub and is not the main thread (a worker of tpool or of a C
extension, a plain thread that never ran green code) does not get a hub just to wait: it blocks
on a real lock that the waker releases, as the stdlib would, with no poll and no busy loop.

The compiled core
-----------------
When green/_core.c is built (and GREEN_PURE=1 is not set), `Waiter` is a subclass of
``green._core.Waiter``: __init__, wait, wake and throw run in C, with the same slots and the
same decisions as the Python class below, which stays the reference (and runs otherwise). The
rare paths stay Python and are shared: the C methods call `_block`, `_wait_referenced`,
`_wait_timed`, `_schedule` and `_leave_queue` of the subclass, and `_no_hub` for a Waiter made
where no hub exists yet.
"""

from __future__ import annotations

from typing import Any

from greenlet import getcurrent, greenlet

from green._compiled import core as _core
from green._stdlib import original
from green.hubs import _state as _hub_state
from green.hubs import get_hub
from green.hubs.hub import TIMED_OUT, BlockingInHubError, Hub

_switch_into = greenlet.switch
_throw_into = greenlet.throw
_thread = original("_thread")
_real_count = _thread._count
_real_get_ident = _thread.get_ident
_allocate_real_lock = _thread.allocate_lock
_main_ident = original("threading").main_thread().ident


# The small real lock each synchronisation object keeps for its own state (see "Across OS
# threads" above): the compiled core's Guard when it is built (the same calls as a `_thread` lock,
# cheaper, and taken directly by the core's queue paths), else a lock of the original `_thread`.
allocate_guard: Any = _allocate_real_lock if _core is None else _core.Guard

_quiet_threads = 0  # green's own OS threads idling right now (see the module docstring)
_quiet_lock = _allocate_real_lock()


def _quiet(change: int) -> None:
    """Count the calling OS thread in (+1) or out (-1) of green's idle threads."""
    global _quiet_threads
    with _quiet_lock:
        _quiet_threads += change


if _core is not None:
    # With the compiled core the count lives there, where its waits read it; a tpool worker
    # changes it twice per job, and one C call, made holding the GIL, needs no lock.
    _quiet = _core.quiet  # noqa: F811


def forget_waiter(waiters: Any, waiter: Any) -> None:
    """Take `waiter` off `waiters` (a synchronisation object's list or deque, its guard held)
    unless its wake-up already took it: what a wait that ends another way (timeout, kill) does."""
    try:
        waiters.remove(waiter)
    except ValueError:
        pass


class Waiter:
    __slots__ = ("hub", "greenlet", "value", "woken", "exception", "_blocker", "_entry")

    def __init__(self, hub: Hub | None = None) -> None:
        if hub is None:
            hub = _hub_state.hub
            if hub is None:
                if _real_get_ident() == _main_ident:
                    hub = get_hub()
                else:
                    # A plain OS thread: wait on a real lock (see the module docstring).
                    self._blocker: Any = _allocate_real_lock()
                    self._blocker.acquire()
        self.hub: Any = hub
        self.greenlet: greenlet | None = None
        self.value: Any = None
        self.exception: BaseException | None = None
        self.woken = False
        # The ready-queue entry that resumes the parked green thread directly (see `wake`).
        self._entry: Any = None

    def wait(self, timeout: float | None = None) -> Any:
        """Park until `wake`/`throw`; returns the value, or TIMED_OUT after `timeout` seconds."""
        hub = self.hub
        if hub is None:
            return self._block(timeout)
        current = getcurrent()
        if current is hub:
            raise BlockingInHubError("cannot block inside the hub (a timer or callback)")
        self.greenlet = current
        if _real_count() > _quiet_threads:
            return self._wait_referenced(hub, timeout)
        try:
            if timeout is None:
                return hub.park()
            timer = hub.call_later(timeout, self._expire)
            try:
                return hub.park()
            finally:
                timer.cancel()
        except BaseException as error:
            if self._entry is not None and error is not self.exception:
                self._leave_queue(hub)
            raise
        finally:
            self.greenlet = None

    def _wait_referenced(self, hub: Hub, timeout: float | None) -> Any:
        # Other OS threads exist and one may wake us: the idle hub must wait, not LoopExit.
        hub.add_reference()
        try:
            if timeout is None:
                return hub.park()
            timer = hub.call_later(timeout, self._expire)
            try:
                return hub.park()
            finally:
                timer.cancel()
        except BaseException as error:
            if self._entry is not None and error is not self.exception:
                self._leave_queue(hub)
            raise
        finally:
            self.greenlet = None
            hub.remove_reference()

    def _leave_queue(self, hub: Hub) -> None:
        # Resumed by an exception (killed, a Timeout) after a wake-up queued its direct entry:
        # that entry must not switch into this green thread later, when it waits on something
        # else.
        entry = self._entry
        if entry is not None:
            self._entry = None
            hub.unschedule(entry)

    def _block(self, timeout: float | None) -> Any:
        if not self._blocker.acquire(True, -1 if timeout is None else max(timeout, 0.0)):
            return TIMED_OUT
        if self.exception is not None:
            raise self.exception
        return self.value

    def wake(self, value: Any = None) -> None:
        """Resume the parked green thread with `value` (from any green thread, the hub, or
        another OS thread)."""
        if not self.woken:
            self.woken = True
            self.value = value
            waiting = self.greenlet
            hub: Any = self.hub
            here: Any = _hub_state.hub  # existing_hub(), one call less
            # A green thread parked in this OS thread's hub gets a direct entry, which `Hub.park`
            # may take without a trip through the hub.
            if waiting is not None and hub is here:
                self._entry = entry = (_switch_into, (waiting, value))
                hub.schedule(entry)
            else:
                self._schedule()

    def throw(self, exception: BaseException) -> None:
        """Resume the parked green thread by raising `exception` in it (from anywhere)."""
        if not self.woken:
            self.woken = True
            self.exception = exception
            waiting = self.greenlet
            hub: Any = self.hub
            here: Any = _hub_state.hub
            if waiting is not None and hub is here:
                self._entry = entry = (_throw_into, (waiting, exception))
                hub.schedule(entry)
            else:
                self._schedule()

    def _schedule(self) -> None:
        # Not parked yet, or parked in another OS thread: `_resume` looks at run time.
        hub: Hub | None = self.hub
        here: Any = _hub_state.hub  # existing_hub(), one call less
        if hub is None:
            self._blocker.release()
        elif hub is here:  # the waiter's own OS thread
            hub.schedule((self._resume, ()))
        else:
            hub.call_soon_threadsafe(self._resume)

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


def _no_hub(waiter: Any) -> Hub | None:
    # A Waiter made where this OS thread has no hub yet (the compiled __init__'s rare path): the
    # main thread gets its hub; a plain OS thread waits on a real lock (see the module docstring).
    if _real_get_ident() == _main_ident:
        return get_hub()
    waiter._blocker = _allocate_real_lock()
    waiter._blocker.acquire()
    return None


def _wait_timed(waiter: Any, hub: Hub, timeout: float) -> Any:
    # The compiled wait's timed half (the Python `wait` inlines it).
    timer = hub.call_later(timeout, waiter._expire)
    try:
        return hub.park()
    finally:
        timer.cancel()


PureWaiter = Waiter

if _core is not None:

    class Waiter(_core.Waiter):  # type: ignore[no-redef]
        """One parked green thread, resumed at most once (the compiled core's; see the module
        docstring)."""

        __slots__ = ()

        _wait_referenced = PureWaiter._wait_referenced
        _leave_queue = PureWaiter._leave_queue
        _block = PureWaiter._block
        _schedule = PureWaiter._schedule
        _resume = PureWaiter._resume
        _expire = PureWaiter._expire
        _wait_timed = _wait_timed

    _core.configure(_hub_state, _no_hub, BlockingInHubError, _real_count)  # type: ignore[has-type]
