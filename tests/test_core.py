"""The compiled core (green/_core.c): used when built, not with GREEN_PURE=1, and the same as the
Python code it replaces where the rest of the suite would not notice a difference (references
dropped, exceptions through its paths, kills while parked, wake-ups from other OS threads)."""

from __future__ import annotations

import errno
import gc
import os
import subprocess
import sys
import weakref
from typing import Any

import greenlet
import pytest
from greenlet import GreenletExit

import green
from green import _waiter
from green._compiled import core
from green._stdlib import original
from green.hubs import get_hub
from green.hubs.hub import BlockingInHubError


def _built() -> bool:
    try:
        import green._core  # noqa: F401
    except ImportError:
        return False
    return True


_real_thread = original("_thread")


def _require_core() -> None:
    if _built():
        return
    reason = "green/_core.c is not built (no C compiler or Python headers at install)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true: the compiled core must be tested", pytrace=False)
    pytest.skip(reason)


def test_the_environment_chooses_the_path(tmp_path):
    _require_core()
    code = "from green._waiter import Waiter; print(Waiter.__mro__[1].__module__)"
    environment = {key: value for key, value in os.environ.items() if key != "GREEN_PURE"}
    # Run elsewhere than the source tree, whose green/ (without the built core, in a tox run)
    # would come first on the child's path: the child must import the green this run imported.
    environment["PYTHONPATH"] = os.path.dirname(os.path.dirname(green.__file__))
    run = {"env": environment, "capture_output": True, "text": True, "cwd": tmp_path}
    compiled = subprocess.run([sys.executable, "-c", code], **run)  # type: ignore[call-overload]
    environment["GREEN_PURE"] = "1"
    pure = subprocess.run([sys.executable, "-c", code], **run)  # type: ignore[call-overload]
    assert compiled.stdout.split()[0] == "green._core", compiled.stderr
    assert pure.stdout.split()[0] == "builtins", pure.stderr  # object: the pure class's base


def test_this_run_uses_the_path_its_environment_asks_for():
    if os.environ.get("GREEN_PURE") == "1" or not _built():
        assert core is None and _waiter.Waiter is _waiter.PureWaiter
    else:
        assert core is not None and issubclass(_waiter.Waiter, core.Waiter)
        assert type(get_hub().park) is core.Park


def test_a_hand_off_keeps_no_reference_to_its_value():
    queue = green.Queue()

    class Item:
        pass

    item = Item()
    alive = weakref.ref(item)
    thread = green.spawn(queue.get)
    green.sleep(0)
    queue.put(item)
    assert thread.wait() is item
    del item, thread
    gc.collect()
    assert alive() is None


def test_a_waiter_kept_for_the_next_wait_keeps_nothing_alive_and_serves_any_thread():
    # The compiled paths keep the Waiter of a finished wait for the next one: it must not hold
    # the OS thread's hub (or its green threads or the value), and a wait in another OS thread
    # must park on that thread's hub.
    hubs: list[weakref.ref] = []
    results: list[object] = []

    def in_thread() -> None:
        hubs.append(weakref.ref(get_hub()))
        from green.thread import allocate_lock

        queue, lock, event = green.Queue(), allocate_lock(), green.Event()
        lock.acquire()

        def other() -> None:
            queue.put("item")
            lock.release()
            event.send("sent")

        green.spawn(other)
        results.extend([queue.get(), lock.acquire(), event.wait()])  # each one waits

    # Real OS threads, also in the patched run (where threading.Thread starts green threads).
    real_thread = original("_thread")
    for _ in range(2):
        done = real_thread.allocate_lock()
        done.acquire()

        def run(done: Any) -> None:
            try:
                in_thread()
            finally:
                done.release()

        real_thread.start_new_thread(run, (done,))
        assert done.acquire(True, 10)
    assert results == ["item", True, "sent"] * 2
    assert all(reference() is not get_hub() for reference in hubs)  # their own hubs
    gc.collect()
    for reference in hubs:  # (a hub parked in a finished OS thread lives on in greenlet's hands)
        hub = reference()
        assert hub is None or not [held for held in gc.get_referrers(hub) if isinstance(held, _waiter.Waiter)]
    del hub
    queue = green.Queue()
    thread = green.spawn(queue.get)
    green.sleep(0)
    queue.put("here")  # and the main thread's own hub still serves the next wait
    assert thread.wait() == "here"


