"""eventlet.hubs.kqueue has no green counterpart."""

raise ImportError(
    "eventlet.hubs.kqueue is not offered by green's eventlet alias: green's hubs are epolls, poll and "
    "selects (green.aio runs asyncio code on green's hub instead)"
)
