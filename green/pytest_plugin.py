"""The pytest plugin of green, registered through the ``pytest11`` entry point.

Installing green is enough to have it; ``-p no:green`` turns it off. It does nothing to a test
that does not ask for it. A *green test* -- marked ``@pytest.mark.green``, in a module with
``pytestmark = pytest.mark.green``, in a project with ``green_mode = true`` in its pytest ini
options, or using the ``green_hub`` or ``clock`` fixture -- gets:

* a fresh hub (backend from ``--green-hub``, the marker's ``hub=``, or the usual default),
  installed before its fixtures are set up and finished after they are torn down, so fixtures
  can spawn servers on it; the hub the test replaced comes back afterwards;
* the test function itself running in a green thread on that hub;
* a failure for every exception in a green thread, timer or callback that nobody observed, with
  its traceback;
* a leak check: green threads, timers, registered fds and tpool jobs the test left behind fail it,
  each with its name and stack. After the test body, green threads and timers it started
  and tpool jobs still running fail the test; after the fixtures' teardown the hub must be
  empty (fds are checked only then, since a fixture may own a registered socket), or the
  teardown reports an error. ``@pytest.mark.leaks_allowed`` (or ``leaks_allowed("timers", ...)``
  for some kinds only: threads, timers, fds, tpool) turns this off; leftovers are cleaned up either way;
* with ``@pytest.mark.green(autojump=True)`` a virtual clock (`green.testing.VirtualClock`) that
  jumps to the next timer whenever every green thread waits, so sleeps, Timeouts, timed waits
  and socket timeouts take no real time. Under ``green.monkey_patch()``, ``time.monotonic``
  reads that clock during the test. The ``clock`` fixture gives the clock (and makes the test
  green with a clock that only moves by ``clock.advance``, unless autojump is on).

Fixtures: ``green_hub`` (the test's hub), ``clock`` (its virtual clock).

Fixtures that spawn green threads must be function-scoped: a module or session fixture's green
threads would live on a hub that is finished when its first test ends.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

import pytest

_LEAK_KINDS = ("threads", "timers", "fds", "tpool")
_run_key = pytest.StashKey["_GreenRun"]()

# The run whose hub reports an unobserved exception (one test at a time per process).
_current: _GreenRun | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("green", "green: green threads in tests")
    group.addoption(
        "--green-hub",
        dest="green_hub",
        default=None,
        choices=("epoll", "poll", "select"),
        help="backend of the fresh hub of each green test (default: GREEN_HUB or the best available)",
    )
    parser.addini("green_mode", type="bool", default=False, help="run every test function as a green test")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "green(autojump=False, hub=None): run the test in a green thread on a fresh hub; "
        "autojump=True puts the hub on a virtual clock that jumps to the next timer when every "
        "green thread waits",
    )
    config.addinivalue_line(
        "markers",
        "leaks_allowed(*kinds): do not fail a green test for green threads, timers, fds or tpool "
        "jobs it leaves behind (all kinds, or the kinds named: threads, timers, fds, tpool)",
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    hub = config.getoption("green_hub")
    if hub is None and not config.getini("green_mode"):
        return None
    return f"green plugin: green_mode={config.getini('green_mode')}, --green-hub={hub}"


def _settings(item: pytest.Item) -> dict[str, Any] | None:
    """The marker's keywords for a green test, None for any other test."""
    if not isinstance(item, pytest.Function):
        return None
    marker = item.get_closest_marker("green")
    if marker is not None:
        if marker.args:
            raise pytest.UsageError(f"{item.nodeid}: pytest.mark.green takes keywords only (autojump=, hub=)")
        unknown = set(marker.kwargs) - {"autojump", "hub"}
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: unknown pytest.mark.green keywords {sorted(unknown)}")
        return dict(marker.kwargs)
    if item.config.getini("green_mode"):
        return {}
    definitions = item._fixtureinfo.name2fixturedefs
    for name in ("green_hub", "clock"):
        found = definitions.get(name)
        # Only our fixtures of these names make a test green, not a project's own `clock`.
        if found and getattr(found[-1].func, "__module__", None) == __name__:
            return {}
    return None


