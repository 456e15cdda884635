"""Green replacement of the stdlib `signal` module: signals are handled while the hub sleeps.

Why it looks like this
----------------------
CPython runs a Python signal handler at the next bytecode boundary of the main OS thread. While
green threads wait, that thread sleeps inside the hub's ``poll``; the kernel interrupts it, the
interpreter runs the handler there (PEP 475) -- inside the hub greenlet -- and, unless the handler
raised, *resumes polling with the old timeout*. A handler that sets an Event would wake nobody
until that poll ended. Two things fix it:

* the hub's wake-up pipe is registered with ``signal.set_wakeup_fd``: the C-level handler writes
  a byte to it, so the poll returns and the hub runs whatever the handler scheduled at once;
* a Python handler runs in place, as in the stdlib, when the signal interrupts the main green
  thread; when it interrupts the hub or another green thread, the handler runs in a fresh green
  thread (so it may block: take a lock, write to a socket, sleep) that has the main thread's
  identity (``threading.current_thread()`` is the main thread there), and an exception it raises is
  raised in the main green thread -- where the stdlib raises it -- interrupting whatever that
  thread waits for (``recv``, ``sleep``, ``join``). Handlers installed before patching are wrapped
  the same way when the patch is applied.

The default SIGINT handler (``default_int_handler``) gets the same treatment. Left alone, it would
raise ``KeyboardInterrupt`` in whichever green thread runs Python code when the signal lands: a
``threading.Timer`` that sends SIGINT would die with a traceback while the main thread sleeps on,
and Ctrl-C pressed while a worker computes would unwind that worker. With OS threads the main
thread always gets it and the workers never do. So while green's handling is installed (by
`monkey_patch` or by `signal` of this module), SIGINT in another green thread *schedules*
``KeyboardInterrupt`` for the main green thread, first in the hub's queue: it is raised there as
soon as the running green thread next yields, interrupting whatever the main one waits for, and
the interrupted green thread carries on undisturbed. A green thread that never yields would keep
the interrupt from ever being delivered, so a second SIGINT while the first is still undelivered
raises ``KeyboardInterrupt`` in place (press Ctrl-C twice to break a loop that never yields).
``KeyboardInterrupt`` and ``SystemExit`` raised by any handler reach the main green thread: the
hub re-raises them there, never swallows them.

``getsignal`` returns the handler as it was given; ``pause`` parks only the calling green thread
until a Python handler runs. Everything else is the stdlib's.
"""

from __future__ import annotations

import typing as _typing

from greenlet import getcurrent as _getcurrent

# Modules, not functions, are imported here: every function in a module standing in for `signal`
# must say it belongs to `signal` (CPython's test_signal checks __module__ for pydoc).
from green import _greenlets, _stdlib
from green import hubs as _hubs
from green._waiter import Waiter as _Waiter
from green.thread import ForMainThread as _ForMainThread

if _typing.TYPE_CHECKING:
    from typing import Any, Callable

__green__ = "signal"
__implements__ = ["signal", "getsignal", "pause"]
__removes__: list[str] = []

_stdlib.reexport(globals(), _stdlib.original("signal"), __implements__, __removes__)

# Bound after the re-export above, which copies the stdlib module's own private names too.
_signal = _stdlib.original("signal")
_real_signal = _signal.signal
_real_getsignal = _signal.getsignal

__all__ = [name for name in dir(_signal) if not name.startswith("_")]


def _main_green_thread() -> Any:
    return _greenlets.root_of()


class _GreenHandler:
    """Calls the user's handler: in place in the main green thread, else in a new green thread
    whose exception, if any, is raised in the main green thread."""

    __slots__ = ("handler",)

    def __init__(self, handler: Callable[..., Any]) -> None:
        self.handler = handler

    def __call__(self, signum: int, frame: Any) -> Any:
        if _getcurrent().parent is None:
            try:
                return self.handler(signum, frame)
            finally:
                _wake_pausing()
        hub = _hubs.get_hub()
        runner = _ForMainThread(_run_handler, hub)
        hub.call_soon(runner.switch, self.handler, signum, frame, _main_green_thread())
        hub.wake_from_signal()  # the hub may be the one interrupted, in poll
        return None

    def __repr__(self) -> str:
        return f"<green signal handler for {self.handler!r}>"


class _InterruptMain:
    """Stands in for `default_int_handler`: KeyboardInterrupt is raised in the main green thread."""

    __slots__ = ()

    handler = staticmethod(_signal.default_int_handler)

    def __call__(self, signum: int, frame: Any) -> Any:
        if _getcurrent().parent is None or _interrupt_pending[0]:
            _interrupt_pending[0] = False
            return _signal.default_int_handler(signum, frame)
        _interrupt_pending[0] = True
        hub = _hubs.get_hub()
        hub.schedule_first((_deliver_interrupt, (_main_green_thread(),)))
        hub.wake_from_signal()  # the hub may be the one interrupted, in poll
        return None

    def __repr__(self) -> str:
        return "<green signal handler for default_int_handler>"


# True from a SIGINT in another green thread until its KeyboardInterrupt reaches the main one.
_interrupt_pending = [False]


