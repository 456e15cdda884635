"""local: per green thread attributes."""

from __future__ import annotations

import pytest

import green


def test_each_thread_sees_its_own_attributes():
    storage = green.local()
    storage.value = "main"

    def worker(name):
        assert not hasattr(storage, "value")
        storage.value = name
        green.sleep(0)
        return storage.value

    threads = [green.spawn(worker, index) for index in range(5)]
    assert [thread.wait() for thread in threads] == list(range(5))
    assert storage.value == "main"


def test_subclass_init_runs_per_thread():
    class Counter(green.local):
        def __init__(self, start):
            self.count = start

    counter = Counter(10)
    counter.count += 1

    def worker():
        counter.count += 5
        return counter.count

    assert green.spawn(worker).wait() == 15
    assert counter.count == 11


def test_delete_and_dict():
    storage = green.local()
    storage.x = 1
    assert storage.__dict__ == {"x": 1}
    del storage.x
    with pytest.raises(AttributeError):
        del storage.x


def test_arguments_without_init_rejected():
    with pytest.raises(TypeError):
        green.local(1)
