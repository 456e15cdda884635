"""eventlet.hubs.timer: green's Timer (returned by hub.schedule_call_global)."""

from green.hubs.hub import Timer

__all__ = ["Timer"]
