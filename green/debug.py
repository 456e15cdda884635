"""Operability: the blocking detector, run-time introspection and the hub exception hook.

Why it looks like this
----------------------
The one bug every green program meets sooner or later is a green thread that does not yield: a
C call that blocks, a busy loop, a module that was not patched. While it runs, the hub does not
turn, so every other connection of the process stalls at once, and nothing in the program says
why. The detector exists to name the culprit.

*Noticing a stall* cannot happen in the stalled OS thread, so a watchdog runs on a real OS thread
(the original ``_thread``, never a green one; it never touches a green primitive). Every quarter
of the threshold it samples each watched hub's progress: the loop counter ``hub.iterations``
(which the hub increments on every turn anyway) and a count of backend polls. A hub that sleeps in
``poll`` is idle, not stalled; to tell the two apart, enabling the detector wraps the hub's
backend in `_WatchedBackend`, which flags the time spent in ``poll``. Disabling it puts the
original backend back. Nothing is added to the hub's loop: with the detector off the hub runs
exactly the code it runs without this module, which is what "zero cost when off" means
(``benchmarks/bench_debug_aio.py`` measures it).

*When is it a stall?* The hub has not turned, is not polling, and the time since the watchdog last
saw it move exceeds the threshold. A main green thread that runs synchronous code while nothing
green is pending (no registered fd, no timer, no ready callback) is a plain program, not a stalled
one, and is not reported.

*What is reported* is the stack of whatever runs on the hub's OS thread at that moment
(``sys._current_frames()``), which is the stalled green thread, and which green thread that is
(found among the live greenlets: the one of this hub that is started but has no saved frame). One
report per stall; further stalls within ``report_interval`` seconds are counted and the count is
carried by the next report, so a server that stalls on every request does not flood its log.
Reports go to a hook, by default a warning on the ``green.debug`` logger (which, with logging not
configured, prints to stderr). The hook runs in the watchdog OS thread, because the hub's thread
may never come back; it must not call green code.

The environment variable ``GREEN_DEBUG_BLOCKING=<seconds>`` enables the detector for every hub as
it is created (`green.hubs.get_hub` imports this module only when the variable is set).

*Interrupting* the culprit (``enable_blocking_detector(..., interrupt=True)``, a debugging aid, as
eventlet's ``hub_blocking_detection`` did with an alarm signal): the watchdog, on noticing a
stall, sends SIGALRM to the hub's OS thread, which must be the main thread (only it runs Python
signal handlers). The handler raises `BlockingDetected` in the code that runs there, which
interrupts a blocking sleep or C call that retries on EINTR, and a busy loop, at once; a C call
that ignores signals ends first. The handler raises only if the hub still has not turned since
the stall was noticed and the hub itself is not what runs, so a stall that ended meanwhile
costs nothing.
"""

from __future__ import annotations

import atexit
import gc
import io
import logging
import os
import signal
import sys
import traceback
import weakref
from dataclasses import dataclass
from time import monotonic
from types import FrameType
from typing import Any, Callable, TextIO

from greenlet import getcurrent, greenlet

from green._greenlets import root_of
from green._stdlib import original
from green._waiter import _quiet
from green.hubs import get_hub
from green.hubs.hub import Hub, _default_exception_handler

__all__ = [
    "BlockingDetected",
    "BlockingReport",
    "blocking_detector_enabled",
    "disable_blocking_detector",
    "enable_blocking_detector",
    "format_run_info",
    "install_dump_signal",
    "log_blocking_report",
    "log_hub_exception",
    "set_blocking_report_hook",
    "set_hub_exception_handler",
    "uninstall_dump_signal",
]

_thread = original("_thread")
_real_sleep = original("time").sleep

logger = logging.getLogger("green.debug")

ENVIRONMENT_VARIABLE = "GREEN_DEBUG_BLOCKING"


# -- reports ----------------------------------------------------------------------------------