def _deliver_interrupt(main: Any) -> None:
    if not _interrupt_pending[0]:
        return  # already raised in place by a second SIGINT
    _interrupt_pending[0] = False
    if not main.dead:
        main.throw(KeyboardInterrupt())


def _run_handler(handler: Callable[..., Any], signum: int, frame: Any, main: Any) -> None:
    try:
        handler(signum, frame)
        _wake_pausing()
    except BaseException as problem:
        _wake_pausing()
        # Where the stdlib would raise it: in the main thread, whatever it was doing. First in
        # the hub's queue, so it lands before anything else resumes the main green thread.
        if main.dead:
            raise
        _hubs.get_hub().schedule_first((_greenlets.throw_if_alive, (main, problem)))


def _use_hub_wakeup() -> None:
    """Point the interpreter's signal wake-up fd at this OS thread's hub (main thread only)."""
    hub = _hubs.get_hub()
    try:
        current = _signal.set_wakeup_fd(hub.wakeup_fd, warn_on_full_buffer=False)
    except ValueError:  # not the main thread of the main interpreter
        return
    if current not in (-1, hub.wakeup_fd) and current != _own_wakeup[0]:
        _signal.set_wakeup_fd(current)  # somebody else's (asyncio's): leave it alone
        return
    _own_wakeup[0] = hub.wakeup_fd


_own_wakeup = [-1]


def signal(signalnum: int, handler: Any) -> Any:
    """Install `handler` for `signalnum` and return the previous one, as `signal.signal` does.

    Differences: a Python handler that interrupts the hub or a green thread other than the main
    one runs in a new green thread (its exception is raised in the main green thread), and the
    hub's sleep is cut short so green threads it wakes run at once. `default_int_handler` raises
    KeyboardInterrupt in the main green thread, whichever green thread the signal interrupted. While a Python handler is
    installed, an otherwise idle hub waits for signals instead of raising LoopExit. Raises what the stdlib raises
    (ValueError outside the main thread or for a bad signal, TypeError for a bad handler).
    """
    installed: Any
    if handler is _signal.default_int_handler:
        installed = _INTERRUPT_MAIN
    elif callable(handler):
        installed = _GreenHandler(handler)
    else:
        installed = handler
    previous = _real_signal(signalnum, installed)
    _use_hub_wakeup()
    _hold_hub_for(signalnum, isinstance(installed, _GreenHandler))
    return _unwrapped(previous)


_INTERRUPT_MAIN = _InterruptMain()


def _unwrapped(handler: Any) -> Any:
    return handler.handler if isinstance(handler, (_GreenHandler, _InterruptMain)) else handler


# Signals with a Python handler, each holding a reference on the main thread's hub: a program
# whose green threads all wait for what a signal handler will do (``stop.wait()`` until SIGTERM)
# sleeps like a threaded one instead of ending in LoopExit.
_holding: set[int] = set()


def _hold_hub_for(signalnum: int, holding: bool) -> None:
    if holding and signalnum not in _holding:
        _hubs.get_hub().add_reference()
        _holding.add(signalnum)
    elif not holding and signalnum in _holding:
        _hubs.get_hub().remove_reference()
        _holding.discard(signalnum)


def getsignal(signalnum: int) -> Any:
    """The current handler for `signalnum`, as given to `signal` (stdlib semantics)."""
    return _unwrapped(_real_getsignal(signalnum))


_pausing: list[_Waiter] = []


def _wake_pausing() -> None:
    for waiter in _pausing:
        waiter.wake()
    _pausing.clear()


def pause() -> None:
    """Park the calling green thread until a signal's Python handler runs (`signal.pause`).

    Only the caller waits; other green threads keep running.
    """
    hub = _hubs.get_hub()
    waiter = _Waiter(hub)
    _pausing.append(waiter)
    hub.add_reference()  # a signal may come from outside at any time
    try:
        waiter.wait()
    finally:
        hub.remove_reference()
        if waiter in _pausing:
            _pausing.remove(waiter)


def _after_patch() -> None:
    # Handlers installed before patching get the same treatment as new ones.
    for number in range(1, _signal.NSIG):
        try:
            current = _real_getsignal(number)
        except (OSError, ValueError):
            continue
        if isinstance(current, (_GreenHandler, _InterruptMain)) or not callable(current):
            continue
        if current is _signal.default_int_handler:
            try:
                _real_signal(number, _INTERRUPT_MAIN)
            except (OSError, ValueError, RuntimeError):
                pass
            continue
        try:
            _real_signal(number, _GreenHandler(current))
        except (OSError, ValueError, RuntimeError):
            continue
        _hold_hub_for(number, True)
    _use_hub_wakeup()


def _reinstall_after_fork() -> None:
    # The hub made a new wake-up pipe in the child; follow it.
    if _own_wakeup[0] != -1:
        _own_wakeup[0] = -1
        try:
            _signal.set_wakeup_fd(-1)
        except ValueError:
            return
        _use_hub_wakeup()


_stdlib.original("os").register_at_fork(after_in_child=_reinstall_after_fork)

# This module stands in for `signal`: its functions carry that module name (pickle and pydoc
# look them up there).
for _value in list(globals().values()):
    if callable(_value) and getattr(_value, "__module__", None) == __name__:
        _value.__module__ = "signal"
del _value

# Keep the module's public names those of the stdlib's (the __future__ import binds one).
del annotations
