"""Green threads: spawn, sleep, kill, and the GreenThread object (eventlet's names and semantics)."""

from __future__ import annotations

import itertools
import sys
from typing import Any, Callable

from greenlet import GreenletExit, getcurrent, greenlet

from green._compiled import core as _core
from green._greenlets import throw_if_alive as _throw_if_alive
from green._waiter import Waiter
from green.hubs import existing_hub as _existing_hub
from green.hubs import get_hub
from green.hubs.hub import BlockingInHubError, Hub, Timer

__all__ = [
    "GreenThread",
    "getcurrent",
    "kill",
    "sleep",
    "spawn",
    "spawn_after",
    "spawn_after_local",
    "spawn_n",
]

_switch_into = greenlet.switch
_names = itertools.count(1)


def sleep(seconds: float = 0) -> None:
    """Park the calling green thread for `seconds`; ``sleep(0)`` lets every other ready green
    thread run once (and the hub poll for I/O) before this one continues.

    Raises BlockingInHubError when called with `seconds` > 0 from inside the hub (a timer or
    callback); ``sleep(0)`` there returns at once.
    """
    hub = get_hub()
    current = getcurrent()
    if current is hub:
        if seconds <= 0:
            return  # nothing to yield to from inside the hub: a timer or callback may call it
        raise BlockingInHubError("sleep() called inside the hub (a timer or callback)")
    if seconds <= 0:
        entry = (_switch_into, (current,))
        hub.schedule(entry)
        try:
            hub.park()
        except BaseException:
            # Resumed by an exception (killed, Timeout): our queue entry must not wake us later.
            hub.unschedule(entry)
            raise
        return
    timer = hub.call_later(seconds, current.switch)
    try:
        hub.park()
    finally:
        timer.cancel()


if _core is not None:
    # The compiled core takes ``sleep()``/``sleep(0)`` from a green thread (an int or float
    # argument, the calling OS thread's hub made); every other call runs the function above.
    _core.configure_sleep(sleep)
    sleep = _core.sleep  # type: ignore[assignment]  # noqa: F811


