"""green: green threads on greenlet, one event hub, and cooperative stdlib replacements.

The public surface. Everything else is reached through submodules (green.socket, green.queue,
green.hubs, ...).
"""

from __future__ import annotations

from typing import Any

from greenlet import GreenletExit

from green._local import local
from green.event import Event
from green.greenpool import GreenPile, GreenPool
from green.greenthread import (
    GreenThread,
    getcurrent,
    kill,
    sleep,
    spawn,
    spawn_after,
    spawn_after_local,
    spawn_n,
)
from green.hubs import BlockingInHubError, LoopExit, get_hub, use_hub
from green.queue import LightQueue, Queue
from green.semaphore import BoundedSemaphore, CappedSemaphore, Semaphore
from green.taskgroup import TaskGroup, TaskGroupCancelled
from green.timeout import Timeout, with_timeout

__version__ = "0.1.0"

__all__ = [
    "BlockingInHubError",
    "BoundedSemaphore",
    "CappedSemaphore",
    "Event",
    "GreenPile",
    "GreenPool",
    "GreenThread",
    "GreenletExit",
    "LightQueue",
    "LoopExit",
    "Queue",
    "Semaphore",
    "TaskGroup",
    "TaskGroupCancelled",
    "Timeout",
    "getcurrent",
    "get_hub",
    "kill",
    "local",
    "sleep",
    "spawn",
    "spawn_after",
    "spawn_after_local",
    "spawn_n",
    "use_hub",
    "with_timeout",
]

# Names provided by modules that load on first use (they import green.socket, the patcher, ...).
_LAZY = {
    "listen": "green._convenience",
    "connect": "green._convenience",
    "serve": "green._convenience",
    "StopServe": "green._convenience",
    "wrap_ssl": "green._convenience",
    "monkey_patch": "green.patcher",
    "import_patched": "green.patcher",
    "is_monkey_patched": "green.patcher",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'green' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
