"""The patched run: ``GREEN_MONKEY_PATCH=1`` (tox env ``patched``) makes conftest.py call
``green.monkey_patch()`` before any test module is imported, so the whole suite runs the way users
run green. `skip_if_patched` marks the few tests that cannot run patched, with the reason."""

from __future__ import annotations

import os
from typing import Callable

import pytest

from green._stdlib import original

PATCHED = os.environ.get("GREEN_MONKEY_PATCH", "") not in ("", "0")


def skip_if_patched(reason: str) -> pytest.MarkDecorator:
    """Skip a test only in the patched run, saying why (shown by ``pytest -rs``)."""
    return pytest.mark.skipif(PATCHED, reason=f"patched run: {reason}")


def start_os_thread(function: Callable[[], object]) -> Callable[[float], bool]:
    """Run `function` in a real OS thread (from the original `_thread`, also in the patched run,
    where `threading.Thread` makes green threads); returns ``join(timeout) -> finished``."""
    real_thread = original("_thread")
    finished = real_thread.allocate_lock()
    finished.acquire()
    started = real_thread.allocate_lock()
    started.acquire()

    def run() -> None:
        started.release()
        try:
            function()
        finally:
            finished.release()

    real_thread.start_new_thread(run, ())
    # As threading.Thread.start() does: return once the thread runs (and `_thread._count()`,
    # which green consults before an idle hub reports a deadlock, includes it).
    started.acquire()

    def join(timeout: float = 30.0) -> bool:
        # A green-friendly join: the real lock is polled with green sleeps, so the hub of this
        # thread keeps turning (the thread may need it) while we wait.
        import green

        deadline = original("time").monotonic() + timeout
        while not finished.acquire(False):
            if original("time").monotonic() > deadline:
                return False
            green.sleep(0.001)
        finished.release()
        return True

    return join
