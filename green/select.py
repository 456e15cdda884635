"""Green replacement of the stdlib `select` module: `select` and `poll` that park only the caller.

Why it looks like this
----------------------
The hub parks a green thread on *one* fd and one direction (``wait_readable(fd)``), and allows
only one green thread per fd and direction. `select` and `poll` wait for *many* fds at once, on
fds other green threads may be waiting on themselves (a program may poll a socket another green
thread reads). Three designs were weighed:

* one helper green thread per fd, each parked on the hub: a greenlet per fd per call, and a
  RuntimeError whenever another green thread already waits on one of the fds;
* a multi-fd wait built into the hub: the hub's fd table and its hot path would grow for a rare
  caller;
* a *doorbell*: a private epoll object holding the caller's fds. The kernel makes an epoll fd
  readable whenever one of the fds registered in it is ready, so the caller parks on that single
  fd with ``hub.wait_readable(epoll_fd, timeout)`` -- one ordinary hub wait, whatever the number
  of fds, with no conflict with anybody waiting on the fds themselves.

green uses the doorbell. Each call first asks the real ``select``/``poll`` with a zero timeout;
when something is ready (or the timeout is zero) it answers at once, first letting the other
green threads run if the caller is spinning (see *Fairness* below); only when nothing is ready
does it park, and after every wake-up it asks the real call again, so the results (and their order, and the errors for bad fds) are exactly the stdlib's. A green `poll`
object keeps its doorbell between calls, so a server polling the same fds again and again pays no
extra system calls for it; `select` builds a doorbell per parked call. Regular files cannot be
registered with epoll, but they are always ready, so the zero-timeout call returns before a
doorbell is needed.

A forked child inherits the doorbell's epoll fd, and with it the *same* kernel interest list
as the parent: a child registering or unregistering an fd would change what wakes the parent.
So a doorbell remembers the fork generation it was made in; a `poll` object used in a forked
child drops the inherited doorbell (closing only the child's copy of the fd) and builds its own.

Fairness: a select loop (asyncore, a hand-written server) whose fds are always ready -- a socket
that is always writable while the loop waits for its peer to answer a TLS handshake, a
``select(..., 0)`` spin -- never parks. Between OS threads the interpreter takes the CPU away from
such a loop every few milliseconds; between green threads nothing would, and the peer it waits
for (in another green thread of the same process) would never run: the process hangs at 100%
CPU. So a call that finds fds ready, or that was asked not to wait, and that is the same green
thread's second such call in a row with no turn of the hub's loop in between, yields once
(``sleep(0)``: every other ready green thread runs, the hub polls for I/O) before it returns what
it found. Only spinning is charged: an accept loop whose handler start gives the hub a turn never
yields here -- yielding on every ready answer let bursts of clients overflow a small listen
backlog while the server stood aside (SYNs dropped, clients retrying a second later). The answer
may be stale after a yield, as it may be between OS threads; asking again would call the
objects' ``fileno()`` twice, which the stdlib never does.

Where epoll does not exist, the parked call falls back to re-polling with a growing sleep (1 ms
to 50 ms): correct, cooperative, less efficient.

`epoll`, `kqueue`, `kevent` and `devpoll` are removed from the green module, so code that picks the
best available mechanism (selectors, asyncio's helpers, third-party libraries) falls back to the
green `poll` or `select`.
"""

from __future__ import annotations

import math as _math
import operator as _operator
from typing import TYPE_CHECKING, Any, Iterable

from greenlet import getcurrent as _greenlet_getcurrent

from green._stdlib import original
from green._stdlib import reexport as _reexport
from green.greenthread import sleep as _green_sleep
from green.hubs import existing_hub as _existing_hub
from green.hubs import get_hub
from green.hubs import monotonic as _monotonic

_select = original("select")

__green__ = "select"
__implements__ = ["select", "poll"]
__removes__ = [name for name in ("epoll", "kqueue", "kevent", "devpoll") if hasattr(_select, name)]

_reexport(globals(), _select, __implements__, __removes__)

if TYPE_CHECKING:
    # The names copied from the stdlib module above are invisible to type checkers.
    def __getattr__(name: str) -> Any: ...


error = _select.error
_real_select = _select.select
_RealPoll = _select.poll
_epoll = getattr(_select, "epoll", None)
_POLLIN = _select.POLLIN
_POLLPRI = _select.POLLPRI
_POLLOUT = _select.POLLOUT
_EPOLLIN = getattr(_select, "EPOLLIN", 1)
_EPOLLPRI = getattr(_select, "EPOLLPRI", 2)
_EPOLLOUT = getattr(_select, "EPOLLOUT", 4)

# Incremented in every forked child: a doorbell made in an earlier generation is the parent's.
_fork_generation = 0


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


original("os").register_at_fork(after_in_child=_after_fork_in_child)

# poll()'s timeout is a C int of milliseconds in the stdlib.
_INT_MAX = 2**31 - 1
_INT_MIN = -(2**31)

