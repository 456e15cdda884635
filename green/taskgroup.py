"""TaskGroup: structured concurrency for green threads.

Why it looks like this
----------------------
A green thread started with `spawn` and never waited for can fail unseen, and it can outlive the
code that started it. A TaskGroup ties the lifetime of green threads to a ``with`` block:

    with green.TaskGroup() as group:
        group.spawn(fetch, "a")
        group.spawn(fetch, "b")
    # both have ended here, and their failures were raised here

The rules (asyncio.TaskGroup's and trio's nurseries', in green-thread terms):

* The block ends only when every child has ended.
* The first child that fails cancels the group: every other child is killed (GreenletExit) and
  the body, if it is still running, gets `TaskGroupCancelled` at its next wait. The exception
  never escapes the group: ``__exit__`` replaces it with the children's errors.
* The block raises the children's failures: one as itself, several as an ExceptionGroup
  (the ``exceptiongroup`` backport on Python 3.10, where it is not built in).
* An ordinary exception (an `Exception`) raised by the body cancels the children and is raised
  together with their failures, if any.
* A cancellation of the parent itself -- a `Timeout` firing, ``kill()``, KeyboardInterrupt,
  anything that is not an `Exception` -- kills the children, waits for them, and propagates
  unchanged, so ``with Timeout(5, False):`` around a group still recognises its own Timeout.
* Killing a child does not fail the group; only exceptions other than GreenletExit do.

Cancellation is delivered the way `kill` and `Timeout` deliver it: the hub throws into the
parked green thread, and that thread's own ``finally`` clauses tidy its waits. Nothing is thrown
into the body once it has reached ``__exit__``; a cancellation scheduled earlier checks that
when it is delivered, so it can never land in code after the block.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, Callable

from greenlet import GreenletExit, getcurrent, greenlet

from green._greenlets import throw_if_alive as _throw_if_alive
from green.event import Event
from green.greenthread import GreenThread
from green.hubs import get_hub

if sys.version_info >= (3, 11):
    from builtins import BaseExceptionGroup, ExceptionGroup
else:  # pragma: no cover - exercised by the py310 tox env
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup

__all__ = ["BaseExceptionGroup", "ExceptionGroup", "TaskGroup", "TaskGroupCancelled"]


class TaskGroupCancelled(BaseException):
    """Thrown into the body of a TaskGroup when one of its children failed.

    ``__exit__`` of that group swallows it and raises the children's errors instead. It is a
    BaseException so that ``except Exception`` in the interrupted code does not catch it.
    """

    def __init__(self, group: TaskGroup) -> None:
        super().__init__(f"cancelled because a green thread of {group!r} failed")
        self.group = group


class TaskGroup:
    """A scope for green threads: ``with TaskGroup() as group: group.spawn(function, ...)``.

    See the module documentation for the rules. Raises RuntimeError when `spawn` is called
    outside the ``with`` block, or when the group is entered twice.
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self._hub: Any = None
        self._parent: greenlet | None = None
        self._children: set[GreenThread] = set()
        self._errors: list[BaseException] = []
        self._state = "new"  # new -> body -> exiting -> done
        self._cancelling = False
        self._all_done: Event | None = None

    def __repr__(self) -> str:
        name = f" {self.name}" if self.name else ""
        return f"<TaskGroup{name} {self._state} children={len(self._children)} errors={len(self._errors)}>"

    @property
    def cancelled(self) -> bool:
        """True once the group cancels its children (a child failed, the body raised, or the
        parent was cancelled)."""
        return self._cancelling

    def spawn(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> GreenThread:
        """Run ``function(*args, **kwargs)`` in a new green thread belonging to the group.

        Callable from the body and from the group's children until the block has ended. A
        child spawned into a group that is already cancelling is killed before it starts.
        """
        if self._state in ("new", "done"):
            raise RuntimeError(f"{self!r}: spawn() is only possible inside the with block")
        hub = self._hub
        thread = GreenThread(function, args, kwargs, None, hub)
        self._children.add(thread)
        thread.link(self._child_ended)
        hub.schedule((thread.switch, ()))
        if self._cancelling:
            _cancel_thread(hub, thread)
        return thread

    def cancel(self) -> None:
        """Kill every child and interrupt the body with TaskGroupCancelled, without an error:
        the block then ends quietly (unless a child failed)."""
        if self._state in ("new", "done"):
            return
        self._cancel()

    # -- the with block -----------------------------------------------------------------------

    def __enter__(self) -> TaskGroup:
        if self._state != "new":
            raise RuntimeError(f"{self!r} cannot be entered twice")
        self._hub = get_hub()
        self._parent = getcurrent()
        self._state = "body"
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> bool:
        self._state = "exiting"
        propagate: BaseException | None = None
        if value is not None and not self._is_ours(value):
            if isinstance(value, Exception):
                self._errors.insert(0, value)
            else:
                propagate = value
            self._cancel()
        while self._children:
            if self._all_done is None or self._all_done.ready():
                # Sent when the children were gone, but a late spawn added one meanwhile.
                self._all_done = Event()
            try:
                self._all_done.wait()
            except BaseException as error:
                # The parent was cancelled while it waited for the children (a Timeout, a kill,
                # KeyboardInterrupt): cancel them, wait for them to end, then let it propagate.
                if self._is_ours(error):
                    continue
                if propagate is None:
                    propagate = error
                self._cancel()
        self._state = "done"
        self._parent = None
        errors, self._errors = self._errors, []
        if propagate is not None:
            if propagate is value:
                return False
            raise propagate
        if not errors:
            # The body ended normally, or the group was cancelled without errors.
            return value is not None and self._is_ours(value)
        if len(errors) == 1:
            if errors[0] is value:
                return False
            raise errors[0]
        for failure in errors:
            # KeyboardInterrupt or SystemExit from a child ends the program's wait, not a group.
            if isinstance(failure, (KeyboardInterrupt, SystemExit)):
                raise failure
        message = f"{len(errors)} errors in {self.name or 'a TaskGroup'}"
        if all(isinstance(failure, Exception) for failure in errors):
            raise ExceptionGroup(message, errors)
        raise BaseExceptionGroup(message, errors)

    # -- internals ----------------------------------------------------------------------------

    def _is_ours(self, error: BaseException) -> bool:
        return isinstance(error, TaskGroupCancelled) and error.group is self

    def _child_ended(self, thread: GreenThread) -> None:
        self._children.discard(thread)
        exc_info = thread._exc_info
        if exc_info is not None and not isinstance(exc_info[1], GreenletExit):
            self._errors.append(exc_info[1])
            self._cancel()
        if not self._children and self._all_done is not None and not self._all_done.ready():
            self._all_done.send(None)

    def _cancel(self) -> None:
        if self._cancelling:
            return
        self._cancelling = True
        hub = self._hub
        for child in list(self._children):
            _cancel_thread(hub, child)
        if self._state == "body":
            hub.schedule((self._interrupt_body, (TaskGroupCancelled(self),)))

    def _interrupt_body(self, error: TaskGroupCancelled) -> None:
        # Runs in the hub, so the parent is parked; it may have reached __exit__ meanwhile.
        parent = self._parent
        if self._state == "body" and parent is not None and not parent.dead:
            parent.throw(error)


def _cancel_thread(hub: Any, thread: GreenThread) -> None:
    """Kill `thread` at the hub's next turn without waiting for it (unlike `kill`)."""
    if thread.dead:
        return
    if not thread:
        # Not started: it is on the ready queue already and dies as soon as it starts.
        thread._killed_before_start = GreenletExit()
        return
    hub.schedule((_throw_if_alive, (thread, GreenletExit())))
