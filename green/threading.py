"""The names green sets in the stdlib `threading` module so that it runs on green `_thread`.

`threading` is pure Python, but at import it copied what it needs from `_thread` into its own
namespace (``_start_new_thread = _thread.start_new_thread``, ``Lock = _allocate_lock``, ...). Swapping
`_thread` in ``sys.modules`` afterwards changes nothing for it, and re-importing it would give a
second `threading` with its own thread table. So, unlike the other green modules, this one is
applied *in place*: the patcher sets each name below on the real `threading` module, whose
functions look them up at call time. ``Thread``, ``Condition``, ``Event``, ``Semaphore``,
``Barrier``, ``Timer``, ``local`` and friends then need nothing of their own here.

``_CRLock`` becomes green `_thread.RLock`; everything else (``_active``, ``_main_thread``,
``_shutdown``) stays the stdlib's and works unchanged because green ``get_ident()`` returns the real
thread ident in the main green thread. Importing this module does not patch anything; use
``green.monkey_patch(thread=True)``.
"""

from __future__ import annotations

import weakref
from typing import Any

from greenlet import getcurrent

from green import thread as _green_thread
from green._stdlib import original

__green__ = "threading"
__green_in_place__ = True

_threading = original("threading")

# threading's name for each value (taken from green _thread); only those this Python's
# threading actually has.
_FROM_THREAD = {
    "_start_new_thread": "start_new_thread",
    "_start_joinable_thread": "start_joinable_thread",
    "_allocate_lock": "allocate_lock",
    "_LockType": "LockType",
    "Lock": "allocate_lock" if not isinstance(getattr(_threading, "Lock", None), type) else "LockType",
    "_set_sentinel": "_set_sentinel",
    "get_ident": "get_ident",
    "_CRLock": "RLock",
    "local": "_local",
    "_ThreadHandle": "_ThreadHandle",
    "_make_thread_handle": "_make_thread_handle",
    "_thread_shutdown": "_shutdown",
    "stack_size": "stack_size",
    "_set_name": "set_name",
}

__implements__ = [name for name in _FROM_THREAD if hasattr(_threading, name)]
__removes__: list[str] = []

for _name in __implements__:
    globals()[_name] = getattr(_green_thread, _FROM_THREAD[_name])
del _name


def _forget_dummy(ident: int, reference: weakref.ref) -> None:
    thread = reference()
    if thread is not None and _threading._active.get(ident) is thread:
        _threading._active.pop(ident, None)


if not hasattr(_threading, "_DeleteDummyThreadOnDel"):
    # Before 3.13, the Thread object `current_thread()` makes up for a thread threading did not
    # start (any green thread spawned with green.spawn) stays in threading's table forever; with
    # green threads that is a leak, and a later green thread reusing the id() would inherit it.
    _StdlibDummyThread: Any = _threading._DummyThread

    # What CPython 3.13 Lib/threading.py does with _DeleteDummyThreadOnDel, for 3.10-3.12.
    class _DummyThread(_StdlibDummyThread):
        """`threading._DummyThread` that leaves threading's table when its green thread ends."""

        def __init__(self) -> None:
            super().__init__()
            try:
                weakref.finalize(getcurrent(), _forget_dummy, self._ident, weakref.ref(self))
            except TypeError:  # pragma: no cover - greenlets support weak references
                pass

    __implements__.append("_DummyThread")
else:
    # 3.13+ removes such entries when the green thread's `local` data goes away, which for a
    # green thread alive at exit happens after `threading`'s globals are cleared: do it without
    # the module's lock (a dict operation is atomic), bound while the module is still whole.
    _StdlibDeleter: Any = _threading._DeleteDummyThreadOnDel

    class _DeleteDummyThreadOnDel(_StdlibDeleter):
        """Removes a `_DummyThread` from threading's table when its green thread's data goes."""

        def __del__(self, _active: dict = _threading._active) -> None:
            if _active.get(self._tident) is self._dummy_thread:
                _active.pop(self._tident, None)

    __implements__.append("_DeleteDummyThreadOnDel")
