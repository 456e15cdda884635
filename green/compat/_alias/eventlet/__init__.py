"""eventlet's top-level names, as green's own objects (see green.compat.eventlet)."""

from greenlet import getcurrent

import green
from green import (
    BoundedSemaphore,
    CappedSemaphore,
    Event,
    GreenPile,
    GreenPool,
    LightQueue,
    Queue,
    Semaphore,
    Timeout,
    kill,
    sleep,
    spawn,
    spawn_after,
    spawn_after_local,
    spawn_n,
    with_timeout,
)
from green._convenience import StopServe, connect, listen, serve, wrap_ssl
from green.patcher import import_patched
from green.timeout import is_timeout, wrap_is_timeout

# The submodules eventlet's own __init__ imports, so `import eventlet; eventlet.queue.Queue` works.
from . import convenience, event, greenpool, greenthread, patcher, queue, semaphore, support, timeout

from .patcher import monkey_patch

#: The eventlet release whose API this alias offers (libraries compare it); green's own version
#: is `green_version`.
__version__ = "0.41.3"
green_version = green.__version__

__all__ = [
    "BoundedSemaphore",
    "CappedSemaphore",
    "Event",
    "GreenPile",
    "GreenPool",
    "LightQueue",
    "Queue",
    "Semaphore",
    "StopServe",
    "Timeout",
    "connect",
    "getcurrent",
    "import_patched",
    "is_timeout",
    "kill",
    "listen",
    "monkey_patch",
    "serve",
    "sleep",
    "spawn",
    "spawn_after",
    "spawn_after_local",
    "spawn_n",
    "with_timeout",
    "wrap_is_timeout",
    "wrap_ssl",
]
