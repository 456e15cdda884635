"""The hub: the one loop per OS thread that resumes parked green threads.

Why it looks like this
----------------------
A green thread runs until it would block. Then it parks: it records *what* would wake it (an fd
becoming readable or writable, a timer, an entry on the ready queue) and switches to the hub, a
greenlet that owns all of those records. The hub decides the order of every wake-up -- I/O
readiness, an expired timer, a callback from `call_soon` or from another OS thread -- in `Hub.run`,
so the order in which things happen can always be explained by reading one function and one
helper: `Hub.park`, through which every green thread parks. When the entry the loop would run
next only resumes a started green thread, the parking thread switches to it itself: the same
entry in the same order, one greenlet switch instead of two. `park`'s docstring gives the budget
(the current turn's entries, plus at most _DIRECT_WAKEUPS hand-offs queued during it, so I/O is
still polled while two green threads hand work back and forth).

One loop iteration:

1. run the callbacks that were on the ready queue when the iteration began (callbacks they add
   wait for the next iteration, so a green thread calling ``sleep(0)`` in a loop cannot starve I/O;
   only up to _DIRECT_WAKEUPS hand-offs with a value, taken by parking green threads, run early);
2. ask the backend for I/O readiness, sleeping at most until the earliest timer (not at all if
   the ready queue is not empty);
3. switch to the green thread parked on each ready (fd, direction);
4. run the expired timers.

Kernel facts and the decisions they force:

* Readiness is level-triggered in all three backends. An fd that stays registered while nobody
  waits on it would be reported again and again, so when the backend reports a direction that no
  green thread waits for, the hub narrows the fd's registration to what is waited for (one
  system call). An fd whose interest did not change is *not* touched between waits: a socket
  that waits for input, reads, answers and waits again costs no epoll_ctl at all. That is where
  a TCP server's speed comes from.
* epoll forgets an fd when it is closed, and the fd number is then reused. A green object that
  closes an fd must call `notify_closing(fd)` first: the hub forgets its registration and wakes
  every green thread parked on it with ``OSError(EBADF)`` instead of leaving it hanging.
* The stale fd. epoll registers a *file description*, under the fd number it was given; closing
  that number removes the registration only when no other fd (a ``dup``, a forked child's copy)
  keeps the description open. An fd closed without `notify_closing` while a duplicate lives on
  therefore leaves a registration that no epoll_ctl can remove any more (the number is closed,
  or names another file), and level-triggered readiness of the surviving description is
  reported under that number at every poll: the hub would spin at full CPU. The hub notices it
  -- an event for an fd it has no registration for, whose unregistering fails, in two
  consecutive polls; or an event for an fd it has unregistered -- and then rebuilds the backend
  from its own records (a new epoll, every known registration made again), reporting it once
  per hub on stderr. The cure for the program is still to call `notify_closing` (green's
  sockets and `os.close` do) before closing an fd green code may have waited on.
* A parked green thread may be resumed by exactly one wake-up source. Sources that switch to it
  directly from the loop (readiness, timers, `Timeout`, kill) clear their own record first, and
  the parked code removes every other record it left (in ``finally``) as soon as it runs again.
  The one queued source, ``sleep(0)``, removes its queue entry if the thread is resumed by an
  exception instead. Wake-ups of I/O waits may still be spurious; callers retry the real call.
* When nothing can ever happen again -- no ready callbacks, no timers, no green thread waiting
  on an fd, no other OS thread promising to call back -- the hub raises `LoopExit` in the main
  green thread instead of sleeping forever: a deadlock is reported, not hung.
* Timers read `Hub.clock` (``time.monotonic`` unless replaced, e.g. by the virtual clock of
  ``green.testing``); the ready-queue slices above always measure real time.
* ``KeyboardInterrupt`` and ``SystemExit`` that surface in the hub (a signal arriving while the
  hub sleeps in ``poll``) are re-raised in the main green thread, never swallowed.
"""

from __future__ import annotations

import collections
import errno
import heapq
import itertools
import os
import sys
import traceback
import weakref
from time import monotonic
from typing import Any, Callable, Protocol

from greenlet import GreenletExit, getcurrent, greenlet

from green._compiled import core as _core
from green._greenlets import root_of
from green._stdlib import original

READ = 1
WRITE = 2

# Compact the timer heap when this many cancelled timers sit in it and they are at least
# half of it: cancelling stays O(1) and a million cancelled timeouts leave memory flat.
_COMPACT_MINIMUM = 1024

# The ready queue is run for at most this long before timers and I/O get a turn (checked every
# _SLICE_CHECK callbacks, so short batches never read the clock).
_BATCH_SECONDS = 0.005
_SLICE_CHECK = 64

# Wake-ups queued during a loop turn that parking green threads may run directly in that turn
# (see `Hub.park`): the hub polls for I/O at least this often during a hand-off chain.
_DIRECT_WAKEUPS = 64


