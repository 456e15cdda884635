"""Hub selection: one hub per OS thread, over the best backend available.

The backend is chosen, in order, by `use_hub(name)`, the ``GREEN_HUB`` environment variable
(``epoll``, ``poll`` or ``select``), or the first of epoll, poll, select that this platform has.
"""

from __future__ import annotations

import _thread
import importlib
import os
from types import ModuleType

from green._compiled import core as _core
from green._stdlib import original
from green.hubs.hub import READ, WRITE, BlockingInHubError, Handle, Hub, LoopExit, Timer

__all__ = [
    "READ",
    "WRITE",
    "BlockingInHubError",
    "Handle",
    "Hub",
    "LoopExit",
    "Timer",
    "available_backends",
    "backend_module",
    "deadline_after",
    "existing_hub",
    "get_hub",
    "monotonic",
    "use_hub",
    "wait_until",
]

BACKENDS = ("epoll", "poll", "select")


# The real _thread._local, bound before any monkey-patching can replace it. `hub` is None in a
# thread that has none: a class default rather than a missing attribute, so that asking (a
# tpool worker waking a green thread asks on every call) builds and drops no AttributeError.
class _HubState(_thread._local):
    hub: Hub | None = None


_state = _HubState()


def _forget_hub() -> None:
    """A thread's hub changed: the compiled core, which remembers the last one it found, looks
    it up again."""
    if _core is not None:
        _core.forget_hub()


_real_monotonic = original("time").monotonic
_chosen: str | None = None


def _backend_module(name: str) -> ModuleType:
    if name not in BACKENDS:
        raise ValueError(f"unknown hub {name!r}; choose one of {', '.join(BACKENDS)}")
    module = importlib.import_module(f"green.hubs.{name}")
    return module


def backend_module(name: str | None = None) -> ModuleType:
    """The backend module called `name` (``"epoll"``, ``"poll"``, ``"select"``), or the one new
    hubs use when `name` is None (`use_hub`'s choice, else ``GREEN_HUB``, else the best one)."""
    return _backend_module(name or _default_name())


def available_backends() -> list[str]:
    """The backends this platform supports, best first."""
    select = original("select")  # the real one, even after monkey-patching
    return [name for name in BACKENDS if name == "select" or hasattr(select, name)]


def _default_name() -> str:
    if _chosen is not None:
        return _chosen
    requested = os.environ.get("GREEN_HUB", "").strip().lower()
    if requested:
        if requested not in available_backends():
            raise ValueError(
                f"GREEN_HUB={requested!r} is not available here; "
                f"choose one of {', '.join(available_backends())}"
            )
        return requested
    return available_backends()[0]


def get_hub() -> Hub:
    """The hub of the calling OS thread, created on first use."""
    hub = _state.hub
    if hub is None:
        hub = Hub(_backend_module(_default_name()).Backend())
        _state.hub = hub
        _forget_hub()
        blocking = os.environ.get("GREEN_DEBUG_BLOCKING")
        if blocking:
            from green.debug import _enable_from_environment

            _enable_from_environment(hub, blocking)
    return hub


def existing_hub() -> Hub | None:
    """The calling OS thread's hub, or None if it has none yet (never creates one: closing a
    socket in a plain OS thread must not)."""
    return _state.hub


def install_hub(hub: Hub | None) -> Hub | None:
    """Make `hub` the calling OS thread's hub (None: the thread has none, and `get_hub` creates
    a fresh one on first use); returns the hub it had before, or None.

    For test tools that give each test a hub of its own (green.pytest_plugin) and put the
    previous one back afterwards. The hub it replaces is neither closed nor finished.
    """
    previous: Hub | None = _state.hub
    if hub is None:
        _state.__dict__.pop("hub", None)
    else:
        _state.hub = hub
    _forget_hub()
    return previous


def monotonic() -> float:
    """Seconds on the clock of the calling OS thread's hub: the clock of every green timeout.

    That is ``time.monotonic()``, unless a test put the hub on a virtual clock
    (`green.testing.VirtualClock`); green modules compute their deadlines with it so that
    they agree with the hub's timers.
    """
    hub = _state.hub
    return _real_monotonic() if hub is None else hub.clock()


def deadline_after(timeout: float | None) -> float | None:
    """The hub-clock time `timeout` seconds from now (None stays None: no deadline)."""
    return None if timeout is None else monotonic() + timeout


def wait_until(fd: int, writing: bool, deadline: float | None) -> bool:
    """Park until `fd` may be writable (`writing`) or readable, at most until `deadline` (a
    time on the hub clock, see `deadline_after`; None waits as long as it takes).

    The one "wait" step of green's try, wait, retry loops: True on a (possibly spurious)
    wake-up, after which the caller retries its real call; False once the deadline has passed,
    without waiting if it passed already. Raises what `Hub.wait_readable` raises.
    """
    hub = get_hub()
    wait = hub.wait_writable if writing else hub.wait_readable
    if deadline is None:
        return wait(fd)
    remaining = deadline - hub.clock()
    return remaining > 0.0 and wait(fd, remaining)


def use_hub(name: str | None = None) -> None:
    """Choose the backend (``"epoll"``, ``"poll"``, ``"select"``; None: the default) for hubs
    created from now on, and replace the calling thread's hub if it is idle.

    Raises ValueError for an unknown or unavailable backend and RuntimeError if the current
    hub still has work (waiting green threads, timers or callbacks).
    """
    global _chosen
    if name is not None:
        if name not in available_backends():
            raise ValueError(f"hub {name!r} is not available; choose one of {available_backends()}")
    hub = _state.hub
    if hub is not None:
        counts = hub.counts()
        if counts["waiters"] or counts["timers"] or counts["ready"]:
            raise RuntimeError(f"cannot replace a hub that still has work: {counts}")
        for fd in list(hub._fds):
            hub.notify_closing(fd)
        hub.close()
        del _state.hub
        _forget_hub()
    _chosen = name


def _reinit_in_child() -> None:
    hub = _state.hub
    if hub is not None:
        hub._reinit_after_fork(_backend_module(hub.backend.name).Backend())


os.register_at_fork(after_in_child=_reinit_in_child)


# -- idle registrations of fds closed behind the hub's back (for green.socket) -----------------


def idle_registration(hub: Hub, fd: int) -> object | None:
    """An opaque token for `hub`'s record of `fd` while no green thread waits on it (else None).
    Pass it to `forget_idle_registration` to drop exactly that record later."""
    state = hub._fds.get(fd)
    if state is None or state.reader is not None or state.writer is not None:
        return None
    return state


def forget_idle_registration(hub: Hub, fd: int, token: object | None = None) -> None:
    """Make `hub` forget its record of `fd`, an fd closed without ``notify_closing`` (a socket
    finalized by the garbage collector), if nobody waits on it -- and, with `token`, only if the
    record is still that one. Call it from `hub`'s own OS thread. Forgetting an idle record is
    always safe: the next wait on the fd registers it afresh, while a stale record would keep a
    new file given the same fd number from ever being reported ready."""
    if hub.closed:
        return
    state = hub._fds.get(fd)
    if state is None or (token is not None and state is not token):
        return
    if state.reader is None and state.writer is None:
        hub._forget_fd_record(fd, state)
