"""Run programs written for eventlet on green, unchanged: ``import eventlet`` gives green.

Why it looks like this
----------------------
The alias is a directory of small modules, ``green/compat/_alias/eventlet/``, laid out like the
eventlet package (``eventlet/__init__.py``, ``eventlet/hubs/__init__.py``,
``eventlet/green/socket.py``, ...). Each one imports green's own objects under eventlet's names:
``eventlet.Event`` *is* `green.Event`, ``eventlet.spawn`` *is* `green.spawn`. Nothing sits
between a caller and green on the hot path, and no eventlet code is copied or needed.

Two ways put that directory in front of a real eventlet, one per process boundary:

* In this process, `install()` puts a meta-path finder at the front of ``sys.meta_path``. It
  answers only for the top-level name ``eventlet`` and returns the alias package; every
  submodule (``eventlet.wsgi``) is then found through that package's ``__path__``, which
  is the alias directory. The alias directory is also put in ``sys.path`` right after
  ``sys.path[0]`` (so a script's directory stays first) for tools that build a child's
  ``PYTHONPATH`` from ``sys.path``. A real eventlet installed in site-packages is neither touched
  nor imported.
* Child interpreters (a re-exec of ``sys.executable``, a Celery or gunicorn master starting
  workers, ``subprocess.run([sys.executable, ...])``) inherit the environment, not the meta path.
  `install()` therefore prepends the alias directory to ``PYTHONPATH``. Python puts ``PYTHONPATH``
  entries before site-packages, so a child's ``import eventlet`` finds the alias first, with no
  ``sitecustomize`` (which a project may have its own of) and no ``.pth`` file installed
  anywhere. A child that never imports eventlet pays nothing. Any interpreter can be given the
  alias the same way by hand: ``PYTHONPATH=$(python -m green --eventlet-path) celery ...``.

`install()` refuses (ImportError) when the real eventlet is already imported: two eventlets, each
with its own hub, would deadlock each other in ways that are hard to trace.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from types import ModuleType
from typing import Any, Sequence

__all__ = ["ALIAS_PATH", "install", "installed"]

#: The directory holding the ``eventlet`` alias package (put it on PYTHONPATH to give any
#: interpreter the alias).
ALIAS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_alias")
_ALIAS_INIT = os.path.join(ALIAS_PATH, "eventlet", "__init__.py")


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Finds ``eventlet`` in the alias directory; submodules follow the package's __path__."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "eventlet":
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, [ALIAS_PATH])


_finder = _AliasFinder()


def _is_alias(module: Any) -> bool:
    return os.path.abspath(getattr(module, "__file__", "") or "") == _ALIAS_INIT


def installed() -> bool:
    """Whether ``import eventlet`` gives green in this process."""
    return _finder in sys.meta_path or _is_alias(sys.modules.get("eventlet"))


def install(children: bool = True) -> None:
    """Make ``import eventlet`` and every public eventlet submodule resolve to green.

    Call it before anything imports eventlet. With `children` (the default) the alias directory is
    also prepended to the ``PYTHONPATH`` environment variable, so Python interpreters started from
    this process get the alias too. Calling it again is harmless. The real eventlet, if installed,
    is left as it is on disk. Raises ImportError if the real eventlet was already imported.
    """
    loaded = sys.modules.get("eventlet")
    if loaded is not None and not _is_alias(loaded):
        raise ImportError(
            "the real eventlet was already imported (from "
            f"{getattr(loaded, '__file__', '?')}); call green.compat.eventlet.install() "
            "before anything imports eventlet, or run the program with `python -m green --eventlet`"
        )
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    if ALIAS_PATH not in sys.path:
        # For tools that build a child's PYTHONPATH from sys.path (test runners, multiprocessing
        # helpers): after the script's directory, before site-packages.
        sys.path.insert(1 if sys.path else 0, ALIAS_PATH)
    if children:
        entries = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
        if ALIAS_PATH not in entries:
            os.environ["PYTHONPATH"] = os.pathsep.join([ALIAS_PATH, *entries])
