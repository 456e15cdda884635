"""eventlet.hubs.hub: the READ/WRITE names and the hub class (green's Hub)."""

from green.hubs.hub import Hub as BaseHub

READ = "read"
WRITE = "write"

__all__ = ["READ", "WRITE", "BaseHub"]
