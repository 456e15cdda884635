"""eventlet.lock: a green Lock (green's Semaphore with a count of one, as in eventlet)."""

from green.thread import LockType as Lock

__all__ = ["Lock"]
