"""eventlet's top-level names, as green's own objects (see green.compat.eventlet).

eventlet's environment variables are read as green's when green's own are not set:
``EVENTLET_HUB`` (epolls, poll, selects) as ``GREEN_HUB``, ``EVENTLET_THREADPOOL_SIZE`` as
``GREEN_THREADPOOL_SIZE`` (0 and below: see eventlet.tpool).
"""

import os as _os

# A size of 0 or below is eventlet's "no threads" mode, which eventlet.tpool handles itself.
if (
    _os.environ.get("EVENTLET_THREADPOOL_SIZE", "").strip().strip("0")
    and not _os.environ["EVENTLET_THREADPOOL_SIZE"].strip().startswith("-")
    and not _os.environ.get("GREEN_THREADPOOL_SIZE")
):
    _os.environ["GREEN_THREADPOOL_SIZE"] = _os.environ["EVENTLET_THREADPOOL_SIZE"]

from greenlet import getcurrent

from green import (
    BoundedSemaphore,
    CappedSemaphore,
    Event,
    GreenPile,
    GreenPool,
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
from green._convenience import StopServe
from green.timeout import is_timeout, wrap_is_timeout

# The submodules eventlet's own __init__ imports, so `import eventlet; eventlet.queue.Queue` works.
from . import (  # noqa: F401  (eventlet's __init__ imports these; hubs reads EVENTLET_HUB early)
    convenience,
    event,
    greenpool,
    greenthread,
    hubs,
    patcher,
    queue,
    semaphore,
    support,
    timeout,
)
from .convenience import connect, listen, serve, wrap_ssl
from .green import socket as _green_socket  # noqa: F401  (adds eventlet's socket.fd)
from .patcher import import_patched, monkey_patch
from .queue import LightQueue, Queue  # eventlet's maxsize: Queue(0) is a channel

#: The eventlet release whose API this alias offers (libraries compare it); green's own version
#: is `green_version`.
__version__ = "0.41.3"
from green import __version__ as green_version  # noqa: E402, F401

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
