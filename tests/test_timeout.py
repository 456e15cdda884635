"""Timeout and with_timeout."""

from __future__ import annotations

import time

import pytest

import green
from green.timeout import is_timeout


def test_timeout_raises_itself():
    with pytest.raises(green.Timeout) as info:
        with green.Timeout(0.01) as timeout:
            green.sleep(1)
    assert info.value is timeout
    assert isinstance(timeout, BaseException) and not isinstance(timeout, Exception)


def test_silent_timeout():
    started = time.monotonic()
    with green.Timeout(0.01, False):
        green.sleep(1)
    assert time.monotonic() - started < 0.5


def test_custom_exception():
    with pytest.raises(KeyError):
        with green.Timeout(0.01, KeyError("k")):
            green.sleep(1)
    with pytest.raises(ValueError):
        with green.Timeout(0.01, ValueError):
            green.sleep(1)


def test_cancelled_timeout_does_not_fire():
    timeout = green.Timeout(0.01)
    timeout.cancel()
    assert not timeout.pending
    green.sleep(0.02)


def test_none_seconds_never_fires():
    with green.Timeout(None) as timeout:
        green.sleep(0.01)
    assert not timeout.pending


def test_not_caught_by_except_exception():
    caught = []
    with pytest.raises(green.Timeout):
        with green.Timeout(0.01):
            try:
                green.sleep(1)
            except Exception:
                caught.append(True)
    assert caught == []


def test_timeout_interrupts_queue_get_and_event_wait():
    queue = green.Queue()
    with green.Timeout(0.01, False):
        queue.get()
    event = green.Event()
    with green.Timeout(0.01, False):
        event.wait()
    assert not queue._getters and not event._waiters


def test_with_timeout():
    assert green.with_timeout(1, lambda: 5) == 5
    assert green.with_timeout(0.01, green.sleep, 1, timeout_value="late") == "late"
    with pytest.raises(green.Timeout):
        green.with_timeout(0.01, green.sleep, 1)


def test_nested_timeouts_inner_fires_first():
    with pytest.raises(green.Timeout) as info:
        with green.Timeout(1):
            with green.Timeout(0.01) as inner:
                green.sleep(2)
    assert info.value is inner


def test_is_timeout_and_str():
    assert is_timeout(green.Timeout(None)) and is_timeout(TimeoutError())
    assert not is_timeout(ValueError())
    assert str(green.Timeout(None)) == ""
    timeout = green.Timeout(2)
    timeout.cancel()
    assert str(timeout) == "2 seconds"


def test_restart_while_pending_is_an_error():
    timeout = green.Timeout(1)
    with pytest.raises(AssertionError):
        timeout.start()
    timeout.cancel()
