"""eventlet.coros has no green counterpart."""

raise ImportError(
    "eventlet.coros is not offered by green's eventlet alias: eventlet.coros was removed from eventlet itself; use eventlet.event and eventlet.queue",
    name=__name__,
)
