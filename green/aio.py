"""asyncio on the green hub: asyncio tasks and green threads on one OS thread, calling each other.

Why it looks like this
----------------------
An asyncio event loop spends its idle time in one call, ``selector.select(timeout)``; everything
else it does is run callbacks. `GreenEventLoop` is the stdlib's `SelectorEventLoop` with one
part replaced: its selector, `GreenSelector`, keeps the loop's registrations in a private kernel
selector (epoll on Linux, kqueue on BSD/macOS) and, instead of sleeping in it, *parks the green
thread that runs the loop* on the hub, waiting for that selector's own fd to become readable (an
epoll or kqueue fd is readable when one of its registered fds is ready). While the loop's green
thread is parked, the hub runs green threads; when asyncio I/O is ready or the loop's next timer
is due, the hub resumes the loop. So the loop runs inside a green thread (or the main green
thread, for ``asyncio.run``), one hub serves both worlds, and neither starves the other: when the
loop has work and would not sleep (``select(0)``), it still gives the hub one turn per iteration.

Two things the stock loop cannot know:

* A green thread (not a coroutine) may schedule work on the loop while the loop sleeps: set a
  future's result, create a task. The stock loop would only notice at its next wake-up, so
  `GreenEventLoop` overrides `call_soon` and `call_at` to resume a parked loop at the hub's next
  turn (one attribute test when the loop is not parked).
* asyncio records "the running loop" per OS thread. While the loop's green thread is parked,
  other green threads are not running inside the loop, so the selector clears that record for
  the time it is parked and restores it when resumed: a green thread calling
  ``asyncio.get_running_loop()`` gets the truth (RuntimeError), and another green thread may run
  an event loop of its own (``asyncio.run`` in a green thread works).

Crossing the boundary:

* `run_coroutine(coro)` (green thread -> asyncio) creates a task on the running green loop (or on
  a background loop started in a green thread on first use) and parks the calling green thread
  on a `Waiter` woken by the task's done callback. Killing the green thread, a `green.Timeout`, or
  the `timeout` argument cancels the task and waits for it to finish before the exception
  continues.
* ``await spawn(fn, *args)`` (asyncio -> green thread) starts a green thread whose exit settles an
  asyncio future. Cancelling the awaiting task kills the green thread and waits for it to end; a
  green thread killed from elsewhere cancels the awaiting task.
"""

from __future__ import annotations

import asyncio
from asyncio import events
from typing import Any, Awaitable, Callable, Coroutine, TypeVar

from greenlet import GreenletExit, getcurrent, greenlet

from green._stdlib import original
from green._waiter import Waiter
from green.greenthread import GreenThread, kill
from green.greenthread import spawn as green_spawn
from green.hubs import get_hub
from green.hubs.hub import TIMED_OUT, Hub

__all__ = [
    "EventLoopPolicy",
    "GreenEventLoop",
    "GreenSelector",
    "new_event_loop",
    "run_coroutine",
    "shutdown_background_loop",
    "spawn",
]

T = TypeVar("T")

_selectors = original("selectors")
_thread = original("_thread")

if hasattr(_selectors, "EpollSelector"):
    _KernelSelector: Any = _selectors.EpollSelector
elif hasattr(_selectors, "KqueueSelector"):
    _KernelSelector = _selectors.KqueueSelector
else:  # pragma: no cover - platforms without epoll or kqueue
    _KernelSelector = None


class _PerThread(_thread._local):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        self.running: list[GreenEventLoop] = []
        self.background: GreenEventLoop | None = None
        self.background_thread: GreenThread | None = None


_per_thread = _PerThread()


