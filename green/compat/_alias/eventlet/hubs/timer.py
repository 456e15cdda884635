"""eventlet.hubs.timer: eventlet's Timer and LocalTimer, made by hand and run by green's hub.

``Timer(seconds, callback, *args, **kwargs)`` is a callback that runs once, `seconds` after
``schedule()`` (which hands it to the calling thread's hub, ``hub.call_later``, and returns the
timer); ``cancel()`` prevents it; ``copy()`` makes an unscheduled twin; ``seconds``, ``tpl``
(callback, args, kwargs), ``called`` and ``pending`` are eventlet's attributes. `LocalTimer`
does not run its callback if the green thread that made it has ended by then.
``hub.add_timer(timer)`` schedules one as ``timer.schedule()`` does. The timers that
``hub.schedule_call_global`` returns are green's own (``green.hubs.hub.Timer``: ``cancel()``,
``pending``), not instances of these classes.
"""

from __future__ import annotations

from typing import Any, Callable

from greenlet import getcurrent

from green.hubs import Hub, get_hub

__all__ = ["LocalTimer", "Timer"]


class Timer:
    """A callback run once by the hub, `seconds` after `schedule()`."""

    def __init__(self, seconds: float, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.seconds = seconds
        self.tpl: tuple[Callable[..., Any], tuple, dict] = (callback, args, kwargs)
        self.called = False
        self._scheduled: Any = None  # green's timer, once scheduled

    @property
    def pending(self) -> bool:
        """True until the callback ran or the timer was cancelled."""
        return not self.called

    def __repr__(self) -> str:
        callback, args, kwargs = getattr(self, "tpl", (None, None, None))
        return f"{type(self).__name__}({self.seconds}, {callback}, *{args}, **{kwargs})"

    def copy(self) -> Timer:
        """A new, unscheduled timer with the same delay and callback."""
        callback, args, kwargs = self.tpl
        return type(self)(self.seconds, callback, *args, **kwargs)

    def schedule(self) -> Timer:
        """Run the callback `seconds` from now in the calling thread's hub; returns the timer."""
        return _add_timer(get_hub(), self)

    def __call__(self, *ignored: Any) -> None:
        if self.called:
            return
        self.called = True
        callback, args, kwargs = self.tpl
        try:
            callback(*args, **kwargs)
        finally:
            self._forget()

    def cancel(self) -> None:
        """Prevent the callback from running; harmless if it ran or was cancelled already."""
        if self.called:
            return
        self.called = True
        if self._scheduled is not None:
            self._scheduled.cancel()
        self._forget()

    def _forget(self) -> None:
        # Drop the callback and its arguments (they may hold a lot), as eventlet does.
        self.__dict__.pop("tpl", None)
        self._scheduled = None

    def __lt__(self, other: Timer) -> bool:
        return id(self) < id(other)


class LocalTimer(Timer):
    """A Timer whose callback is skipped if the green thread that made it has ended."""

    def __init__(self, seconds: float, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.greenlet: Any = getcurrent()
        super().__init__(seconds, callback, *args, **kwargs)

    @property
    def pending(self) -> bool:
        """True until the callback ran, the timer was cancelled or its green thread ended."""
        return self.greenlet is not None and not self.greenlet.dead and not self.called

    def __call__(self, *ignored: Any) -> None:
        if self.called:
            return
        if self.greenlet is not None and self.greenlet.dead:
            self.called = True
            self._forget()
            return
        super().__call__()

    def cancel(self) -> None:
        """Prevent the callback from running."""
        self.greenlet = None
        super().cancel()


def _add_timer(self: Hub, timer: Timer) -> Timer:
    """Schedule eventlet's `timer` (Timer or LocalTimer) on this hub."""
    timer.called = False
    timer._scheduled = self.call_later(timer.seconds, timer)
    return timer


if not hasattr(Hub, "add_timer"):
    Hub.add_timer = _add_timer  # type: ignore[attr-defined]