@dataclass
class BlockingReport:
    """One stall of a hub, as seen by the watchdog.

    `blocked_for` is how long the hub did not turn (measured to within a quarter of the
    threshold); the report is made when the stall ends, or while it still lasts (`ongoing` True)
    once it has lasted ten times the threshold or one second, whichever is longer. `thread` is the
    repr of the green thread that was running; `stack` its formatted stack when the stall was
    noticed, innermost call last; `suppressed` the number of stalls not reported since the
    previous report because of throttling.
    """

    blocked_for: float
    threshold: float
    thread: str
    stack: list[str]
    suppressed: int
    os_thread: int
    ongoing: bool = False

    def __str__(self) -> str:
        lines = [
            f"green: the hub of OS thread {self.os_thread} "
            + ("has not turned for" if self.ongoing else "did not turn for")
            + f" {self.blocked_for:.3f} s (threshold {self.threshold:.3f} s): {self.thread} "
            + ("is blocking it" if self.ongoing else "blocked it")
        ]
        if self.suppressed:
            lines.append(f"({self.suppressed} more stalls were not reported, throttled)")
        lines.append("Stack of the blocking green thread (most recent call last):")
        lines.extend(line.rstrip("\n") for line in self.stack)
        return "\n".join(lines)


def log_blocking_report(report: BlockingReport) -> None:
    """The default report hook: a warning on the ``green.debug`` logger."""
    logger.warning("%s", report)


_report_hook: Callable[[BlockingReport], None] = log_blocking_report


def set_blocking_report_hook(
    hook: Callable[[BlockingReport], None] | None,
) -> Callable[[BlockingReport], None]:
    """Route blocking reports to ``hook(report)`` (None: back to `log_blocking_report`).

    Returns the previous hook. The hook runs in the watchdog's OS thread, not in a green thread
    (for a stall that ends as the detector is disabled or the interpreter exits: in the thread
    doing that): it must not call green code (no green locks, sockets or sleeps). Exceptions it
    raises are printed to stderr and otherwise ignored.
    """
    global _report_hook
    previous = _report_hook
    _report_hook = hook if hook is not None else log_blocking_report
    return previous


# -- the watched backend --------------------------------------------------------------------------


