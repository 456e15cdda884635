"""The patcher: make unmodified stdlib code run on green threads.

Why it looks like this
----------------------
Each green replacement module declares what it replaces: ``__green__`` (the stdlib module),
``__implements__`` (the names it defines in that module's place) and ``__removes__`` (names it
deliberately leaves out, such as ``select.epoll``). `_registry` only groups green modules under the
keywords of `monkey_patch`; every name comes from those declarations, so a module that grows a
new replacement is patched without touching this package.

How a stdlib module is replaced -- two ways, each where it is the right one:

* **Swap in sys.modules** (the default). ``sys.modules["socket"]`` becomes `green.socket`, which
  re-exports everything it does not replace. Every later ``import socket`` or ``from socket import
  socket`` gets green objects, while the real module object is left untouched: it is what
  `original()` hands out, and its own functions keep seeing real objects through their globals.
  That matters because green modules *wrap* the real ones: if green's socket called the real
  ``socket.socket.accept`` while the real module's global ``socket`` had been replaced in place,
  the real method would build a green socket inside a green socket. Swapping keeps the two worlds
  apart. Modules imported *before* patching hold the real module object in a global (``http.client``
  did ``import socket``); the patcher rebinds such globals to the green module, in every loaded
  module except the originals themselves, green's own modules and the import machinery.
* **In place** (modules that declare ``__green_in_place__``; today only `threading`). `threading`
  copied `_thread`'s functions into its own globals at import, so a swapped `_thread` would not
  reach it and a re-imported `threading` would be a second thread table. The patcher sets the
  declared names on the real module; its functions find them at call time. The replaced values
  are saved for `get_original`.

What cannot be fixed is a *name* captured before patching (``from socket import socket`` at the
top of a module imported earlier, a thread started before): the patcher warns once, naming the
modules, and leaves them alone.

Locks created before patching: `logging`'s module lock and handler locks are replaced with green
ones when logging is already loaded. Other early locks stay real; a real RLock never blocks
between green threads of one OS thread (they share its ident), and the stdlib's module-level plain
locks are only held for a few bytecodes, never across a green switch.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from types import ModuleType
from typing import Any

from green import _stdlib
from green.patcher import _libraries

__all__ = [
    "get_original",
    "import_patched",
    "is_monkey_patched",
    "monkey_patch",
    "original",
    "patched_modules",
]

# The keywords of monkey_patch and the green modules each one covers (the only table here; what
# each module replaces is read from the module itself).
_GROUPS: dict[str, tuple[str, ...]] = {
    "thread": ("green.thread", "green.threading", "green.queue"),
    "time": ("green.time",),
    "os": ("green.os", "green._process"),
    "select": ("green.select", "green.selectors"),
    "socket": ("green.socket",),
    "dns": (),  # the resolver functions inside green.socket; see _dns_names()
    "ssl": ("green.ssl",),
    "subprocess": ("green.subprocess",),
    "signal": ("green.signal",),
}

# Loaded modules whose globals are never rebound: the import machinery (import locks stay real)
# and the interpreter's own.
_NEVER_REBIND = frozenset(
    {
        "sys",
        "builtins",
        "_frozen_importlib",
        "_frozen_importlib_external",
        "importlib._bootstrap",
        "importlib._bootstrap_external",
    }
)
# Stdlib modules known to capture a replaced name harmlessly (functools' RLock guards
# cached_property only; reprlib's get_ident keys its recursion guard).
_HARMLESS_CAPTURES = frozenset({"functools", "reprlib", "threading", "_threading_local"})

_patched: dict[str, ModuleType] = {}  # stdlib module name -> green module applied
_saved_attributes: dict[tuple[str, str], Any] = {}  # (module, name) -> value before in-place patching
_warned = False


def original(name: str) -> ModuleType:
    """The real stdlib module `name`, never a green replacement (imported if needed)."""
    return _stdlib.original(name)


def get_original(module_name: str, name: str) -> Any:
    """The stdlib's own value of `module_name.name`, as it was before any patching.

    Raises AttributeError if the stdlib module has no such name.
    """
    key = (module_name, name)
    if key in _saved_attributes:
        return _saved_attributes[key]
    return getattr(original(module_name), name)


def _load(green_name: str) -> ModuleType | None:
    """Import a green module; None if it does not exist (yet)."""
    try:
        return importlib.import_module(green_name)
    except ModuleNotFoundError as problem:
        if problem.name == green_name:
            return None
        raise


def _dns_names() -> list[str]:
    """The resolver names green.socket implements (those green._resolver declares)."""
    resolver = _load("green._resolver")
    candidates = getattr(resolver, "__all__", ()) if resolver is not None else ()
    socket_module = _load("green.socket")
    implemented = getattr(socket_module, "__implements__", ()) if socket_module is not None else ()
    return [name for name in candidates if name in implemented]


def _requested(modules: dict[str, bool | None]) -> set[str]:
    """The keywords to act on: stdlib groups (`_GROUPS`) and C drivers (`_libraries.LIBRARIES`)."""
    known = set(_GROUPS) | set(_libraries.LIBRARIES)
    unknown = set(modules) - known
    if unknown:
        raise TypeError(f"monkey_patch() got unknown module names: {', '.join(sorted(unknown))}")
    chosen = {key: value for key, value in modules.items() if value is not None}
    if any(chosen.values()):
        return {key for key, value in chosen.items() if value}
    return known - {key for key, value in chosen.items() if not value}


def monkey_patch(**modules: bool | None) -> None:
    """Replace blocking stdlib modules with their green versions, process-wide.

    Keywords: ``thread`` (`_thread`, `threading`, `queue`), ``time``, ``os``, ``select`` (with
    `selectors`), ``socket``, ``dns`` (the name-resolution functions of `socket`), ``ssl``,
    ``subprocess``, ``signal``; and C database drivers that bypass `socket`: ``psycopg`` (psycopg2's
    wait callback and psycopg 3's wait functions park on the hub) and ``MySQLdb`` (mysqlclient's
    network calls run through `green.tpool`), applied when the driver is imported. No keyword
    patches everything; some True patches only those; only False ones patch everything but those.
    Calling it again is harmless (and can patch more).
    Raises TypeError for an unknown keyword. Warns once, naming them, about already-loaded modules
    that captured names the patcher cannot reach.
    """
    requested = _requested(modules)
    for keyword in sorted(requested & set(_libraries.LIBRARIES)):
        _libraries.patch_library(keyword)
    groups = requested & set(_GROUPS)
    dns_names = _dns_names()
    plan = _plan(groups, dns_names, skip_patched=True)
    if "dns" in groups and "socket" not in groups and "socket" not in _patched:
        socket_module = _load("green.socket")
        if socket_module is not None and dns_names:
            _patch_dns_only(socket_module, dns_names)
            _patched["socket:dns"] = socket_module
    if not plan:
        return

    captured = _find_captures(plan)
    swapped: dict[int, ModuleType] = {}
    by_target: dict[str, list[tuple[ModuleType, list[str], list[str]]]] = {}
    for entry in plan:
        by_target.setdefault(entry[0].__green__, []).append(entry)
    for target, entries in by_target.items():
        real = original(target)
        base = entries[0][0]
        if getattr(base, "__green_in_place__", False):
            for green_module, implements, removes in entries:
                _patch_in_place(real, green_module, implements, removes)
        else:
            stand_in = _stand_in(real, entries)
            _share_reexports(stand_in, real)
            sys.modules[target] = stand_in
            swapped[id(real)] = stand_in
        _patched[target] = base
    if swapped:
        _rebind_importers(swapped)
    for green_module, _, _ in plan:
        hook = getattr(green_module, "_after_patch", None)
        if hook is not None:
            hook()
    if any(green_module.__green__ == "_thread" for green_module, _, _ in plan):
        _replace_logging_locks()
    if captured:
        _warn_once(captured)


def _plan(
    groups: set[str], dns_names: list[str], skip_patched: bool
) -> list[tuple[ModuleType, list[str], list[str]]]:
    """(green module, names to patch, names to remove) for every green module of `groups`."""
    plan: list[tuple[ModuleType, list[str], list[str]]] = []
    for group in sorted(groups):
        for green_name in _GROUPS[group]:
            green_module = _load(green_name)
            if green_module is None:
                continue
            target = green_module.__green__
            if skip_patched and target in _patched:
                continue
            implements = list(green_module.__implements__)
            if target == "socket" and "dns" not in groups:
                implements = [name for name in implements if name not in dns_names]
            plan.append((green_module, implements, list(getattr(green_module, "__removes__", ()))))
    return plan


def _patch_in_place(real: ModuleType, green_module: ModuleType, implements: list[str], removes: list[str]):
    for name in implements:
        _saved_attributes.setdefault((real.__name__, name), getattr(real, name, None))
        setattr(real, name, getattr(green_module, name))
    for name in removes:
        if hasattr(real, name):
            _saved_attributes.setdefault((real.__name__, name), getattr(real, name))
            delattr(real, name)


def _patch_dns_only(green_socket: ModuleType, names: list[str]) -> None:
    """dns without socket: ``sys.modules["socket"]`` becomes a copy of the real module whose
    resolver functions are green (the real module itself stays untouched, as always)."""
    real = original("socket")
    stand_in = ModuleType(real.__name__, real.__doc__)
    stand_in.__dict__.update(real.__dict__)
    stand_in.__green__ = "socket"  # type: ignore[attr-defined]
    for name in names:
        setattr(stand_in, name, getattr(green_socket, name))
    sys.modules["socket"] = stand_in
    _rebind_importers({id(real): stand_in})


def _stand_in(real: ModuleType, entries: list[tuple[ModuleType, list[str], list[str]]]) -> ModuleType:
    """One module for ``sys.modules``: the first green module's namespace, with the names it
    implements but was told not to patch restored to the real ones, plus the names further green
    modules for the same target implement (green._process adds ``waitpid`` to ``os``)."""
    base = entries[0][0]
    if len(entries) == 1 and set(entries[0][1]) == set(base.__implements__):
        return base
    stand_in = ModuleType(real.__name__, base.__doc__)
    stand_in.__dict__.update(base.__dict__)
    for name in base.__implements__:
        if name not in entries[0][1] and hasattr(real, name):
            setattr(stand_in, name, getattr(real, name))
    for green_module, implements, _ in entries[1:]:
        for name in implements:
            setattr(stand_in, name, getattr(green_module, name))
    return stand_in


class _StandInModule(ModuleType):
    """A green module swapped in for a real one, whose re-exported names stay shared with it.

    Code that assigns a module attribute expects the module's own functions to see it: a test
    sets ``os.environ = {...}`` and calls ``os.get_exec_path()``, ``mock.patch("os.execv")`` makes
    ``os.execvp`` call the mock. Those functions are the real module's, reading their globals
    there; so assigning (or deleting) a name the green module only re-exports -- its value is the
    very object the real module holds -- does the same on the real module. Names the green module
    implements, or that only it has, stay its own.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        real = self.__dict__.get("__green_real__")
        if real is not None and _reexported(self, real, name):
            setattr(real, name, value)
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        real = self.__dict__.get("__green_real__")
        if real is not None and _reexported(self, real, name):
            delattr(real, name)
        super().__delattr__(name)


