"""eventlet.semaphore: Semaphore, BoundedSemaphore, CappedSemaphore (green's own)."""

from green.semaphore import BoundedSemaphore, CappedSemaphore, Semaphore

__all__ = ["BoundedSemaphore", "CappedSemaphore", "Semaphore"]
