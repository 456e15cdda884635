"""Two greenlet helpers every layer of green uses (defined once here)."""

from __future__ import annotations

from greenlet import getcurrent, greenlet


def throw_if_alive(thread: greenlet, exception: BaseException) -> None:
    """Raise `exception` in `thread` unless it has ended (a scheduled kill or interrupt whose
    target may have died meanwhile)."""
    if not thread.dead:
        thread.throw(exception)


def root_of(thread: greenlet | None = None) -> greenlet:
    """The main greenlet of the OS thread of `thread` (default: the calling greenlet)."""
    if thread is None:
        thread = getcurrent()
    while thread.parent is not None:
        thread = thread.parent
    return thread