_MISSING = object()


def _reexported(stand_in: ModuleType, real: ModuleType, name: str) -> bool:
    if name.startswith("__"):
        return False
    value = real.__dict__.get(name, _MISSING)
    return value is not _MISSING and stand_in.__dict__.get(name, _MISSING) is value


def _share_reexports(stand_in: ModuleType, real: ModuleType) -> None:
    if type(stand_in) is ModuleType:
        stand_in.__class__ = _StandInModule
    stand_in.__dict__["__green_real__"] = real


def _all_targets() -> set[str]:
    """Every stdlib module some green module replaces (patched now or not)."""
    targets = set()
    for names in _GROUPS.values():
        for green_name in names:
            module = _load(green_name)
            if module is not None:
                targets.add(module.__green__)
    return targets


def _skipped(name: str, targets: set[str]) -> bool:
    """Modules whose globals the patcher never touches: the originals green wraps (whether
    patched yet or not), green's own, its dependencies' and the import machinery."""
    return (
        name in _NEVER_REBIND
        or name in targets
        or name in ("green", "dns")
        or name.startswith(("green.", "greenlet", "dns.", "importlib."))
    )


def _real_name(key: str, module: ModuleType) -> str:
    """A module's own name, which differs from its sys.modules key for a module registered under
    a second name (green.socket as ``eventlet.green.socket`` under the eventlet alias)."""
    own = getattr(module, "__name__", None)
    return own if isinstance(own, str) else key


