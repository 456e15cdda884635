"""epoll backend (Linux): level-triggered, one epoll_ctl per change of interest."""

from __future__ import annotations

from green._compiled import core as _core
from green._stdlib import original
from green.hubs.hub import READ, WRITE

# The real module, even when this backend is first imported after monkey-patching.
select = original("select")


_IN = select.EPOLLIN | select.EPOLLPRI | select.EPOLLERR | select.EPOLLHUP
_OUT = select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP
_TO_KERNEL = (0, select.EPOLLIN, select.EPOLLOUT, select.EPOLLIN | select.EPOLLOUT)


class Backend:
    name = "epoll"

    def fresh(self) -> Backend:
        """A new, empty backend of the same kind (the hub rebuilds from its own records)."""
        return Backend()

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._maxevents = 1024

    def register(self, fd: int, mask: int) -> None:
        self._epoll.register(fd, _TO_KERNEL[mask])

    def modify(self, fd: int, mask: int) -> None:
        self._epoll.modify(fd, _TO_KERNEL[mask])

    def unregister(self, fd: int) -> None:
        self._epoll.unregister(fd)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        events = self._epoll.poll(-1 if timeout is None else timeout, self._maxevents)
        if len(events) == self._maxevents:
            self._maxevents *= 2
        if _core is not None:
            return _core.to_events(events, _IN, _OUT)  # type: ignore[no-any-return]
        return [
            (fd, (READ if kernel_mask & _IN else 0) | (WRITE if kernel_mask & _OUT else 0))
            for fd, kernel_mask in events
        ]

    def close(self) -> None:
        self._epoll.close()
