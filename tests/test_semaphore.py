"""Semaphore, BoundedSemaphore, CappedSemaphore."""

from __future__ import annotations

import pytest

import green
from green.hubs import get_hub


def test_acquire_release_counter():
    semaphore = green.Semaphore(2)
    assert semaphore.acquire() and semaphore.acquire()
    assert semaphore.locked()
    assert semaphore.acquire(blocking=False) is False
    semaphore.release()
    assert semaphore.counter == 1


def test_waiters_acquire_in_fifo_order():
    semaphore = green.Semaphore(0)
    order = []

    def worker(name):
        with semaphore:
            order.append(name)

    threads = [green.spawn(worker, index) for index in range(5)]
    green.sleep(0)
    for _ in range(5):
        semaphore.release()
    for thread in threads:
        thread.wait()
    assert order == list(range(5))


def test_no_barging_past_waiters():
    semaphore = green.Semaphore(0)
    order = []
    waiter = green.spawn(lambda: (semaphore.acquire(), order.append("waiter")))
    green.sleep(0)
    semaphore.release()
    # The unit belongs to the waiter now; a non-blocking grab must fail.
    assert semaphore.acquire(blocking=False) is False
    waiter.wait()
    assert order == ["waiter"]


def test_acquire_timeout():
    semaphore = green.Semaphore(0)
    assert semaphore.acquire(timeout=0.01) is False
    with pytest.raises(ValueError):
        semaphore.acquire(blocking=False, timeout=1)


def test_killed_waiter_passes_unit_on():
    semaphore = green.Semaphore(0)
    first = green.spawn(semaphore.acquire)
    second = green.spawn(semaphore.acquire)
    green.sleep(0)

    def hand_over_then_kill():
        semaphore.release()  # handed to first...
        first.throw(green.GreenletExit())  # ...which dies before running: the unit goes on

    get_hub().call_soon(hand_over_then_kill)
    with pytest.raises(green.GreenletExit):
        first.wait()
    assert second.wait() is True


def test_bounded_semaphore_over_release():
    semaphore = green.BoundedSemaphore(1)
    with pytest.raises(ValueError):
        semaphore.release()
    semaphore.acquire()
    semaphore.release()


def test_negative_value_rejected():
    with pytest.raises(ValueError):
        green.Semaphore(-1)


def test_capped_semaphore_release_blocks_at_limit():
    semaphore = green.CappedSemaphore(1, 2)
    assert semaphore.release(blocking=False) is True
    assert semaphore.release(blocking=False) is False
    releaser = green.spawn(semaphore.release)
    green.sleep(0)
    assert not releaser.dead
    semaphore.acquire()
    releaser.wait()
    assert semaphore.balance == 2


def test_capped_semaphore_waiting_acquire_makes_room_for_a_release():
    semaphore = green.CappedSemaphore(0, 0)  # no unit can ever rest in it: they must meet
    acquirer = green.spawn(semaphore.acquire)
    green.sleep(0)
    assert semaphore.release(blocking=False) is True
    assert acquirer.wait() is True
    assert semaphore.balance == 0


def test_capped_semaphore_acquire_that_gives_up_withdraws_its_room():
    semaphore = green.CappedSemaphore(0, 1)
    assert semaphore.acquire(timeout=0.01) is False
    assert semaphore.acquire(blocking=False) is False
    assert semaphore.release(blocking=False) is True
    assert semaphore.release(blocking=False) is False  # at the limit again, as before
    assert semaphore.acquire() is True
    assert semaphore.counter == 0 and semaphore.release(blocking=False) is True


def test_abandoned_acquires_leave_only_themselves_and_order_holds():
    # Acquires that end by timeout or kill, at the front, in the middle and at the back, take out
    # their own place; the others get the units in the order they came; a timed acquire polled
    # in a loop leaves nothing behind.
    semaphore = green.Semaphore(0)
    order: list[int] = []

    def worker(index: int, timeout: float | None) -> None:
        if semaphore.acquire(timeout=timeout):
            order.append(index)

    threads = [green.spawn(worker, index, 0.01 if index in (0, 3, 7) else None) for index in range(8)]
    green.sleep(0)
    threads[5].kill()
    for index in (0, 3, 7):
        threads[index].wait()
    assert semaphore.balance == -4
    for _ in range(100):
        assert semaphore.acquire(timeout=0) is False
    assert semaphore.balance == -4
    for _ in range(4):
        semaphore.release()
    for index in (1, 2, 4, 6):
        threads[index].wait()
    assert order == [1, 2, 4, 6]
    assert semaphore.balance == 0
    # Hand-offs one at a time on the emptied list.
    for round_ in range(3):
        thread = green.spawn(semaphore.acquire)
        green.sleep(0)
        semaphore.release()
        assert thread.wait() is True, round_
    assert semaphore.balance == 0
