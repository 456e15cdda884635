"""eventlet.patcher on green's patcher: monkey_patch with eventlet's keywords, original, inject, ...

eventlet's keywords map onto green's groups: ``os``, ``select``, ``time``, ``thread`` and
``subprocess`` are the same; ``socket`` is green's ``socket``, ``dns`` and ``ssl`` (eventlet's socket
patch covers ssl too); ``psycopg`` installs green's psycopg2 wait callback; ``MySQLdb`` (off unless
asked for, as in eventlet) makes ``MySQLdb.connect`` open tpool-proxied connections; ``builtins``
is accepted and needs nothing (eventlet patched ``open`` to learn of reused fds; green learns of
every close through ``hub.notify_closing``). ``all=False`` with some True keywords patches only
those, as eventlet does. green's own ``signal`` group is patched whenever everything is.

RLocks created before patching are replaced as by green's patcher (wherever every reference to
one can be rewritten), with ``threading._PyRLock`` objects as eventlet did.

With ``thread`` patched, ``threading.current_thread()`` (and ``currentThread``, without the
stdlib's deprecation warning) answer as under eventlet: a `threading.Thread` or the main thread
is itself; any other green thread gets a light `_GreenThread` view (its green thread's name,
``ident``, ``join``, ``is_alive``, daemon) that is not entered in ``threading._active``, where
green's plain threading would make up a `_DummyThread` for it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import weakref
from types import ModuleType
from typing import Any

from greenlet import getcurrent

import green.patcher as _green_patcher
from green.patcher import _libraries, _locks, original

# RLocks created before monkey_patch() become the stdlib's pure-Python RLock (which runs on green
# `_thread` once patched), the class eventlet upgraded them to; green's own patcher uses its RLock.
_locks.replacement_factory = original("threading")._PyRLock

_ACCEPTED = ("os", "select", "socket", "thread", "time", "psycopg", "MySQLdb", "builtins", "subprocess")
_OFF_UNLESS_ASKED = ("MySQLdb", "builtins")
_TO_GREEN = {
    "os": ("os",),
    "select": ("select",),
    "socket": ("socket", "dns", "ssl"),
    "thread": ("thread",),
    "time": ("time",),
    "subprocess": ("subprocess",),
}

# eventlet's record of what monkey_patch did, by keyword (psycopg, MySQLdb, builtins live here).
already_patched: dict[str, bool] = {}


def _choices(on: dict[str, Any]) -> dict[str, bool]:
    if "__builtin__" in on:
        on["builtins"] = on.pop("__builtin__")
    default_on = on.pop("all", None)
    for key in on:
        if key not in _ACCEPTED:
            raise TypeError(f"monkey_patch() got an unexpected keyword argument {key!r}")
    if default_on is None:
        default_on = True not in on.values()
    return {key: bool(on.get(key, False if key in _OFF_UNLESS_ASKED else default_on)) for key in _ACCEPTED}


def monkey_patch(**on: Any) -> None:
    """Patch the stdlib to be green, with eventlet's keywords (see the module docstring)."""
    choices = _choices(dict(on))
    groups = {group for key, chosen in choices.items() if chosen for group in _TO_GREEN.get(key, ())}
    everything = all(choices[key] for key in _TO_GREEN)
    if everything:
        _green_patcher.monkey_patch()
    elif groups:
        _green_patcher.monkey_patch(**{group: True for group in groups})
    for key in _TO_GREEN:
        if choices[key]:
            already_patched[key] = True
    for keyword in ("psycopg", "MySQLdb"):
        if choices[keyword] and not already_patched.get(keyword):
            # green's own driver patches (green.monkey_patch's keywords of the same names); as in
            # eventlet, the keyword counts as patched only where the driver is installed.
            _libraries.patch_library(keyword)
            if any(importlib.util.find_spec(name) for name in _libraries.LIBRARIES[keyword]):
                already_patched[keyword] = True
    if choices["builtins"]:
        already_patched["builtins"] = True
    if choices["thread"]:
        _install_current_thread()


class _GreenThread:
    """What ``threading.current_thread()`` gives in a green thread that no `threading.Thread`
    started (eventlet's view of a GreenThread)."""

    def __init__(self, green_thread: Any) -> None:
        self._g = green_thread

    def __repr__(self) -> str:
        return f"<_GreenThread({self.name}, {self._g!r})>"

    @property
    def name(self) -> str:
        return str(self._g.name)

    @name.setter
    def name(self, value: str) -> None:
        self._g.name = str(value)

    def getName(self) -> str:  # noqa: N802  (threading's old spelling)
        return self.name

    def setName(self, value: str) -> None:  # noqa: N802
        self.name = value

    get_name = getName
    set_name = setName

    @property
    def ident(self) -> int:
        return id(self._g)

    native_id = ident

    daemon = True

    def is_alive(self) -> bool:
        return not self._g.dead

    isAlive = is_alive  # noqa: N815

    def is_daemon(self) -> bool:
        return self.daemon

    isDaemon = is_daemon  # noqa: N815

    def join(self, timeout: float | None = None) -> None:
        """Wait for the green thread to end (its result is not returned, as with a Thread)."""
        from green.timeout import Timeout

        with Timeout(timeout, False):
            self._g.wait()


