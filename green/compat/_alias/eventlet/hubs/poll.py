"""eventlet.hubs.poll: green's poll backend (select it with eventlet.hubs.use_hub("poll"))."""

from green.hubs.hub import Hub
from green.hubs.poll import Backend

__all__ = ["Backend", "Hub"]
