"""eventlet.hubs.selects: green's select backend (select it with eventlet.hubs.use_hub("selects"))."""

from green.hubs.hub import Hub
from green.hubs.select import Backend

__all__ = ["Backend", "Hub"]
