"""eventlet.greenthread: spawn, sleep, kill and GreenThread (green's own)."""

from greenlet import getcurrent

from green.greenthread import GreenThread, kill, sleep, spawn, spawn_after, spawn_after_local, spawn_n

__all__ = [
    "GreenThread",
    "getcurrent",
    "kill",
    "sleep",
    "spawn",
    "spawn_after",
    "spawn_after_local",
    "spawn_n",
]
