"""Only green/hubs/ touches a hub's private names; everything else goes through its door.

The hub's docstring promises that every wake-up is dispatched from `Hub.run`; that holds only
while other modules use the hub's named methods (the waist, and "the door for green's own
modules" in green/hubs/hub.py) rather than its tables. This test reads the source.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A private attribute reached through something named like a hub (hub._x, self._hub._x,
# get_hub()._x), or one of the hub's own tables through any name.
_PRIVATE_HUB_NAME = re.compile(
    r"hub(?:\(\))?\._[A-Za-z]"
    r"|\.(?:_ready|_fds|_timers|_references|_wakeup_read|_wakeup_write|_wakeup_pending"
    r"|_cancelled_timers|_timer_sequence|_forget_fd|_forget_fd_record|_reinit_after_fork)\b"
)


def _sources() -> list[Path]:
    files = [path for path in (ROOT / "green").rglob("*.py") if (ROOT / "green" / "hubs") not in path.parents]
    files += [path for path in (ROOT / "tests").rglob("*.py") if path != Path(__file__).resolve()]
    return sorted(files)


def test_the_sources_are_found() -> None:
    sources = _sources()
    assert {"socket.py", "greenthread.py", "conftest.py"} <= {path.name for path in sources}
    assert ROOT / "green" / "hubs" / "hub.py" not in sources


def test_no_module_outside_the_hubs_package_touches_a_private_hub_name() -> None:
    offences = []
    for path in _sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _PRIVATE_HUB_NAME.search(line):
                offences.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offences, "private hub names used outside green/hubs/:\n" + "\n".join(offences)


def test_the_pattern_catches_the_back_doors() -> None:
    for line in ("hub._ready.append(x)", "get_hub()._fds", "self._hub._report('x')", "owner._timers.clear()"):
        assert _PRIVATE_HUB_NAME.search(line), line
    for line in ("hub.schedule((f, ()))", "hubs._state", "self._hub.report_exception('x')"):
        assert not _PRIVATE_HUB_NAME.search(line), line


# The hubs package's thread-local that holds each thread's hub; `get_hub`, `existing_hub` and
# `install_hub` are its door. green/_waiter.py reads it directly on the hot path of every
# wake-up (one call less than existing_hub(), as its comments say): the one exception.
_HUBS_STATE = re.compile(
    r"\bhubs\._(?:state|backend_module|default_name)\b|from green\.hubs import[^#\n]*\b_(?:state|backend_module|default_name)\b"
)
_STATE_READERS = {ROOT / "green" / "_waiter.py"}


def test_only_the_hubs_package_touches_its_thread_local_state() -> None:
    offences = []
    for path in _sources():
        if path in _STATE_READERS:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _HUBS_STATE.search(line):
                offences.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offences, "green.hubs._state used outside green/hubs/:\n" + "\n".join(offences)


def test_the_state_pattern_catches_its_forms() -> None:
    for line in (
        "hubs._state.hub = hub",
        "from green.hubs import _state",
        "from green.hubs import get_hub, _state",
    ):
        assert _HUBS_STATE.search(line), line
    for line in ("hubs.install_hub(hub)", "self._state = 1", "from green.hubs import existing_hub"):
        assert not _HUBS_STATE.search(line), line
