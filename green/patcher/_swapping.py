"""The swapping machinery: green stand-ins in ``sys.modules``, in-place patching, rebinding the
globals of modules imported before patching, and the warning about captured names."""

from __future__ import annotations

import sys
import warnings
from types import ModuleType
from typing import Any

from green._stdlib import original
from green.patcher._registry import _all_targets, _saved_attributes

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

_warned = False


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
