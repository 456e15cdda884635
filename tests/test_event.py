"""Event: eventlet semantics."""

from __future__ import annotations

import time

import pytest

import green


def test_send_and_wait_returns_value():
    event = green.Event()
    green.spawn(event.send, "value")
    assert event.wait() == "value"
    assert event.ready() and event.has_result() and not event.has_exception()


def test_many_waiters_all_woken_in_order():
    event = green.Event()
    order = []

    def waiter(name):
        order.append((name, event.wait()))

    threads = [green.spawn(waiter, index) for index in range(5)]
    green.sleep(0)
    event.send(1)
    for thread in threads:
        thread.wait()
    assert order == [(index, 1) for index in range(5)]


def test_wait_timeout_returns_none():
    started = time.monotonic()
    assert green.Event().wait(0.02) is None
    assert time.monotonic() - started >= 0.019


def test_send_exception_crosses_wait():
    event = green.Event()
    event.send_exception(KeyError("k"))
    with pytest.raises(KeyError):
        event.wait()
    other = green.Event()
    other.send_exception(ValueError, "v")
    with pytest.raises(ValueError, match="v"):
        other.wait()


def test_send_twice_is_an_error_and_reset_allows_it():
    event = green.Event()
    event.send(1)
    with pytest.raises(AssertionError):
        event.send(2)
    event.reset()
    assert not event.ready()
    event.send(2)
    assert event.wait() == 2


def test_reset_unsent_is_an_error():
    with pytest.raises(AssertionError):
        green.Event().reset()


def test_poll():
    event = green.Event()
    assert event.poll("nothing") == "nothing"
    event.send(3)
    assert event.poll() == 3


def test_killed_waiter_is_removed():
    event = green.Event()
    thread = green.spawn(event.wait)
    green.sleep(0)
    thread.kill()
    assert not event._waiters
    event.send(1)


def test_timeout_then_send_does_not_wake_stale_waiter():
    event = green.Event()
    other = green.Event()
    results = []

    def waiter():
        results.append(event.wait(0.001))
        results.append(other.wait())

    thread = green.spawn(waiter)
    green.sleep(0.01)
    event.send("late")
    green.sleep(0)
    other.send("right")
    thread.wait()
    assert results == [None, "right"]
