"""The compiled core, if there is one: ``green._core`` (green/_core.c), or None.

`pip install .` builds it where a C compiler exists (an optional extension: without a compiler
green installs as pure Python). Setting ``GREEN_PURE=1`` in the environment keeps the pure-Python
code even when it is built (the test suite runs both ways). The Python code the core replaces
stays in the modules that use it: `green.hubs.hub` (`_Turn`, `Hub._make_park`) and
`green._waiter` (`Waiter`).
"""

from __future__ import annotations

import importlib
import os
from typing import Any


def _load() -> Any:
    if os.environ.get("GREEN_PURE", "") == "1":
        return None
    try:
        return importlib.import_module("green._core")
    except ImportError:  # not built (no compiler at install time): the pure-Python code runs
        return None


core: Any = _load()
