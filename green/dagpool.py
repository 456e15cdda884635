"""DAGPool: green threads constrained by data dependencies instead of a size.

Each green thread is spawned under a key with the keys it depends on; it receives an iterable of
``(key, value)`` pairs that yields each dependency's value as soon as it exists (in the order the
values arrive), and what it returns becomes the value of its own key. Values also come from the
`preload` mapping and from `post` by any green thread. A green thread that raises posts a
`PropagateError` instead, which is raised to whoever asks for that value -- and if that is another
DAGPool green thread that does not handle it, its own key gets a PropagateError wrapping the first,
so the chain of ``.exc`` attributes traces the failure through the graph.

Waiting is one condition: every `post` wakes all green threads waiting for values, each of
which then picks up what is new for it. The same interface as eventlet's ``eventlet.dagpool``.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable, Iterator

from greenlet import getcurrent

from green._waiter import Waiter
from green.greenthread import GreenThread, spawn

__all__ = ["DAGPool", "Collision", "PropagateError"]

_MISSING: Any = object()


class Collision(Exception):
    """A key was spawned or posted twice (or posted while its green thread runs); ``str()`` of
    it names the key, as for KeyError."""


class PropagateError(Exception):
    """The value of `key` is the exception `exc` its green thread raised.

    Raised when that value is retrieved; `exc` may itself be a PropagateError from further up
    the graph.
    """

    def __init__(self, key: Hashable, exc: BaseException) -> None:
        message = f"PropagateError({key}): {type(exc).__name__}: {exc}"
        super().__init__(key, exc)
        self.msg = message
        self.key = key
        self.exc = exc

    def __str__(self) -> str:
        return self.msg


def _value_or_raise(value: Any) -> Any:
    if isinstance(value, PropagateError):
        raise value
    return value


class DAGPool:
    """Green threads keyed by name, each waiting for the values of the keys it depends on.

    `DAGPool(preload)` starts with the values of a mapping or iterable of pairs.
    `spawn(key, depends, function, *args, **kwargs)` runs ``function(key, results, *args,
    **kwargs)`` where iterating `results` yields the ``(key, value)`` pairs of `depends`;
    `spawn_many({key: depends, ...}, function, ...)` spawns one per key. `post(key, value,
    replace=False)` supplies a value. `wait(keys)` / `waitall()` return a dict once all (given)
    keys have values; `wait_each(keys)` yields pairs as they arrive (`wait_each_success`,
    `wait_each_exception` filter them); ``pool[key]`` waits for one value, `get(key, default)`
    does not wait. `keys()`, `items()`, `running()`, `running_keys()`, `waiting()`,
    `waiting_for(key)` describe the state; `kill(key)` stops a green thread.
    """

    def __init__(self, preload: Any = None) -> None:
        if preload is None:
            preload = {}
        items = preload.items() if hasattr(preload, "items") else preload
        self.values: dict[Hashable, Any] = dict(items)
        self.coros: dict[Hashable, tuple[GreenThread, set]] = {}
        self._waiters: list[Waiter] = []

    def __repr__(self) -> str:
        return f"<DAGPool values={len(self.values)} running={len(self.coros)}>"

    # -- waiting --

    def _wait_for_post(self) -> None:
        waiter = Waiter()
        self._waiters.append(waiter)
        try:
            waiter.wait()
        finally:
            if not waiter.woken:
                self._waiters.remove(waiter)

    def _keys_for(self, keys: Any) -> set:
        if keys is _MISSING:
            return set(self.coros) | set(self.values)
        return set(keys)

    def _wait_each_raw(self, pending: set) -> Iterator[tuple[Hashable, Any]]:
        pending = set(pending)
        while True:
            # Values in the order they were posted.
            for key in [key for key in self.values if key in pending]:
                pending.discard(key)
                yield key, self.values[key]
            if not pending:
                return
            self._wait_for_post()

    def _wait_each(self, pending: set) -> Iterator[tuple[Hashable, Any]]:
        for key, value in self._wait_each_raw(pending):
            yield key, _value_or_raise(value)

    def wait_each(self, keys: Iterable[Hashable] = _MISSING) -> Iterator[tuple[Hashable, Any]]:
        """Yield ``(key, value)`` as each of `keys` (default: every known key) gets a value;
        raises PropagateError when it reaches a key whose green thread failed."""
        return self._wait_each(self._keys_for(keys))

    def wait_each_success(self, keys: Iterable[Hashable] = _MISSING) -> Iterator[tuple[Hashable, Any]]:
        """Like `wait_each`, skipping failed keys instead of raising."""
        for key, value in self._wait_each_raw(self._keys_for(keys)):
            if not isinstance(value, PropagateError):
                yield key, value

    def wait_each_exception(self, keys: Iterable[Hashable] = _MISSING) -> Iterator[tuple[Hashable, Any]]:
        """Yield only the failed keys, with their PropagateError as the value (not raised)."""
        for key, value in self._wait_each_raw(self._keys_for(keys)):
            if isinstance(value, PropagateError):
                yield key, value

    def wait(self, keys: Iterable[Hashable] = _MISSING) -> dict:
        """Wait until every one of `keys` (default: every known key) has a value; return them
        as a dict. Raises PropagateError for a failed key."""
        return dict(self.wait_each(keys))

    def waitall(self) -> dict:
        """`wait` for every known key (the name GreenPool users know)."""
        return self.wait()

    def __getitem__(self, key: Hashable) -> Any:
        """Wait for `key`'s value and return it (raises its PropagateError)."""
        for _, value in self.wait_each((key,)):
            return value
        raise KeyError(key)  # unreachable: wait_each yields the key before it ends

    # -- producing --

    def spawn(
        self, key: Hashable, depends: Iterable[Hashable], function: Callable, *args: Any, **kwargs: Any
    ) -> None:
        """Run ``function(key, results, *args, **kwargs)`` in a green thread; its return value
        (or PropagateError) is posted for `key`. Raises Collision for a known key."""
        if key in self.coros or key in self.values:
            raise Collision(key)
        pending = set(depends)
        thread = spawn(self._run, function, key, self._wait_each(pending), *args, **kwargs)
        self.coros[key] = (thread, pending)

    def _run(self, function: Callable, key: Hashable, results: Iterator, *args: Any, **kwargs: Any) -> Any:
        try:
            result = function(key, results, *args, **kwargs)
        except Exception as error:
            result = PropagateError(key, error)
        finally:
            self.coros.pop(key, None)
        try:
            self.post(key, result)
        except Collision:
            pass  # the green thread posted its own value: that one stands
        return result

    def spawn_many(self, depends: dict, function: Callable, *args: Any, **kwargs: Any) -> None:
        """`spawn` one green thread per key of `depends` ({key: keys it depends on})."""
        for key, keys in depends.items():
            self.spawn(key, keys, function, *args, **kwargs)

    def kill(self, key: Hashable) -> None:
        """Kill the green thread spawned for `key` (KeyError if there is none)."""
        thread, _ = self.coros[key]
        thread.kill()
        self.coros.pop(key, None)

    def post(self, key: Hashable, value: Any, replace: bool = False) -> None:
        """Store `value` for `key` and wake everyone waiting for values.

        Raises Collision if another green thread is running for `key`, or if `key` already has a
        value and `replace` is False.
        """
        coro = self.coros.get(key)
        if coro is not None and coro[0] is not getcurrent():
            raise Collision(key)
        if key in self.values and not replace:
            raise Collision(key)
        self.values[key] = value
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.wake()

    # -- state --

    def get(self, key: Hashable, default: Any = None) -> Any:
        """`key`'s value now, or `default` (raises its PropagateError if it failed)."""
        return _value_or_raise(self.values.get(key, default))

    def keys(self) -> tuple:
        """The keys that have values, as a snapshot tuple."""
        return tuple(self.values)

    def items(self) -> tuple:
        """``(key, value)`` pairs available now (raises PropagateError for a failed key)."""
        return tuple((key, _value_or_raise(value)) for key, value in self.values.items())

    def running(self) -> int:
        """Number of DAGPool green threads not finished (including those waiting for values)."""
        return len(self.coros)

    def running_keys(self) -> tuple:
        """Keys of the DAGPool green threads not finished."""
        return tuple(self.coros)

    def waiting(self) -> int:
        """Number of DAGPool green threads still waiting for some dependency."""
        return len(self.waiting_for())

    def waiting_for(self, key: Hashable = _MISSING) -> Any:
        """For `key`'s green thread, the set of keys it still waits for (KeyError if `key` has
        neither a green thread nor a value); without `key`, a dict of every waiting green thread
        to that set. Use it to find why a DAGPool hangs."""
        available = set(self.values)
        if key is not _MISSING:
            coro = self.coros.get(key)
            if coro is None:
                self.values[key]  # noqa: B018 -- KeyError for an unknown key
                return set()
            return coro[1] - available
        result = {}
        for name, (_, pending) in self.coros.items():
            missing = pending - available
            if missing:
                result[name] = missing
        return result
