"""TaskGroup: children end before the block does, the first failure cancels the rest."""

from __future__ import annotations

import pytest

import green
from green.taskgroup import BaseExceptionGroup, ExceptionGroup

# Every test here runs on a fresh hub with a virtual clock: sleeps of seconds take no time.
pytestmark = pytest.mark.green(autojump=True)


def test_block_waits_for_every_child_and_returns_their_results():
    finished = []

    def child(name, seconds):
        green.sleep(seconds)
        finished.append(name)
        return name

    with green.TaskGroup() as group:
        slow = group.spawn(child, "slow", 5)
        fast = group.spawn(child, "fast", 1)
        assert finished == []
    assert finished == ["fast", "slow"]
    assert (slow.wait(), fast.wait()) == ("slow", "fast")


def test_one_failure_is_raised_as_itself_and_cancels_siblings_and_body():
    cancelled = []

    def sibling():
        try:
            green.sleep(100)
        except green.GreenletExit:
            cancelled.append("sibling")
            raise

    def failing():
        green.sleep(1)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        with green.TaskGroup() as group:
            group.spawn(sibling)
            group.spawn(failing)
            try:
                green.sleep(100)
            except green.TaskGroupCancelled:
                cancelled.append("body")
                raise
            pytest.fail("the body was not cancelled")
    assert sorted(cancelled) == ["body", "sibling"]


def test_several_failures_are_raised_as_an_exception_group():
    def failing(error):
        green.sleep(1)
        raise error

    with pytest.raises(ExceptionGroup) as caught:
        with green.TaskGroup() as group:
            group.spawn(failing, ValueError("one"))
            group.spawn(failing, KeyError("two"))
    assert sorted(type(error).__name__ for error in caught.value.exceptions) == ["KeyError", "ValueError"]


def test_body_exception_cancels_children_and_is_raised_with_their_errors():
    def cleanup_fails():
        try:
            green.sleep(100)
        finally:
            raise OSError("cleanup")

    with pytest.raises(ExceptionGroup) as caught:
        with green.TaskGroup() as group:
            group.spawn(cleanup_fails)
            green.sleep(1)
            raise ValueError("body")
    assert [type(error) for error in caught.value.exceptions] == [ValueError, OSError]


def test_body_exception_alone_keeps_its_identity_and_traceback():
    error = ValueError("body")
    with pytest.raises(ValueError) as caught:
        with green.TaskGroup() as group:
            group.spawn(green.sleep, 100)
            raise error
    assert caught.value is error


def test_a_killed_child_is_not_a_failure():
    with green.TaskGroup() as group:
        victim = group.spawn(green.sleep, 100)
        group.spawn(green.sleep, 1)
        green.sleep(0)
        victim.kill()
    assert victim.dead


def test_timeout_around_a_group_kills_the_children_and_stays_the_timeout():
    ended = []

    def child():
        try:
            green.sleep(100)
        finally:
            ended.append("child")

    with green.Timeout(10, False) as timeout:
        with green.TaskGroup() as group:
            group.spawn(child)
            group.spawn(child)
    assert ended == ["child", "child"]
    assert not timeout.pending


def test_timeout_while_exit_waits_for_children():
    timeout = green.Timeout(3)
    with pytest.raises(green.Timeout) as caught:
        with green.TaskGroup() as group:
            child = group.spawn(green.sleep, 100)
    timeout.cancel()
    assert caught.value is timeout
    assert child.dead


def test_killing_the_parent_cancels_the_children():
    children = []

    def parent():
        with green.TaskGroup() as group:
            children.append(group.spawn(green.sleep, 100))
            children.append(group.spawn(green.sleep, 100))
            green.sleep(100)

    thread = green.spawn(parent)
    green.sleep(1)
    thread.kill()
    with pytest.raises(green.GreenletExit):
        thread.wait()
    assert len(children) == 2 and all(child.dead for child in children)


def test_nested_groups_cancel_inward_and_report_outward():
    inner_children = []

    def inner_parent():
        with green.TaskGroup() as inner:
            inner_children.append(inner.spawn(green.sleep, 100))
            green.sleep(100)

    def failing():
        green.sleep(2)
        raise RuntimeError("outer child failed")

    with pytest.raises(RuntimeError, match="outer child failed"):
        with green.TaskGroup() as outer:
            outer.spawn(inner_parent)
            outer.spawn(failing)
    assert inner_children and all(child.dead for child in inner_children)


