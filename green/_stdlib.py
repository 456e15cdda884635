"""Pristine stdlib modules, whatever monkey-patching has done to sys.modules since.

Green modules bind the originals they wrap through `original(name)`. The patcher records the
original of every module it replaces here before swapping the green one into sys.modules.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

_saved: dict[str, ModuleType] = {}


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
