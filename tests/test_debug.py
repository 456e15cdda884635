"""green.debug: the blocking detector, format_run_info, the dump signal, the hub exception hook."""

from __future__ import annotations

import io
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

import green
import green.debug
import green.socket
from green._stdlib import original
from green.hubs import get_hub

# The real, blocking sleep, also in the patched run (where `time.sleep` is green).
_blocking_sleep = original("time").sleep

# Long enough that the watchdog (sampling every threshold/4) notices it even on a loaded machine.
THRESHOLD = 0.05
STALL = 0.3


@pytest.fixture
def reports():
    collected: list[green.debug.BlockingReport] = []
    previous = green.debug.set_blocking_report_hook(collected.append)
    yield collected
    green.debug.disable_blocking_detector()
    green.debug.set_blocking_report_hook(previous)


def blocker() -> None:
    _blocking_sleep(STALL)  # the hub cannot turn


def wait_for_reports(reports, count: int, patience: float = 2.0) -> None:
    """Reports come from the watchdog's OS thread once a stall is over; give it time to see that
    (the hub idles in poll meanwhile, which is not a stall)."""
    deadline = time.monotonic() + patience
    while len(reports) < count and time.monotonic() < deadline:
        green.sleep(0.005)


def test_stall_in_green_thread_is_reported_once_with_stack(reports):
    green.debug.enable_blocking_detector(THRESHOLD, report_interval=0)
    thread = green.spawn(blocker)
    thread.name = "the-blocker"
    thread.wait()
    wait_for_reports(reports, 1)
    assert len(reports) == 1
    report = reports[0]
    assert STALL * 0.8 <= report.blocked_for < STALL + 0.2
    assert not report.ongoing
    assert "the-blocker" in report.thread
    assert any("in blocker" in line for line in report.stack)
    assert "_blocking_sleep(STALL)" in "".join(report.stack)
    assert report.suppressed == 0
    text = str(report)
    assert "did not turn for" in text and "the-blocker" in text


def test_long_stall_is_reported_while_it_lasts(reports, monkeypatch):
    monkeypatch.setattr(green.debug, "_ONGOING_MINIMUM", 0.1)
    monkeypatch.setattr(green.debug, "_ONGOING_FACTOR", 1)
    arrivals = []
    green.debug.set_blocking_report_hook(
        lambda report: (reports.append(report), arrivals.append(time.monotonic()))
    )
    green.debug.enable_blocking_detector(THRESHOLD, report_interval=0)
    green.spawn(blocker).wait()
    ended = time.monotonic()
    wait_for_reports(reports, 1)
    assert len(reports) == 1  # once per stall, even when reported early
    assert reports[0].ongoing and "is blocking it" in str(reports[0])
    assert 0.1 <= reports[0].blocked_for < STALL
    assert arrivals[0] < ended


def test_idle_hub_is_not_a_stall(reports):
    green.debug.enable_blocking_detector(THRESHOLD, report_interval=0)
    green.sleep(STALL)  # the hub sleeps in poll: idle, not blocked
    waiter = green.spawn(green.sleep, STALL)
    waiter.wait()
    wait_for_reports(reports, 1, patience=0.1)
    assert reports == []


def test_main_thread_without_green_work_is_not_a_stall(reports):
    green.debug.enable_blocking_detector(THRESHOLD, report_interval=0)
    _blocking_sleep(STALL)  # plain synchronous code; nothing green is waiting
    wait_for_reports(reports, 1, patience=0.1)
    assert reports == []


def test_an_fd_left_registered_without_a_waiter_is_not_green_work(reports):
    # A pooled connection's socket stays registered with the hub between uses (nobody waits on
    # it, and cancelled timers linger in the heap): the main green thread running plain code
    # then keeps no green thread waiting.
    left, right = green.socket.socketpair()
    with left, right:
        left.settimeout(0.01)
        with pytest.raises(TimeoutError):
            left.recv(1)  # registers the fd, arms and cancels a timer
        assert get_hub().counts()["fds"] >= 1 and get_hub().counts()["waiters"] == 0
        green.debug.enable_blocking_detector(THRESHOLD, report_interval=0)
        _blocking_sleep(STALL)
        wait_for_reports(reports, 1, patience=0.1)
        assert reports == []


def test_main_thread_blocking_pending_timers_is_a_stall(reports):
    green.debug.enable_blocking_detector(THRESHOLD, report_interval=0)
    sleeper = green.spawn(green.sleep, 0.01)
    green.sleep(0)  # the sleeper now has a timer pending
    _blocking_sleep(STALL)
    sleeper.wait()
    wait_for_reports(reports, 1)
    assert len(reports) == 1
    assert "main green thread" in reports[0].thread
    assert any("test_main_thread_blocking_pending_timers_is_a_stall" in line for line in reports[0].stack)


