"""Pristine stdlib modules, whatever monkey-patching has done to sys.modules since.

Green modules bind the originals they wrap through `original(name)`, which imports the real
module aside when the green one already sits in sys.modules. `reexport` gives a green module
the stdlib module's names it does not implement.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any, Iterable

_saved: dict[str, ModuleType] = {}


def reexport(
    namespace: dict[str, Any],
    stdlib: ModuleType,
    implements: Iterable[str],
    removes: Iterable[str] = (),
    keep_defined: bool = False,
) -> None:
    """Copy into `namespace` (a green module's ``globals()``) every name of the `stdlib` module
    but the dunders, those green `implements` and those it `removes` (with `keep_defined`, also
    those `namespace` already has): a green module offers all that its stdlib module does."""
    skipped = set(implements) | set(removes)
    for name in dir(stdlib):
        if name.startswith("__") or name in skipped or (keep_defined and name in namespace):
            continue
        namespace[name] = getattr(stdlib, name)


def original(name: str) -> ModuleType:
    """The real stdlib module `name`, never a green replacement.

    Beware ``threading``: it is patched *in place*, so after `monkey_patch` its original is the
    patched module and its Thread, Lock and Event are green. Code that needs a real OS thread or
    a real lock takes it from ``original("_thread")``.
    """
    try:
        return _saved[name]
    except KeyError:
        pass
    module = sys.modules.get(name)
    if module is not None and not getattr(module, "__green__", None):
        _saved[name] = module
        return module
    if module is None:
        return _saved.setdefault(name, importlib.import_module(name))
    # The green module sits in sys.modules: import the real one aside, then put the green back.
    replaced = sys.modules.pop(name)
    try:
        module = importlib.import_module(name)
    finally:
        sys.modules[name] = replaced
    _saved[name] = module
    return module
