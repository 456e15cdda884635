"""eventlet.debug on green.debug: blocking detection, hub exceptions, listener and timer reports.

``hub_blocking_detection(True, resolution)`` is green's blocking detector (a watchdog OS thread
that reports, on the ``green.debug`` logger, the stack of a green thread that kept the hub from
turning for `resolution` seconds) with ``interrupt=True``: as under eventlet, a RuntimeError
(``green.debug.BlockingDetected``) is raised in that green thread through SIGALRM.
``hub_exceptions(False)`` silences reports of exceptions in timers and unwaited green threads.
``hub_prevent_multiple_readers`` is always on in green (two readers of one fd are an error
naming both), so turning it off only warns; ``hub_listener_stacks`` and ``hub_timer_stacks`` are
not needed (green's `format_run_info` shows every waiting green thread's stack).
"""

from __future__ import annotations

import linecache
import re
import sys
import warnings
from typing import Any

from green.debug import (
    disable_blocking_detector,
    enable_blocking_detector,
    format_run_info,
    set_hub_exception_handler,
)
from green.hubs import get_hub

__all__ = [
    "format_hub_listeners",
    "format_hub_timers",
    "format_run_info",
    "hub_blocking_detection",
    "hub_exceptions",
    "hub_listener_stacks",
    "hub_prevent_multiple_readers",
    "hub_timer_stacks",
    "spew",
    "tpool_exceptions",
    "unspew",
]


def format_hub_listeners() -> str:
    """The green threads waiting on file descriptors, one per line."""
    lines = ["READERS:"]
    waiters = get_hub().waiters()
    lines += [f"fd {fd}: {thread!r}" for fd, direction, thread in waiters if direction == "read"]
    lines.append("WRITERS:")
    lines += [f"fd {fd}: {thread!r}" for fd, direction, thread in waiters if direction == "write"]
    return "\n".join(lines)


def format_hub_timers() -> str:
    """The hub's pending timers, earliest first, one per line."""
    return "\n".join(["TIMERS:", *(repr(timer) for timer in get_hub().pending_timers())])


def hub_blocking_detection(state: bool = False, resolution: float = 1) -> None:
    """Interrupt green threads that keep the hub from turning for `resolution` seconds: a
    RuntimeError (green.debug.BlockingDetected) is raised in them, as eventlet's alarm did
    (main OS thread only), and the stall is reported with its stack."""
    if state:
        enable_blocking_detector(threshold=resolution, interrupt=True)
    else:
        disable_blocking_detector()


def _silent(where: str, exc_info: tuple) -> None:
    pass


def hub_exceptions(state: bool = True) -> None:
    """Print (True, the default) or silence (False) exceptions nobody waits for."""
    set_hub_exception_handler(None if state else _silent)


def tpool_exceptions(state: bool = False) -> None:
    """Accepted for compatibility: green's tpool always re-raises an exception in the caller."""


def hub_listener_stacks(state: bool = False) -> None:
    """Accepted for compatibility: green.debug.format_run_info shows every waiter's stack."""


def hub_timer_stacks(state: bool = False) -> None:
    """Accepted for compatibility: green.debug.format_run_info shows every pending timer."""


def hub_prevent_multiple_readers(state: bool = True) -> None:
    """green always refuses a second reader (or writer) of one fd: a second green thread that
    waits to read an fd another one waits on raises RuntimeError naming both. ``state=False``
    cannot turn that off; it warns (RuntimeWarning) so that a program calling it at start-up
    still starts, and fails only if two readers ever meet."""
    if not state:
        warnings.warn(
            "hub_prevent_multiple_readers(False) has no effect: green's hub never lets two green "
            "threads wait to read (or write) one fd at once; the second raises RuntimeError",
            RuntimeWarning,
            stacklevel=2,
        )


class Spew:
    """A trace function printing each line executed (see `spew`): ``module:line: source``, then
    (with `show_values`) the value of each name on that line that is a local or a global. Code
    with no source file prints ``[unknown]:line (VM instruction #n)``."""

    def __init__(self, trace_names: Any = None, show_values: bool = True) -> None:
        self.trace_names = trace_names
        self.show_values = show_values

    def __call__(self, frame: Any, event: str, arg: Any) -> Any:
        if event != "line":
            return self
        lineno = frame.f_lineno
        filename = frame.f_globals.get("__file__")
        if filename:
            name = frame.f_globals.get("__name__", "?")
            if filename.endswith((".pyc", ".pyo")):
                filename = filename[:-1]
            source = linecache.getline(filename, lineno).rstrip()
        else:
            name = "[unknown]"
            source = f"(VM instruction #{frame.f_lasti})"
        if self.trace_names is not None and name not in self.trace_names:
            return self
        write = sys.stdout.write
        write(f"{name}:{lineno}: {source}\n")
        if self.show_values and filename:
            seen: set[str] = set()
            for word in _IDENTIFIER.findall(source):
                if word in seen:
                    continue
                seen.add(word)
                if word in frame.f_locals:
                    write(f"\t{word}={frame.f_locals[word]!r}\n")
                elif word in frame.f_globals:
                    write(f"\t{word}={frame.f_globals[word]!r}\n")
        return self


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def spew(trace_names: Any = None, show_values: bool = False) -> None:
    """Print every line executed (in modules named in `trace_names`, if given)."""
    sys.settrace(Spew(trace_names, show_values))


def unspew() -> None:
    """Stop `spew`."""
    sys.settrace(None)