class _WatchedBackend:
    """Delegates to the hub's backend and records whether the hub is sleeping in poll."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.polling = False
        self.polls = 0

    def register(self, fd: int, mask: int) -> None:
        self.inner.register(fd, mask)

    def modify(self, fd: int, mask: int) -> None:
        self.inner.modify(fd, mask)

    def unregister(self, fd: int) -> None:
        self.inner.unregister(fd)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        self.polling = True
        try:
            return self.inner.poll(timeout)
        finally:
            # Count first: a watchdog that samples between these two lines must see progress,
            # not a hub that neither polls nor moved (it would report a stall that was a wait).
            self.polls += 1
            self.polling = False

    def close(self) -> None:
        self.inner.close()

    def fresh(self) -> _WatchedBackend:
        """This same wrapper (the watchdog holds it) around a fresh backend of the kind it
        wrapped."""
        self.inner = self.inner.fresh()
        return self


# -- the watchdog ---------------------------------------------------------------------------------


class _Watched:
    """What the watchdog knows about one hub."""

    def __init__(self, hub: Hub, os_thread: int, threshold: float, report_interval: float) -> None:
        self.hub_reference = weakref.ref(hub)
        self.os_thread = os_thread
        self.threshold = threshold
        self.report_interval = report_interval
        self.backend = _WatchedBackend(hub.backend)
        self.progress: tuple[int, int] = (-1, -1)
        self.since = monotonic()
        self.handled_progress: tuple[int, int] | None = None
        self.last_report = float("-inf")
        self.suppressed = 0
        self.pending: BlockingReport | None = None
        self.reports = 0
        # interrupt=True: the hub's iterations when the watchdog signalled a stall, until the
        # signal handler has seen it.
        self.interrupt = False
        self.interrupted_at: int | None = None


class _Watchdog:
    """One real OS thread sampling every watched hub."""

    def __init__(self) -> None:
        self.lock = _thread.allocate_lock()
        self.watched: dict[int, _Watched] = {}  # id(hub) -> state
        self.wakeup = _thread.allocate_lock()
        self.wakeup.acquire()
        self.checking = _thread.allocate_lock()
        self.running = False

    def period(self) -> float:
        thresholds = [watched.threshold for watched in self.watched.values()]
        return max(0.001, min(thresholds) / 4) if thresholds else 0.05

    def start_if_needed(self) -> None:
        if not self.running:
            self.running = True
            _thread.start_new_thread(self.run, ())

    def run(self) -> None:
        while True:
            with self.lock:
                if not self.watched:
                    self.running = False
                    return
                period = self.period()
                watched = list(self.watched.values())
            for state in watched:
                try:
                    with self.checking:
                        self.check(state)
                except Exception:
                    traceback.print_exc()
            # Sleep, but wake at once when the set of watched hubs changes. Meanwhile this
            # thread cannot wake any green thread (see green._waiter).
            _quiet(1)
            try:
                self.wakeup.acquire(True, period)
            finally:
                _quiet(-1)

    def poke(self) -> None:
        try:
            self.wakeup.release()
        except RuntimeError:
            pass

    def check(self, state: _Watched) -> None:
        hub = state.hub_reference()
        if hub is None:  # the hub is gone (its OS thread ended)
            with self.lock:
                for key, value in list(self.watched.items()):
                    if value is state:
                        del self.watched[key]
            return
        backend = state.backend
        now = monotonic()
        progress = (hub.iterations, backend.polls)
        if backend.polling or progress != state.progress:
            if state.pending is not None:
                # The stall is over: now its length is known.
                self.deliver(state, now - state.since, ongoing=False)
            state.progress = progress
            state.since = now
            return
        blocked_for = now - state.since
        if state.pending is not None:
            if blocked_for >= max(_ONGOING_MINIMUM, _ONGOING_FACTOR * state.threshold):
                self.deliver(state, blocked_for, ongoing=True)
            return
        if blocked_for < state.threshold or state.handled_progress == progress:
            return
        state.handled_progress = progress
        running = _running_greenlet(hub)
        if running is None or running is hub.parent:
            # The main green thread runs; a stall only if it keeps green work waiting.
            if not hub.has_work():
                return
        if state.interrupt and running is not hub:
            state.interrupted_at = progress[0]
            signal.pthread_kill(state.os_thread, _INTERRUPT_SIGNAL)
        if now - state.last_report < state.report_interval:
            state.suppressed += 1
            return
        # Take the stack now, while the culprit is still on it; report when the stall ends.
        frame = sys._current_frames().get(state.os_thread)
        stack = traceback.format_stack(frame) if frame is not None else ["  (no Python frame)\n"]
        state.pending = BlockingReport(
            blocked_for=blocked_for,
            threshold=state.threshold,
            thread=_describe(running, hub),
            stack=stack,
            suppressed=state.suppressed,
            os_thread=state.os_thread,
            ongoing=True,
        )
        state.suppressed = 0
        state.last_report = now

    def deliver(self, state: _Watched, blocked_for: float, ongoing: bool) -> None:
        report = state.pending
        state.pending = None
        if report is None:
            return
        report.blocked_for = blocked_for
        report.ongoing = ongoing
        state.reports += 1
        try:
            _report_hook(report)
        except Exception:
            traceback.print_exc()


# A stall still going on after max(this minimum, factor x threshold) seconds is reported while it
# lasts (it may never end: a deadlocked C call).
_ONGOING_MINIMUM = 1.0
_ONGOING_FACTOR = 10

_watchdog = _Watchdog()


def _flush_at_exit() -> None:
    """Deliver the report of a stall that ended just before the interpreter exits."""
    watchdog = _watchdog
    with watchdog.lock:
        watched = list(watchdog.watched.values())
    for state in watched:
        with watchdog.checking:
            watchdog.check(state)
            if state.pending is not None:
                watchdog.deliver(state, monotonic() - state.since, ongoing=False)


atexit.register(_flush_at_exit)


def _reset_after_fork() -> None:
    # The watchdog thread does not exist in a child, and the child's hub got a fresh backend.
    global _watchdog
    _watchdog = _Watchdog()


os.register_at_fork(after_in_child=_reset_after_fork)


def _running_greenlet(hub: Hub) -> greenlet | None:
    """The greenlet currently running on `hub`'s OS thread, found from another OS thread."""
    for candidate in gc.get_objects():
        if (
            isinstance(candidate, greenlet)
            and candidate
            and candidate.gr_frame is None
            and (
                candidate is hub
                or candidate is hub.parent
                or getattr(candidate, "_hub", None) is hub
                or candidate.parent is hub
            )
        ):
            return candidate
    return None