class GreenThread(greenlet):
    """A green thread running ``function(*args, **kwargs)``; created by `spawn`.

    `wait()` returns the function's result or re-raises its exception; `link` registers
    callbacks run at exit; `kill` raises an exception (default GreenletExit) inside it.
    """

    __slots__ = (
        "_hub",
        "_function",
        "_args",
        "_kwargs",
        "_result",
        "_exc_info",
        "_finished",
        "_killed_before_start",
        "_exit_waiters",
        "_links",
        "_start_timer",
        "_name",
        "_waited",
    )

    def __init__(
        self,
        function: Callable[..., Any],
        args: tuple = (),
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
        hub: Hub | None = None,
    ) -> None:
        if hub is None:
            hub = get_hub()
        greenlet.__init__(self, None, hub)
        self._hub = hub
        self._function = function
        self._args = args
        self._kwargs = kwargs
        self._result: Any = None
        self._exc_info: tuple | None = None
        self._finished = False
        self._killed_before_start: BaseException | None = None
        self._exit_waiters: list[Waiter] | None = None
        self._links: list[tuple[Callable[..., Any], tuple, dict[str, Any]]] | None = None
        self._start_timer: Timer | None = None
        self._name = name
        # Set by wait() and link(): the outcome has an observer (read by the pytest plugin,
        # which fails a test for exceptions that nobody ever observed).
        self._waited = False

    @property
    def name(self) -> str:
        """A readable name: the one given, else ``GreenThread-N`` numbered on first use."""
        if self._name is None:
            self._name = f"GreenThread-{next(_names)}"
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    def __repr__(self) -> str:
        function = getattr(self._function, "__qualname__", repr(self._function))
        if self._finished:
            state = "failed" if self._exc_info else "finished"
        elif self:
            # gr_frame is None only while the greenlet runs (true from any OS thread).
            state = "running" if self.gr_frame is None else "waiting"
        else:
            state = "scheduled"
        return f"<GreenThread {self.name} {function} {state}>"

    def run(self) -> None:  # type: ignore[override]
        try:
            if self._killed_before_start is not None:
                raise self._killed_before_start
            # Plain calls for up to three positional arguments: CPython 3.11+ runs them in the
            # same C frame, while f(*args) adds one, which every parked green thread would then
            # keep in its saved stack (~370 bytes each).
            function, args = self._function, self._args
            if self._kwargs:
                result = function(*args, **self._kwargs)
            elif not args:
                result = function()
            elif len(args) == 1:
                result = function(args[0])
            elif len(args) == 2:
                result = function(args[0], args[1])
            elif len(args) == 3:
                result = function(args[0], args[1], args[2])
            else:
                result = function(*args)
        except BaseException:
            exc_info = sys.exc_info()
            self._function = self._args = self._kwargs = None  # type: ignore[assignment]
            self._finish_with_exception(exc_info)
            if isinstance(exc_info[1], (KeyboardInterrupt, SystemExit)):
                raise
        else:
            self._function = self._args = self._kwargs = None  # type: ignore[assignment]
            self._result = result
            self._finished = True
            if self._exit_waiters is not None:
                for waiter in self._exit_waiters:
                    waiter.wake()
                self._exit_waiters = None
            if self._links is not None:
                self._run_links()

    def _finish_with_exception(self, exc_info: tuple) -> None:
        self._exc_info = exc_info
        self._finished = True
        waiters = self._exit_waiters
        unobserved = not waiters and not self._links
        if waiters:
            for waiter in waiters:
                waiter.wake()
        self._exit_waiters = None
        if unobserved and not isinstance(exc_info[1], (GreenletExit, KeyboardInterrupt, SystemExit)):
            # Printed once; a later wait() still re-raises it.
            self._hub.report_exception(f"{self!r}, which nobody waits for")
        if self._links is not None:
            self._run_links()

    def _run_links(self) -> None:
        links, self._links = self._links or [], None
        for function, args, kwargs in links:
            try:
                function(self, *args, **kwargs)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:
                self._hub.report_exception(f"link {function!r} of {self!r}")

    # -- public API ---------------------------------------------------------------------------

    @property
    def dead(self) -> bool:  # type: ignore[override]
        """True once the green thread has finished (returned, raised or was killed)."""
        return self._finished or greenlet.dead.__get__(self)  # type: ignore[attr-defined]

    def ready(self) -> bool:
        return self._finished

    def wait(self) -> Any:
        """Wait for the green thread to finish; return its result or re-raise its exception.

        A green thread killed with the default GreenletExit re-raises GreenletExit here.
        """
        self._waited = True
        if self._finished and self._exc_info is None:
            return self._result  # the common end: `_outcome` without its call
        if not self._finished:
            if self._hub is not _existing_hub():
                self._wait_from_other_thread()
                return self._outcome()
            waiter = Waiter(self._hub)
            if self._exit_waiters is None:
                self._exit_waiters = []
            self._exit_waiters.append(waiter)
            try:
                waiter.wait()
            finally:
                if not waiter.woken and self._exit_waiters is not None:
                    try:
                        self._exit_waiters.remove(waiter)
                    except ValueError:
                        pass
        return self._outcome()

    def _outcome(self) -> Any:
        if self._exc_info is not None:
            raise self._exc_info[1].with_traceback(self._exc_info[2])
        return self._result

    def _wait_from_other_thread(self) -> None:
        # Called from an OS thread other than the green thread's own: the exit-waiter list is
        # only ever touched in the green thread's OS thread, so the registration is sent there
        # (a finished thread wakes the waiter at once). The waiter parks in the caller's hub,
        # or on a real lock in a plain OS thread.
        waiter = Waiter()

        def register() -> None:
            if self._finished:
                waiter.wake()
            else:
                if self._exit_waiters is None:
                    self._exit_waiters = []
                self._exit_waiters.append(waiter)

        self._hub.call_soon_threadsafe(register)
        waiter.wait()

    def link(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call ``function(self, *args, **kwargs)`` when the green thread finishes (at once if it
        already has)."""
        self._waited = True
        if self._finished:
            function(self, *args, **kwargs)
        else:
            if self._links is None:
                self._links = []
            self._links.append((function, args, kwargs))

    def unlink(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Remove a callback added by `link`; returns whether it was found."""
        for index, entry in enumerate(self._links or ()):
            if entry[0] == function and (not args or entry[1] == args) and (not kwargs or entry[2] == kwargs):
                del self._links[index]  # type: ignore[union-attr]
                return True
        return False

    def kill(self, *throw_args: Any) -> Any:
        """Raise an exception (default GreenletExit) in the green thread and wait for it to
        end; the caller continues after the victim has finished or caught the exception."""
        return kill(self, *throw_args)

    def cancel(self, *throw_args: Any) -> None:
        """Kill the green thread only if it has not started yet."""
        if not self:
            kill(self, *throw_args)


def _exception_from(throw_args: tuple) -> BaseException:
    if not throw_args:
        return GreenletExit()
    kind = throw_args[0]
    value = throw_args[1] if len(throw_args) > 1 else None
    traceback = throw_args[2] if len(throw_args) > 2 else None
    if isinstance(kind, BaseException):
        exception = kind
    elif value is None:
        exception = kind()
    elif isinstance(value, BaseException):
        exception = value
    else:
        exception = kind(*value) if isinstance(value, tuple) else kind(value)
    if traceback is not None:
        exception = exception.with_traceback(traceback)
    return exception


def kill(thread: greenlet, *throw_args: Any) -> None:
    """Raise an exception (default GreenletExit) in `thread` as soon as the hub runs it.

    A green thread that has not started yet dies without running. A thread killing itself
    raises at once. Otherwise the caller yields so the victim runs its cleanup first.
    """
    if thread.dead:
        return
    hub = get_hub()
    exception = _exception_from(throw_args)
    current = getcurrent()
    if thread is current:
        raise exception
    if not thread:  # not started
        if isinstance(thread, GreenThread):
            thread._killed_before_start = exception
            if thread._start_timer is not None:
                thread._start_timer.cancel()
                thread._start_timer = None
                hub.schedule((thread.switch, ()))
        else:
            thread.throw(exception) if current is hub else hub.schedule((thread.throw, (exception,)))
        if current is not hub:
            sleep(0)
        return
    if current is hub:
        thread.throw(exception)
        return
    hub.schedule((_throw_if_alive, (thread, exception)))
    sleep(0)


def spawn(function: Callable[..., Any], *args: Any, **kwargs: Any) -> GreenThread:
    """Start ``function(*args, **kwargs)`` in a new green thread at the hub's next turn."""
    hub = get_hub()
    thread = GreenThread(function, args, kwargs, None, hub)
    hub.schedule((thread.switch, ()))
    return thread


if _core is not None:
    # The compiled core makes and queues the GreenThread when the calling OS thread has a hub;
    # every other call runs the function above.
    _python_spawn = spawn
    _core.configure_spawn(spawn, GreenThread)
    spawn = _core.spawn  # type: ignore[assignment]  # noqa: F811


def spawn_n(function: Callable[..., Any], *args: Any, **kwargs: Any) -> greenlet:
    """`spawn` under eventlet's name for fire-and-forget work: the same GreenThread (which keeps
    its result, as every GreenThread does); an exception nobody waits for is reported."""
    return spawn(function, *args, **kwargs)


def spawn_after(seconds: float, function: Callable[..., Any], *args: Any, **kwargs: Any) -> GreenThread:
    """Start ``function(*args, **kwargs)`` in a new green thread after `seconds`.

    `cancel()` before then prevents it from ever running.
    """
    thread = GreenThread(function, args, kwargs)
    thread._start_timer = thread._hub.call_later(seconds, thread.switch)
    return thread


def spawn_after_local(seconds: float, function: Callable[..., Any], *args: Any, **kwargs: Any) -> GreenThread:
    """Like `spawn_after`, but cancelled if the spawning green thread exits first."""
    thread = spawn_after(seconds, function, *args, **kwargs)
    parent = getcurrent()
    if isinstance(parent, GreenThread):
        parent.link(lambda _, victim=thread: victim.cancel())
    return thread
