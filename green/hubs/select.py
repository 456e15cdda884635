"""select(2) backend: portable, limited to fds below FD_SETSIZE (1024 on Linux).

select() fails as a whole with EBADF when one of its fds was closed; the backend then reports
each bad fd as ready in both directions, so its waiters retry and meet the error themselves.
"""

from __future__ import annotations

import errno

from green._stdlib import original
from green.hubs.hub import READ, WRITE

# The real modules, even when this backend is first imported after monkey-patching.
os = original("os")
select = original("select")


class Backend:
    name = "select"

    def fresh(self) -> Backend:
        """A new, empty backend of the same kind (the hub rebuilds from its own records)."""
        return Backend()

    def __init__(self) -> None:
        self._readers: set[int] = set()
        self._writers: set[int] = set()

    def register(self, fd: int, mask: int) -> None:
        if fd < 0:
            raise ValueError(f"invalid file descriptor {fd}")
        self._set(fd, mask)

    def modify(self, fd: int, mask: int) -> None:
        self._set(fd, mask)

    def _set(self, fd: int, mask: int) -> None:
        if mask & READ:
            self._readers.add(fd)
        else:
            self._readers.discard(fd)
        if mask & WRITE:
            self._writers.add(fd)
        else:
            self._writers.discard(fd)

    def unregister(self, fd: int) -> None:
        self._readers.discard(fd)
        self._writers.discard(fd)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        try:
            readable, writable, _ = select.select(self._readers, self._writers, (), timeout)
        except OSError as error:
            if error.errno != errno.EBADF:
                raise
            return self._poll_around_bad_fds()
        events: dict[int, int] = dict.fromkeys(readable, READ)
        for fd in writable:
            events[fd] = events.get(fd, 0) | WRITE
        return list(events.items())

    def _poll_around_bad_fds(self) -> list[tuple[int, int]]:
        bad = []
        for fd in self._readers | self._writers:
            try:
                os.fstat(fd)
            except OSError:
                bad.append(fd)
        good_readers = self._readers.difference(bad)
        good_writers = self._writers.difference(bad)
        readable, writable, _ = select.select(good_readers, good_writers, (), 0)
        events: dict[int, int] = dict.fromkeys(bad, READ | WRITE)
        for fd in readable:
            events[fd] = READ
        for fd in writable:
            events[fd] = events.get(fd, 0) | WRITE
        return list(events.items())

    def close(self) -> None:
        self._readers.clear()
        self._writers.clear()