class Backend(Protocol):
    """What a backend provides: fds and masks only (READ, WRITE)."""

    name: str

    def register(self, fd: int, mask: int) -> None: ...
    def modify(self, fd: int, mask: int) -> None: ...
    def unregister(self, fd: int) -> None: ...
    def poll(self, timeout: float | None) -> list[tuple[int, int]]: ...
    def close(self) -> None: ...
    def fresh(self) -> Backend: ...


class LoopExit(RuntimeError):
    """Raised in the main green thread when it waits for something that can never happen."""


class BlockingInHubError(RuntimeError):
    """A blocking green call was made from inside the hub (a timer or callback)."""


class _TimedOut:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<timed out>"


TIMED_OUT: Any = _TimedOut()


class Timer:
    """A callback the hub runs once, `seconds` after `call_later`; `cancel()` prevents it."""

    __slots__ = ("when", "callback", "args", "hub")

    def __init__(self, hub: Hub, when: float, callback: Callable[..., Any], args: tuple) -> None:
        self.hub = hub
        self.when = when
        self.callback: Callable[..., Any] | None = callback
        self.args = args

    @property
    def pending(self) -> bool:
        """True until the timer has fired or been cancelled."""
        return self.callback is not None

    def cancel(self) -> None:
        """Prevent the callback from running; harmless if it already ran or was cancelled."""
        if self.callback is not None:
            self.callback = None
            self.args = ()
            self.hub._timer_cancelled()

    def __repr__(self) -> str:
        state = "pending" if self.callback is not None else "done"
        return f"<Timer at {self.when:.6f} {state} {self.callback!r}>"


class Handle:
    """A callback queued by `call_soon`; `cancel()` before it runs prevents it."""

    __slots__ = ("callback", "args", "_cancelled")

    def __init__(self, callback: Callable[..., Any], args: tuple) -> None:
        self.callback: Callable[..., Any] | None = callback
        self.args = args
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True
        self.callback = None
        self.args = ()

    @property
    def cancelled(self) -> bool:
        """True once `cancel()` was called (a callback that ran is not cancelled)."""
        return self._cancelled

    def _run(self) -> None:
        # The callback stays named after it ran: a report of its failure shows this Handle.
        callback, args = self.callback, self.args
        if callback is not None:
            self.args = ()
            callback(*args)

    def __repr__(self) -> str:
        return f"<Handle {'cancelled' if self._cancelled else repr(self.callback)}>"


class _FdState:
    """Who waits on one fd, and what the backend has registered for it."""

    __slots__ = ("reader", "writer", "registered")

    def __init__(self) -> None:
        # The parked green threads (greenlets), or None.
        self.reader: Any = None
        self.writer: Any = None
        self.registered = 0


_switch_into = greenlet.switch
_throw_into = greenlet.throw


class _Turn:
    """The loop turn under way, shared by `Hub.run` and `Hub.park` (slots: the hub's own
    attributes live in a greenlet's instance dict, and every lookup there is a dict probe)."""

    __slots__ = ("batch", "slice_end", "direct")

    def __init__(self) -> None:
        # Entries at the front of the ready queue that belong to this turn, when its time slice
        # ends (0.0: not sliced), and the early hand-offs parking green threads may still take.
        self.batch = 0
        self.slice_end = 0.0
        self.direct = _DIRECT_WAKEUPS


def _default_exception_handler(where: str, exc_info: tuple) -> None:
    sys.stderr.write(f"green: unhandled exception in {where}\n")
    traceback.print_exception(*exc_info)
    sys.stderr.flush()


class _ParkSlot(greenlet):
    # The hub's `park` in a slot: every wait reads it, and the compiled core reads it at the
    # slot's offset. Everything else a hub keeps lives in the instance dict greenlets have.
    __slots__ = ("park",)