class _GreenRun:
    """One green test: its hub, clock, unobserved exceptions and leak checks."""

    def __init__(self, item: pytest.Function, settings: dict[str, Any]) -> None:
        from green import hubs
        from green.testing import VirtualClock

        self.item = item
        self.unobserved: list[tuple[Any, str, tuple]] = []
        name = settings.get("hub") or item.config.getoption("green_hub")
        backend = hubs.backend_module(name).Backend()
        self.hub = _test_hub_class()(backend)
        autojump = settings.get("autojump", False)
        self.clock: VirtualClock | None = None
        if autojump or "clock" in item.fixturenames:
            self.clock = VirtualClock(autojump=autojump)
            self.clock.install(self.hub)
        self._previous_hub = hubs.install_hub(self.hub)
        self._saved_time: dict[str, Any] = {}
        self._leaks_reported = False
        if self.clock is not None:
            self._follow_clock_in_patched_time()

    # -- time.monotonic under monkey_patch() ----------------------------------------------------

    def _follow_clock_in_patched_time(self) -> None:
        from green.patcher import is_monkey_patched

        if not is_monkey_patched("time"):
            return
        clock = self.clock
        assert clock is not None
        time_module = sys.modules["time"]
        self._saved_time = {"monotonic": time_module.monotonic, "monotonic_ns": time_module.monotonic_ns}
        # Into the swapped-in module's own namespace: assigning the attribute would also reach the
        # real time module (a swapped-in module shares re-exported names with it), whose
        # monotonic the hub and green's internals must keep reading.
        time_module.__dict__["monotonic"] = clock
        time_module.__dict__["monotonic_ns"] = lambda: int(clock() * 1_000_000_000)

    def _restore_time(self) -> None:
        time_module = sys.modules["time"]
        time_module.__dict__.update(self._saved_time)
        self._saved_time = {}

    # -- the test body ------------------------------------------------------------------------

    def call(self, function: Any, arguments: dict[str, Any]) -> None:
        from green.greenthread import GreenThread
        from green.hubs import LoopExit
        from green.testing import find_leaks, snapshot

        hub = self.hub
        # Green threads the fixtures spawned start first; what they hold is not the test's.
        self._settle()
        before = snapshot(hub)
        thread = GreenThread(function, (), arguments, f"test {self.item.name}", hub)
        hub.schedule((thread.switch, ()))
        try:
            thread.wait()
        except LoopExit:
            stack = "".join(traceback.format_stack(thread.gr_frame)) if thread.gr_frame else ""
            self._cleanup()
            pytest.fail(
                "the test waits for something that can never happen (no green thread can run, no "
                f"fd is waited on, no timer is pending):\n{stack}",
                pytrace=False,
            )
        except BaseException:
            if not thread.dead and thread.gr_frame is not None:
                # Interrupted from outside (pytest-timeout, Ctrl-C): show where the test was.
                stack = "".join(traceback.format_stack(thread.gr_frame))
                sys.stderr.write(f"green: the test's green thread was interrupted here:\n{stack}")
            self._cleanup()
            raise
        self._settle()
        self._fail_for_unobserved()
        self._fail_for_leaks(find_leaks(hub, before, fds=False), "the test left behind")

    # -- checks -------------------------------------------------------------------------------

    def report(self, where: str, exc_info: tuple) -> None:
        from greenlet import getcurrent

        self.unobserved.append((getcurrent(), where, exc_info))
        sys.stderr.write(f"green: unhandled exception in {where}\n")
        traceback.print_exception(*exc_info)

    def _fail_for_unobserved(self) -> None:
        from green.greenthread import GreenThread

        found = [
            (where, exc_info)
            for source, where, exc_info in self.unobserved
            # A green thread that failed before anyone waited, and was waited for later, is fine.
            if not (isinstance(source, GreenThread) and source._waited and where.endswith("nobody waits for"))
        ]
        self.unobserved.clear()
        if not found:
            return
        parts = [
            f"exception in {where}:\n" + "".join(traceback.format_exception(*exc_info)).rstrip()
            for where, exc_info in found
        ]
        pytest.fail("\n\n".join(parts), pytrace=False)

    def _settle(self) -> None:
        """Let green threads woken at the end of the test run to their end (no clock jumps)."""
        from green.greenthread import sleep

        for _ in range(100):
            if not self.hub.counts()["ready"]:
                break
            sleep(0)

    def _fail_for_leaks(self, leaks: dict[str, list[str]], what: str) -> None:
        marker = self.item.get_closest_marker("leaks_allowed")
        allowed: tuple[str, ...] = ()
        if marker is not None:
            allowed = tuple(marker.args) or _LEAK_KINDS
            unknown = set(allowed) - set(_LEAK_KINDS)
            if unknown:
                raise pytest.UsageError(f"leaks_allowed: unknown kinds {sorted(unknown)}; use {_LEAK_KINDS}")
        reported = {kind: entries for kind, entries in leaks.items() if entries and kind not in allowed}
        if not reported:
            return
        self._leaks_reported = True
        self._cleanup()
        lines = [f"{what}:"]
        for kind, entries in reported.items():
            lines.append(f"{len(entries)} {kind}:")
            lines.extend("  " + entry.replace("\n", "\n  ") for entry in entries)
        pytest.fail("\n".join(lines), pytrace=False)

    # -- the end ------------------------------------------------------------------------------

    def finish(self) -> None:
        """After the fixtures' teardown: check for what they left, finish the hub, restore."""
        from green import hubs
        from green.testing import find_leaks

        global _current
        try:
            if hubs.existing_hub() is self.hub:
                self._settle()
            self._fail_for_unobserved()
            if not self._leaks_reported:  # a tpool job reported after the call is still running
                self._fail_for_leaks(find_leaks(self.hub), "left behind after the fixtures' teardown")
        finally:
            self._cleanup()
            self._restore_time()
            abandoned = self.hub.references > 0
            if not abandoned:
                try:
                    self.hub.finish()
                except BaseException:  # a hub that cannot end its loop is dropped, not fatal
                    traceback.print_exc()
            else:
                # An OS thread will still call back into this hub: keep its wake-up pipe open
                # so that write cannot land in an fd number reused by a later test.
                _abandoned_hubs.append(self.hub)
            hubs.install_hub(self._previous_hub)
            if _current is self:
                _current = None

    def _cleanup(self) -> None:
        """Kill every green thread on the test's hub and forget its timers, fds and callbacks.

        Runs in the main greenlet while the test's hub is the current one: the kills are thrown
        from the hub's loop (as `green.kill` does), so each dying thread returns to the hub.
        """
        from greenlet import GreenletExit

        from green._greenlets import throw_if_alive as _throw_if_alive
        from green.greenthread import GreenThread, sleep
        from green.testing import green_threads_of

        hub = self.hub
        for _ in range(5):
            threads = green_threads_of(hub)
            if not threads:
                break
            for thread in threads:
                if thread:
                    hub.schedule((_throw_if_alive, (thread, GreenletExit())))
                elif isinstance(thread, GreenThread):
                    thread._killed_before_start = GreenletExit()
                    hub.schedule((thread.switch, ()))
            try:
                sleep(0)
            except BaseException:  # an exception from the hub while dying threads clean up
                traceback.print_exc()
        hub.reset()


