"""eventlet.hubs on green's hubs: get_hub, use_hub, trampoline, notify_close, notify_opened.

`get_hub()` returns green's own Hub. eventlet's hub method names that programs call
(``schedule_call_global``, ``schedule_call_local``, ``get_readers``, ``get_writers``,
``get_timers_count``, ``greenlet``) are added to green's Hub class when this module is first
imported; each is a thin spelling of green's own method (``call_later``, ``waiters``,
``counts``) and none of them is on green's hot path.

eventlet's hub names map onto green's backends: ``epolls`` -> epoll, ``poll`` -> poll,
``selects`` -> select. ``EVENTLET_HUB`` is honoured the same way when ``GREEN_HUB`` is not set.
eventlet's asyncio, kqueue and pyevent hubs have no green counterpart (``use_hub`` raises
ValueError naming the choices; green.aio runs asyncio code on green's hub instead).
"""

from __future__ import annotations

import functools
import os
from time import monotonic as _monotonic
from types import ModuleType
from typing import Any, NamedTuple

from greenlet import getcurrent

import green.hubs as _green_hubs
from green.hubs import BlockingInHubError, Hub, get_hub
from green.timeout import Timeout

from .hub import READ, WRITE

__all__ = [
    "READ",
    "WRITE",
    "get_default_hub",
    "get_hub",
    "notify_close",
    "notify_opened",
    "trampoline",
    "use_hub",
]

_NAMES = {"epolls": "epoll", "epoll": "epoll", "poll": "poll", "selects": "select", "select": "select"}


def _green_name(hub: Any) -> str | None:
    if hub is None:
        return None
    if not isinstance(hub, str):
        hub = getattr(hub, "__name__", str(hub)).rsplit(".", 1)[-1]
    name = _NAMES.get(hub.lower())
    if name is None:
        raise ValueError(
            f"eventlet hub {hub!r} has no green counterpart; choose one of epolls, poll, selects"
        )
    return name


if not os.environ.get("GREEN_HUB") and os.environ.get("EVENTLET_HUB"):
    os.environ["GREEN_HUB"] = _green_name(os.environ["EVENTLET_HUB"]) or ""


def use_hub(mod: Any = None) -> None:
    """Use eventlet's hub `mod` (``"epolls"``, ``"poll"``, ``"selects"``, or a module of that name;
    None: the default) for this thread's hub from now on. Raises ValueError for other hubs."""
    _green_hubs.use_hub(_green_name(mod))


def get_default_hub() -> ModuleType:
    """The green backend module the next hub will use."""
    return _green_hubs.backend_module()


def trampoline(
    fd: Any,
    read: bool | None = None,
    write: bool | None = None,
    timeout: float | None = None,
    timeout_exc: Any = Timeout,
    mark_as_closed: Any = None,
) -> None:
    """Park the current green thread until `fd` (a file descriptor or an object with fileno())
    is readable (`read`) or writable (`write`); raise `timeout_exc` after `timeout` seconds.

    Raises RuntimeError when asked for both directions or when called inside the hub, and
    OSError(EBADF) when the fd is closed meanwhile.
    """
    if read and write:
        raise RuntimeError("not allowed to trampoline for reading and writing")
    fileno = fd if isinstance(fd, int) else fd.fileno()
    hub = get_hub()
    if write:
        ready = hub.wait_writable(fileno, timeout)
    else:
        ready = hub.wait_readable(fileno, timeout)
    if not ready:
        raise timeout_exc


def notify_close(fd: int) -> None:
    """`fd` is being closed: wake its waiters with OSError(EBADF) (green's notify_closing)."""
    get_hub().notify_closing(fd)


def notify_opened(fd: int) -> None:
    """`fd` was just returned by the OS, so any waiter on an earlier fd of that number is stale."""
    get_hub().notify_closing(fd)


# -- eventlet's method names on green's Hub ----------------------------------------------------


def _schedule_call_global(self: Hub, seconds: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
    """Run `callback(*args, **kwargs)` in the hub after `seconds` (green's call_later)."""
    if kwargs:
        return self.call_later(seconds, functools.partial(callback, *args, **kwargs))
    return self.call_later(seconds, callback, *args)


def _call_unless_dead(owner: Any, callback: Any, args: tuple, kwargs: dict) -> None:
    if not owner.dead:
        callback(*args, **kwargs)


def _schedule_call_local(self: Hub, seconds: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
    """Like schedule_call_global, but skipped if the calling green thread has ended by then."""
    return self.call_later(seconds, _call_unless_dead, getcurrent(), callback, args, kwargs)


class Listener(NamedTuple):
    """A green thread waiting on an fd, as eventlet's hub reports it."""

    fileno: int
    evtype: str
    greenlet: Any


def _get_readers(self: Hub) -> list[Listener]:
    return [Listener(*waiter) for waiter in self.waiters() if waiter[1] == "read"]


def _get_writers(self: Hub) -> list[Listener]:
    return [Listener(*waiter) for waiter in self.waiters() if waiter[1] == "write"]


def _get_timers_count(self: Hub) -> int:
    """Entries in the timer heap, cancelled ones included until they are cleared (eventlet's
    meaning); `timers_canceled` counts those."""
    return self.timer_heap()[0]


def _timers(self: Hub) -> list:
    """The pending timers, earliest first."""
    return self.pending_timers()


def _greenlet(self: Hub) -> Hub:
    return self


def _running(self: Hub) -> bool:
    """Whether green threads wait on the hub for I/O or are ready to run. green's hub has no loop
    that runs on its own: with nothing of the kind (at most timers) it is as stopped as
    eventlet's after ``abort()``, and resumes when something waits on it again."""
    if self.closed:
        return False
    counts = self.counts()
    return bool(counts["waiters"] or counts["ready"])


def _abort(self: Hub, wait: bool = False) -> None:
    """Let the hub finish what is ready now (with `wait`, from a green thread other than the
    hub); green's hub then idles until something waits on it again."""
    if wait:
        if getcurrent() is self:
            raise BlockingInHubError("cannot abort with wait=True from inside the hub")
        from green.greenthread import sleep

        sleep(0)


def _timers_canceled(self: Hub) -> int:
    return self.timer_heap()[1]


def _set_timer_exceptions(self: Hub, value: bool) -> None:
    """Print (True) or silence (False) exceptions raised by timers (green.debug's hub handler)."""
    from eventlet.debug import hub_exceptions

    hub_exceptions(value)


def _set_debug_listeners(self: Hub, value: bool) -> None:
    """Accepted for compatibility: green.debug.format_run_info shows every waiter's stack."""


def _default_sleep(self: Hub) -> float:
    return 60.0


def _clock(self: Hub) -> float:
    return _monotonic()


for _name, _value in (
    ("schedule_call_global", _schedule_call_global),
    ("schedule_call_local", _schedule_call_local),
    ("get_readers", _get_readers),
    ("get_writers", _get_writers),
    ("get_timers_count", _get_timers_count),
    ("timers", property(_timers)),
    ("greenlet", property(_greenlet)),
    ("running", property(_running)),
    ("abort", _abort),
    ("timers_canceled", property(_timers_canceled)),
    ("set_timer_exceptions", _set_timer_exceptions),
    ("set_debug_listeners", _set_debug_listeners),
    ("default_sleep", _default_sleep),
    ("clock", _clock),
    ("mark_as_reopened", Hub.notify_closing),
    ("READ", READ),
    ("WRITE", WRITE),
):
    if not hasattr(Hub, _name):
        setattr(Hub, _name, _value)
del _name, _value

# Kept importable under eventlet's spelling for code that catches it.
BlockingInHubError = BlockingInHubError
