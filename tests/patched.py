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


def start_os_thread(function: Callable[[], object]) -> Callable[..., bool]:
    """Run `function` in a real OS thread (from the original `_thread`, also in the patched run,
    where `threading.Thread` makes green threads); returns ``join(timeout=30) -> finished``.

    Joining parks only the calling green thread: the OS thread sends a green Event when it ends
    (green primitives are safe across OS threads), so no polling is involved.
    """
    import green

    real_thread = original("_thread")
    started = real_thread.allocate_lock()
    started.acquire()
    finished = green.Event()

    def run() -> None:
        started.release()
        try:
            function()
        finally:
            finished.send(True)

    real_thread.start_new_thread(run, ())
    # As threading.Thread.start() does: return once the thread runs (and `_thread._count()`,
    # which green consults before an idle hub reports a deadlock, includes it).
    started.acquire()

    def join(timeout: float = 30.0) -> bool:
        return bool(finished.wait(timeout))

    return join


# pytest-timeout's SIGALRM handler is a green signal handler in the patched run, and an installed
# handler keeps the hub waiting for its signal instead of raising LoopExit (green.signal, by design).
skip_loop_exit_if_patched = skip_if_patched(
    "pytest-timeout's SIGALRM handler is a green signal handler there, and an installed handler "
    "keeps the hub waiting for its signal instead of raising LoopExit (green.signal, by design)"
)
