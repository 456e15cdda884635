"""green.dagpool: green threads ordered by their data dependencies."""

from __future__ import annotations

import pytest

import green
from green.dagpool import Collision, DAGPool, PropagateError


def summer(key, results, extra=0):
    return sum(value for _, value in results) + extra


def test_dependencies_flow_through_the_graph():
    pool = DAGPool({"a": 1})
    pool.spawn_many({"d": ["b", "c"], "b": ["a"], "c": ["a"]}, summer)
    pool.spawn("e", ["d"], summer, extra=100)
    assert pool.running() == 4
    assert pool.waitall() == {"a": 1, "b": 1, "c": 1, "d": 2, "e": 102}
    assert pool.running() == 0 and set(pool.keys()) == set("abcde")


def test_values_arrive_in_posting_order_and_post_wakes_waiters():
    pool = DAGPool()
    seen = []

    def consumer(key, results):
        for pair in results:
            seen.append(pair)
        return "done"

    pool.spawn("consumer", ["x", "y", "z"], consumer)
    green.sleep(0)
    assert pool.waiting_for("consumer") == {"x", "y", "z"}
    assert pool.waiting() == 1
    pool.post("z", 3)
    pool.post("x", 1)
    green.sleep(0)
    pool.post("y", 2)
    assert pool["consumer"] == "done"
    assert seen == [("z", 3), ("x", 1), ("y", 2)]
    assert pool.waiting_for() == {}


def test_exceptions_propagate_as_a_chain():
    pool = DAGPool()

    def fail(key, results):
        raise ValueError("bad input")

    pool.spawn("a", [], fail)
    pool.spawn("b", ["a"], summer)
    with pytest.raises(PropagateError) as caught:
        pool.wait(["b"])
    error = caught.value
    assert error.key == "b" and isinstance(error.exc, PropagateError)
    assert error.exc.key == "a" and isinstance(error.exc.exc, ValueError)
    assert "PropagateError(a): ValueError: bad input" in str(error.exc)
    assert [key for key, _ in pool.wait_each_exception()] == ["a", "b"]
    assert list(pool.wait_each_success()) == []
    with pytest.raises(PropagateError):
        pool.get("a")
    assert pool.get("missing", 5) == 5


def test_collisions():
    pool = DAGPool({"a": 1})
    with pytest.raises(Collision):
        pool.post("a", 2)
    pool.post("a", 2, replace=True)
    assert pool.get("a") == 2
    with pytest.raises(Collision):
        pool.spawn("a", [], summer)
    pool.spawn("b", ["never"], summer)
    with pytest.raises(Collision):
        pool.post("b", 0)  # its green thread is running
    pool.kill("b")
    assert pool.running() == 0
    pool.post("b", 0)
    assert dict(pool.items()) == {"a": 2, "b": 0}


def test_green_thread_may_post_its_own_value_early():
    pool = DAGPool()

    def early(key, results):
        pool.post(key, "posted")
        return "returned"

    pool.spawn("k", [], early)
    assert pool["k"] == "posted"
    assert pool.waitall() == {"k": "posted"}


def test_waiting_for_unknown_key_raises_key_error():
    with pytest.raises(KeyError):
        DAGPool().waiting_for("nothing")
