"""eventlet.green.thread: green.thread's names (the same objects), and eventlet's `Lock` (green's
lock class)."""

from __future__ import annotations

from typing import Any

import green.thread as _green_thread
from green.thread import *  # noqa: F403  (green.thread's public names are this module's)

Lock = _green_thread.LockType


def __getattr__(name: str) -> Any:
    return getattr(_green_thread, name)
