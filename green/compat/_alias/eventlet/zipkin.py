"""eventlet.zipkin has no green counterpart."""

raise ImportError(
    "eventlet.zipkin is not offered by green's eventlet alias: eventlet's zipkin tracing has no counterpart in green",
    name=__name__,
)
