"""local: attributes that each green thread sees separately, like `threading.local`.

Each green thread gets its own attribute dictionary the first time it touches the object; a
subclass's ``__init__`` runs again, with the constructor's arguments, for each green thread.
The dictionaries are held weakly by green thread, so they go away with the green thread.
"""

from __future__ import annotations

import weakref
from typing import Any

from greenlet import getcurrent

__all__ = ["local"]


class local:
    __slots__ = ("_local__dicts", "_local__args", "__weakref__")

    def __new__(cls, *args: Any, **kwargs: Any) -> local:
        if (args or kwargs) and cls.__init__ is object.__init__:
            raise TypeError("Initialization arguments are not supported")
        self = object.__new__(cls)
        object.__setattr__(self, "_local__dicts", weakref.WeakKeyDictionary())
        object.__setattr__(self, "_local__args", (args, kwargs))
        # The creating green thread's dictionary starts now; __init__ runs through normal paths.
        object.__getattribute__(self, "_local__dicts")[getcurrent()] = {}
        return self

    def _local__current(self) -> dict[str, Any]:
        dicts = object.__getattribute__(self, "_local__dicts")
        current = getcurrent()
        try:
            return dicts[current]
        except KeyError:
            namespace: dict[str, Any] = {}
            dicts[current] = namespace
            cls = type(self)
            if cls.__init__ is not object.__init__:
                args, kwargs = object.__getattribute__(self, "_local__args")
                cls.__init__(self, *args, **kwargs)
            return namespace

    def __getattribute__(self, name: str) -> Any:
        if name in ("__dict__",):
            return local._local__current(self)
        if name.startswith("_local__"):
            return object.__getattribute__(self, name)
        namespace = local._local__current(self)
        try:
            value = namespace[name]
        except KeyError:
            return object.__getattribute__(self, name)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "__dict__":
            raise AttributeError(f"{type(self).__name__!r} object attribute '__dict__' is read-only")
        descriptor = getattr(type(self), name, None)
        if descriptor is not None and hasattr(descriptor, "__set__"):
            object.__setattr__(self, name, value)
            return
        local._local__current(self)[name] = value

    def __delattr__(self, name: str) -> None:
        if name == "__dict__":
            raise AttributeError(f"{type(self).__name__!r} object attribute '__dict__' is read-only")
        namespace = local._local__current(self)
        try:
            del namespace[name]
        except KeyError:
            raise AttributeError(name) from None