# Re-polling intervals of the fallback used where epoll does not exist.
_FALLBACK_FIRST_INTERVAL = 0.001
_FALLBACK_LONGEST_INTERVAL = 0.05


def _fileno(target: Any) -> int:
    """The fd of an int or of an object with fileno(), validated as the stdlib does."""
    if isinstance(target, int):
        fd = target
    else:
        try:
            fd = target.fileno()
        except AttributeError:
            raise TypeError("argument must be an int, or have a fileno() method.") from None
        if not isinstance(fd, int):
            raise TypeError("fileno() returned a non-integer")
    if fd < 0:
        raise ValueError(f"file descriptor cannot be a negative integer ({fd})")
    return fd


def _epoll_mask(poll_mask: int) -> int:
    mask = 0
    if poll_mask & _POLLIN:
        mask |= _EPOLLIN
    if poll_mask & _POLLPRI:
        mask |= _EPOLLPRI
    if poll_mask & _POLLOUT:
        mask |= _EPOLLOUT
    return mask


class _Doorbell:
    """A private epoll object that becomes readable when any fd registered in it is ready.


    Where epoll does not exist, `wait` sleeps a growing interval instead and reports "maybe".
    """

    __slots__ = ("_epoll", "_masks", "generation")

    def __init__(self) -> None:
        self._epoll = _epoll() if _epoll is not None else None
        self._masks: dict[int, int] = {}
        self.generation = _fork_generation

    def set(self, fd: int, poll_mask: int) -> None:
        """Ring for `fd` on the events of `poll_mask` (POLLIN, POLLPRI, POLLOUT bits)."""
        epoll = self._epoll
        if epoll is None:
            return
        mask = _epoll_mask(poll_mask)
        try:
            if fd in self._masks:
                epoll.modify(fd, mask)
            else:
                epoll.register(fd, mask)
            self._masks[fd] = mask
        except OSError:
            # A regular file (always ready) or a bad fd (reported by the real call): the
            # zero-timeout call before every wait answers for them.
            self._masks.pop(fd, None)

    def remove(self, fd: int) -> None:
        if self._epoll is not None and self._masks.pop(fd, None) is not None:
            try:
                self._epoll.unregister(fd)
            except OSError:
                pass

    def wait(self, timeout: float | None, interval: float) -> bool:
        """Park until a registered fd may be ready (True) or `timeout` seconds pass (False)."""
        epoll = self._epoll
        if epoll is None:
            if timeout is not None and timeout < interval:
                _green_sleep(timeout)
                return False
            _green_sleep(interval)
            return True
        return get_hub().wait_readable(epoll.fileno(), timeout)

    def close(self) -> None:
        epoll = self._epoll
        if epoll is not None and not epoll.closed:
            hub = _existing_hub()
            if hub is not None:
                hub.notify_closing(epoll.fileno())
            epoll.close()


def _let_others_run() -> None:
    """Yield once to the other green threads if the caller has been answered at once before
    without the hub getting a turn since (see *Fairness* in the module's essay). Nothing inside
    the hub, where switching away is impossible, nor in an OS thread without a hub (no other
    green thread there to let run)."""
    hub = _existing_hub()
    if hub is None:
        return
    current = _greenlet_getcurrent()
    if current is hub:
        return
    if _last_answered_at_once[0] is current and _last_answered_at_once[1] == hub.iterations:
        _green_sleep(0)
    _last_answered_at_once[0] = current
    _last_answered_at_once[1] = hub.iterations


# The green thread last answered at once and the hub's loop count then (one entry: a spinning
# select loop is the same green thread calling again and again).
_last_answered_at_once: list[Any] = [None, -1]


def _wait_until_ready(doorbell: _Doorbell, timeout: float | None, check: Any) -> Any:
    """Ring `doorbell` until `check()` returns something true or `timeout` passes; returns the
    last `check()` result."""
    deadline = None if timeout is None else _monotonic() + timeout
    interval = _FALLBACK_FIRST_INTERVAL
    while True:
        if deadline is None:
            remaining = None
        else:
            remaining = deadline - _monotonic()
            if remaining <= 0.0:
                return check()
        doorbell.wait(remaining, interval)
        interval = min(interval * 2, _FALLBACK_LONGEST_INTERVAL)
        result = check()
        if result:
            return result


