"""poll(2) backend: the kernel keeps no state, so register/modify/unregister are dict updates."""

from __future__ import annotations

import math

from green._compiled import core as _core
from green._stdlib import original
from green.hubs.hub import READ, WRITE

# The real module, even when this backend is first imported after monkey-patching.
select = original("select")


_IN = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP | select.POLLNVAL
_OUT = select.POLLOUT | select.POLLERR | select.POLLHUP | select.POLLNVAL
_TO_KERNEL = (
    0,
    select.POLLIN | select.POLLPRI,
    select.POLLOUT,
    select.POLLIN | select.POLLPRI | select.POLLOUT,
)


class Backend:
    name = "poll"

    def fresh(self) -> Backend:
        """A new, empty backend of the same kind (the hub rebuilds from its own records)."""
        return Backend()

    def __init__(self) -> None:
        self._poll = select.poll()

    def register(self, fd: int, mask: int) -> None:
        self._poll.register(fd, _TO_KERNEL[mask])

    def modify(self, fd: int, mask: int) -> None:
        self._poll.modify(fd, _TO_KERNEL[mask])

    def unregister(self, fd: int) -> None:
        self._poll.unregister(fd)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        # Milliseconds, rounded up: rounding a 0.4 ms timeout down to 0 would spin.
        milliseconds = None if timeout is None else math.ceil(timeout * 1000.0)
        events = self._poll.poll(milliseconds)
        if _core is not None:
            return _core.to_events(events, _IN, _OUT)  # type: ignore[no-any-return]
        return [
            (fd, (READ if kernel_mask & _IN else 0) | (WRITE if kernel_mask & _OUT else 0))
            for fd, kernel_mask in events
        ]

    def close(self) -> None:
        self._poll = select.poll()
