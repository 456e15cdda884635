"""eventlet.queue: the green queues (green.queue) and the stdlib's Empty and Full."""

from green.queue import Empty, Full, LifoQueue, LightQueue, PriorityQueue, Queue

__all__ = ["Empty", "Full", "LifoQueue", "LightQueue", "PriorityQueue", "Queue"]