def select(
    rlist: Iterable[Any], wlist: Iterable[Any], xlist: Iterable[Any], timeout: float | None = None
) -> tuple[list[Any], list[Any], list[Any]]:
    """Wait until some of the objects (ints or objects with fileno()) are ready for reading,
    writing or an exceptional condition; returns three lists, like the stdlib.

    Parks only the calling green thread. `timeout` None waits forever, 0 polls. Raises what the
    stdlib raises: ValueError for a negative timeout or an fd >= FD_SETSIZE, TypeError for
    bad arguments, OSError(EBADF) for a closed fd.
    """
    if timeout is not None:
        if not isinstance(timeout, float):
            try:
                timeout = _operator.index(timeout)
            except TypeError:
                raise TypeError("timeout must be a float or None") from None
        if timeout < 0:
            raise ValueError("timeout must be non-negative")
    # The first call sees the caller's lists themselves (as the stdlib call would: a fileno()
    # that changes its own list gives the stdlib's answer); other iterables become lists, so
    # that they are consumed once. Before parking, snapshot the lists: the stdlib call looks at
    # them once, and other green threads may change them while this one waits.
    readers = rlist if type(rlist) is list else list(rlist)
    writers = wlist if type(wlist) is list else list(wlist)
    exceptional = xlist if type(xlist) is list else list(xlist)
    ready = _real_select(readers, writers, exceptional, 0)
    if ready[0] or ready[1] or ready[2] or timeout == 0:
        _let_others_run()
        return ready
    readers, writers, exceptional = readers[:], writers[:], exceptional[:]
    masks: dict[int, int] = {}
    for objects, bit in ((readers, _POLLIN), (writers, _POLLOUT), (exceptional, _POLLPRI)):
        for target in objects:
            fd = _fileno(target)
            masks[fd] = masks.get(fd, 0) | bit
    doorbell = _Doorbell()
    try:
        for fd, mask in masks.items():
            doorbell.set(fd, mask)

        def check() -> tuple[list[Any], list[Any], list[Any]] | None:
            found = _real_select(readers, writers, exceptional, 0)
            return found if found[0] or found[1] or found[2] else None

        found = _wait_until_ready(doorbell, timeout, check)
    finally:
        doorbell.close()
    return found if found is not None else ([], [], [])


class poll:
    """A green `select.poll` object: register/modify/unregister fds, then `poll(timeout)`.

    `poll` parks only the calling green thread; its timeout is in milliseconds (None or negative:
    wait forever), and it returns [(fd, events)] exactly as the stdlib's. Two green threads
    polling the same object at once raise RuntimeError. Unlike the stdlib object it holds an
    extra fd (its epoll doorbell) once it has waited; `close()` (an addition) releases it at
    once, otherwise it goes when the object is collected.
    """

    def __init__(self) -> None:
        self._poll = _RealPoll()
        self._masks: dict[int, int] = {}
        self._doorbell: _Doorbell | None = None
        self._polling = False

    def register(self, fd: Any, eventmask: int = _POLLIN | _POLLPRI | _POLLOUT) -> None:
        """Watch `fd` (an int or an object with fileno()) for the events of `eventmask`."""
        self._poll.register(fd, eventmask)
        number = _fileno(fd)
        self._masks[number] = eventmask
        doorbell = self._own_doorbell()
        if doorbell is not None:
            doorbell.set(number, eventmask)

    def modify(self, fd: Any, eventmask: int) -> None:
        """Change the events watched for a registered fd; FileNotFoundError if not registered."""
        self._poll.modify(fd, eventmask)
        number = _fileno(fd)
        self._masks[number] = eventmask
        doorbell = self._own_doorbell()
        if doorbell is not None:
            doorbell.set(number, eventmask)

    def unregister(self, fd: Any) -> None:
        """Stop watching `fd`; KeyError if it is not registered."""
        self._poll.unregister(fd)
        number = _fileno(fd)
        del self._masks[number]
        doorbell = self._own_doorbell()
        if doorbell is not None:
            doorbell.remove(number)

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        """[(fd, events)] for the ready fds, waiting up to `timeout` milliseconds for one."""
        if timeout is not None:
            if not isinstance(timeout, float):
                try:
                    timeout = _operator.index(timeout)
                except TypeError:
                    raise TypeError("timeout must be an integer or None") from None
            if not _INT_MIN <= _math.ceil(timeout) <= _INT_MAX:
                raise OverflowError("timeout is too large")  # the stdlib's C int limit
            if timeout < 0:
                timeout = None
        if self._polling:
            raise RuntimeError("concurrent poll() invocation")
        events = self._poll.poll(0)
        if events or timeout == 0:
            self._polling = True
            try:
                _let_others_run()
            finally:
                self._polling = False
            return events
        self._polling = True
        try:
            doorbell = self._own_doorbell()
            if doorbell is None:
                doorbell = self._doorbell = _Doorbell()
                for fd, mask in self._masks.items():
                    doorbell.set(fd, mask)
            seconds = None if timeout is None else _math.ceil(timeout) / 1000.0
            return _wait_until_ready(doorbell, seconds, self._check)
        finally:
            self._polling = False

    def _own_doorbell(self) -> _Doorbell | None:
        """The doorbell, unless it was made before a fork (then it is the parent's: let it go)."""
        doorbell = self._doorbell
        if doorbell is not None and doorbell.generation != _fork_generation:
            self.close()
            return None
        return doorbell

    def _check(self) -> list[tuple[int, int]]:
        return self._poll.poll(0)

    def close(self) -> None:
        """Release the doorbell fd (not in the stdlib; the object stays usable)."""
        doorbell, self._doorbell = self._doorbell, None
        if doorbell is not None:
            doorbell.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # the interpreter shutting down
            pass
