"""How the accept loops of green.wsgi and green.serve behave when accept() fails for want of
resources.

Out of file descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS, ENOMEM), ``accept`` fails
while the client stays in the kernel's queue, so the listening socket stays readable: a loop that
simply waits for readability again spins at full CPU, and one that logs every failure floods the
log. Instead the loop parks until one of its own connections closes (the likeliest way a
descriptor comes free) or a pause passes that doubles from 10 ms up to one second (descriptors can
also come free elsewhere in the process). It logs one line when the trouble starts and one when
accepting works again, and stays quiet about further episodes for a minute.
"""

from __future__ import annotations

import errno
import logging

from green._stdlib import original
from green._waiter import Waiter

_monotonic = original("time").monotonic

# accept() errors that mean "out of descriptors or kernel memory": the client stays queued.
RESOURCE_ERRORS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))
# accept() errors about one client that is already gone: try the next.
CLIENT_ERRORS = frozenset((errno.ECONNABORTED, errno.EPROTO, errno.EINTR))
# Longest pause between attempts.
MAX_PAUSE = 1.0
# After an episode was logged, further ones within this many seconds are not.
QUIET_PERIOD = 60.0


class AcceptBackoff:
    """The state of one accept loop: call `failed` after a resource error, `succeeded` after an
    accept, and `wake` (from anywhere) when a connection of this loop closed."""

    __slots__ = ("log", "what", "pause", "failures", "logged", "last_logged", "parked")

    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log = log
        self.what = what  # what the loop waits for, for the log line
        self.pause = 0.0
        self.failures = 0
        self.logged = False
        self.last_logged = -QUIET_PERIOD
        self.parked: Waiter | None = None

    def failed(self, error: OSError) -> None:
        """Log (rarely) and park until `wake` or the next pause has passed."""
        if not self.failures:
            now = _monotonic()
            self.logged = now - self.last_logged >= QUIET_PERIOD
            if self.logged:
                self.last_logged = now
                self.log.error("accept failed: %s; pausing until %s", error, self.what)
        self.failures += 1
        self.pause = min(MAX_PAUSE, self.pause * 2 or 0.01)
        waiter = self.parked = Waiter()
        try:
            waiter.wait(self.pause)
        finally:
            self.parked = None

    def succeeded(self) -> None:
        if self.failures:
            if self.logged:
                self.log.warning("accept works again after %d failed attempts", self.failures)
            self.failures = 0
            self.pause = 0.0

    def wake(self) -> None:
        if self.parked is not None:
            self.parked.wake()
