"""Tools for testing green programs: a virtual clock and a leak report (used by the pytest plugin).

The virtual clock
-----------------
A hub reads the time of its timers from `Hub.clock`. `VirtualClock` is such a clock whose time
moves only when told to: by hand (`advance`), or -- with ``autojump`` -- by itself whenever every
green thread waits and nothing else is happening: the clock then jumps straight to the next
timer. A test of a 30 s timeout, or of a retry loop that backs off for minutes, takes
milliseconds, and runs the same way every time.

It works at the one place where the hub would sleep. `VirtualClock.install` wraps the hub's
backend: when the hub asks the backend to poll for up to ``t`` seconds (``t`` in virtual time:
the distance to the next timer), the wrapper polls the real backend for at most the autojump
threshold in *real* time -- zero by default -- and, if no I/O arrived, moves the clock forward
by ``t``. I/O that really arrives (a loopback socket, a pipe from a subprocess) still wakes its
green thread at once, and the hub itself is untouched apart from reading its clock through an
attribute.

While another OS thread holds a reference on the hub (a `green.tpool` job runs, for instance)
the wrapper waits for real, up to ``t``, because the answer may arrive at any moment; the clock
jumps only if it did not. A clock that never jumps (``autojump=False``) turns a wait for a timer
that nobody will ever advance into `LoopExit` instead of a hang.
"""

from __future__ import annotations

import gc
import sys
import traceback
from types import FrameType
from typing import Any

from greenlet import greenlet

from green._stdlib import original
from green.hubs.hub import Backend, Hub, LoopExit

__all__ = ["VirtualClock", "find_leaks", "green_threads_of", "snapshot"]

_real_monotonic = original("time").monotonic


class VirtualClock:
    """A clock for a hub whose time moves only by `advance` or, with `autojump`, by itself.

    ``autojump=True`` jumps to the next timer as soon as every green thread waits and no I/O is
    ready; a number is a threshold in real seconds to wait for I/O before jumping (for tests
    whose other side is a subprocess or an OS thread). `start` is the initial reading (default:
    the real ``time.monotonic()`` now, so virtual and real readings look alike).
    """

    def __init__(self, autojump: bool | float = False, start: float | None = None) -> None:
        self._now = _real_monotonic() if start is None else float(start)
        self.autojump = autojump
        self.jumps = 0

    @property
    def autojump(self) -> float | None:
        """Real seconds to wait for I/O before jumping, or None (the clock never jumps)."""
        return self._threshold

    @autojump.setter
    def autojump(self, value: bool | float | None) -> None:
        if value is None or value is False:
            self._threshold: float | None = None
        elif value is True:
            self._threshold = 0.0
        else:
            if value < 0:
                raise ValueError("the autojump threshold cannot be negative")
            self._threshold = float(value)

    def __call__(self) -> float:
        return self._now

    def __repr__(self) -> str:
        return f"<VirtualClock {self._now:.6f} autojump={self._threshold}>"

    def advance(self, seconds: float) -> None:
        """Move the clock forward. Timers now due run at the hub's next turn (``green.sleep(0)``
        lets them). Raises ValueError for a negative duration: the clock never goes back."""
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        self._now += seconds

    def install(self, hub: Hub) -> None:
        """Make `hub` keep its timers on this clock. Raises RuntimeError if timers are pending
        (their deadlines are readings of the old clock)."""
        if hub.pending_timers():
            raise RuntimeError(f"cannot change the clock of {hub!r}: it has pending timers")
        if isinstance(hub.backend, _VirtualTimeBackend):
            hub.backend = hub.backend.real
        hub.clock = self
        hub.backend = _VirtualTimeBackend(hub.backend, self, hub)


class _VirtualTimeBackend:
    """The hub's backend, polled for real time only as long as the virtual clock allows."""

    def __init__(self, real: Backend, clock: VirtualClock, hub: Hub) -> None:
        self.real = real
        self.name = real.name
        self.clock = clock
        self.hub = hub
        self.register = real.register
        self.modify = real.modify
        self.unregister = real.unregister
        self.close = real.close

    def fresh(self) -> _VirtualTimeBackend:
        return _VirtualTimeBackend(self.real.fresh(), self.clock, self.hub)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        if timeout is None or timeout <= 0.0:
            return self.real.poll(timeout)
        # Every green thread waits; the next timer is `timeout` virtual seconds away.
        clock, hub = self.clock, self.hub
        threshold = clock.autojump
        if threshold is None:
            if hub.idle_forever():
                raise LoopExit(
                    "every green thread waits for a timer on a virtual clock that only moves "
                    "when advanced by hand (clock.advance), and nothing else can happen"
                )
            return self.real.poll(None)
        if hub.references > 0:
            threshold = max(threshold, timeout)
        events = self.real.poll(threshold)
        if not events:
            clock._now += timeout
            clock.jumps += 1
        return events