def test_a_blocking_timer_callback_names_the_hub(reports):
    green.debug.enable_blocking_detector(THRESHOLD, report_interval=0)
    get_hub().call_later(0, blocker)
    green.sleep(0.01)
    wait_for_reports(reports, 1)
    assert len(reports) == 1
    assert "the hub itself" in reports[0].thread


def test_throttling_counts_suppressed_stalls(reports):
    interval = 0.8
    green.debug.enable_blocking_detector(THRESHOLD, report_interval=interval)
    started = time.monotonic()
    green.spawn(blocker).wait()
    green.spawn(blocker).wait()  # within the interval: counted, not reported
    wait_for_reports(reports, 1)
    assert len(reports) == 1
    green.sleep(max(0.0, interval - (time.monotonic() - started)) + 0.05)
    green.spawn(blocker).wait()
    wait_for_reports(reports, 2)
    assert len(reports) == 2
    assert reports[1].suppressed == 1
    assert "1 more stalls were not reported" in str(reports[1])


def test_disable_restores_the_hub_untouched(reports):
    hub = get_hub()
    backend = hub.backend
    green.debug.enable_blocking_detector(THRESHOLD)
    assert green.debug.blocking_detector_enabled()
    assert hub.backend is not backend
    green.debug.enable_blocking_detector(THRESHOLD * 2)  # reconfigure, still one wrapper
    assert hub.backend.inner is backend
    green.debug.disable_blocking_detector()
    assert hub.backend is backend
    assert not green.debug.blocking_detector_enabled()
    green.spawn(blocker).wait()
    wait_for_reports(reports, 1, patience=0.1)
    assert reports == []


def test_invalid_threshold():
    with pytest.raises(ValueError):
        green.debug.enable_blocking_detector(0)


def test_hook_exception_does_not_kill_the_watchdog(reports, capfd):
    calls = []

    def bad_hook(report):
        calls.append(report)
        raise RuntimeError("hook failed")

    green.debug.set_blocking_report_hook(bad_hook)
    green.debug.enable_blocking_detector(THRESHOLD, report_interval=0)
    green.spawn(blocker).wait()
    green.spawn(blocker).wait()
    wait_for_reports(calls, 2)
    assert len(calls) == 2
    assert "hook failed" in capfd.readouterr().err


def test_default_hook_logs_to_green_debug_logger(reports, caplog):
    green.debug.set_blocking_report_hook(None)
    green.debug.enable_blocking_detector(THRESHOLD, report_interval=0)
    with caplog.at_level(logging.WARNING, logger="green.debug"):
        green.spawn(blocker).wait()
        deadline = time.monotonic() + 2
        while not any(record.name == "green.debug" for record in caplog.records):
            assert time.monotonic() < deadline
            green.sleep(0.005)
    records = [record for record in caplog.records if record.name == "green.debug"]
    assert len(records) == 1
    assert "in blocker" in records[0].getMessage()


ENVIRONMENT_SCRIPT = """
import time, green
def blocker():
    time.sleep(0.3)
green.spawn(blocker).wait()
print("done")
"""


