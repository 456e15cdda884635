"""Reentrant locks created before patching: replaced by green ones where that is safe.

Why
---
A module imported before ``monkey_patch()`` may already hold a real ``_thread.RLock``: logging's
module lock and its handlers' locks, a class attribute (``unittest.mock.NonCallableMock._lock``),
a library's module-level lock, a lock inside an object built at import. A real RLock belongs to
an OS thread, and every green thread of that OS thread shares its ident: the second green thread
that takes it while the first is parked inside the critical section (on a socket, a sleep) gets
in at once. Nothing blocks and nothing fails -- mutual exclusion is silently gone. So when
`_thread` is patched, each such lock is replaced by a green one.

How
---
Since Python 3.10 RLocks are tracked by the garbage collector, so ``gc.get_objects()`` finds every
one, and one ``gc.get_referrers`` scan finds what holds them: dicts (module globals, instance
dicts), lists, closure cells, classes (rewritten with ``setattr``, which keeps the type's attribute
cache right), objects with the lock in ``__slots__`` or in their managed ``__dict__``.

A lock is replaced only if *every* reference to it is one of those places. Replacing some
references and not others would split one lock into two, each excluding only its own holders --
worse than the real lock. References the collector cannot see (a tuple, a frame's value stack
during ``with lock:``, a C structure) are found by counting: ``sys.getrefcount`` of the lock
must equal the references found plus the scan's own, which a probe lock held in exactly one
place measures on the running interpreter. A lock some other OS thread holds is left alone (that
thread will release the real one). A lock the patching thread holds is handed over held, with
its recursion count, to the main green thread -- the same owner, since green's ``get_ident()``
there is the OS thread's ident.

Plain locks (``_thread.allocate_lock``) are not replaced: the stdlib's module-level ones are held
for a few bytecodes, never across a green switch, and some belong to the interpreter's own
bookkeeping of OS threads.
"""

from __future__ import annotations

import gc
import sys
from types import CellType, FrameType, GetSetDescriptorType, MemberDescriptorType
from typing import Any, Callable

from green._stdlib import original

# What replaces an early RLock: green's RLock unless set (the eventlet alias sets the stdlib's
# pure-Python `threading._PyRLock`, which runs on green `_thread` once patched, as eventlet did).
replacement_factory: Callable[[], Any] | None = None

_PROBE_KEY = "green.patcher probe lock"


def replace_early_rlocks() -> int:
    """Replace the real RLocks that exist now by green ones wherever every reference to a lock
    can be rewritten (see the module docstring); return how many were replaced."""
    rlock_type = original("_thread").RLock
    from green.thread import RLock, get_ident

    factory: Callable[[], Any] = replacement_factory or RLock

    holder = {_PROBE_KEY: rlock_type()}
    locks = [item for item in gc.get_objects() if type(item) is rlock_type]
    if len(locks) <= 1:
        return 0
    own = {id(locks), id(sys._getframe())}
    places: dict[int, list[tuple[Any, Any]]] = {id(lock): [] for lock in locks}
    referrers = [
        item
        for item in gc.get_referrers(*locks)
        if id(item) not in own and not _is_argument_tuple(item, locks)
    ]
    owners = _class_owners([item for item in referrers if type(item) is dict])
    blocked: set[int] = set()
    for referrer in referrers:
        _record(referrer, places, owners, blocked)
    probe = holder[_PROBE_KEY]
    if len(places[id(probe)]) != 1 or id(probe) in blocked:
        return 0  # the scan cannot see what it should: count nothing as safe
    # References the scan itself holds (the list, the loop variable, getrefcount's argument).
    baseline = sys.getrefcount(probe) - 1
    replaced = 0
    for lock in locks:
        if lock is probe or id(lock) in blocked:
            continue
        found = places[id(lock)]
        if not found or sys.getrefcount(lock) - baseline != len(found):
            continue
        count = _held_count(lock)
        if count is None:
            continue
        new = factory()
        if count:
            new._acquire_restore((count, get_ident()))
        for place, key in found:
            _rewrite(place, key, new)
        replaced += 1
    return replaced


def _is_argument_tuple(item: Any, locks: list[Any]) -> bool:
    """Whether `item` is the tuple of arguments ``gc.get_referrers(*locks)`` itself received."""
    return (
        type(item) is tuple
        and len(item) == len(locks)
        and all(a is b for a, b in zip(item, locks, strict=True))
    )


def _class_owners(dicts: list[dict]) -> dict[int, type]:
    """The classes whose namespace is one of `dicts` (written to with setattr, never directly)."""
    if not dicts:
        return {}
    wanted = {id(namespace) for namespace in dicts}
    owners: dict[int, type] = {}
    for item in gc.get_referrers(*dicts):
        if isinstance(item, type):
            for referent in gc.get_referents(item):
                if id(referent) in wanted and type(referent) is dict:
                    owners[id(referent)] = item
    return owners


def _record(
    referrer: Any, places: dict[int, list[tuple[Any, Any]]], owners: dict[int, type], blocked: set[int]
) -> None:
    """Note each place in `referrer` that holds one of the locks; a lock held in a way this
    cannot rewrite goes into `blocked`."""
    kind = type(referrer)
    if kind is dict:
        owner = owners.get(id(referrer))
        for key, value in list(referrer.items()):
            if id(value) in places:
                places[id(value)].append((owner if owner is not None else referrer, key))
            if id(key) in places:
                blocked.add(id(key))
        return
    if kind is list:
        for index, value in enumerate(referrer):
            if id(value) in places:
                places[id(value)].append((referrer, index))
        return
    if kind is CellType:
        try:
            value = referrer.cell_contents
        except ValueError:
            return
        places[id(value)].append((referrer, _CELL))
        return
    found_any = False
    if isinstance(referrer, type):
        for key, value in list(vars(referrer).items()):
            if id(value) in places:
                places[id(value)].append((referrer, key))
                found_any = True
    elif not isinstance(referrer, FrameType):
        # Through the type's descriptors, never the object's own attribute lookup (a proxy
        # object would answer for the object it stands for).
        dict_seen = False
        for cls in kind.__mro__:
            for descriptor in list(vars(cls).values()):
                if type(descriptor) is GetSetDescriptorType and descriptor.__name__ == "__dict__":
                    if dict_seen:
                        continue
                    dict_seen = True
                    attributes = descriptor.__get__(referrer, kind)
                    if type(attributes) is dict:
                        for key, value in list(attributes.items()):
                            if id(value) in places:
                                places[id(value)].append((attributes, key))
                                found_any = True
                elif type(descriptor) is MemberDescriptorType:
                    try:
                        value = descriptor.__get__(referrer, kind)
                    except AttributeError:  # an unset slot
                        continue
                    if id(value) in places:
                        places[id(value)].append((referrer, descriptor))
                        found_any = True
    if not found_any:
        # A tuple, a frame, a C object: it holds one of the locks where we cannot rewrite it.
        for value in gc.get_referents(referrer):
            if id(value) in places:
                blocked.add(id(value))


_CELL = object()


def _held_count(lock: Any) -> int | None:
    """How many times the calling thread holds `lock` (releasing it: it is being replaced), 0 if
    nobody does, None if another OS thread holds it."""
    if lock._is_owned():
        count, _ = lock._release_save()
        return int(count)
    if lock.acquire(False):
        lock.release()
        return 0
    return None


def _rewrite(place: Any, key: Any, new: Any) -> None:
    if key is _CELL:
        place.cell_contents = new
    elif type(key) is MemberDescriptorType:
        key.__set__(place, new)
    elif isinstance(place, type):
        setattr(place, key, new)
    else:
        place[key] = new
