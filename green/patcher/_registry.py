"""What can be patched, and what is: the keywords of `monkey_patch` and the green modules each
covers, the names a green module declares (``__green__``, ``__implements__``, ``__removes__``), the
plan for a set of keywords, and the record of what has been patched so far."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from green.patcher import _libraries

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

_patched: dict[str, ModuleType] = {}  # stdlib module name -> green module applied
_saved_attributes: dict[tuple[str, str], Any] = {}  # (module, name) -> value before in-place patching


def _load(green_name: str) -> ModuleType | None:
    """Import a green module; None if it does not exist (yet)."""
    try:
        return importlib.import_module(green_name)
    except ModuleNotFoundError as problem:
        if problem.name == green_name:
            return None
        raise


def _dns_names() -> list[str]:
    """The resolver names green.socket implements (those green.resolver declares)."""
    resolver = _load("green.resolver")
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


def _all_targets() -> set[str]:
    """Every stdlib module some green module replaces (patched now or not)."""
    targets = set()
    for names in _GROUPS.values():
        for green_name in names:
            module = _load(green_name)
            if module is not None:
                targets.add(module.__green__)
    return targets
