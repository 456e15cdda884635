"""Resource pools: reuse expensive objects (connections, clients) across green threads.

A `Pool` hands out items, creating them on demand up to `max_size`; once that many are out, `get`
parks the calling green thread until someone `put`s one back, and the item goes straight to the
longest-waiting green thread (FIFO), so a busy pool cannot starve anyone. Free items are reused
round-robin by default (each item gets a similar share of the work) or, with
``order_as_stack=True``, most recently returned first (the rest stay idle and can expire).
"""

from __future__ import annotations

import contextlib
from collections import deque
from typing import Any, Callable, Generic, Iterator, TypeVar

from green._waiter import Waiter

__all__ = ["Pool", "TokenPool", "Token"]

Item = TypeVar("Item")


class Pool(Generic[Item]):
    """A pool of at most `max_size` items, created on demand by `create`.

    Give the factory as ``create=`` (a callable without arguments) or override `create` in a
    subclass. `min_size` items are created up front. ``with pool.item() as thing:`` borrows one.

    `get()` returns a free item, or a new one while fewer than `max_size` exist, or waits for a
    `put`. If `create` raises, the exception propagates from `get` and the slot stays free.
    `put(item)` returns an item: to a waiting green thread if any, else to the free items; after
    `resize` shrank the pool, surplus items are dropped instead. `free()` is the number of items
    `get` can return without waiting (free items plus room to create), `waiting()` the number of
    green threads parked in `get`. The same as eventlet's ``eventlet.pools.Pool``.
    """

    def __init__(
        self,
        min_size: int = 0,
        max_size: int = 4,
        order_as_stack: bool = False,
        create: Callable[[], Item] | None = None,
    ) -> None:
        self.min_size = min_size
        self.max_size = max_size
        self.order_as_stack = order_as_stack
        self.current_size = 0
        self.free_items: deque[Any] = deque()
        self._waiters: deque[Waiter] = deque()
        if create is not None:
            self.create = create  # type: ignore[method-assign]
        for _ in range(min_size):
            self.current_size += 1
            try:
                item = self.create()
            except BaseException:
                self.current_size -= 1
                raise
            self.free_items.append(item)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} size={self.current_size}/{self.max_size} free={len(self.free_items)} "
            f"waiting={len(self._waiters)}>"
        )

    def create(self) -> Item:
        """Make a new item; pass ``create=`` to the constructor or override this in a subclass."""
        raise NotImplementedError(f"{type(self).__name__} has no create: pass create= or override create()")

    def get(self) -> Item:
        """Borrow an item: a free one, a new one if there is room, else wait for a `put`."""
        if self.free_items:
            return self.free_items.popleft()
        if self.current_size < self.max_size:
            self.current_size += 1
            try:
                return self.create()
            except BaseException:
                self.current_size -= 1
                raise
        waiter = Waiter()
        self._waiters.append(waiter)
        try:
            return waiter.wait()
        except BaseException:
            if waiter.woken:  # an item was handed to us as we were interrupted: pass it on
                self._hand_back(waiter.value)
            raise
        finally:
            try:
                self._waiters.remove(waiter)
            except ValueError:
                pass

    @contextlib.contextmanager
    def item(self) -> Iterator[Item]:
        """``with pool.item() as thing:``: `get` an item and `put` it back when the block ends."""
        thing = self.get()
        try:
            yield thing
        finally:
            self.put(thing)

    def put(self, item: Item) -> None:
        """Return `item` to the pool (to the longest waiting green thread, if any)."""
        if self.current_size > self.max_size:
            self.current_size -= 1  # the pool was shrunk: this item goes away
            self._discard(item)
            return
        self._hand_back(item)

    def _hand_back(self, item: Any) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if waiter.greenlet is not None and not waiter.woken:
                waiter.wake(item)
                return
        if self.order_as_stack:
            self.free_items.appendleft(item)
        else:
            self.free_items.append(item)

    def resize(self, new_size: int) -> None:
        """Change `max_size`. Growing lets waiters create items; shrinking drops items as they
        come back (items already out are not taken away)."""
        self.max_size = new_size
        while self._waiters and self.current_size < new_size and not self.free_items:
            waiter = self._waiters.popleft()
            if waiter.greenlet is None or waiter.woken:
                continue
            self.current_size += 1
            try:
                item = self.create()
            except BaseException:
                self.current_size -= 1
                raise
            waiter.wake(item)
        while self.free_items and self.current_size > new_size:
            self.current_size -= 1
            self._discard(self.free_items.pop())

    def _discard(self, item: Any) -> None:
        """An item leaves the pool for good (subclasses close it)."""

    def free(self) -> int:
        """Items `get` could return now without waiting: free ones plus room to create."""
        return len(self.free_items) + max(0, self.max_size - self.current_size)

    def waiting(self) -> int:
        """Green threads waiting in `get`."""
        return sum(1 for waiter in self._waiters if waiter.greenlet is not None and not waiter.woken)


class Token:
    """The item of a `TokenPool`: a plain object standing for permission to proceed."""

    __slots__ = ()


class TokenPool(Pool[Token]):
    """A pool of `Token`s: limits how many green threads hold a token at once (a semaphore
    with eventlet's pool interface)."""

    def create(self) -> Token:
        return Token()
