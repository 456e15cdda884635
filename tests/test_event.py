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


def test_abandoned_waits_leave_only_themselves_and_the_rest_are_woken():
    # Waits that end by timeout or kill, at the front, in the middle and at the back of the
    # waiters, take out their own entry and nobody else's; a poll loop of timed waits on an
    # Event never sent leaves nothing behind.
    event = green.Event()
    results: dict[int, object] = {}

    def waiter(index: int, timeout: float | None) -> None:
        results[index] = event.wait(timeout)

    threads = [green.spawn(waiter, index, 0.01 if index in (0, 3, 7) else None) for index in range(8)]
    green.sleep(0)
    threads[5].kill()
    for index in (0, 3, 7):  # the three timed waits expire
        threads[index].wait()
    assert len(event._waiters) == 4
    for _ in range(100):
        assert event.wait(0) is None
    assert len(event._waiters) == 4
    event.send("sent")
    for index, thread in enumerate(threads):
        if index != 5:
            thread.wait()
    assert results == {0: None, 3: None, 7: None, 1: "sent", 2: "sent", 4: "sent", 6: "sent"}
    assert not event._waiters
    # A hand-off on the emptied list: one waiter, taken and woken, then a fresh wait.
    event.reset()
    thread = green.spawn(event.wait)
    green.sleep(0)
    event.send("again")
    assert thread.wait() == "again"
    assert not event._waiters