def test_environment_variable_enables_the_detector():
    environment = dict(os.environ, GREEN_DEBUG_BLOCKING="0.05")
    result = subprocess.run(
        [sys.executable, "-c", ENVIRONMENT_SCRIPT],
        capture_output=True,
        text=True,
        timeout=30,
        env=environment,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert "did not turn for" in result.stderr
    assert "in blocker" in result.stderr


# -- introspection --------------------------------------------------------------------------------


def test_format_run_info_lists_threads_fds_and_timers():
    left, right = socket.socketpair()
    left.setblocking(False)
    fd = left.fileno()
    hub = get_hub()

    def reader():
        hub.wait_readable(left.fileno())

    reading = green.spawn(reader)
    reading.name = "the-reader"
    sleeping = green.spawn(green.sleep, 30)
    sleeping.name = "the-sleeper"
    green.sleep(0)
    try:
        info = green.debug.format_run_info()
    finally:
        hub.notify_closing(left.fileno())
        left.close()
        right.close()
        sleeping.kill()
        with pytest.raises(OSError):
            reading.wait()
    assert "the-reader" in info and "read fd" in info
    assert "in reader" in info  # its stack
    assert "the-sleeper" in info and "timer in" in info
    assert f"fd {fd}: registered for read" in info
    assert "Pending timers (1)" in info
    assert "(the hub)" in info and "(main)" in info
    assert "test_format_run_info_lists_threads_fds_and_timers" in info  # the caller's own stack


def test_green_thread_repr_has_name_function_and_state():
    def work():
        green.sleep(0)

    thread = green.spawn(work)
    assert "scheduled" in repr(thread) and "work" in repr(thread)
    green.sleep(0)
    assert "waiting" in repr(thread)
    thread.wait()
    assert "finished" in repr(thread)
    assert thread.name in repr(thread)


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
def test_dump_signal_writes_run_info():
    output = io.StringIO()
    green.debug.install_dump_signal(signal.SIGUSR1, file=output)
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        green.sleep(0)  # the handler runs at the next bytecode boundary at the latest
    finally:
        green.debug.uninstall_dump_signal(signal.SIGUSR1)
    assert "green run info" in output.getvalue()
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL


# -- hub exceptions -------------------------------------------------------------------------------


@pytest.fixture
def handled():
    calls: list[tuple[str, tuple]] = []
    previous = green.debug.set_hub_exception_handler(lambda where, exc_info: calls.append((where, exc_info)))
    yield calls
    green.debug.set_hub_exception_handler(previous)


def test_timer_exception_is_reported_and_hub_survives(handled):
    def failing():
        raise ValueError("boom in timer")

    hub = get_hub()
    hub.call_later(0, failing)
    hub.call_soon(failing)
    green.sleep(0.01)
    assert [exc_info[0] for _, exc_info in handled] == [ValueError, ValueError]
    assert any("timer" in where and "failing" in where for where, _ in handled)
    assert handled[0][1][2] is not None  # a traceback
    assert green.spawn(lambda: 42).wait() == 42  # the hub still runs


def test_unwaited_green_thread_exception_is_reported(handled):
    def failing():
        raise KeyError("nobody waits")

    thread = green.spawn(failing)
    thread.name = "orphan"
    green.sleep(0)
    assert len(handled) == 1
    where, exc_info = handled[0]
    assert "orphan" in where and exc_info[0] is KeyError
    with pytest.raises(KeyError):
        thread.wait()  # still re-raised to a later waiter


def test_handler_exception_does_not_kill_the_hub(capfd):
    def bad_handler(where, exc_info):
        raise RuntimeError("handler failed")

    previous = green.debug.set_hub_exception_handler(bad_handler)
    try:
        get_hub().call_soon(lambda: 1 / 0)
        green.sleep(0)
    finally:
        green.debug.set_hub_exception_handler(previous)
    assert "handler failed" in capfd.readouterr().err
    assert green.spawn(lambda: "alive").wait() == "alive"


def test_log_hub_exception_and_restoring_the_default(caplog, capfd):
    previous = green.debug.set_hub_exception_handler(green.debug.log_hub_exception)
    try:
        with caplog.at_level(logging.ERROR, logger="green.hub"):
            get_hub().call_soon(lambda: 1 / 0)
            green.sleep(0)
    finally:
        restored = green.debug.set_hub_exception_handler(None)
    assert restored is green.debug.log_hub_exception
    assert [record.name for record in caplog.records] == ["green.hub"]
    assert caplog.records[0].exc_info[0] is ZeroDivisionError
    get_hub().call_soon(lambda: 1 / 0)
    green.sleep(0)
    assert "ZeroDivisionError" in capfd.readouterr().err
    green.debug.set_hub_exception_handler(previous)


def test_interrupt_raises_in_the_blocking_green_thread(reports):
    started = time.monotonic()

    def stuck() -> None:
        _blocking_sleep(30)  # interrupted long before

    before = signal.getsignal(signal.SIGALRM)  # pytest-timeout's, or the default
    green.debug.enable_blocking_detector(THRESHOLD, interrupt=True)
    assert signal.getsignal(signal.SIGALRM) is green.debug._interrupt
    thread = green.spawn(stuck)
    with pytest.raises(green.debug.BlockingDetected):
        thread.wait()
    assert time.monotonic() - started < 20
    assert isinstance(green.debug.BlockingDetected(), RuntimeError)

    # A busy loop is interrupted too; the hub and the other green threads carry on.
    def spin() -> None:
        while True:
            pass

    with pytest.raises(green.debug.BlockingDetected):
        green.spawn(spin).wait()
    green.sleep(0.01)
    green.debug.disable_blocking_detector()
    assert signal.getsignal(signal.SIGALRM) is before


def test_interrupt_leaves_a_stall_that_ended_and_other_alarms_alone(reports):
    alarms = []
    previous = signal.signal(signal.SIGALRM, lambda number, frame: alarms.append(number))
    try:
        green.debug.enable_blocking_detector(THRESHOLD, interrupt=True)
        signal.raise_signal(signal.SIGALRM)  # the program's own alarm reaches its handler
        assert alarms == [signal.SIGALRM]
        green.debug.enable_blocking_detector(THRESHOLD)  # interrupt off again: handler restored
        assert signal.getsignal(signal.SIGALRM) is not green.debug._interrupt
        green.spawn(blocker).wait()  # reported, not interrupted
    finally:
        green.debug.disable_blocking_detector()
        signal.signal(signal.SIGALRM, previous)
    assert reports and alarms == [signal.SIGALRM]