def test_values_handed_over_are_not_kept_by_the_hand_off():
    # A kept Waiter refills its last ready-queue entry for its next wake-up: what the entry
    # carried (the value, the green thread) must be let go when the wait ends, and a value that
    # only the queued entry holds must survive a collection while it waits there.
    class Item:
        def __init__(self) -> None:
            self.cycle = self

    queue = green.Queue()
    references: list[weakref.ref] = []

    def getter() -> None:
        for _ in range(20):
            item = queue.get()
            assert isinstance(item, Item)
            references.append(weakref.ref(item))
            del item
            gc.collect()

    thread = green.spawn(getter)
    for _ in range(20):
        green.sleep(0)  # the getter parks
        queue.put(Item())
        gc.collect()  # the item is in the queued wake-up only (and the getter's Waiter)
    thread.wait()
    del thread
    gc.collect()
    assert len(references) == 20 and all(reference() is None for reference in references)


def test_reference_counts_are_stable_over_many_hand_offs():
    ping, pong = green.Queue(), green.Queue()
    token = object()

    def echo(rounds: int) -> None:
        for _ in range(rounds):
            pong.put(ping.get())

    def run(rounds: int) -> None:
        thread = green.spawn(echo, rounds)
        for _ in range(rounds):
            ping.put(token)
            assert pong.get() is token
        thread.wait()

    run(100)
    before = sys.getrefcount(token), sys.getrefcount(None), sys.getrefcount(True)
    run(5_000)
    after = sys.getrefcount(token), sys.getrefcount(None), sys.getrefcount(True)
    assert after[0] == before[0]
    # None and True are shared by everything: a leak of one per hand-off would show as thousands.
    assert abs(after[1] - before[1]) < 100 and abs(after[2] - before[2]) < 100


def test_an_exception_thrown_into_a_parked_waiter_comes_out_of_wait():
    waiter = _waiter.Waiter()
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            waiter.wait()
        except KeyError as error:
            outcome.append(error)

    thread = green.spawn(wait)
    green.sleep(0)
    error = KeyError("thrown")
    waiter.throw(error)
    waiter.throw(ValueError("only the first wake-up counts"))
    waiter.wake("nor this one")
    thread.wait()
    assert outcome == [error] and waiter.woken and waiter.exception is error


def test_a_green_thread_killed_while_parked_forgets_its_waiter():
    waiter = _waiter.Waiter()
    thread = green.spawn(waiter.wait)
    green.sleep(0)
    assert waiter.greenlet is thread
    thread.kill()
    assert thread.dead and waiter.greenlet is None and not waiter.woken
    waiter.wake("too late")  # nobody parked: a harmless no-op through the hub
    green.sleep(0)


def test_a_timed_wait_times_out_and_a_wake_up_after_it_is_ignored():
    waiter = _waiter.Waiter()
    assert waiter.wait(0.001) is _waiter.TIMED_OUT
    waiter.wake(1)
    assert waiter.greenlet is None