class GreenSelector(_KernelSelector or object):  # type: ignore[misc]
    """A `selectors` selector whose `select` parks the calling green thread on the hub.

    Registrations live in a kernel selector of their own (epoll or kqueue) whose fd the hub
    watches. Raises RuntimeError on platforms with neither epoll nor kqueue, and
    BlockingInHubError if `select` is called from inside the hub.
    """

    def __init__(self) -> None:
        if _KernelSelector is None:
            raise RuntimeError("green.aio needs epoll or kqueue")
        super().__init__()
        self._hub: Hub | None = None
        self._parked: greenlet | None = None
        self._generation = 0
        self._wake_pending = False

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        hub = self._hub
        if hub is None:
            hub = self._hub = get_hub()
        ready = super().select(0)
        running = events._get_running_loop()
        events._set_running_loop(None)
        try:
            if ready or (timeout is not None and timeout <= 0):
                # Work to do: still let the hub turn once, so green threads are not starved.
                hub.wait_readable(self.fileno(), 0)
                if ready:
                    return ready
            else:
                self._generation += 1
                self._parked = getcurrent()
                try:
                    hub.wait_readable(self.fileno(), timeout)
                finally:
                    self._parked = None
        finally:
            events._set_running_loop(running)
        return super().select(0)

    def wakeup(self) -> None:
        """Resume the green thread parked in `select` at the hub's next turn (no-op if none is)."""
        if self._parked is not None and not self._wake_pending and self._hub is not None:
            self._wake_pending = True
            self._hub.call_soon(self._wake, self._generation)

    def _wake(self, generation: int) -> None:
        self._wake_pending = False
        parked = self._parked
        if parked is not None and generation == self._generation:
            parked.switch()

    def close(self) -> None:
        if self._hub is not None:
            self._hub.notify_closing(self.fileno())
        super().close()


class GreenEventLoop(asyncio.SelectorEventLoop):  # type: ignore[misc,valid-type]
    """An asyncio event loop whose waits for I/O and timers are served by the green hub.

    Run it like any asyncio loop (``run_until_complete``, ``run_forever``, ``asyncio.run`` with
    `EventLoopPolicy`) from a green thread or the main green thread; other green threads run
    whenever it waits, and it gives the hub a turn on every iteration. One difference from the
    stdlib loop: it must be run on the OS thread whose hub it uses.
    """

    def __init__(self, selector: GreenSelector | None = None) -> None:
        # The stdlib's __del__ reads this: a loop whose selector cannot be made (no epoll or
        # kqueue) must be collected quietly. Its own initialiser sets it to False.
        self._closed = True
        if selector is None:
            selector = GreenSelector()
        # Set before the stdlib initialiser, which may already schedule callbacks.
        self._green_selector = selector
        self._green_thread: greenlet | None = None
        super().__init__(selector)

    def call_soon(  # type: ignore[override]
        self, callback: Callable[..., Any], *args: Any, context: Any = None
    ) -> asyncio.Handle:
        handle = super().call_soon(callback, *args, context=context)
        if self._green_selector._parked is not None:
            self._green_selector.wakeup()
        return handle

    def call_at(  # type: ignore[override]
        self, when: float, callback: Callable[..., Any], *args: Any, context: Any = None
    ) -> asyncio.TimerHandle:
        handle = super().call_at(when, callback, *args, context=context)
        if self._green_selector._parked is not None:
            self._green_selector.wakeup()
        return handle

    def run_forever(self) -> None:
        running = _per_thread.running
        self._green_thread = getcurrent()
        running.append(self)
        try:
            super().run_forever()
        finally:
            running.remove(self)
            self._green_thread = None


def new_event_loop() -> GreenEventLoop:
    """A new asyncio event loop running on the calling OS thread's green hub."""
    return GreenEventLoop()


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):  # type: ignore[misc,valid-type]
    """The asyncio policy whose loops are `GreenEventLoop`s:
    ``asyncio.set_event_loop_policy(green.aio.EventLoopPolicy()); asyncio.run(main())``."""

    _loop_factory = GreenEventLoop


# -- green thread -> asyncio ----------------------------------------------------------------------


def _background_loop() -> GreenEventLoop:
    state = _per_thread
    loop = state.background
    if loop is None or loop.is_closed():
        loop = state.background = GreenEventLoop()
        thread = state.background_thread = green_spawn(loop.run_forever)
        thread.name = "green.aio background loop"
    return loop


def _loop_for_green_thread() -> GreenEventLoop:
    running = _per_thread.running
    if running:
        return running[-1]
    return _background_loop()


def shutdown_background_loop() -> None:
    """Stop and close the calling OS thread's background loop (the one `run_coroutine` starts
    when no green event loop runs), after cancelling its remaining tasks. Harmless if there is
    none. While that loop exists it waits on an fd, so the hub never reports an idle program with
    `LoopExit`; call this when done with asyncio."""
    state = _per_thread
    loop, thread = state.background, state.background_thread
    state.background = state.background_thread = None
    if loop is None or thread is None:
        return
    if not loop.is_closed():
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            run_coroutine(asyncio.wait(tasks), loop=loop)
        loop.call_soon(loop.stop)
    thread.wait()
    if not loop.is_closed():
        loop.close()