# -- leaks ------------------------------------------------------------------------------------


def green_threads_of(hub: Hub) -> list[greenlet]:
    """Live greenlets that run on `hub` (their parent is the hub), found through the garbage
    collector (a greenlet refers to its parent); for leak reports, not for a hot path."""
    found = []
    for thing in gc.get_referrers(hub):
        if isinstance(thing, greenlet) and thing is not hub:
            try:
                if thing.parent is hub and not thing.dead:
                    found.append(thing)
            except (ValueError, AttributeError):  # a greenlet of another OS thread
                continue
    return found


def _describe_thread(thread: greenlet) -> str:
    name = getattr(thread, "name", None)
    title = f"green thread {name!r}: {thread!r}" if name else f"greenlet {thread!r}"
    frame = thread.gr_frame
    if frame is None:
        return f"{title} (not started)"
    stack = "".join(traceback.format_stack(frame)).rstrip()
    return f"{title}\n{stack}"


def _tpool_jobs_of(hub: Hub) -> list[str]:
    """Stacks of tpool worker threads busy with a job for `hub`."""
    tpool = sys.modules.get("green.tpool")
    if tpool is None:
        return []
    serve = tpool._Pool._serve.__code__
    jobs = []
    for ident, frame in sys._current_frames().items():
        work: FrameType | None = frame
        while work is not None and work.f_code is not serve:
            work = work.f_back
        if work is None or work.f_locals.get("hub") is not hub:
            continue
        function = work.f_locals.get("function")
        stack = "".join(traceback.format_stack(frame)).rstrip()
        name = f"green.tpool worker {ident}"
        jobs.append(f"tpool job {getattr(function, '__qualname__', function)!r} in {name}\n{stack}")
    return jobs


def _owner(timer: Any) -> Any:
    """The green thread a timer will resume, if it can be told (sleep, Waiter, Timeout, I/O)."""
    callback = timer.callback
    for candidate in (getattr(callback, "__self__", None), *timer.args):
        if isinstance(candidate, greenlet):
            return candidate
        waiting = getattr(candidate, "greenlet", None)
        if isinstance(waiting, greenlet):
            return waiting
    return None


def find_leaks(
    hub: Hub, before: dict[str, dict[int, Any]] | None = None, fds: bool = True
) -> dict[str, list[str]]:
    """What `hub` still holds, with names and stacks: ``{"threads": [...], "timers": [...],
    "fds": [...], "tpool": [...]}`` (empty lists when clean).

    With `before`, a `snapshot` taken earlier, the green threads it lists and the timers that
    would resume them are not reported. ``fds=False`` leaves registered fds out (who owns an fd
    registration cannot be told, so they are only checked when everything should be closed).
    """
    old_threads = before["threads"] if before else {}
    old_timers = before["timers"] if before else {}
    threads = [_describe_thread(thread) for thread in green_threads_of(hub) if id(thread) not in old_threads]
    timers = []
    for timer in hub.pending_timers():
        if id(timer) in old_timers or id(_owner(timer)) in old_threads:
            continue
        timers.append(repr(timer))
    registered = []
    for fd in hub.fds() if fds else ():
        waiting = [
            f"{direction} by {thread!r}" for waited, direction, thread in hub.waiters() if waited == fd
        ]
        registered.append(
            f"fd {fd} registered" + (f", waited on for {', '.join(waiting)}" if waiting else "")
        )
    tpool = _tpool_jobs_of(hub)
    if hub.references > 0 and not tpool:
        tpool = [f"{hub.references} promise(s) of a call back from another OS thread (hub references)"]
    return {"threads": threads, "timers": timers, "fds": registered, "tpool": tpool}


def snapshot(hub: Hub) -> dict[str, dict[int, Any]]:
    """What `hub` holds now, for ``find_leaks(hub, before=...)`` (keeps the objects alive, so
    their ids stay theirs)."""
    return {
        "threads": {id(thread): thread for thread in green_threads_of(hub)},
        "timers": {id(timer): timer for timer in hub.pending_timers()},
    }
