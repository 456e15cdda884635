"""eventlet.green.select: green.select's names (the same objects), and eventlet's `get_fileno`."""

from __future__ import annotations

from typing import Any

import green.select as _green_select
from green.select import *  # noqa: F403  (green.select's public names are this module's)


def get_fileno(obj: Any) -> int:
    """The fd of `obj`: an int itself, or what its fileno() returns (TypeError otherwise)."""
    if isinstance(obj, int):
        return obj
    try:
        fileno = obj.fileno
    except AttributeError:
        raise TypeError(f"Expected int or long, got {type(obj)}") from None
    fd = fileno()
    if not isinstance(fd, int):
        raise TypeError(f"Expected int or long, got {type(fd)}")
    return fd


def __getattr__(name: str) -> Any:
    return getattr(_green_select, name)