_abandoned_hubs: list[Any] = []
_hub_class: Any = None


def _test_hub_class() -> Any:
    """A Hub that routes reports of unobserved exceptions to the current green test."""
    global _hub_class
    if _hub_class is None:
        from green.hubs.hub import Hub

        def handler(where: str, exc_info: tuple) -> None:
            run = _current
            if run is None:
                Hub.exception_handler(where, exc_info)
            else:
                run.report(where, exc_info)

        _hub_class = type("TestHub", (Hub,), {"exception_handler": staticmethod(handler)})
    return _hub_class


@pytest.fixture(autouse=True)
def _green_test(request: pytest.FixtureRequest) -> Any:
    """Set up a green test's hub before any other fixture, check and finish it after them."""
    global _current
    item = request.node
    settings = _settings(item)
    if settings is None:
        yield None
        return
    run = _GreenRun(item, settings)
    item.stash[_run_key] = run
    _current = run
    try:
        yield run
    finally:
        run.finish()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    run = pyfuncitem.stash.get(_run_key, None)
    if run is None:
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    run.call(pyfuncitem.obj, arguments)
    return True


@pytest.fixture
def green_hub(_green_test: _GreenRun) -> Any:
    """The fresh hub of this green test (requesting it makes the test green)."""
    return _green_test.hub


@pytest.fixture
def clock(_green_test: _GreenRun) -> Any:
    """The virtual clock of this green test (`green.testing.VirtualClock`): ``clock.advance(s)``
    moves it; with ``pytest.mark.green(autojump=True)`` it also jumps by itself."""
    assert _green_test.clock is not None
    return _green_test.clock
