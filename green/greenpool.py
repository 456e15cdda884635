"""GreenPool and GreenPile: bounded concurrency for green threads (eventlet semantics)."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from green.event import Event
from green.greenthread import GreenThread, getcurrent, spawn
from green.queue import LightQueue
from green.semaphore import Semaphore

__all__ = ["GreenPile", "GreenPool"]


class GreenPool:
    """At most `size` green threads at once; `spawn` waits for a free slot."""

    def __init__(self, size: int = 1000) -> None:
        if size < 0:
            raise ValueError("GreenPool size must be >= 0")
        self.size = size
        self.coroutines_running: set[GreenThread] = set()
        self.sem = Semaphore(size)
        self.no_coros_running = Event()

    def __repr__(self) -> str:
        return f"<GreenPool size={self.size} running={self.running()} waiting={self.waiting()}>"

    def resize(self, new_size: int) -> None:
        """Change the size; running green threads are not killed when it shrinks."""
        if new_size < 0:
            raise ValueError("GreenPool size must be >= 0")
        delta = new_size - self.size
        self.sem.counter += delta
        self.size = new_size
        while delta > 0 and self.sem._waiters and self.sem.counter > 0:
            self.sem.counter -= 1
            self.sem.release()
            delta -= 1

    def running(self) -> int:
        """Green threads running in the pool now."""
        return len(self.coroutines_running)

    def free(self) -> int:
        """Slots available now (negative after shrinking below the running count)."""
        return self.sem.counter

    def waiting(self) -> int:
        """Green threads waiting in `spawn` for a slot."""
        return max(0, -self.sem.balance)

    def spawn(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> GreenThread:
        """Run ``function(*args, **kwargs)`` in a new green thread of the pool, waiting for a
        free slot first. Returns the GreenThread."""
        current = getcurrent()
        if self.sem.locked() and current in self.coroutines_running:
            # A pool member spawning into a full pool would deadlock: run it inline instead.
            thread = GreenThread(function, args, kwargs)
            thread.parent = current
            thread.switch()
            return thread
        self.sem.acquire()
        thread = spawn(function, *args, **kwargs)
        if not self.coroutines_running:
            self.no_coros_running = Event()
        self.coroutines_running.add(thread)
        thread.link(self._spawn_done)
        return thread

    def spawn_n(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Like `spawn`, without keeping the result."""
        self.spawn(function, *args, **kwargs)

    def _spawn_done(self, thread: GreenThread) -> None:
        self.sem.release()
        self.coroutines_running.discard(thread)
        if not self.coroutines_running and not self.no_coros_running.ready():
            self.no_coros_running.send(None)

    def waitall(self) -> None:
        """Wait until every green thread of the pool has finished."""
        if getcurrent() in self.coroutines_running:
            raise RuntimeError(
                "calling waitall() from within one of the GreenPool's green threads will never finish"
            )
        if self.coroutines_running:
            self.no_coros_running.wait()

    def starmap(self, function: Callable[..., Any], iterable: Iterable[tuple]) -> Iterator[Any]:
        """Like `itertools.starmap`, running up to `size` calls at once; results in order."""
        pile = GreenPile(self)
        return _spawn_into(pile, function, iterable)

    def imap(self, function: Callable[..., Any] | None, *iterables: Iterable[Any]) -> Iterator[Any]:
        """Like `map`, running up to `size` calls at once; results in order. A `function` of
        None yields the argument tuples themselves (eventlet's, and Python 2's, ``map(None, ...)``)."""
        return self.starmap(function or _arguments, zip(*iterables, strict=False))


def _arguments(*args: Any) -> tuple[Any, ...]:
    return args


def _spawn_into(pile: GreenPile, function: Callable[..., Any], iterable: Iterable[tuple]) -> Iterator[Any]:
    pile._feeding = True

    def feed() -> None:
        try:
            for args in iterable:
                pile.spawn(function, *args)
        except BaseException as error:  # the iterable failed: the consumer raises it in order
            pile.waiters.put(_Failure(error))
            pile.counter += 1
        finally:
            pile._feeding = False
            pile.waiters.put(_END)

    spawn(feed)
    return pile


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def wait(self) -> Any:
        raise self.error


_END: Any = object()


class GreenPile:
    """Spawn calls into a pool; iterate to get their results in the order they were spawned."""

    def __init__(self, size_or_pool: int | GreenPool = 1000) -> None:
        self.pool = size_or_pool if isinstance(size_or_pool, GreenPool) else GreenPool(size_or_pool)
        self.waiters: LightQueue = LightQueue()
        self.counter = 0
        self.used = False
        self._feeding = False

    def spawn(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``function(*args, **kwargs)`` in the pool; its result comes out of iteration."""
        self.used = True
        self.counter += 1
        try:
            thread = self.pool.spawn(function, *args, **kwargs)
        except BaseException:
            self.counter -= 1
            raise
        self.waiters.put(thread)

    def __iter__(self) -> GreenPile:
        return self

    def __next__(self) -> Any:
        while True:
            if self.counter == 0 and not self._feeding:
                raise StopIteration
            thread = self.waiters.get()
            if thread is _END:
                continue
            try:
                return thread.wait()
            finally:
                self.counter -= 1

    next = __next__