def _rebind_importers(swapped: dict[int, ModuleType]) -> None:
    """Point globals that hold a replaced real module (``import socket`` done before patching) at
    its green stand-in, in every loaded module but the originals and green's own."""
    targets = _all_targets()
    for name, module in list(sys.modules.items()):
        if (
            module is None
            or _skipped(_real_name(name, module), targets)
            or getattr(module, "__green__", None)
        ):
            continue
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for key, value in list(namespace.items()):
            if type(value) is ModuleType and id(value) in swapped:
                namespace[key] = swapped[id(value)]


def _find_captures(plan: list[tuple[ModuleType, list[str], list[str]]]) -> dict[str, list[str]]:
    """Loaded modules holding a real object that is about to be replaced, by module."""
    replaced: dict[int, str] = {}
    for green_module, implements, _ in plan:
        if getattr(green_module, "__green_in_place__", False):
            continue  # what it holds are `_thread`'s values, covered by green.thread
        real = original(green_module.__green__)
        for name in implements:
            if green_module.__green__ == "_thread" and not name.startswith("start_"):
                continue  # an early real lock is harmless (see above); an early thread starter is not
            value = getattr(real, name, None)
            if callable(value) and value is not getattr(green_module, name, None):
                replaced[id(value)] = f"{green_module.__green__}.{name}"
    found: dict[str, list[str]] = {}
    targets = _all_targets()
    for name, module in list(sys.modules.items()):
        if module is None or _skipped(_real_name(name, module), targets) or name in _HARMLESS_CAPTURES:
            continue
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for value in list(namespace.values()):
            what = replaced.get(id(value))
            if what is not None and getattr(value, "__module__", None) != name:
                found.setdefault(what, []).append(name)
    threading_module = sys.modules.get("threading")
    if threading_module is not None and any(green.__green__ == "_thread" for green, _, _ in plan):
        if original("_thread")._count() > 0:
            found.setdefault("threading (OS threads already running)", []).append("threading")
    return found