def _describe(thread: greenlet | None, hub: Hub) -> str:
    if thread is None:
        return "an unknown green thread"
    if thread is hub:
        return "the hub itself (a timer or callback)"
    if thread is hub.parent:
        return f"the main green thread {thread!r}"
    return repr(thread)


class BlockingDetected(RuntimeError):
    """Raised in a green thread that kept the hub from turning, by a blocking detector enabled
    with ``interrupt=True``."""


_INTERRUPT_SIGNAL = signal.SIGALRM
# The interrupt must run where the blocking code runs, as the interpreter delivers it: the real
# signal module, not a green one that monkey_patch() may have put in place of `signal.signal`
# (green's handlers run later, in the hub, which is what a stall keeps from happening).
_real_signal = original("signal")
# The SIGALRM handler before the detector installed its own, while one is installed.
_previous_alarm_handler: Any = None


def _interrupt(received: int, frame: FrameType | None) -> None:
    """SIGALRM handler: raise BlockingDetected in the green thread that blocks the hub."""
    hub = get_hub()
    state = _watchdog.watched.get(id(hub))
    if state is None or state.interrupted_at is None:
        previous = _previous_alarm_handler
        if callable(previous):  # not ours: the program's own alarm
            previous(received, frame)
        return
    noticed_at, state.interrupted_at = state.interrupted_at, None
    if noticed_at != hub.iterations or getcurrent() is hub:
        return  # the stall is over, or the hub itself runs (a callback): nothing to interrupt
    raise BlockingDetected(f"this green thread kept the hub from turning for more than {state.threshold} s")


def enable_blocking_detector(
    threshold: float = 0.1, report_interval: float = 10.0, *, interrupt: bool = False
) -> None:
    """Watch the calling OS thread's hub: report when it has not turned for `threshold` seconds.

    Each stall is reported once, with how long the hub had been blocked and the stack of the
    green thread that was running (see `set_blocking_report_hook`); at most one report per
    `report_interval` seconds, the stalls in between are counted in the next report. Calling it
    again changes the settings. Raises ValueError for a threshold that is not positive.

    With `interrupt`, each stall also raises `BlockingDetected` in the green thread that blocks
    (through a SIGALRM handler: only in the main OS thread, ValueError elsewhere; see the module
    docstring). A debugging aid, as eventlet's ``hub_blocking_detection``: do not leave it on in
    production, where a report is enough.
    """
    global _previous_alarm_handler
    if threshold <= 0:
        raise ValueError(f"threshold must be positive, not {threshold!r}")
    hub = get_hub()
    if interrupt and _real_signal.getsignal(_INTERRUPT_SIGNAL) is not _interrupt:
        # ValueError outside the main OS thread, from the signal module itself.
        _previous_alarm_handler = _real_signal.signal(_INTERRUPT_SIGNAL, _interrupt)
    _watch(hub, threshold, report_interval)
    state = _watchdog.watched[id(hub)]
    state.interrupt = interrupt
    if not interrupt:
        _restore_alarm_handler()


