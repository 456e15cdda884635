"""eventlet.green.zmq has no green counterpart."""

from . import _unsupported

raise _unsupported(
    __name__,
    "green has no cooperative pyzmq; use zmq's own asyncio support through green.aio, or pyzmq in a tpool thread",
)