def _cancel_and_wait(task: asyncio.Future, hub: Hub) -> None:
    if task.done():
        return
    task.cancel()
    waiter = Waiter(hub)
    task.add_done_callback(lambda _: waiter.wake())
    if not task.done():
        waiter.wait()


def run_coroutine(
    coro: Coroutine[Any, Any, T] | Awaitable[T],
    *,
    timeout: float | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
) -> T:
    """Run `coro` as an asyncio task and park the calling green thread until it finishes; return
    its result or raise its exception. Other green threads (and asyncio tasks) keep running.

    The task runs on `loop` if given, else on the green event loop running on this OS thread
    (e.g. under ``asyncio.run`` with `EventLoopPolicy`), else on a background `GreenEventLoop`
    started in a green thread on first use (see `shutdown_background_loop`). A loop of another OS
    thread is accepted too (through ``asyncio.run_coroutine_threadsafe``).

    Raises TimeoutError after `timeout` seconds, having cancelled the task. Killing the calling
    green thread (or a `green.Timeout` expiring in it) cancels the task too; the exception
    continues once the task has finished. A task cancelled from the asyncio side raises
    asyncio.CancelledError here. Raises RuntimeError when called from the green thread that runs
    the loop itself (that would wait for itself: use ``await`` there).
    """
    hub = get_hub()
    if loop is None:
        loop = _loop_for_green_thread()
    if isinstance(loop, GreenEventLoop) and loop._green_thread is getcurrent():
        if asyncio.iscoroutine(coro):
            coro.close()
        raise RuntimeError("run_coroutine() called from the event loop's own green thread; await instead")
    loop_thread = getattr(loop, "_thread_id", None)  # set by asyncio while the loop runs
    if not isinstance(loop, GreenEventLoop) or loop_thread not in (None, _thread.get_ident()):
        return _run_in_foreign_loop(coro, loop, hub, timeout)
    task = asyncio.ensure_future(coro, loop=loop)
    waiter = Waiter(hub)
    task.add_done_callback(lambda _: waiter.wake())
    try:
        outcome = waiter.wait(timeout) if not task.done() else None
    except BaseException:
        _cancel_and_wait(task, hub)
        raise
    if outcome is TIMED_OUT:
        _cancel_and_wait(task, hub)
        raise TimeoutError(f"coroutine did not finish within {timeout} s")
    return task.result()


def _run_in_foreign_loop(coro: Any, loop: asyncio.AbstractEventLoop, hub: Hub, timeout: float | None) -> Any:
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    waiter = Waiter(hub)
    hub.add_reference()
    future.add_done_callback(lambda _: hub.call_soon_threadsafe(waiter.wake))
    try:
        try:
            outcome = waiter.wait(timeout) if not future.done() else None
        except BaseException:
            future.cancel()
            raise
        if outcome is TIMED_OUT:
            future.cancel()
            raise TimeoutError(f"coroutine did not finish within {timeout} s")
        return future.result()
    finally:
        hub.remove_reference()


# -- asyncio -> green thread ----------------------------------------------------------------------


def _settle(thread: GreenThread, future: asyncio.Future) -> None:
    if future.done():
        return
    try:
        result = thread.wait()
    except GreenletExit:
        future.cancel()
    except BaseException as error:
        future.set_exception(error)
    else:
        future.set_result(result)


def _settle_exit(thread: GreenThread, exited: asyncio.Future) -> None:
    if not exited.done():
        exited.set_result(None)


async def spawn(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``function(*args, **kwargs)`` in a new green thread and return its result (or raise
    its exception) to the awaiting coroutine, which waits without blocking the loop.

    Cancelling the awaiting task kills the green thread (GreenletExit raised in it) and waits for
    it to end before CancelledError continues; a green thread killed from elsewhere cancels the
    awaiting task. Raises RuntimeError unless the running loop is a `GreenEventLoop` (another
    loop would never let the green thread run).
    """
    loop = asyncio.get_running_loop()
    if not isinstance(loop, GreenEventLoop):
        raise RuntimeError("green.aio.spawn() needs a green event loop (green.aio.EventLoopPolicy)")
    future: asyncio.Future = loop.create_future()
    thread = green_spawn(function, *args, **kwargs)
    thread.link(_settle, future)
    try:
        return await future
    except asyncio.CancelledError:
        if not thread.dead:
            exited: asyncio.Future = loop.create_future()
            thread.link(_settle_exit, exited)
            get_hub().call_soon(kill, thread)
            await exited
        raise