def _restore_alarm_handler() -> None:
    global _previous_alarm_handler
    if any(state.interrupt for state in _watchdog.watched.values()):
        return
    if _real_signal.getsignal(_INTERRUPT_SIGNAL) is _interrupt:
        previous = _previous_alarm_handler
        try:
            _real_signal.signal(_INTERRUPT_SIGNAL, previous if previous is not None else signal.SIG_DFL)
        except ValueError:
            return  # not the main OS thread: the main thread's next disable restores it
        _previous_alarm_handler = None


def _watch(hub: Hub, threshold: float, report_interval: float) -> None:
    with _watchdog.lock:
        state = _watchdog.watched.get(id(hub))
        if state is None or state.hub_reference() is not hub:
            state = _Watched(hub, _thread.get_ident(), threshold, report_interval)
            hub.backend = state.backend
            _watchdog.watched[id(hub)] = state
        else:
            state.threshold = threshold
            state.report_interval = report_interval
        _watchdog.start_if_needed()
    _watchdog.poke()


def disable_blocking_detector() -> None:
    """Stop watching the calling OS thread's hub (harmless if it was not watched).

    The watchdog OS thread exits when it watches no hub.
    """
    hub = get_hub()
    with _watchdog.lock:
        state = _watchdog.watched.pop(id(hub), None)
        if state is not None and hub.backend is state.backend:
            hub.backend = state.backend.inner
    if state is not None:
        state.interrupt = False
        state.interrupted_at = None
        with _watchdog.checking:
            if state.pending is not None:  # a stall that just ended: report it
                _watchdog.deliver(state, monotonic() - state.since, ongoing=False)
        _restore_alarm_handler()
    _watchdog.poke()


def blocking_detector_enabled() -> bool:
    """Whether the calling OS thread's hub is watched."""
    return id(get_hub()) in _watchdog.watched


def _enable_from_environment(hub: Hub, value: str) -> None:
    """Called by `green.hubs.get_hub` for a new hub when GREEN_DEBUG_BLOCKING is set."""
    try:
        threshold = float(value)
    except ValueError:
        sys.stderr.write(f"green: ignoring {ENVIRONMENT_VARIABLE}={value!r}: not a number of seconds\n")
        return
    if threshold > 0:
        _watch(hub, threshold, 10.0)


# -- introspection --------------------------------------------------------------------------------

_MASK_NAMES = {0: "nothing", 1: "read", 2: "write", 3: "read+write"}


def _callback_name(callback: Any) -> str:
    target = getattr(callback, "__self__", None)
    name = getattr(callback, "__qualname__", None) or repr(callback)
    if isinstance(target, greenlet):
        return f"resume {target!r}"
    return name


def _timer_owner(timer: Any) -> greenlet | None:
    """The green thread a timer will resume (sleep, a timeout), if it is that kind of timer."""
    callback = timer.callback
    target = getattr(callback, "__self__", None)
    if isinstance(target, greenlet):
        return target
    waiting = getattr(target, "greenlet", None)  # a Waiter's timeout
    if isinstance(waiting, greenlet):
        return waiting
    for argument in timer.args:
        if isinstance(argument, greenlet):
            return argument
    return None


def _state_of(thread: greenlet) -> str:
    if thread is getcurrent():
        return "running"
    if thread.dead:
        return "dead"
    if not thread:
        return "not started"
    return "suspended"


