"""pytest plugin for eventlet's suite on green: install the eventlet alias, and clean up after a
failed test.

eventlet's test cases check in their tearDown that the hub is empty (no green thread waiting on
a file descriptor). A test that fails half-way may leave such a green thread behind (a server
loop it meant to kill at the end); every later test would then fail that check too, and one
difference would be counted a hundred times. So after a *failed* test only, the green threads
it spawned run up to their first wait, green.aio's background loop (if one was started) is shut
down, and the green threads still waiting on file descriptors are killed. Passing tests are left
exactly as they are.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from green.compat.eventlet import install

install()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        item.stash.setdefault(_FAILED, True)


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: Any, nextitem: Any) -> None:
    if not item.stash.get(_FAILED, False):
        return
    from green.greenthread import kill, sleep
    from green.hubs import get_hub

    sleep(0)  # green threads the test spawned but never waited for run up to their first wait
    aio = sys.modules.get("green.aio")
    if aio is not None:
        aio.shutdown_background_loop()  # started by eventlet.asyncio.spawn_for_awaitable
    for _, _, thread in get_hub().waiters():
        try:
            kill(thread)
        except Exception:  # a thread that raises while dying is reported by the hub already
            pass
    sleep(0)
