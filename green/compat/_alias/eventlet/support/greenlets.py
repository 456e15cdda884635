"""eventlet.support.greenlets: the greenlet module's names."""

from greenlet import GreenletExit, getcurrent, greenlet

__all__ = ["GreenletExit", "getcurrent", "greenlet"]
