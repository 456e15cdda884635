"""Timeout: raise an exception in the current green thread after a delay (eventlet semantics)."""

from __future__ import annotations

import functools
from types import TracebackType
from typing import Any, Callable

from greenlet import getcurrent

from green.hubs import get_hub
from green.hubs.hub import Timer

__all__ = ["Timeout", "is_timeout", "with_timeout", "wrap_is_timeout"]

_NONE: Any = object()


class Timeout(BaseException):
    """Raise `exception` (default: this Timeout) in the creating green thread after `seconds`.

    It starts when created. Use it as a context manager to cancel it when the block ends:

        with Timeout(2):            # raises Timeout after 2 s
            ...
        with Timeout(2, False):     # leaves the block silently after 2 s
            ...

    A BaseException, so that ``except Exception`` in the code it interrupts does not swallow it.
    ``seconds=None`` never fires.
    """

    def __init__(self, seconds: float | None = None, exception: Any = None) -> None:
        super().__init__(seconds)
        self.seconds = seconds
        self.exception = exception
        self.timer: Timer | None = None
        self.start()

    def start(self) -> Timeout:
        """Schedule the timeout (again, if it was cancelled). Raises if already pending."""
        if self.pending:
            raise AssertionError(f"{self!r} is already started; cancel() it first")
        if self.seconds is None:
            self.timer = None
            return self
        current = getcurrent()
        hub = get_hub()
        if self.exception is None or self.exception is False or isinstance(self.exception, bool):
            exception: BaseException = self
        elif isinstance(self.exception, BaseException):
            exception = self.exception
        else:
            exception = self.exception()
        self.timer = hub.call_later(self.seconds, _fire, current, exception)
        return self

    @property
    def pending(self) -> bool:
        """True while the timer is scheduled and has not fired."""
        return self.timer is not None and self.timer.pending

    def cancel(self) -> None:
        """Stop the timer; harmless if it already fired or never started."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def __repr__(self) -> str:
        exception = "" if self.exception is None else f" exception={self.exception!r}"
        pending = " pending" if self.pending else ""
        return f"<Timeout at {id(self):#x} seconds={self.seconds}{exception}{pending}>"

    def __str__(self) -> str:
        if self.seconds is None:
            return ""
        suffix = "" if self.exception is None or self.exception is False else " (silent)"
        return f"{self.seconds} second{'s' if self.seconds != 1 else ''}{suffix}"

    @property
    def is_timeout(self) -> bool:
        return True

    def __enter__(self) -> Timeout:
        if not self.pending:
            self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self.cancel()
        return value is self and self.exception is False


def _fire(target: Any, exception: BaseException) -> None:
    if not target.dead:
        target.throw(exception)


def is_timeout(obj: Any) -> bool:
    """True for green Timeouts, TimeoutError and anything marked with `wrap_is_timeout`."""
    return bool(getattr(obj, "is_timeout", False)) or isinstance(obj, TimeoutError)


def wrap_is_timeout(base: Callable[..., BaseException]) -> Callable[..., BaseException]:
    """Wrap an exception factory so the exceptions it makes satisfy `is_timeout`."""

    @functools.wraps(base)
    def make(*args: Any, **kwargs: Any) -> BaseException:
        exception = base(*args, **kwargs)
        exception.is_timeout = True  # type: ignore[attr-defined]
        return exception

    return make


def with_timeout(seconds: float | None, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``function(*args, **kwargs)`` under a Timeout of `seconds`.

    If the time runs out, return the keyword argument ``timeout_value`` if it was given,
    else raise the Timeout.
    """
    timeout_value = kwargs.pop("timeout_value", _NONE)
    timeout = Timeout(seconds)
    try:
        return function(*args, **kwargs)
    except Timeout as error:
        if error is timeout and timeout_value is not _NONE:
            return timeout_value
        raise
    finally:
        timeout.cancel()
