"""eventlet.hubs.epolls: green's epoll backend (select it with eventlet.hubs.use_hub("epolls"))."""

from green.hubs.epoll import Backend
from green.hubs.hub import Hub

__all__ = ["Backend", "Hub"]
