"""A deterministic profiler that understands green threads: the stdlib `profile` module with a
`Profile` class that keeps one call stack per green thread.

Why it is needed
----------------
The stdlib's `profile.Profile` keeps *one* stack of the calls in progress and checks each
event against it: a call must come from the frame on top, a return must be of that frame. Green
threads break that model: when one green thread switches to the hub, the next events come from
the hub's frames (or another green thread's), which are not on that stack, and the stdlib
profiler fails with ``AssertionError: ('Bad call', ...)`` (or, under ``python -O``, charges
time to the wrong functions).

How it works
------------
`Profile` keeps the stdlib's stack in ``self.cur`` as before, but one per greenlet: before it
hands an event to the stdlib's dispatcher it looks at ``greenlet.getcurrent()`` and, when that
changed since the last event, puts the stack of the greenlet that ran away and takes out the
stack of the one that runs now (the first time, a new stack whose root entry is named after
the greenlet's class: ``<GreenThread>``, ``<Hub>``). A greenlet met in the middle of its stack
(the hub, or any green thread that was already running when profiling started) returns from
frames the profiler never saw enter; those returns are ignored. Time between two events goes, as in the stdlib, to the function on top of
the stack of the greenlet that runs at the second event: the time a green thread waits (parked
on the hub) is charged to the hub's functions (such as the backend's poll), not to the waiting
function, whose cumulative time therefore counts only the time it ran. Stacks are held weakly:
a finished green thread's stack goes with it.

Everything else (`run`, `runctx`, `runcall`, `print_stats`, `dump_stats`, `pstats`) is the
stdlib's. `cProfile` is a C module whose stack cannot be switched this way; it is not replaced.
"""

from __future__ import annotations

import profile as _profile
import weakref as _weakref
from typing import Any, Callable

from greenlet import getcurrent as _getcurrent

from green._stdlib import reexport as _reexport

__green__ = "profile"
__implements__ = ["Profile", "run", "runctx"]
__removes__: list[str] = []

_reexport(globals(), _profile, __implements__, __removes__)

__all__ = ["Profile", "run", "runctx"]

_RETURNS = frozenset({"return", "c_return", "c_exception"})


class Profile(_profile.Profile):
    """The stdlib's `profile.Profile`, with one call stack per green thread (see the module
    docstring). Same constructor (`timer`, `bias`) and methods."""

    # The stdlib's attributes (untyped there): the stack of calls in progress and the table
    # of functions.
    cur: Any
    timings: dict[Any, Any]
    dispatcher: Any

    def __init__(self, timer: Callable[[], float] | None = None, bias: float | None = None) -> None:
        super().__init__(timer, bias)  # type: ignore[arg-type]
        # The stack the stdlib's __init__ just built (with its "profiler" entry) is this
        # greenlet's.
        self._greenlet: Any = _getcurrent()
        self._stacks: _weakref.WeakKeyDictionary[Any, Any] = _weakref.WeakKeyDictionary()
        self._dispatch_event = self.dispatcher
        self.dispatcher = self._dispatch_green

    def _dispatch_green(self, frame: Any, event: str, arg: Any) -> Any:
        current = _getcurrent()
        if current is not self._greenlet:
            self._switch_stack(current)
        if event in _RETURNS and self.cur[-1] is None:
            # Only the greenlet's root entry is left: this returns from a frame entered before
            # the greenlet was first seen, which is on no stack.
            return None
        return self._dispatch_event(frame, event, arg)

    def _switch_stack(self, current: Any) -> None:
        previous = self._greenlet
        self._count_active(self.cur, -1)
        if not previous.dead:
            self._stacks[previous] = self.cur
        self._greenlet = current
        stack = self._stacks.pop(current, None)
        self._count_active(stack, 1)
        if stack is None:
            # A greenlet seen for the first time: its stack starts with a root entry named
            # after its class (<GreenThread>, <Hub>, <greenlet>), as the stdlib's starts with
            # "profiler"; the functions it runs are charged below that root.
            self.cur = None
            self.simulate_call(f"<{type(current).__name__}>")
        else:
            self.cur = stack

    def _count_active(self, stack: Any, delta: int) -> None:
        """Add `delta` to the count of active frames (second field of ``timings``) of each
        function on `stack`. The stdlib charges a function's cumulative time only when its
        outermost active frame returns (recursion); counting the running greenlet's frames only
        keeps the same function running in other green threads from looking like recursion."""
        timings = self.timings
        while stack is not None:
            function = stack[3]
            entry = timings.get(function)
            if entry is not None:
                calls, active, own_time, cumulative, callers = entry
                timings[function] = calls, active + delta, own_time, cumulative, callers
            stack = stack[5]

    def create_stats(self) -> None:
        """Close the calls in progress of the calling green thread (as the stdlib does for its
        one stack) and build the stats."""
        current = _getcurrent()
        if current is not self._greenlet:
            self._switch_stack(current)
        super().create_stats()


def run(statement: str, filename: str | None = None, sort: Any = -1) -> Any:
    """Profile `statement` (run in ``__main__``'s namespace) with green's `Profile`; print the
    stats, or save them to `filename`. As the stdlib's `profile.run`."""
    return _profile._Utils(Profile).run(statement, filename, sort)  # type: ignore[attr-defined]


def runctx(statement: str, globals: dict, locals: Any, filename: str | None = None, sort: Any = -1) -> Any:
    """Profile `statement` in the given namespaces with green's `Profile`; print the stats, or
    save them to `filename`. As the stdlib's `profile.runctx`."""
    return _profile._Utils(Profile).runctx(statement, globals, locals, filename, sort)  # type: ignore[attr-defined]
