"""Green replacement of the stdlib `_thread` module: the layer `threading` and `queue` stand on.

Why it looks like this
----------------------
The stdlib's `threading` is pure Python over `_thread`: locks, ``start_new_thread`` (3.13+:
``start_joinable_thread`` and ``_ThreadHandle``), ``get_ident`` and a per-thread sentinel lock.
Give it green versions of those few primitives and every higher object -- ``Thread``,
``Condition``, ``Event``, ``Semaphore``, ``Barrier``, ``Timer``, ``queue.Queue``,
``ThreadPoolExecutor`` -- runs cooperatively with no code of its own here.

Decisions:

* **Identity.** ``get_ident()`` of a green thread is ``id()`` of its greenlet. The root greenlet of
  an OS thread (the main green thread) keeps the *real* thread ident, so `threading`'s main thread
  object, created before or after patching, still matches ``get_ident()`` in the main green thread,
  and ``threading._shutdown`` (called by the interpreter at exit) recognises it.
* **Locks are green, across OS threads too.** A `LockType` keeps its waiters in FIFO order and hands
  the lock straight to the first one on release, so a green thread that waited cannot be
  overtaken. Its state is guarded by a tiny real lock (held for a few bytecodes, never across a
  switch), and a waiter parked in another OS thread's hub is woken with ``call_soon_threadsafe``:
  a green lock stays correct when plain OS threads (started before patching, or through
  `original("_thread")`) share it. While real OS threads exist, a waiting green thread holds a
  reference on its hub, so an otherwise idle hub sleeps instead of reporting `LoopExit`; a plain
  OS thread without a hub waits on a real lock (both in `green._waiter`).
* **Sentinels.** ``_set_sentinel()`` (3.12 and older) returns a lock the new thread acquires and
  that is released when the green thread ends: `threading` joins threads, and waits for non-daemon ones at interpreter exit, by
  acquiring it. 3.13+ uses `_ThreadHandle` objects instead, and ``_shutdown()`` joins the
  non-daemon ones; both paths park the main green thread while the others finish.
* **Exceptions.** As in `_thread`: ``SystemExit`` ends the thread quietly, anything else goes to
  ``sys.unraisablehook``. ``KeyboardInterrupt`` is the exception: a signal handler may raise it in
  whatever green thread happens to run, so it is passed to the hub, which re-raises it in the main
  green thread.
* Import locks are untouched: ``importlib`` bound the real `_thread` long before any patching.
"""

from __future__ import annotations

import collections
import sys
from typing import Any, Callable

from greenlet import getcurrent, greenlet

from green._compiled import core as _core
from green._greenlets import root_of as _root_of
from green._greenlets import throw_if_alive as _throw_if_alive
from green._local import local as _green_local
from green._stdlib import original
from green._stdlib import reexport as _reexport
from green._waiter import Waiter, forget_waiter
from green._waiter import allocate_guard as _allocate_guard
from green.hubs import get_hub

__green__ = "_thread"

_thread = original("_thread")
_real_get_ident = _thread.get_ident

error = _thread.error
TIMEOUT_MAX = _thread.TIMEOUT_MAX
_switch_into = greenlet.switch


def get_ident() -> int:
    """The identity of the calling green thread: ``id()`` of its greenlet, or the OS thread's real
    ident in the OS thread's main (root) green thread."""
    try:
        current = getcurrent()
    except RuntimeError:  # "greenlet is being finalized": the interpreter is shutting down
        return _real_get_ident()
    if current.parent is None or type(current) is ForMainThread:
        return _real_get_ident()
    return id(current)


class ForMainThread(greenlet):
    """A greenlet that runs code on behalf of its OS thread's main green thread, and has its
    identity: `get_ident()` (so `threading.current_thread()`) answers as there. green.signal runs
    a Python signal handler in one when the signal interrupts another green thread: CPython runs
    handlers in the main thread, and handlers (and tests) check that they do."""