def test_wait_and_wake_take_their_arguments_by_keyword_too():
    waiter = _waiter.Waiter(hub=get_hub())
    thread = green.spawn(waiter.wait, timeout=None)
    green.sleep(0)
    waiter.wake(value="by keyword")
    assert thread.wait() == "by keyword"
    with pytest.raises(TypeError):
        waiter.wait(1, 2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        waiter.wake(other=1)  # type: ignore[call-arg]


def test_waiting_inside_the_hub_is_refused():
    hub = get_hub()
    waiter = _waiter.Waiter()
    errors: list[BaseException] = []

    def in_hub() -> None:
        try:
            waiter.wait()
        except BlockingInHubError as error:
            errors.append(error)

    hub.call_soon(in_hub)
    green.sleep(0)
    assert len(errors) == 1


def _in_os_thread(function: Any) -> Any:
    # A real OS thread (the original _thread: under monkey-patching, threading starts green ones);
    # returns a real lock that is released when `function` has returned.
    done = _real_thread.allocate_lock()
    done.acquire()

    def run() -> None:
        try:
            function()
        finally:
            done.release()

    _real_thread.start_new_thread(run, ())
    return done


def test_a_wake_up_from_another_os_thread_reaches_a_parked_green_thread():
    waiter = _waiter.Waiter()
    go = _real_thread.allocate_lock()
    go.acquire()

    started = _real_thread.allocate_lock()
    started.acquire()

    def wake() -> None:
        started.release()
        go.acquire()
        waiter.wake("from afar")

    # The OS thread runs before the green thread parks: its wait then holds a reference on the
    # hub, which sleeps in poll instead of reporting a deadlock (see green._waiter).
    done = _in_os_thread(wake)
    started.acquire()
    thread = green.spawn(waiter.wait)
    green.sleep(0)
    go.release()
    assert thread.wait() == "from afar"
    done.acquire()


def test_a_plain_os_thread_blocks_on_a_real_lock():
    results: list[object] = []
    waiters: list[_waiter.Waiter] = []
    made = _real_thread.allocate_lock()
    made.acquire()

    def plain() -> None:
        waiter = _waiter.Waiter()
        waiters.append(waiter)
        made.release()
        results.append(waiter.wait())

    done = _in_os_thread(plain)
    made.acquire()
    try:
        assert waiters[0].hub is None
    finally:
        waiters[0].wake("released")
        done.acquire()
    assert results == ["released"]


def test_greenlet_exit_thrown_by_kill_is_not_swallowed_by_the_park():
    event = green.Event()
    reached: list[str] = []

    def parked() -> None:
        try:
            event.wait()
        except GreenletExit:
            reached.append("exit")
            raise

    thread = green.spawn(parked)
    green.sleep(0)
    thread.kill()
    assert reached == ["exit"] and thread.dead


def test_sleep_takes_the_compiled_path_for_zero_only():
    from green import greenthread

    if core is None:
        assert not isinstance(green.sleep, type(len)) and green.sleep is greenthread.sleep
        return
    assert green.sleep is core.sleep is greenthread.sleep
    order: list[str] = []

    def other() -> None:
        order.append("other")

    green.spawn(other)
    green.sleep()  # every ready green thread runs once first
    assert order == ["other"]
    green.spawn(other)
    green.sleep(-1.5)  # negative: as sleep(0)
    assert order == ["other", "other"]
    started = green.hubs.monotonic()
    green.sleep(0.01)  # a positive delay goes to the Python function
    assert green.hubs.monotonic() - started >= 0.01
    with pytest.raises(TypeError):
        green.sleep("1")
    with pytest.raises(TypeError):
        green.sleep(0, 1)


def test_finished_green_threads_leave_their_frame_stacks_to_the_next():
    # From CPython 3.11 each greenlet gets a frame stack of its own (mapped when it starts,
    # unmapped when it ends); the compiled core keeps freed ones for the next green thread.
    if core is None or core.frame_chunks() is None:
        # the pure-Python path, and CPython 3.10 (its frames are heap objects)
        assert core is None or sys.version_info < (3, 11)
        return
    kept, limit, reuses = core.frame_chunks()
    assert 0 <= kept <= limit

    def nested(depth: int) -> int:
        return depth if depth == 0 else nested(depth - 1) + 1

    for depth in (0, 200, 0):  # 200 frames need a larger chunk than the first
        for _ in range(50):
            assert green.spawn(nested, depth).wait() == depth
    assert core.frame_chunks()[2] - reuses >= 140
    assert core.frame_chunks()[0] <= limit


def test_spawn_makes_the_green_thread_the_python_function_makes():
    # The compiled spawn fills GreenThread's slots without its Python __init__; the thread, its
    # place in the ready queue and its outcome are those of the Python function.
    from green import greenthread

    assert (green.spawn is getattr(core, "spawn", None)) == (core is not None)
    assert greenthread.spawn is green.spawn
    python_spawn = greenthread.__dict__.get("_python_spawn", greenthread.spawn)
    slots = [name for name in greenthread.GreenThread.__slots__ if name != "_kwargs"]
    order: list[object] = []

    def work(*args: object, **kwargs: object) -> object:
        order.append((args, kwargs))
        return len(order)

    made = [
        green.spawn(work),
        green.spawn(work, 1, 2, 3, 4),
        green.spawn(work, 1, key="value"),
        python_spawn(work, 5),
    ]
    for thread in made:
        assert type(thread) is greenthread.GreenThread and not thread and thread.parent is get_hub()
        assert {name: getattr(thread, name) for name in slots if name not in ("_function", "_args")} == {
            name: getattr(made[-1], name) for name in slots if name not in ("_function", "_args")
        }
    assert [thread.wait() for thread in made] == [1, 2, 3, 4]
    assert order == [((), {}), ((1, 2, 3, 4), {}), ((1,), {"key": "value"}), ((5,), {})]
    with pytest.raises(TypeError):
        green.spawn()
    # In an OS thread without a hub: the Python function, which makes the hub.
    results: list[object] = []

    def in_thread() -> None:
        results.append(green.spawn(lambda: "there").wait())

    worker = original("threading").Thread(target=in_thread)
    worker.start()
    worker.join(10)
    assert results == ["there"]


def test_an_exception_thrown_into_sleep_zero_takes_its_entry_off_the_ready_queue():
    outcome: list[Any] = []
    main = greenlet.getcurrent()
    later = _waiter.Waiter()

    def sleeper() -> None:
        try:
            green.sleep(0)
        except KeyError:
            outcome.append("thrown")
            get_hub().schedule((greenlet.greenlet.switch, (main,)))  # back to the test, via the hub
            outcome.append(later.wait())  # a stale sleep(0) entry would resume this wait
            return
        outcome.append("resumed by its entry")

    thread = green.spawn(sleeper)
    green.sleep(0)  # the sleeper runs, queues its entry and parks
    assert get_hub().counts()["ready"] == 1  # its entry
    thread.throw(KeyError("now"))  # straight into its park, before its entry runs
    green.sleep(0)
    assert outcome == ["thrown"]
    later.wake("woken")
    thread.wait()
    assert outcome == ["thrown", "woken"]


def test_the_sleep_zero_entry_kept_for_the_next_call_keeps_no_thread_alive():
    # The compiled sleep(0) keeps its ready-queue entry after its wake-up and refills it for the
    # next sleep(0) of any green thread: threads sleeping at once each get an entry of their own
    # and run in turn, a thread that ends is not held by the kept entry, and no references leak.
    order: list[int] = []

    def sleeper(number: int) -> None:
        for _ in range(3):
            order.append(number)
            green.sleep(0)

    threads = [green.spawn(sleeper, number) for number in range(3)]
    for thread in threads:
        thread.wait()
    assert order == [0, 1, 2] * 3
    references = [weakref.ref(thread) for thread in threads]
    del thread, threads
    gc.collect()
    assert [reference() for reference in references] == [None, None, None]

    growth = []
    for _ in range(4):  # the first round warms caches up; the later ones must not grow
        before = len(gc.get_objects())
        for thread in [green.spawn(sleeper, 0) for _ in range(50)]:
            thread.wait()
        del thread
        gc.collect()
        growth.append(len(gc.get_objects()) - before)
    assert max(growth[1:]) <= 1, growth


def test_sleep_zero_inside_the_hub_returns_at_once():
    called: list[bool] = []

    def callback() -> None:
        green.sleep(0)
        called.append(True)

    get_hub().call_soon(callback)
    green.sleep(0)
    assert called == [True]


def test_queue_classes_say_which_get_and_put_serve_them():
    from green import queue as green_queue

    class Tagged(green_queue.Queue):
        def label(self) -> str:
            return "same storage"

    class Reversed(green_queue.LightQueue):
        def _get(self) -> Any:
            return self.queue.pop()

    assert green_queue.LightQueue._compiled_path == 1
    assert green_queue.Queue._compiled_path == 2 and Tagged._compiled_path == 2
    assert green_queue.LifoQueue._compiled_path == 0 and green_queue.PriorityQueue._compiled_path == 0
    assert Reversed._compiled_path == 0
    if core is not None:
        assert type(green_queue.LightQueue.__dict__["get"]).__name__ == "method_descriptor"
    reversed_queue = Reversed()
    for item in (1, 2, 3):
        reversed_queue.put(item)
    assert [reversed_queue.get() for _ in range(3)] == [3, 2, 1]  # its own hook, not the C path's
    tagged = Tagged()
    tagged.put("a")
    thread = green.spawn(tagged.get)
    green.sleep(0)
    assert thread.wait() == "a"
    waiting = green.spawn(tagged.get)
    green.sleep(0)
    tagged.put("b")  # handed to the waiting getter
    assert waiting.wait() == "b" and tagged.unfinished_tasks == 2
    tagged.task_done()
    tagged.task_done()
    assert tagged.join(timeout=0)


def test_a_parked_get_interrupted_after_its_hand_off_passes_the_item_on():
    queue = green.Queue()
    main = greenlet.getcurrent()

    def interrupted() -> str:
        try:
            return queue.get()
        except KeyError:
            get_hub().schedule((greenlet.greenlet.switch, (main,)))  # back to the test, via the hub
            return "interrupted"

    first = green.spawn(interrupted)
    second = green.spawn(queue.get)
    green.sleep(0)  # both park, `first` in line first
    queue.put("item")  # handed to `first`, which has not run yet
    first.throw(KeyError("now"))  # straight into its park: it leaves without the item
    assert first.wait() == "interrupted"
    assert second.wait() == "item"


def test_get_and_put_with_arguments_take_the_python_methods():
    queue = green.LightQueue(1)
    queue.put(1)
    with pytest.raises(green.queue.Full):
        queue.put(2, block=False)
    with pytest.raises(green.queue.Full):
        queue.put(2, timeout=0.01)
    assert queue.get(timeout=1) == 1
    with pytest.raises(green.queue.Empty):
        queue.get(timeout=0.01)
    with pytest.raises(green.queue.Empty):
        queue.get(False)
    with pytest.raises(TypeError):
        queue.put()
    queue.put(item=3)
    assert queue.get(block=True) == 3
    queue.shutdown()
    with pytest.raises(green.queue.ShutDown):
        queue.get()
    with pytest.raises(green.queue.ShutDown):
        queue.put(4)


def test_an_eventlet_style_unbounded_maxsize_none_queue_takes_puts():
    queue = green.LightQueue()
    queue.maxsize = None  # type: ignore[assignment]  # eventlet's alias reads unbounded as None
    for item in range(5):
        queue.put(item)
    assert [queue.get() for _ in range(5)] == list(range(5))


def test_the_guard_behaves_as_a_thread_lock():
    guard = _waiter.allocate_guard()
    if core is not None:
        assert type(guard) is core.Guard
    assert guard.acquire() is True and guard.locked()
    assert guard.acquire(False) is False and guard.acquire(blocking=False) is False
    assert guard.acquire(timeout=0.01) is False
    with pytest.raises(ValueError):
        guard.acquire(False, 1)
    guard.release()
    assert not guard.locked()
    with pytest.raises(RuntimeError):
        guard.release()
    with guard:
        assert guard.locked()
    assert not guard.locked()
    # Held by another OS thread: a timed acquire waits for it (without the GIL) and gets it.
    held, go = _real_thread.allocate_lock(), _real_thread.allocate_lock()
    held.acquire()
    go.acquire()

    def holder() -> None:
        guard.acquire()
        held.release()
        go.acquire()
        guard.release()

    _real_thread.start_new_thread(holder, ())
    held.acquire()
    assert guard.locked() and guard.acquire(True, 0.01) is False
    go.release()
    assert guard.acquire(True, 10) is True
    guard.release()


def test_the_guard_keeps_out_os_threads_that_contend_for_it():
    # Four OS threads add to one counter under the guard, each giving the GIL away inside (a real
    # sleep) so that the others find it held and wait; half of them take it with a timeout.
    guard = _waiter.allocate_guard()
    real_sleep = original("time").sleep
    box, misses, rounds, threads = [0], [0], 300, 4
    finished = _real_thread.allocate_lock()
    finished.acquire()
    left, count_lock = [threads], _real_thread.allocate_lock()

    def worker(timed: bool) -> None:
        for _ in range(rounds):
            if timed:
                while not guard.acquire(True, 0.0005):
                    misses[0] += 1
            else:
                guard.acquire()
            value = box[0]
            real_sleep(0)
            box[0] = value + 1
            guard.release()
        with count_lock:
            left[0] -= 1
            if left[0] == 0:
                finished.release()

    for number in range(threads):
        _real_thread.start_new_thread(worker, (number % 2 == 0,))
    assert finished.acquire(True, 60)
    assert box[0] == rounds * threads and not guard.locked()


def test_a_hub_installed_for_a_while_is_the_one_waiters_and_wake_ups_use():
    from green.hubs import install_hub
    from green.hubs.hub import Hub

    original_hub = get_hub()
    assert _waiter.Waiter().hub is original_hub
    other = Hub(type(original_hub.backend)())
    previous = install_hub(other)
    try:
        assert previous is original_hub and _waiter.Waiter().hub is other
    finally:
        install_hub(previous)
        other.close()
    assert _waiter.Waiter().hub is original_hub
    # Another OS thread finds its own hub, not the one this thread used last.
    seen: list[Any] = []
    done = _real_thread.allocate_lock()
    done.acquire()

    def in_thread() -> None:
        hub = get_hub()
        seen.append(_waiter.Waiter().hub is hub and hub is not original_hub)
        install_hub(None)
        hub.close()
        done.release()

    _real_thread.start_new_thread(in_thread, ())
    done.acquire()
    assert seen == [True] and _waiter.Waiter().hub is original_hub


def test_the_green_lock_waits_hands_over_and_passes_on_an_abandoned_hand_off():
    from green.thread import LockType

    lock = LockType()
    if core is not None:
        assert type(LockType.__dict__["acquire"]).__name__ == "method_descriptor"
    assert lock.acquire() and not lock.acquire(False) and not lock.acquire(True, 0.01)
    main = greenlet.getcurrent()
    order: list[str] = []

    def interrupted() -> None:
        try:
            lock.acquire()
        except KeyError:
            order.append("interrupted")
            get_hub().schedule((greenlet.greenlet.switch, (main,)))  # back to the test, via the hub

    def patient() -> None:
        with lock:
            order.append("patient")

    first = green.spawn(interrupted)
    second = green.spawn(patient)
    green.sleep(0)  # both wait, `first` in line first
    lock.release()  # handed to `first`, which has not run yet
    first.throw(KeyError("now"))  # it leaves: the lock goes on to `second`
    second.wait()
    assert order == ["interrupted", "patient"] and not lock.locked()
    # A plain OS thread (no hub) waits on a real lock for a green lock a green thread holds.
    lock.acquire()
    done = _real_thread.allocate_lock()
    done.acquire()

    def os_thread() -> None:
        with lock:
            order.append("os thread")
        done.release()

    _real_thread.start_new_thread(os_thread, ())
    while not lock._waiters:  # type: ignore[attr-defined]
        green.sleep(0.001)
    lock.release()
    done.acquire()
    assert order[-1] == "os thread" and not lock.locked()


def test_the_semaphore_hands_units_over_and_passes_on_an_abandoned_one():
    from green.semaphore import BoundedSemaphore, Semaphore

    class Counted(Semaphore):
        pass

    assert Semaphore._compiled_path == 1 and Counted._compiled_path == 1
    assert BoundedSemaphore._compiled_path == 0
    semaphore = Counted(0)
    main = greenlet.getcurrent()
    order: list[str] = []

    def interrupted() -> None:
        try:
            semaphore.acquire()
        except KeyError:
            order.append("interrupted")
            get_hub().schedule((greenlet.greenlet.switch, (main,)))  # back to the test, via the hub

    def patient() -> None:
        assert semaphore.acquire()
        order.append("patient")

    first = green.spawn(interrupted)
    second = green.spawn(patient)
    green.sleep(0)  # both wait, `first` in line first
    assert semaphore.release() is True  # handed to `first`, which has not run yet
    first.throw(KeyError("now"))  # it leaves: the unit goes on to `second`
    second.wait()
    assert order == ["interrupted", "patient"] and semaphore.counter == 0
    assert semaphore.release() and semaphore.counter == 1
    assert semaphore.acquire() and not semaphore.acquire(False) and not semaphore.acquire(timeout=0.01)
    bounded = BoundedSemaphore(1)
    with pytest.raises(ValueError):
        bounded.release()  # its own check, through the Python method


def test_the_event_wakes_every_waiter_and_raises_what_was_sent():
    compiled = type(vars(green.Event)["wait"])
    assert type(vars(green.Event)["reset"]) is compiled is type(vars(green.Event)["send"])
    assert (compiled.__name__ == "method_descriptor") == (core is not None)
    event = green.Event()
    results: list[Any] = []

    def waiter() -> None:
        results.append(event.wait())

    threads = [green.spawn(waiter) for _ in range(3)]
    green.sleep(0)
    event.send("value")
    for thread in threads:
        thread.wait()
    assert results == ["value"] * 3 and event.wait() == "value" and event.wait(None) == "value"
    with pytest.raises(AssertionError):
        event.send("again")
    event.reset()
    event.send_exception(KeyError("sent"))
    with pytest.raises(KeyError):
        event.wait()
    event.reset()
    assert not event.ready() and not event.has_exception()
    with pytest.raises(AssertionError, match="not been sent"):
        event.reset()  # never sent since: the Python method raises
    assert event.wait(0.01) is None  # a timeout: the Python method
    # A waiter killed while it waits leaves the event's list.
    thread = green.spawn(event.wait)
    green.sleep(0)
    thread.kill()
    event.send(1)
    assert event.wait() == 1 and not event._waiters  # type: ignore[attr-defined]


def test_state_in_slots_leaves_programs_their_attributes_and_their_overrides():
    # Queue, Semaphore and Event keep their state in slots (the compiled methods read them at
    # fixed offsets) and keep a __dict__ for anything else.
    from green import queue as green_queue
    from green.semaphore import Semaphore

    for made in (green_queue.Queue(), green_queue.LightQueue(), Semaphore(), green.Event()):
        made.note = "kept"  # type: ignore[union-attr]
        assert vars(made)["note"] == "kept" and weakref.ref(made)() is made
        assert not {"_guard", "_waiters", "_getters", "counter", "_result"} & set(vars(made))

    class Capped(green_queue.Queue):
        @property
        def maxsize(self) -> int:  # type: ignore[override]
            return 1

        @maxsize.setter
        def maxsize(self, value: int) -> None:
            pass

    class Counting(Semaphore):
        units = 0

        @property  # type: ignore[override]
        def counter(self) -> int:
            return self.units

        @counter.setter
        def counter(self, value: int) -> None:
            self.units = value

    assert Capped._compiled_path == 0 and Counting._compiled_path == 0  # the Python methods
    capped = Capped()
    capped.put("a")
    with pytest.raises(green_queue.Full):
        capped.put("b", block=False)
    counting = Counting(0)
    waiting = green.spawn(counting.acquire)
    green.sleep(0)
    counting.release()
    assert waiting.wait() is True and counting.units == 0
    counting.release()
    assert counting.units == 1 and counting.acquire() and counting.units == 0


def test_a_wait_for_io_on_a_registered_fd_takes_the_compiled_path_with_the_same_outcomes():
    from green.hubs.hub import Hub

    assert (type(vars(Hub)["wait_readable"]).__name__ == "method_descriptor") == (core is not None)
    assert (type(vars(Hub)["wait_writable"]).__name__ == "method_descriptor") == (core is not None)
    socket = original("socket")
    left, right = socket.socketpair()
    try:
        left.setblocking(False)
        hub = get_hub()
        fd = left.fileno()
        for _ in range(3):  # the first wait registers the fd; the others find it so
            green.spawn(right.send, b"x")
            assert hub.wait_readable(fd) is True and left.recv(1) == b"x"
        assert hub.wait_writable(fd) is True and hub.wait_writable(fd, None) is True
        assert hub.wait_readable(fd, 0.01) is False  # a timeout: the Python method
        parked = green.spawn(hub.wait_readable, fd)
        green.sleep(0)
        with pytest.raises(RuntimeError, match=f"fd {fd} is already waited on for reading"):
            hub.wait_readable(fd)
        parked.kill()  # leaves the fd's record as it found it: nobody waits to read any more
        assert hub.wait_readable(fd, 0.01) is False
        parked = green.spawn(hub.wait_readable, fd)
        green.sleep(0)
        hub.notify_closing(fd)
        with pytest.raises(OSError) as closed:
            parked.wait()
        assert closed.value.errno == errno.EBADF
    finally:
        left.close()
        right.close()