def test_failure_in_inner_group_propagates_through_the_outer_one():
    def failing():
        raise LookupError("deep")

    with pytest.raises(LookupError, match="deep"):
        with green.TaskGroup() as outer:
            outer.spawn(green.sleep, 100)
            with green.TaskGroup() as inner:
                inner.spawn(failing)


def test_children_may_spawn_more_children():
    seen = []

    def grandchild(number):
        green.sleep(number)
        seen.append(number)

    with green.TaskGroup() as group:
        group.spawn(lambda: [group.spawn(grandchild, number) for number in (3, 1, 2)])
    assert seen == [1, 2, 3]


def test_spawn_outside_the_block_is_an_error():
    group = green.TaskGroup()
    with pytest.raises(RuntimeError):
        group.spawn(green.sleep, 0)
    with group:
        pass
    with pytest.raises(RuntimeError):
        group.spawn(green.sleep, 0)
    with pytest.raises(RuntimeError):
        group.__enter__()


def test_spawning_into_a_cancelled_group_never_starts_the_child():
    started = []

    def failing():
        raise ValueError("first")

    with pytest.raises(ValueError):
        with green.TaskGroup() as group:
            group.spawn(failing)
            try:
                green.sleep(1)
            finally:
                late = group.spawn(started.append, "late")
    assert started == [] and late.dead


def test_cancel_ends_the_group_quietly():
    with green.TaskGroup() as group:
        child = group.spawn(green.sleep, 100)
        group.spawn(lambda: (green.sleep(1), group.cancel()))
        green.sleep(100)
        pytest.fail("the body was not cancelled")
    assert child.dead and group.cancelled


def test_base_exception_group_when_a_child_raises_a_base_exception():
    class Stop(BaseException):
        pass

    def stop():
        green.sleep(1)
        raise Stop

    def failing():
        green.sleep(1)
        raise ValueError("other")

    with pytest.raises(BaseExceptionGroup) as caught:
        with green.TaskGroup() as group:
            group.spawn(failing)
            group.spawn(stop)
    assert not isinstance(caught.value, ExceptionGroup)


def test_green_pool_inside_the_body_and_inside_a_child():
    pool = green.GreenPool(2)

    def square(number):
        green.sleep(1)
        return number * number

    with green.TaskGroup() as group:
        child = group.spawn(lambda: list(pool.imap(square, range(4))))
        assert list(pool.imap(square, range(3))) == [0, 1, 4]
    assert child.wait() == [0, 1, 4, 9]
    pool.waitall()


def test_green_pool_worker_failure_reaches_the_group_through_the_child():
    pool = green.GreenPool(2)

    def work(number):
        green.sleep(number)
        if number == 2:
            raise ValueError("worker failed")
        return number

    with pytest.raises(ValueError, match="worker failed"):
        with green.TaskGroup() as group:
            group.spawn(lambda: list(pool.imap(work, range(4))))
            group.spawn(green.sleep, 100)
    pool.waitall()


def test_body_waiting_in_pool_waitall_is_cancelled_by_a_failing_child():
    pool = green.GreenPool(2)
    pool.spawn(green.sleep, 50)

    def failing():
        green.sleep(1)
        raise ValueError("child")

    with pytest.raises(ValueError, match="child"):
        with green.TaskGroup() as group:
            group.spawn(failing)
            pool.waitall()
    # The pool's green thread belongs to the pool, not to the group: it is still running.
    assert pool.running() == 1
    pool.waitall()


def test_a_child_spawned_just_after_the_last_one_ended_is_waited_for():
    # The last child ends and wakes the waiting __exit__; before it runs, a green thread outside
    # the group spawns another child (both timers are due at the same moment).
    finished = []

    def outsider():
        green.sleep(1)
        group.spawn(lambda: (green.sleep(5), finished.append("late")))

    with green.TaskGroup() as group:
        group.spawn(green.sleep, 1)
        other = green.spawn(outsider)
    assert finished == ["late"]
    other.wait()