class LockType:
    """A green lock: ``acquire`` parks only the calling green thread.

    Same API and errors as ``_thread.LockType``; any green thread (or OS thread) may release it.
    Waiters are served in FIFO order.
    """

    __slots__ = ("_locked", "_waiters", "_guard", "__weakref__")

    def __init__(self) -> None:
        self._locked = False
        self._waiters: collections.deque[Waiter] = collections.deque()
        self._guard = _allocate_guard()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock; returns False if not `blocking` or `timeout` seconds pass first.

        Raises ValueError for a timeout with ``blocking=False`` or a negative timeout other than -1,
        OverflowError above TIMEOUT_MAX, BlockingInHubError when it would have to wait in the hub.
        """
        if not blocking and timeout != -1:
            raise ValueError("can't specify a timeout for a non-blocking call")
        if timeout < 0 and timeout != -1:
            raise ValueError("timeout value must be positive")
        if timeout > TIMEOUT_MAX:
            raise OverflowError("timeout value is too large")
        guard = self._guard
        guard.acquire()
        if not self._locked:
            self._locked = True
            guard.release()
            return True
        if not blocking:
            guard.release()
            return False
        waiter = Waiter()
        self._waiters.append(waiter)
        guard.release()
        try:
            waiter.wait(None if timeout < 0 else timeout)
        except BaseException:
            self._acquire_abandoned(waiter)
            raise
        if waiter.woken:  # set under the guard as `release` hands the lock over: final once seen
            return True
        return self._acquire_unwoken(waiter)

    def _acquire_abandoned(self, waiter: Waiter) -> None:
        # A waiting acquire resumed by an exception (killed, a Timeout).
        with self._guard:
            if waiter.woken:
                handed = True
            else:
                handed = False
                forget_waiter(self._waiters, waiter)
        if handed:  # the lock was handed to us as we left: pass it on
            self.release()

    def _acquire_unwoken(self, waiter: Waiter) -> bool:
        # A waiting acquire resumed without a hand-off seen (its timeout).
        with self._guard:
            if waiter.woken:
                return True
            forget_waiter(self._waiters, waiter)
            return False

    def release(self) -> None:
        """Release the lock, handing it to the longest waiting green thread if there is one.

        Raises RuntimeError if the lock is not locked.
        """
        guard = self._guard
        guard.acquire()
        try:
            if not self._locked:
                raise RuntimeError("release unlocked lock")
            waiters = self._waiters
            while waiters:
                waiter = waiters.popleft()
                if waiter.woken:
                    continue
                waiter.wake(True)  # from any OS thread: the Waiter picks the way in
                return  # still locked: now owned by the woken waiter
            self._locked = False
        finally:
            guard.release()

    def locked(self) -> bool:
        """True if the lock is held."""
        return self._locked

    def _at_fork_reinit(self) -> None:
        self._locked = False
        self._waiters = collections.deque()
        self._guard = _allocate_guard()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    acquire_lock = acquire
    release_lock = release
    locked_lock = locked

    def __repr__(self) -> str:
        state = "locked" if self._locked else "unlocked"
        return f"<{state} green._thread.lock object at {id(self):#x}>"


if _core is not None:
    # The compiled acquire/release (green/_core.c) take a free lock, a plain wait for a held one
    # and the hand-off to a waiter; acquire with other arguments is the Python method.
    LockType._python_acquire = LockType.acquire  # type: ignore[attr-defined]
    LockType.acquire, LockType.release, LockType.__enter__, LockType.__exit__ = _core.methods(  # type: ignore[method-assign]
        "lock", LockType, Waiter
    )
    LockType.acquire_lock = LockType.acquire  # type: ignore[method-assign]
    LockType.release_lock = LockType.release  # type: ignore[method-assign]

# The class itself, not a function: a function stored as a class attribute (``locktype =
# _thread.allocate_lock``, as code written for the C builtin does) would become a method.
allocate_lock = LockType

allocate = allocate_lock
lock = LockType  # 3.13+ also names the class `lock`


class RLock:
    """A green reentrant lock, owned by the green thread that acquired it.

    Same API and errors as ``_thread.RLock`` (including the private methods `threading.Condition`
    uses); releasing it from a green thread that does not own it raises RuntimeError.
    """

    __slots__ = ("_block", "_owner", "_count", "__weakref__")

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # arguments ignored, as by the C class
        self._block = LockType()
        self._owner: int | None = None
        self._count = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = get_ident()
        if self._owner == me:
            self._count += 1
            return True
        if not self._block.acquire(blocking, timeout):
            return False
        self._owner = me
        self._count = 1
        return True

    def release(self) -> None:
        if self._owner != get_ident():
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if not self._count:
            self._owner = None
            self._block.release()

    __enter__ = acquire

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def locked(self) -> bool:
        return self._block.locked()

    def _is_owned(self) -> bool:
        return self._owner == get_ident()

    def _recursion_count(self) -> int:
        return self._count if self._owner == get_ident() else 0

    def _release_save(self) -> tuple[int, int | None]:
        if not self._count:
            raise RuntimeError("cannot release un-acquired lock")
        state = (self._count, self._owner)
        self._count = 0
        self._owner = None
        self._block.release()
        return state

    def _acquire_restore(self, state: tuple[int, int | None]) -> None:
        self._block.acquire()
        self._count, self._owner = state

    def _at_fork_reinit(self) -> None:
        self._block._at_fork_reinit()
        self._owner = None
        self._count = 0

    def __repr__(self) -> str:
        state = "locked" if self._block.locked() else "unlocked"
        return (
            f"<{state} green._thread.RLock object owner={self._owner or 0} "
            f"count={self._count} at {id(self):#x}>"
        )


_local = _green_local


# -- starting green threads -------------------------------------------------------------------


class _ThreadHandle:
    """What 3.13+ `threading` joins: the ident of a green thread and whether it has finished.

    ``join(timeout)`` parks the calling green thread; joining oneself raises RuntimeError.
    """

    __slots__ = ("ident", "_started", "_done", "_joiners", "__weakref__")

    def __init__(self) -> None:
        self.ident: int | None = None
        self._started = False
        self._done = False
        self._joiners: list[Waiter] = []

    def is_done(self) -> bool:
        return self._done

    def _set_done(self) -> None:
        if not self._started:
            raise RuntimeError("thread not started")
        if self._done:
            return
        self._done = True
        joiners, self._joiners = self._joiners, []
        for waiter in joiners:
            waiter.wake(True)

    def join(self, timeout: float | None = None) -> None:
        if not self._started:
            raise RuntimeError("thread not started")
        if self._done:
            return
        if self.ident is not None and self.ident == get_ident():
            raise RuntimeError("Cannot join current thread")
        if timeout is not None and timeout < 0:
            timeout = None
        waiter = Waiter()
        self._joiners.append(waiter)
        try:
            waiter.wait(timeout)
        finally:
            if not waiter.woken:
                try:
                    self._joiners.remove(waiter)
                except ValueError:
                    pass

    def __repr__(self) -> str:
        return f"<green._thread._ThreadHandle ident={self.ident} done={self._done}>"


class _GreenOSThread(greenlet):
    """A green thread started through this module (as `_thread` would start an OS thread)."""

    def __init__(self, function: Callable[..., Any], args: tuple, kwargs: dict, hub: Any) -> None:
        super().__init__(parent=hub)
        self.function: Callable[..., Any] | None = function
        self.args = args
        self.kwargs = kwargs
        self.sentinels: list[LockType] = []
        self.handle: _ThreadHandle | None = None

    def run(self) -> None:  # type: ignore[override]
        global _live
        _live += 1
        function, args, kwargs = self.function, self.args, self.kwargs
        self.function, self.args, self.kwargs = None, (), {}
        try:
            assert function is not None
            function(*args, **kwargs)
        except SystemExit:
            pass
        except KeyboardInterrupt:
            raise  # the hub re-raises it in the main green thread
        except BaseException as problem:
            hook = sys.unraisablehook
            hook(_Unraisable(problem, function))  # type: ignore[arg-type]
        finally:
            _live -= 1
            for lock in self.sentinels:
                if lock.locked():
                    lock.release()
            self.sentinels = []
            if self.handle is not None:
                self.handle._set_done()
                _non_daemon_handles.pop(self.handle, None)
            if self is _fork_survivor:
                _exit_forked_child()


class _Unraisable:
    """The argument `sys.unraisablehook` expects, for an exception that ended a green thread."""

    def __init__(self, problem: BaseException, function: Any) -> None:
        self.exc_type = type(problem)
        self.exc_value = problem
        self.exc_traceback = problem.__traceback__
        # The stdlib changed how it names the function in 3.13.
        if sys.version_info >= (3, 13):
            self.err_msg = f"Exception ignored in thread started by {function!r}"
            self.object = None
        else:
            self.err_msg = "Exception ignored in thread started by"
            self.object = function


_live = 0
_stack_size = 0
_fork_survivor: greenlet | None = None
_non_daemon_handles: dict[_ThreadHandle, None] = {}


def _start(function: Callable[..., Any], args: tuple, kwargs: dict) -> _GreenOSThread:
    hub = get_hub()
    thread = _GreenOSThread(function, args, kwargs, hub)
    hub.schedule((thread.switch, ()))
    return thread


def start_new_thread(function: Callable[..., Any], args: tuple, kwargs: dict | None = None) -> int:
    """Start ``function(*args, **kwargs)`` in a new green thread; returns its ident.

    Raises TypeError like `_thread.start_new_thread` for a non-callable or non-tuple args. The
    green thread first runs at the hub's next turn.
    """
    if not callable(function):
        raise TypeError("first arg must be callable")
    if not isinstance(args, tuple):
        raise TypeError("2nd arg must be a tuple")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError("optional 3rd arg must be a dictionary")
    return id(_start(function, args, kwargs or {}))


start_new = start_new_thread


def start_joinable_thread(
    function: Callable[..., Any], handle: _ThreadHandle | None = None, daemon: bool = True
) -> _ThreadHandle:
    """3.13+: start ``function()`` in a new green thread and return its joinable handle."""
    if not callable(function):
        raise TypeError("thread function must be callable")
    if handle is None:
        handle = _ThreadHandle()
    elif handle._started:
        raise RuntimeError("thread already started")
    handle._started = True
    thread = _start(function, (), {})
    thread.handle = handle
    handle.ident = id(thread)
    if not daemon:
        _non_daemon_handles[handle] = None
    return handle


def _make_thread_handle(ident: int) -> _ThreadHandle:
    """3.13+: a handle for a thread this module did not start (the main thread, dummies)."""
    handle = _ThreadHandle()
    handle.ident = ident
    handle._started = True
    return handle


def _shutdown() -> None:
    """3.13+: wait until every non-daemon green thread has finished (run at interpreter exit)."""
    while _non_daemon_handles:
        handle = next(iter(_non_daemon_handles))
        if handle.ident == get_ident():
            _non_daemon_handles.pop(handle, None)
            continue
        handle.join()
        _non_daemon_handles.pop(handle, None)


def _set_sentinel() -> LockType:
    """A lock that, if held, is released when the calling green thread ends (3.12 and older
    `threading` acquires it at once and joins a thread by acquiring it)."""
    lock = LockType()
    current = getcurrent()
    if isinstance(current, _GreenOSThread):
        current.sentinels.append(lock)
    return lock


def _count() -> int:
    """How many green threads started by this module are running."""
    return _live


def stack_size(size: int = 0) -> int:
    """Record a stack size and return the previous one; green threads ignore it.

    Raises ValueError for sizes the stdlib rejects (non-zero and below 32 KiB).
    """
    global _stack_size
    if size != 0 and size < 32768:
        raise ValueError(f"size not valid: {size} bytes")
    previous, _stack_size = _stack_size, size
    return previous


def interrupt_main(signum: int = 2) -> None:
    """Simulate a signal in the main thread.

    With the default SIGINT handler, KeyboardInterrupt is raised in the main green thread (the
    stdlib would raise it in the main OS thread, which here runs every green thread). Other
    signals and handlers behave as the stdlib's.
    """
    import signal as _signal_module

    main = _root_of()
    default = _signal_module.default_int_handler
    if (
        getcurrent() is main
        or signum != _signal_module.SIGINT
        or _signal_module.getsignal(signum) is not default
    ):
        _thread.interrupt_main(signum)
        return
    # First in the hub's queue: the stdlib raises it at the main thread's next bytecode, so it
    # must reach the main green thread before anything else resumes it.
    get_hub().schedule_first((_throw_if_alive, (main, KeyboardInterrupt())))


def set_name(name: str) -> None:
    """3.14+: would name the OS thread; green threads share it, so this does nothing."""


# -- fork ---------------------------------------------------------------------------------------
#
# After os.fork() the child has one OS thread, but the hub it inherited still holds every other
# green thread: parked on fds, on timers, queued to run. Unpatched, green keeps them (the hub
# re-initialises its backend and carries on, so green threads continue in both processes). Once
# `_thread` is patched, green threads *are* the program's threads, and the child follows POSIX:
# only the green thread that called fork() survives. The others are dropped without running again
# -- not killed, since their cleanup code (finally blocks closing or writing to sockets shared with
# the parent) must not run in the child either; they are kept referenced so the garbage collector
# never resumes them. `threading` marks their Thread objects stopped, as for OS threads. Locks
# they held stay held. If the survivor is not the main green thread, the child exits (status 0,
# like a process whose last thread ends) when the survivor's function returns.

_fork_drops_others = False
_abandoned: list[object] = []


def _after_patch() -> None:
    global _fork_drops_others
    _fork_drops_others = True


def _exit_forked_child() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    original("os")._exit(0)


def _after_fork_in_child() -> None:
    global _live, _fork_survivor
    if not _fork_drops_others:
        return
    from green.hubs import existing_hub

    hub = existing_hub()
    survivor = getcurrent()
    if hub is not None:
        # References held for other OS threads mean nothing here; those held for installed
        # signal handlers (green.signal) still do.
        signals = sys.modules.get("green.signal")
        _abandoned.extend(hub.drop_green_threads(len(getattr(signals, "_holding", ()))))
    survivor_handle = getattr(survivor, "handle", None)
    for handle in list(_non_daemon_handles):
        if handle is not survivor_handle:
            _non_daemon_handles.pop(handle, None)
    _live = 1 if isinstance(survivor, _GreenOSThread) else 0
    _fork_survivor = survivor if isinstance(survivor, _GreenOSThread) else None


original("os").register_at_fork(after_in_child=_after_fork_in_child)


# The names this module replaces in the running Python's `_thread` (only those it has).
_CANDIDATES = [
    "LockType",
    "lock",
    "RLock",
    "allocate_lock",
    "allocate",
    "get_ident",
    "start_new_thread",
    "start_new",
    "start_joinable_thread",
    "_ThreadHandle",
    "_make_thread_handle",
    "_shutdown",
    "_set_sentinel",
    "_local",
    "_count",
    "stack_size",
    "interrupt_main",
    "set_name",
]
__implements__ = [name for name in _CANDIDATES if hasattr(_thread, name)]
__removes__: list[str] = []

# Re-export everything else (error, TIMEOUT_MAX, _excepthook, _ExceptHookArgs, ...).
_reexport(globals(), _thread, __implements__, keep_defined=True)