_views: weakref.WeakKeyDictionary[Any, _GreenThread] = weakref.WeakKeyDictionary()


def _install_current_thread() -> None:
    threading = sys.modules.get("threading") or importlib.import_module("threading")
    if getattr(threading.current_thread, "_eventlet_view", False):
        return
    plain = threading.current_thread
    active = threading._active
    get_ident = threading.get_ident  # green's, set by the patcher
    from green.greenthread import GreenThread

    def current_thread() -> Any:
        """The Thread object of the caller (eventlet's meaning, see eventlet.patcher)."""
        thread = active.get(get_ident())
        if thread is not None:
            return thread
        current = getcurrent()
        if not isinstance(current, GreenThread):
            return plain()
        view = _views.get(current)
        if view is None:
            view = _views[current] = _GreenThread(current)
        return view

    current_thread._eventlet_view = True  # type: ignore[attr-defined]
    for name in ("current_thread", "currentThread"):
        setattr(threading, name, current_thread)


def is_monkey_patched(module: Any) -> bool:
    """Whether `module` (a name or a module object) was patched, by eventlet's or green's names."""
    name = module if isinstance(module, str) else getattr(module, "__name__", "")
    if already_patched.get(name):
        return True
    if name in ("psycopg", "MySQLdb", "builtins"):
        return False
    return _green_patcher.is_monkey_patched(name)


def import_patched(module_name: str, *additional_modules: Any, **kw_additional_modules: Any) -> ModuleType:
    """A private copy of `module_name` importing green modules instead of blocking stdlib ones.

    As in eventlet, `additional_modules` may name (name, module) pairs to substitute instead of
    the green defaults. The copy's ``socket`` is ``eventlet.green.socket`` (green's sockets, with
    eventlet's greendns resolving names), as under eventlet.
    """
    if not additional_modules and not kw_additional_modules:
        return _green_patcher._import_patched(module_name, {}, _eventlet_replacements())
    return inject(module_name, None, *additional_modules, *kw_additional_modules.items())


def _eventlet_replacements() -> dict[str, ModuleType]:
    """The alias's modules that differ from green's stand-ins for the same stdlib module."""
    return {"socket": importlib.import_module("eventlet.green.socket")}


def inject(
    module_name: str, new_globals: dict | None, *additional_modules: tuple[str, ModuleType]
) -> ModuleType:
    """Import a private copy of `module_name` with `additional_modules` ((name, module) pairs) in
    place of those imports; copy its public names into `new_globals` if given.

    Without `additional_modules`, every green replacement is used. ``sys.modules`` is restored
    afterwards.
    """
    if not additional_modules:
        module = _green_patcher._import_patched(module_name, {}, _eventlet_replacements())
    else:
        names = [name for name, _ in additional_modules]
        saved = {name: sys.modules.get(name) for name in [*names, module_name]}
        submodules = {
            name: value for name, value in sys.modules.items() if name.startswith(module_name + ".")
        }
        try:
            for name, replacement in additional_modules:
                sys.modules[name] = replacement
            sys.modules.pop(module_name, None)
            for name in submodules:
                sys.modules.pop(name, None)
            module = importlib.import_module(module_name)
        finally:
            for name, value in saved.items():
                if value is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = value
            sys.modules.update(submodules)
            # Importing a submodule also set it on its package (``http.client``): put back the
            # module the rest of the program uses.
            for name in [module_name, *submodules]:
                package_name, _, child = name.rpartition(".")
                package = sys.modules.get(package_name) if package_name else None
                if package is not None and name in sys.modules:
                    setattr(package, child, sys.modules[name])
    if new_globals is not None:
        for name in dir(module):
            if name not in ("__file__", "__name__"):
                new_globals[name] = getattr(module, name)
    return module


def slurp_properties(source: Any, destination: dict, ignore: Any = (), srckeys: Any = None) -> None:
    """Copy the attributes of `source` (or those named in `srckeys`) into the dict `destination`,
    except the names in `ignore` and double-underscore names."""
    keys = dir(source) if srckeys is None else srckeys
    for name in keys:
        if name.startswith("__") or name in ignore:
            continue
        destination[name] = getattr(source, name)


__all__ = [
    "already_patched",
    "import_patched",
    "inject",
    "is_monkey_patched",
    "monkey_patch",
    "original",
    "slurp_properties",
]