def _warn_once(captured: dict[str, list[str]]) -> None:
    global _warned
    if _warned:
        return
    _warned = True
    details = "; ".join(
        f"{what} in {', '.join(sorted(set(names)))}" for what, names in sorted(captured.items())
    )
    warnings.warn(
        "green.monkey_patch() ran after modules captured objects it replaces, which stay blocking "
        f"there: {details}. Call monkey_patch() earlier (or run under `python -m green`).",
        RuntimeWarning,
        stacklevel=3,
    )


def _replace_logging_locks() -> None:
    """Give an already-imported `logging` green locks (its module lock and its handlers')."""
    logging = sys.modules.get("logging")
    if logging is None:
        return
    from green.thread import RLock

    lock = getattr(logging, "_lock", None)
    if lock is not None and not isinstance(lock, RLock) and _unheld(lock):
        logging._lock = RLock()  # type: ignore[attr-defined]
    for reference in list(getattr(logging, "_handlerList", ())):
        handler = reference()
        if handler is None:
            continue
        lock = getattr(handler, "lock", None)
        if lock is not None and not isinstance(lock, RLock) and _unheld(lock):
            handler.lock = RLock()


def _unheld(lock: Any) -> bool:
    if lock.acquire(False):
        lock.release()
        return True
    return False


def is_monkey_patched(name: str) -> bool:
    """Whether `name` -- a monkey_patch keyword (``"socket"``, ``"thread"``) or a stdlib module name
    (``"_thread"``, ``"selectors"``) -- has been patched."""
    if name in _libraries.LIBRARIES:
        return name in _libraries.patched_libraries()
    if name in _GROUPS:
        if name == "dns":
            return "socket:dns" in _patched or ("socket" in _patched and bool(_dns_names()))
        targets = [_load(green_name) for green_name in _GROUPS[name]]
        names = [module.__green__ for module in targets if module is not None]
        return bool(names) and all(target in _patched for target in names)
    return name in _patched


def patched_modules() -> list[str]:
    """The stdlib module names patched so far."""
    return sorted(name for name in _patched if ":" not in name)


def import_patched(name: str, **modules: bool | None) -> ModuleType:
    """Import a private copy of module `name` that sees green versions of its dependencies.

    The keywords choose the dependencies as for `monkey_patch` (default: all). Nothing is patched
    process-wide: ``sys.modules`` is restored afterwards, and `name` itself keeps its usual entry.
    `name` is re-imported, with its submodules when it is a package (a package that imports
    ``socket`` in a submodule gets the green one there too); dependencies it shares with others
    are the green modules themselves (or, for in-place ones like `threading`, a private copy as
    well).
    """
    groups = _requested(modules) & set(_GROUPS)
    dns_names = _dns_names()
    by_target: dict[str, list[tuple[ModuleType, list[str], list[str]]]] = {}
    for entry in _plan(groups, dns_names, skip_patched=False):
        by_target.setdefault(entry[0].__green__, []).append(entry)
    saved: dict[str, ModuleType | None] = {}
    prefix = name + "."
    submodules = {key: module for key, module in list(sys.modules.items()) if key.startswith(prefix)}
    try:
        for key in submodules:
            del sys.modules[key]
        for target, entries in by_target.items():
            real = original(target)
            saved.setdefault(target, sys.modules.get(target))
            if getattr(entries[0][0], "__green_in_place__", False):
                sys.modules.pop(target, None)  # a private copy is imported with its deps green
            else:
                sys.modules[target] = _stand_in(real, entries)
        saved.setdefault(name, sys.modules.get(name))
        sys.modules.pop(name, None)
        return importlib.import_module(name)
    finally:
        for target, module in saved.items():
            if module is None:
                sys.modules.pop(target, None)
            else:
                sys.modules[target] = module
        for key in [key for key in sys.modules if key.startswith(prefix)]:
            del sys.modules[key]  # the private copy's submodules
        sys.modules.update(submodules)
        # Importing a submodule also set it on its package (``http.client`` on ``http``): put
        # back the module the rest of the program uses.
        package_name, _, child = name.rpartition(".")
        package = sys.modules.get(package_name) if package_name and name in saved else None
        if package is not None:
            if saved[name] is not None:
                setattr(package, child, saved[name])
            elif getattr(package, child, None) is not None:
                delattr(package, child)
