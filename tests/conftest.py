"""Shared test fixtures: every test leaves the hub empty."""

from __future__ import annotations

import os

import pytest

import green
from green.hubs import get_hub

# The patched run (tox env `patched`): monkey-patch before any test module is imported.
if os.environ.get("GREEN_MONKEY_PATCH", "") not in ("", "0"):
    green.monkey_patch()


def pytest_report_header(config: pytest.Config) -> str:
    patched = ", monkey-patched" if os.environ.get("GREEN_MONKEY_PATCH", "") not in ("", "0") else ""
    return f"green hub: {get_hub().backend.name} (GREEN_HUB={os.environ.get('GREEN_HUB', '')!r}){patched}"


@pytest.fixture(autouse=True)
def hub_left_empty(request: pytest.FixtureRequest):
    """Fail a test that leaves fds, timers or ready callbacks behind in the hub.

    ``@pytest.mark.leaks_allowed("fds")`` (the pytest plugin's marker) lets fds stay registered:
    sockets a module-scoped fixture keeps open across tests (a client's connection pool, green
    in the patched run)."""
    marker = request.node.get_closest_marker("leaks_allowed")
    allowed = set(marker.args or ("fds", "timers")) if marker is not None else set()
    hub = get_hub()
    before = hub.counts()
    yield hub
    # Let green threads the test finished with run to their end.
    for _ in range(10):
        counts = hub.counts()
        if not counts["ready"] and not counts["timers"] and not counts["waiters"]:
            break
        green.sleep(0)
    counts = hub.counts()
    leaks = {key: counts[key] - before.get(key, 0) for key in ("fds", "waiters", "timers", "ready")}
    leaks = {key: value for key, value in leaks.items() if value > 0 and key not in allowed}
    if leaks:
        details = [repr(entry) for entry in hub.waiters()] + [repr(t) for t in hub.pending_timers()]
        # Clean up so the next test starts from an empty hub, then fail this one.
        hub.reset()
        pytest.fail(f"test left the hub with {leaks}: {details}", pytrace=False)


# Session-scoped real servers (PostgreSQL, MariaDB, Redis, memcached) for the client-library tests.
from servers import mariadb_server, memcached_server, postgres_server, redis_server  # noqa: E402, F401