def format_run_info(hub: Hub | None = None) -> str:
    """A report of everything green in this process: every live green thread with its state and
    stack, the hub's registered fds with the green threads waiting on them, its pending timers
    and ready callbacks.

    `hub` defaults to the calling OS thread's hub. It only reads state, so it is safe to call
    from a signal handler or the backdoor console. Costly (it walks the garbage collector's
    objects); meant for debugging.
    """
    if hub is None:
        hub = get_hub()
    now = monotonic()
    waits: dict[int, list[str]] = {}
    for fd, direction, waiter in hub.waiters():
        waits.setdefault(id(waiter), []).append(f"{direction} fd {fd}")
    timers = hub.pending_timers()
    for timer in timers:
        owner = _timer_owner(timer)
        if owner is not None:
            waits.setdefault(id(owner), []).append(f"timer in {timer.when - now:.3f} s")

    threads = [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, greenlet) and not obj.dead and root_of(obj) is root_of(hub)
    ]
    out = io.StringIO()
    counts = hub.counts()
    out.write(f"=== green run info: {hub!r}, {hub.iterations} iterations ===\n")
    out.write(f"Green threads of this OS thread ({len(threads)}):\n")
    current = getcurrent()
    for thread in threads:
        if thread is hub:
            label = f"{thread!r} (the hub)"
        elif thread is hub.parent:
            label = f"{thread!r} (main)"
        else:
            label = repr(thread)
        out.write(f"  {label} [{_state_of(thread)}]")
        if id(thread) in waits:
            out.write(" waiting on: " + ", ".join(waits[id(thread)]))
        out.write("\n")
        frame: FrameType | None = sys._getframe(1) if thread is current else thread.gr_frame
        if frame is not None:
            for line in traceback.format_stack(frame):
                out.write("    " + line.rstrip("\n").replace("\n", "\n    ") + "\n")
    out.write(f"Registered fds ({counts['fds']}):\n")
    for fd, registered, reader, writer in hub.registrations():
        out.write(
            f"  fd {fd}: registered for {_MASK_NAMES.get(registered, registered)}; "
            f"reader {reader!r}, writer {writer!r}\n"
        )
    out.write(f"Pending timers ({len(timers)}):\n")
    for timer in timers:
        out.write(f"  in {timer.when - now:8.3f} s: {_callback_name(timer.callback)}\n")
    out.write(f"Ready callbacks: {counts['ready']}\n")
    return out.getvalue()


_dump_previous: dict[int, Any] = {}


def install_dump_signal(signum: int = signal.SIGUSR1, file: TextIO | None = None) -> None:
    """On signal `signum` (default SIGUSR1), write `format_run_info()` to `file` (default
    sys.stderr at that moment). Opt-in; `uninstall_dump_signal` restores the previous handler.

    Must be called from the main OS thread (a rule of `signal.signal`); raises ValueError otherwise.
    """

    def dump(received: int, frame: FrameType | None) -> None:
        target = file if file is not None else sys.stderr
        try:
            target.write(format_run_info())
            target.flush()
        except Exception:
            traceback.print_exc()

    previous = signal.signal(signum, dump)
    _dump_previous.setdefault(signum, previous)


def uninstall_dump_signal(signum: int = signal.SIGUSR1) -> None:
    """Restore the handler `signum` had before `install_dump_signal`."""
    if signum in _dump_previous:
        signal.signal(signum, _dump_previous.pop(signum))


# -- hub exceptions -------------------------------------------------------------------------------


def log_hub_exception(where: str, exc_info: tuple) -> None:
    """A ready-made hub exception handler: an error with traceback on the ``green.hub`` logger."""
    logging.getLogger("green.hub").error("unhandled exception in %s", where, exc_info=exc_info)


def set_hub_exception_handler(
    handler: Callable[[str, tuple], None] | None,
) -> Callable[[str, tuple], None]:
    """Route reports of exceptions nobody else sees -- raised by a timer or ``call_soon`` callback,
    by a green thread nobody waits for or links to, by a link callback -- to
    ``handler(where, exc_info)`` for every hub. None restores the default, which prints the
    traceback to stderr. Returns the previous handler.

    The hub keeps running whatever the handler does; an exception raised by the handler itself is
    printed. ``KeyboardInterrupt`` and ``SystemExit`` never reach it: they propagate to the main
    green thread.
    """
    previous = Hub.exception_handler
    Hub.exception_handler = staticmethod(handler if handler is not None else _default_exception_handler)  # type: ignore[assignment]
    return previous