class Hub(_ParkSlot):
    """The event loop of one OS thread. Get it with `green.hubs.get_hub()`."""

    # Applied to every hub: route reports of exceptions nobody else will see (a failing timer
    # callback, a green thread nobody waits for). Called as handler(where, exc_info).
    exception_handler: Callable[[str, tuple], None] = staticmethod(_default_exception_handler)

    def __init__(self, backend: Backend) -> None:
        super().__init__(parent=root_of())
        self.backend = backend
        self._ready: collections.deque[tuple[Callable[..., Any], tuple]] = collections.deque()
        # The ready queue's own append and appendleft (see "the door" below): bound once, so
        # scheduling costs what appending to the deque costs.
        self.schedule: Callable[[tuple[Callable[..., Any], tuple]], None] = self._ready.append
        self.schedule_first: Callable[[tuple[Callable[..., Any], tuple]], None] = self._ready.appendleft
        self._turn = _Turn() if _core is None else _core.Turn(_DIRECT_WAKEUPS)
        self._timers: list[tuple[float, int, Timer]] = []
        self._timer_sequence = itertools.count()
        self._cancelled_timers = 0
        self._fds: dict[int, _FdState] = {}
        self.park: Callable[[], Any] = self._make_park()
        self._references = 0
        self._wakeup_pending = False
        self._wakeup_read, self._wakeup_write = os.pipe()
        os.set_blocking(self._wakeup_read, False)
        os.set_blocking(self._wakeup_write, False)
        backend.register(self._wakeup_read, READ)
        self.closed = False
        # Stray fds (reported by the backend, not removable from it): fd -> loop turn when seen.
        self._strays: dict[int, int] = {}
        self._rebuilt = False
        # The clock of timers and `call_later`: seconds, only ever increasing. Replaceable (before
        # any timer is pending) by a virtual clock for tests; see green.testing.
        self.clock: Callable[[], float] = monotonic
        # Loop turns; the blocking detector (green.debug) samples it from another OS thread.
        self.iterations = 0
        _register_hub(self)

    # -- the waist ----------------------------------------------------------------------------

    def wait_readable(self, fd: int, timeout: float | None = None) -> bool:
        """Park the calling green thread until `fd` may be readable.

        Returns True on readiness (possibly spurious: retry the real call) and False when
        `timeout` seconds passed first. Raises OSError(EBADF) if the fd is closed through
        `notify_closing` meanwhile, RuntimeError if another green thread already waits to read it,
        BlockingInHubError if called from the hub.
        """
        current = getcurrent()
        if current is self:
            raise BlockingInHubError("cannot wait for I/O inside the hub (a timer or callback)")
        state = self._fds.get(fd)
        if state is None:
            state = self._fds[fd] = _FdState()
        elif state.reader is not None:
            raise RuntimeError(
                f"fd {fd} is already waited on for reading by {state.reader!r}; "
                f"{current!r} cannot wait to read it at the same time"
            )
        state.reader = current
        if not state.registered & READ:
            try:
                self._register(fd, state, state.registered | READ)
            except BaseException:
                # The backend refused the fd (EPERM for a regular file in epoll, EBADF): forget
                # this wait, or the fd would look waited on forever.
                state.reader = None
                if not state.registered and state.writer is None:
                    self._fds.pop(fd, None)
                raise
        if timeout is None:
            try:
                self.park()
            finally:
                if state.reader is current:
                    state.reader = None
            return True
        timer = self.call_later(timeout, self._expire_reader, state, current)
        try:
            result = self.park()
        finally:
            if state.reader is current:
                state.reader = None
            timer.cancel()
        return result is not TIMED_OUT

    def wait_writable(self, fd: int, timeout: float | None = None) -> bool:
        """Park the calling green thread until `fd` may be writable; see `wait_readable`."""
        # A mirror of wait_readable rather than a shared helper: one Python call less on every
        # I/O wait.
        current = getcurrent()
        if current is self:
            raise BlockingInHubError("cannot wait for I/O inside the hub (a timer or callback)")
        state = self._fds.get(fd)
        if state is None:
            state = self._fds[fd] = _FdState()
        elif state.writer is not None:
            raise RuntimeError(
                f"fd {fd} is already waited on for writing by {state.writer!r}; "
                f"{current!r} cannot wait to write it at the same time"
            )
        state.writer = current
        if not state.registered & WRITE:
            try:
                self._register(fd, state, state.registered | WRITE)
            except BaseException:
                # The backend refused the fd (EPERM for a regular file in epoll, EBADF): forget
                # this wait, or the fd would look waited on forever.
                state.writer = None
                if not state.registered and state.reader is None:
                    self._fds.pop(fd, None)
                raise
        if timeout is None:
            try:
                self.park()
            finally:
                if state.writer is current:
                    state.writer = None
            return True
        timer = self.call_later(timeout, self._expire_writer, state, current)
        try:
            result = self.park()
        finally:
            if state.writer is current:
                state.writer = None
            timer.cancel()
        return result is not TIMED_OUT

    def _forget_fd(self, fd: int) -> None:
        state = self._fds.pop(fd, None)
        if state is None:
            return
        if state.registered:
            try:
                self.backend.unregister(fd)
            except (OSError, ValueError, KeyError):
                pass
        for waiter in (state.reader, state.writer):
            if waiter is not None:
                error = OSError(errno.EBADF, "file descriptor was closed while waiting", fd)
                self._ready.append((self._throw_closed, (state, waiter, error)))

    def notify_closing(self, fd: int) -> None:
        """Forget `fd` before it is closed; its waiters wake with OSError(EBADF).

        Call this before closing (or handing away) an fd that green code may have waited on.
        Green threads of other OS threads waiting on `fd` are woken too (through their hubs).
        """
        self._forget_fd(fd)
        if len(_all_hubs) > 1:
            notify_closing_elsewhere(fd, self)

    def _forget_fd_record(self, fd: int, state: _FdState) -> None:
        # Another OS thread closed `fd` (see notify_closing_elsewhere at the end of this module).
        if self._fds.get(fd) is state:
            self._forget_fd(fd)

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> Handle:
        """Run `callback(*args)` in the hub at its next turn; returns a cancellable Handle."""
        handle = Handle(callback, args)
        self._ready.append((handle._run, ()))
        return handle

    def call_later(self, seconds: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Run `callback(*args)` in the hub after `seconds`; returns a Timer with `cancel()`."""
        when = self.clock() + seconds
        timer = Timer(self, when, callback, args)
        heapq.heappush(self._timers, (when, next(self._timer_sequence), timer))
        return timer

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any) -> None:
        """Like `call_soon`, callable from any OS thread; wakes the hub if it sleeps in poll."""
        self._ready.append((callback, args))
        if not self._wakeup_pending:
            self._wakeup_pending = True
            try:
                os.write(self._wakeup_write, b"\0")
            except (BlockingIOError, OSError):
                pass

    # -- the door for green's own modules ---------------------------------------------------
    #
    # Beyond the waist above, these are all that other green modules (and green's test tools)
    # use of a hub; nothing outside green/hubs/ touches a name of the hub that starts with an
    # underscore (tests/test_hub_door.py checks). Two more are attributes set in __init__:
    #
    #   schedule((callback, args))        run callback(*args) at the hub's next turn, in order,
    #                                     with no Handle (resuming a green thread); hub's own
    #                                     OS thread only -- from another one, call_soon_threadsafe
    #   schedule_first((callback, args))  the same, ahead of everything already queued (an
    #                                     exception a signal raises in the main green thread)

    def unschedule(self, entry: tuple[Callable[..., Any], tuple]) -> None:
        """Remove an entry given to `schedule` that has not run yet (harmless if it has)."""
        ready = self._ready
        try:
            index = ready.index(entry)
        except ValueError:
            return
        del ready[index]
        turn = self._turn
        if index < turn.batch:
            turn.batch -= 1  # it belonged to the turn under way

    def _make_park(self) -> Callable[[], Any]:
        # `park` is a closure over the hub's ready queue, turn and timers: the fast path of every
        # wait reads no attribute of the hub (each would be a probe of the greenlet's instance
        # dict). `hub.park()` is the call. The compiled core's Park (green/_core.c) makes the
        # same decisions in C on the same objects.
        if _core is not None:
            return _core.Park(self, self._ready, self._turn, self._timers, self._fds, monotonic)  # type: ignore[no-any-return]
        hub = self
        ready = self._ready
        turn = self._turn
        timers = self._timers
        fds = self._fds

        def park() -> Any:
            """Leave the calling green thread, which something already scheduled to resume (or will);
            returns the value it is resumed with, or raises what is thrown into it.

            The fast path of every wait. A parking green thread may run the hub's next ready entry
            itself when that entry only resumes a started green thread (``(greenlet.switch,
            (thread, ...))`` or ``(greenlet.throw, (thread, exception))``, the entries `Waiter` and
            ``sleep(0)`` queue): it switches straight to that thread, one switch instead
            of two (into the hub, out of it), and the entries still run in queue order. It may do so

            * for the entries of the loop turn under way (those queued before the turn began), within
              the turn's time slice;
            * for at most _DIRECT_WAKEUPS wake-ups *with a value* queued during the turn (a `Waiter`
              woken, ``(thread, value)``), while no timer is due: a hand-off between two green
              threads then runs without the hub, yet the hub still polls for I/O at least every
              _DIRECT_WAKEUPS hand-offs, and a due timer (an expired `Timeout`) still comes first.
              ``sleep(0)``'s entry carries no value and so always waits for the next turn, which
              keeps its promise that the hub polls before the caller continues.

            A ``sleep(0)`` with nothing else to do (no other entry, no fd, no timer due) returns at
            once: the hub's turn would only switch back. Anything else (a callback, a green thread
            not started yet, the end of the budget) switches to the hub.
            """
            if ready:
                callback, args = ready[0]
                # Only into a started green thread: one started here would run on top of this
                # green thread's Python recursion depth (greenlet carries it over), and a chain
                # of such starts would overflow it. New green threads start from the hub.
                if (callback is _switch_into or callback is _throw_into) and args[0]:
                    batch = turn.batch
                    if batch:
                        if batch & 63 or not turn.slice_end or monotonic() <= turn.slice_end:
                            turn.batch = batch - 1
                            ready.popleft()
                            return callback(*args)
                    elif turn.direct and len(args) == 2:
                        # ... unless a timer is due: it fell due before this hand-off was queued,
                        # and the hub runs this turn's timers before the next turn's entries.
                        if not timers or timers[0][0] > hub.clock():
                            turn.direct -= 1
                            ready.popleft()
                            return callback(*args)
                    elif (
                        len(ready) == 1
                        and not fds
                        and args[0] is getcurrent()
                        and (not timers or timers[0][0] > hub.clock())
                    ):
                        # `sleep(0)` with nothing else to do: no other entry, no fd to poll, no
                        # timer due. The hub's turn would only switch back here; count the turn
                        # (the blocking detector watches `iterations`) and carry on.
                        ready.popleft()
                        hub.iterations += 1
                        return None
            return _switch_into(hub)

        return park

    @property
    def wakeup_fd(self) -> int:
        """The write end of the hub's wake-up pipe: a byte written there makes a sleeping poll
        return (for ``signal.set_wakeup_fd``)."""
        return self._wakeup_write

    @property
    def references(self) -> int:
        """How many promises of a call back from outside the hub are held (`add_reference`)."""
        return self._references

    def fds(self) -> list[int]:
        """The fds the hub has a record of (registered with the backend or waited on)."""
        return list(self._fds)

    def has_work(self) -> bool:
        """Whether a green thread or callback waits for the hub: something queued, a pending
        timer, or a green thread parked on an fd (an fd left registered with nobody waiting on it,
        such as a pooled connection's socket, is not work). Safe to call from another OS thread
        (the blocking detector does)."""
        if self._ready or len(self._timers) > self._cancelled_timers:
            return True
        # list(): one step under the GIL, so the hub's thread cannot resize the dict under us.
        return any(state.reader is not None or state.writer is not None for state in list(self._fds.values()))

    def idle_forever(self) -> bool:
        """True when no green thread waits on an fd and no reference is held: without ready
        callbacks or timers, nothing could ever happen again."""
        if self._references > 0:
            return False
        for state in self._fds.values():
            if state.reader is not None or state.writer is not None:
                return False
        return True

    def report_exception(self, where: str, exc_info: tuple | None = None) -> None:
        """Pass the exception being handled (or `exc_info`) to `exception_handler`, saying
        `where` it arose."""
        try:
            type(self).exception_handler(where, exc_info or sys.exc_info())
        except Exception:
            traceback.print_exc()

    def reset(self) -> None:
        """Forget everything pending: cancel the timers, forget every fd without waking its
        waiters, empty the ready queue. For test tools that start the next test from an empty
        hub after killing what the last one left."""
        for timer in self.pending_timers():
            timer.cancel()
        for fd in list(self._fds):
            self.notify_closing(fd)
        self._ready.clear()
        self._turn.batch = 0

    def drop_green_threads(self, references: int) -> list[object]:
        """In a forked child that keeps only the calling green thread: forget every ready
        callback, timer and fd waiter, and set the reference count to `references`.

        Returns what was dropped: the caller keeps it referenced, so the garbage collector never
        resumes those green threads (their cleanup must not run in the child)."""
        dropped: list[object] = [list(self._ready), list(self._timers)]
        self._ready.clear()
        self._turn.batch = 0
        self._timers.clear()
        self._cancelled_timers = 0
        self._references = references
        for state in self._fds.values():
            dropped.append((state.reader, state.writer))
            state.reader = state.writer = None
        return dropped

    def wake_from_signal(self) -> None:
        """Make a sleeping poll return; safe to call from a signal handler."""
        try:
            os.write(self._wakeup_write, b"\0")
        except OSError:
            pass

    def add_reference(self) -> None:
        """Promise that something outside the hub (another OS thread, a signal) will call back.

        While references are held, an idle hub sleeps instead of raising `LoopExit`.
        """
        self._references += 1

    def remove_reference(self) -> None:
        self._references -= 1

    def switch(self, *args: Any, **kwargs: Any) -> Any:
        """Park the calling green thread; it runs again when something schedules it."""
        if getcurrent() is self:
            raise BlockingInHubError("the hub cannot switch to itself (blocking call in the hub)")
        return _switch_into(self, *args, **kwargs)

    # -- introspection ------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Numbers of registered fds, pending timers and ready callbacks (the hub's load)."""
        return {
            "fds": len(self._fds),
            "waiters": sum(
                (state.reader is not None) + (state.writer is not None) for state in self._fds.values()
            ),
            "timers": len(self._timers) - self._cancelled_timers,
            "ready": len(self._ready),
        }

    def waiters(self) -> list[tuple[int, str, greenlet]]:
        """(fd, "read" or "write", green thread) for every green thread parked on an fd."""
        found = []
        for fd, state in self._fds.items():
            if state.reader is not None:
                found.append((fd, "read", state.reader))
            if state.writer is not None:
                found.append((fd, "write", state.writer))
        return found

    def pending_timers(self) -> list[Timer]:
        """Timers not yet fired or cancelled, earliest first."""
        return [timer for _, _, timer in sorted(self._timers) if timer.callback is not None]

    def timer_heap(self) -> tuple[int, int]:
        """(entries in the timer heap, of which cancelled): cancelled timers stay in the heap
        until they reach its top or the heap is compacted."""
        return len(self._timers), self._cancelled_timers

    def registrations(self) -> list[tuple[int, int, greenlet | None, greenlet | None]]:
        """(fd, mask registered with the backend, reader, writer) for every fd, by fd."""
        return [(fd, state.registered, state.reader, state.writer) for fd, state in sorted(self._fds.items())]

    def __repr__(self) -> str:
        return f"<Hub {self.backend.name} {self.counts()}>"

    # -- internals ----------------------------------------------------------------------------

    def _register(self, fd: int, state: _FdState, mask: int) -> None:
        backend = self.backend
        if state.registered:
            try:
                backend.modify(fd, mask)
            except FileNotFoundError:
                backend.register(fd, mask)
        else:
            try:
                backend.register(fd, mask)
            except FileExistsError:
                backend.modify(fd, mask)
        state.registered = mask

    def _narrow(self, fd: int, state: _FdState) -> None:
        """Register for exactly the directions somebody waits on (after an unwanted event)."""
        mask = (READ if state.reader is not None else 0) | (WRITE if state.writer is not None else 0)
        if mask == state.registered:
            if not mask:
                # Reported although unregistered: the registration outlived its fd.
                self._rebuild_backend(fd)
            return
        if mask:
            self._register(fd, state, mask)
        else:
            state.registered = 0
            try:
                self.backend.unregister(fd)
            except (OSError, ValueError, KeyError):
                pass

    def _drop_stray(self, fd: int) -> None:
        """The backend reported `fd`, which the hub has no record of: unregister it. If that
        fails in two consecutive loop turns, the registration outlived its fd: rebuild."""
        try:
            self.backend.unregister(fd)
            return
        except (OSError, ValueError, KeyError):
            pass
        # A failure once is normal: the fd may have been unregistered earlier in this batch of
        # events (a woken green thread closed it).
        strays = self._strays
        if strays.get(fd) == self.iterations - 1:
            self._rebuild_backend(fd)
            return
        if len(strays) > 64:
            strays.clear()
        strays[fd] = self.iterations

    def _rebuild_backend(self, fd: int) -> None:
        """Replace the backend by a fresh one holding the hub's own registrations (see "the
        stale fd" in the module docstring); `fd` is the one found stale."""
        if not self._rebuilt:
            self._rebuilt = True
            sys.stderr.write(
                f"green: fd {fd} was closed without notify_closing while a duplicate keeps its file "
                f"open; its {self.backend.name} registration could not be removed, so the hub "
                "rebuilt its backend\n"
            )
        self._strays.clear()
        old = self.backend
        try:
            old.close()
        except OSError:
            pass
        self.backend = backend = old.fresh()  # after close: a wrapper may return itself
        backend.register(self._wakeup_read, READ)
        for number, state in list(self._fds.items()):
            if state.reader is None and state.writer is None and (number == fd or not state.registered):
                del self._fds[number]
                continue
            mask = state.registered
            if not mask:
                continue
            try:
                backend.register(number, mask)
            except OSError:
                # Closed behind the hub's back: wake its waiters with EBADF, as notify_closing.
                state.registered = 0
                self._forget_fd(number)

    def _expire_reader(self, state: _FdState, waiter: greenlet) -> None:
        if state.reader is waiter:
            state.reader = None
            waiter.switch(TIMED_OUT)

    def _expire_writer(self, state: _FdState, waiter: greenlet) -> None:
        if state.writer is waiter:
            state.writer = None
            waiter.switch(TIMED_OUT)

    def _throw_closed(self, state: _FdState, waiter: greenlet, error: OSError) -> None:
        # The waiter may have been resumed (timed out, killed) since the fd was closed.
        if state.reader is waiter:
            state.reader = None
        elif state.writer is waiter:
            state.writer = None
        else:
            return
        waiter.throw(error)

    def _timer_cancelled(self) -> None:
        self._cancelled_timers += 1
        timers = self._timers
        if self._cancelled_timers > _COMPACT_MINIMUM and self._cancelled_timers * 2 > len(timers):
            timers[:] = [entry for entry in timers if entry[2].callback is not None]
            heapq.heapify(timers)
            self._cancelled_timers = 0

    def _drain_wakeup(self) -> None:
        # Empty the pipe first, clear the flag second. The other order loses wake-ups: a thread
        # could see the cleared flag, write its byte and set the flag, the read here would then
        # swallow that byte, and the flag would stay set with an empty pipe, so no later
        # call_soon_threadsafe would ever write again while the hub sleeps in poll.
        # One read is enough: `call_soon_threadsafe` writes one byte per clearing of the flag
        # (signals may add a few); whatever a flood leaves keeps the pipe readable, and the next
        # turn reads it. A second read would only fail with EAGAIN, a system call and an
        # exception on every cross-thread wake-up (a tpool round trip).
        try:
            os.read(self._wakeup_read, 4096)
        except BlockingIOError:
            pass
        self._wakeup_pending = False

    def _raise_in_main(self, error: BaseException) -> None:
        main = self.parent
        if main is None or main.dead:
            raise error
        main.throw(error)

    def run(self) -> None:  # type: ignore[override]
        if _core is not None:
            # The same loop in C (green/_core.c's run_hub), step for step; it returns only by
            # raising, as this one does.
            _core.run_hub(
                self,
                self._ready,
                self._turn,
                self._timers,
                self._fds,
                monotonic,
                heapq.heappop,
                _SLICE_CHECK,
                _BATCH_SECONDS,
                _DIRECT_WAKEUPS,
            )
            return
        ready = self._ready
        popleft = ready.popleft
        timers = self._timers
        fds = self._fds
        heappop = heapq.heappop
        turn = self._turn
        io_event = self._io_event
        while True:
            self.iterations += 1
            # The turn runs the entries queued before it began (`turn.batch` of them; green threads
            # that park take some of them themselves, see `park`). A long batch (say 100,000
            # freshly spawned green threads) is cut into slices of at most _BATCH_SECONDS so that
            # expired timers and I/O are served in between; the rest stays at the front of the
            # queue, in order.
            turn.batch = count = len(ready)
            turn.direct = _DIRECT_WAKEUPS
            sliced = count > _SLICE_CHECK
            turn.slice_end = slice_end = monotonic() + _BATCH_SECONDS if sliced else 0.0
            while turn.batch:
                count = turn.batch = turn.batch - 1
                callback, args = popleft()
                try:
                    callback(*args)
                except BaseException as error:
                    self._callback_failed("callback", callback, error)
                if sliced and not count % _SLICE_CHECK and monotonic() > slice_end:
                    break
            turn.batch = 0
            # The last callback and its arguments (a woken Waiter holding a result, an exception
            # and its traceback's frames) must not live on in this frame until the next turn.
            callback = args = None  # type: ignore[assignment]

            while timers and timers[0][2].callback is None:
                heappop(timers)
                self._cancelled_timers -= 1
            if ready:
                if not fds:
                    # Only callbacks to run: no fd could become ready, so skip the poll system
                    # call (threadsafe callbacks land on the ready queue directly).
                    if timers and timers[0][0] <= self.clock():
                        self._run_timers()
                    continue
                timeout: float | None = 0.0
            elif timers:
                timeout = timers[0][0] - self.clock()
                if timeout < 0.0:
                    timeout = 0.0
            else:
                timeout = None
                if self.idle_forever():
                    self._idle_exit()
                    continue
            try:
                events = self.backend.poll(timeout)
            except InterruptedError:
                continue
            except BaseException as error:
                # A signal handler raised while the hub slept (KeyboardInterrupt from Ctrl-C, or
                # anything a handler raises): it belongs to the main green thread, as it would
                # without green.
                self._raise_in_main(error)
                continue

            for fd, mask in events:
                io_event(fd, mask)

            if timers and timers[0][0] <= self.clock():
                self._run_timers()

    def _callback_failed(self, kind: str, callback: Callable[..., Any], error: BaseException) -> None:
        """A callback or timer of the loop raised `error`: KeyboardInterrupt and SystemExit go to
        the main green thread, GreenletExit ends only the callback, anything else is reported."""
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            self._raise_in_main(error)
        elif not isinstance(error, GreenletExit):
            self.report_exception(f"{kind} {callback!r}", (type(error), error, error.__traceback__))

    def _idle_exit(self) -> None:
        """Nothing can ever happen again: raise LoopExit in the main green thread (whatever it
        throws back here on its way, KeyboardInterrupt or SystemExit, goes back to it)."""
        try:
            self._raise_in_main(
                LoopExit(
                    "this wait would block forever: no green thread can run, no fd "
                    "is waited on and no timer is pending"
                )
            )
        except (KeyboardInterrupt, SystemExit) as error:
            self._raise_in_main(error)

    def _io_event(self, fd: int, mask: int) -> None:
        """Wake the green threads waiting on `fd` for what the poll reported (`mask`: READ,
        WRITE); narrow the registration to what is still waited for."""
        state = self._fds.get(fd)
        if state is None:
            if fd == self._wakeup_read:
                self._drain_wakeup()
            else:
                self._drop_stray(fd)
            return
        reader = state.reader if mask & READ else None
        writer = state.writer if mask & WRITE else None
        if (mask & READ and reader is None) or (mask & WRITE and writer is None):
            self._narrow(fd, state)
        try:
            if reader is not None:
                state.reader = None
                reader.switch()
            if writer is not None and state.writer is writer:
                state.writer = None
                writer.switch()
        except BaseException as error:
            self._io_wake_failed(fd, error)

    def _io_wake_failed(self, fd: int, error: BaseException) -> None:
        """A green thread woken for `fd` raised `error` out of its switch: KeyboardInterrupt and
        SystemExit go to the main green thread, anything else is reported."""
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            self._raise_in_main(error)
        else:
            self.report_exception(f"I/O wake-up of fd {fd}", (type(error), error, error.__traceback__))

    def _run_timers(self) -> None:
        timers = self._timers
        now = self.clock()
        while timers and timers[0][0] <= now:
            timer = heapq.heappop(timers)[2]
            callback = timer.callback
            if callback is None:
                self._cancelled_timers -= 1
                continue
            timer.callback = None
            try:
                callback(*timer.args)
            except BaseException as error:
                self._callback_failed("timer", callback, error)

    # -- lifecycle ----------------------------------------------------------------------------

    def _reinit_after_fork(self, backend: Backend) -> None:
        """In a forked child: a fresh backend and wake-up pipe, the same registrations."""
        old_read, old_write = self._wakeup_read, self._wakeup_write
        self.backend = backend
        self._wakeup_read, self._wakeup_write = os.pipe()
        os.set_blocking(self._wakeup_read, False)
        os.set_blocking(self._wakeup_write, False)
        backend.register(self._wakeup_read, READ)
        self._wakeup_pending = False
        for fd in (old_read, old_write):
            try:
                os.close(fd)
            except OSError:
                pass
        for fd, state in list(self._fds.items()):
            if state.registered:
                try:
                    backend.register(fd, state.registered)
                except OSError:
                    state.registered = 0

    def finish(self) -> None:
        """End the run loop of a hub nothing will use again, then `close` it.

        For a program that makes hubs and drops them (a test runner's fresh hub per test). The
        hub must be idle: no ready callbacks, timers, waiting green threads or references. Call
        it from the hub's parent (the OS thread's main greenlet). A hub whose loop is left
        parked would, once garbage-collected, catch the GreenletExit and report `LoopExit` into
        whatever the main greenlet is doing then.
        """
        if self and not self.dead:
            # The idle loop reports LoopExit to its parent and parks in that throw; a
            # GreenletExit thrown back there is not caught by the loop, so `run` ends.
            try:
                _switch_into(self)
            except LoopExit:
                pass
            if not self.dead:
                self.throw(GreenletExit())
        self.close()

    def close(self) -> None:
        """Release the backend and wake-up pipe. The hub must be idle."""
        if self.closed:
            return
        self.closed = True
        _unregister_hub(self)
        self.backend.close()
        for fd in (self._wakeup_read, self._wakeup_write):
            try:
                os.close(fd)
            except OSError:
                pass


if _core is not None:
    # The compiled waits (green/_core.c) take a connection's steady state: no timeout, the fd
    # registered for that direction already, nobody else waiting on it. The methods above take
    # everything else.
    Hub._python_wait_readable = Hub.wait_readable  # type: ignore[attr-defined]
    Hub._python_wait_writable = Hub.wait_writable  # type: ignore[attr-defined]
    Hub.wait_readable, Hub.wait_writable = _core.methods("hub", Hub, _FdState)  # type: ignore[method-assign]


# -- across OS threads --------------------------------------------------------------------------
#
# Closing an fd in one OS thread must wake a green thread parked on it in another (a socket
# shared with a tpool worker, closed by it). Every hub is registered here; `notify_closing`
# asks each other hub that has waiters on the fd to forget it, through `call_soon_threadsafe`
# (a hub's tables belong to its own thread). The request names the fd's record, not only the
# number, so a hub that already forgot it (or reused the number) ignores a late request. With
# one hub -- the common case -- this costs one len() per close, nothing per wait.

_all_hubs: weakref.WeakValueDictionary[int, Hub] = weakref.WeakValueDictionary()
_registry_lock = original("_thread").allocate_lock()


def _register_hub(hub: Hub) -> None:
    with _registry_lock:
        _all_hubs[id(hub)] = hub


def _unregister_hub(hub: Hub) -> None:
    with _registry_lock:
        if _all_hubs.get(id(hub)) is hub:
            del _all_hubs[id(hub)]


def notify_closing_elsewhere(fd: int, here: Hub | None = None) -> None:
    """Wake green threads of other OS threads' hubs (all but `here`) waiting on `fd`, which is
    about to be closed; safe to call from any OS thread, with or without a hub."""
    with _registry_lock:
        hubs = list(_all_hubs.values())
    for hub in hubs:
        if hub is here or hub.closed:
            continue
        state = hub._fds.get(fd)
        if state is not None and (state.reader is not None or state.writer is not None):
            hub.call_soon_threadsafe(hub._forget_fd_record, fd, state)
