"""Timeout and with_timeout.

On the pytest plugin's virtual clock: timeouts of realistic length take no real time, and the
virtual time they took is exact.
"""

from __future__ import annotations

import pytest

import green
from green.timeout import is_timeout

pytestmark = pytest.mark.green(autojump=True)


def test_timeout_raises_itself(clock):
    started = clock()
    with pytest.raises(green.Timeout) as info:
        with green.Timeout(30) as timeout:
            green.sleep(3600)
    assert info.value is timeout
    assert clock() - started == pytest.approx(30)
    assert isinstance(timeout, BaseException) and not isinstance(timeout, Exception)


def test_silent_timeout(clock):
    started = clock()
    with green.Timeout(10, False):
        green.sleep(60)
    assert clock() - started == pytest.approx(10)


def test_custom_exception():
    with pytest.raises(KeyError):
        with green.Timeout(3, KeyError("k")):
            green.sleep(10)
    with pytest.raises(ValueError):
        with green.Timeout(3, ValueError):
            green.sleep(10)


def test_cancelled_timeout_does_not_fire():
    timeout = green.Timeout(5)
    timeout.cancel()
    assert not timeout.pending
    green.sleep(10)


def test_none_seconds_never_fires():
    with green.Timeout(None) as timeout:
        green.sleep(1)
    assert not timeout.pending


def test_not_caught_by_except_exception():
    caught = []
    with pytest.raises(green.Timeout):
        with green.Timeout(3):
            try:
                green.sleep(10)
            except Exception:
                caught.append(True)
    assert caught == []


def test_timeout_interrupts_queue_get_and_event_wait():
    queue = green.Queue()
    with green.Timeout(3, False):
        queue.get()
    event = green.Event()
    with green.Timeout(3, False):
        event.wait()
    assert not queue._getters and not event._waiters


def test_with_timeout():
    assert green.with_timeout(1, lambda: 5) == 5
    assert green.with_timeout(3, green.sleep, 10, timeout_value="late") == "late"
    with pytest.raises(green.Timeout):
        green.with_timeout(3, green.sleep, 10)


def test_nested_timeouts_inner_fires_first(clock):
    started = clock()
    with pytest.raises(green.Timeout) as info:
        with green.Timeout(60):
            with green.Timeout(45) as inner:
                green.sleep(120)
    assert info.value is inner
    assert clock() - started == pytest.approx(45)


def test_nested_timeouts_outer_fires_first(clock):
    started = clock()
    with pytest.raises(green.Timeout) as info:
        with green.Timeout(20) as outer:
            with green.Timeout(45):
                green.sleep(120)
    assert info.value is outer
    assert clock() - started == pytest.approx(20)


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
