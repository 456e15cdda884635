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

Locks created before patching: reentrant locks (logging's module and handler locks, class
attributes, module globals, ...) are replaced with green ones when every reference to them can be
rewritten (`_locks` explains why and how); a real RLock would let every green thread of its OS
thread in at once. The stdlib's module-level plain locks stay real: they are only held for a few
bytecodes, never across a green switch.

Where the parts live: ``_registry.py`` (the keywords, the declarations, the plan, the record of
what is patched), ``_swapping.py`` (stand-ins, in-place patching, rebinding importers, captured
names), ``_locks.py`` (early RLocks), ``_libraries.py`` (the C database drivers), and here the public
functions.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

from green import _stdlib
from green.patcher import _libraries
from green.patcher._locks import replace_early_rlocks
from green.patcher._registry import _GROUPS, _dns_names, _load, _patched, _plan, _requested, _saved_attributes
from green.patcher._swapping import (
    _find_captures,
    _patch_dns_only,
    _patch_in_place,
    _rebind_importers,
    _share_reexports,
    _stand_in,
    _warn_once,
)

__all__ = [
    "get_original",
    "import_patched",
    "is_monkey_patched",
    "monkey_patch",
    "original",
    "patched_modules",
]


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
        replace_early_rlocks()
    if captured:
        _warn_once(captured)


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
    return _import_patched(name, modules, {})


def _import_patched(
    name: str, modules: dict[str, bool | None], replacing: dict[str, ModuleType]
) -> ModuleType:
    """`import_patched`, with the modules in `replacing` (stdlib name -> module) given to the
    private copy instead of green's stand-ins for them (the eventlet alias gives its own
    ``eventlet.green.socket``)."""
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
            if target in replacing:
                sys.modules[target] = replacing[target]
            elif getattr(entries[0][0], "__green_in_place__", False):
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
