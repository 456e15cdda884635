"""The hub's waist: waits, timers, callbacks, closing, errors, selection."""

from __future__ import annotations

import errno
import gc
import os
import socket
import subprocess
import sys
import time
import tracemalloc

import greenlet
import pytest
from patched import skip_loop_exit_if_patched, start_os_thread

import green
from green._stdlib import original
from green.hubs import BlockingInHubError, LoopExit, get_hub, use_hub
from green.hubs.hub import Hub


@pytest.fixture
def pair():
    left, right = socket.socketpair()
    left.setblocking(False)
    right.setblocking(False)
    yield left, right
    hub = get_hub()
    for sock in (left, right):
        if sock.fileno() >= 0:
            hub.notify_closing(sock.fileno())
        sock.close()


def test_a_thread_without_a_hub_reads_none_and_gets_its_own_hub_on_first_use():
    from green.hubs import existing_hub

    main_hub = get_hub()
    seen: list = []

    def in_thread() -> None:
        seen.append(existing_hub())  # None: asked without building an AttributeError
        hub = get_hub()
        seen.extend([hub, get_hub(), existing_hub()])
        use_hub(None)  # leave the thread as it found it
        seen.append(existing_hub())

    assert start_os_thread(in_thread)()
    first, created, again, existing, after = seen
    assert first is None and after is None
    assert isinstance(created, Hub) and created is again is existing and created is not main_hub
    assert get_hub() is main_hub and existing_hub() is main_hub


def test_wait_readable_wakes_on_data(pair):
    left, right = pair
    hub = get_hub()
    green.spawn_after(0.01, right.send, b"x")
    assert hub.wait_readable(left.fileno()) is True
    assert left.recv(1) == b"x"


def test_wait_readable_timeout_returns_false(pair):
    left, _ = pair
    started = time.monotonic()
    assert get_hub().wait_readable(left.fileno(), 0.02) is False
    assert time.monotonic() - started >= 0.019


def test_wait_writable_is_immediate_on_empty_buffer(pair):
    left, _ = pair
    assert get_hub().wait_writable(left.fileno(), 1.0) is True


def test_registration_is_kept_between_waits(pair):
    """An fd whose interest did not change costs no backend call on the next wait."""
    left, right = pair
    hub = get_hub()
    calls = []
    backend = hub.backend
    original_register, original_modify = backend.register, backend.modify
    backend.register = lambda *a: (calls.append(("register", a)), original_register(*a))[1]
    backend.modify = lambda *a: (calls.append(("modify", a)), original_modify(*a))[1]
    try:
        for _ in range(5):
            green.spawn(right.send, b"x")
            hub.wait_readable(left.fileno())
            left.recv(1)
    finally:
        del backend.register, backend.modify
    assert [name for name, _ in calls] == ["register"]


def test_two_readers_on_one_fd_is_an_error_naming_it(pair):
    left, _ = pair
    hub = get_hub()
    first = green.spawn(hub.wait_readable, left.fileno())
    green.sleep(0)
    with pytest.raises(RuntimeError, match=f"fd {left.fileno()} is already waited on for reading"):
        hub.wait_readable(left.fileno())
    first.kill()


def test_notify_closing_wakes_waiters_with_ebadf(pair):
    left, _ = pair
    hub = get_hub()
    reader = green.spawn(hub.wait_readable, left.fileno())
    green.sleep(0)
    hub.notify_closing(left.fileno())
    with pytest.raises(OSError) as info:
        reader.wait()
    assert info.value.errno == errno.EBADF


def test_notify_closing_after_timeout_does_not_wake_twice(pair):
    left, _ = pair
    hub = get_hub()
    results = []

    def waiter():
        results.append(hub.wait_readable(left.fileno(), 0.001))
        green.sleep(0.05)
        results.append("slept")

    thread = green.spawn(waiter)
    green.sleep(0.01)
    hub.notify_closing(left.fileno())
    thread.wait()
    assert results == [False, "slept"]


def test_blocking_call_inside_hub_is_an_error():
    hub = get_hub()
    errors = []

    def in_hub():
        try:
            green.sleep(0.01)
        except BlockingInHubError as error:
            errors.append(error)

    hub.call_soon(in_hub)
    green.sleep(0)
    assert len(errors) == 1


def test_sleep0_inside_the_hub_returns_at_once():
    # Nothing can run in between from inside the hub; a callback or timer that yields "just in
    # case" (common in code written for eventlet) carries on.
    hub = get_hub()
    seen = []

    def in_hub():
        green.sleep(0)
        seen.append("after")

    hub.call_soon(in_hub)
    green.sleep(0)
    assert seen == ["after"]


def test_call_soon_order_and_cancel():
    hub = get_hub()
    seen = []
    hub.call_soon(seen.append, 1)
    cancelled = hub.call_soon(seen.append, 2)
    hub.call_soon(seen.append, 3)
    cancelled.cancel()
    green.sleep(0)
    assert seen == [1, 3]


def test_call_later_order_and_cancel():
    hub = get_hub()
    seen = []
    hub.call_later(0.02, seen.append, "late")
    hub.call_later(0.01, seen.append, "early")
    timer = hub.call_later(0.005, seen.append, "never")
    timer.cancel()
    assert not timer.pending
    green.sleep(0.03)
    assert seen == ["early", "late"]


def test_call_soon_threadsafe_wakes_a_sleeping_hub():
    hub = get_hub()
    done = green.Event()
    hub.add_reference()
    try:
        real_sleep = original("time").sleep
        join = start_os_thread(lambda: (real_sleep(0.02), hub.call_soon_threadsafe(done.send, "x")))
        started = time.monotonic()
        # No timer and no fd: only the wake-up pipe can end the hub's poll.
        assert done.wait() == "x"
        assert time.monotonic() - started < 1.0
        assert join()
    finally:
        hub.remove_reference()


def test_exception_in_timer_is_reported_and_hub_survives(capsys):
    hub = get_hub()
    hub.call_later(0, lambda: 1 / 0)
    green.sleep(0.001)
    green.sleep(0)
    assert "ZeroDivisionError" in capsys.readouterr().err
    assert green.spawn(lambda: 42).wait() == 42


def test_exception_handler_hook():
    reports = []
    previous = Hub.exception_handler
    Hub.exception_handler = staticmethod(lambda where, exc_info: reports.append((where, exc_info[0])))
    try:
        get_hub().call_soon(lambda: {}["missing"])
        green.sleep(0)
    finally:
        Hub.exception_handler = previous
    assert reports and reports[0][1] is KeyError


def test_failing_callbacks_and_timers_are_reported_by_name_and_greenlet_exit_ends_only_its_own():
    reports = []
    previous = Hub.exception_handler
    Hub.exception_handler = staticmethod(lambda where, exc_info: reports.append((where, exc_info)))
    seen = []

    def missing():
        return {}["missing"]

    def leave():
        raise greenlet.GreenletExit

    hub = get_hub()
    try:
        hub.call_soon(seen.append, 1)
        hub.call_soon(missing)
        hub.call_soon(leave)
        hub.call_soon(seen.append, 2)
        hub.call_later(0, leave)
        hub.call_later(0, missing)
        green.sleep(0.001)
    finally:
        Hub.exception_handler = previous
    assert seen == [1, 2]
    assert len(reports) == 2
    # The callbacks run at the hub's next turn, the timers when it next looks at its heap:
    # which comes first depends on where the hub's loop was.
    for (where, (kind, error, trace)), prefix in zip(
        sorted(reports, key=lambda report: report[0]), ("callback ", "timer "), strict=True
    ):
        assert where.startswith(prefix) and "missing" in where
        assert kind is KeyError and isinstance(error, KeyError) and trace is error.__traceback__


@skip_loop_exit_if_patched
def test_deadlock_raises_loop_exit_in_main():
    with pytest.raises(LoopExit, match="block forever"):
        green.Event().wait()


def test_cancelled_timers_do_not_pile_up():
    hub = get_hub()
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(20_000):
            hub.call_later(10, int).cancel()
        baseline = tracemalloc.get_traced_memory()[0]
        for _ in range(200_000):
            hub.call_later(10, int).cancel()
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert hub.timer_heap()[0] < 5000
    assert grown < 500_000


def test_million_timeouts_leave_memory_flat():
    """1,000,000 Timeouts set and cancelled: the timer heap and RSS stay flat."""
    code = """
import green, resource
from green.hubs import get_hub
def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096
for _ in range(100_000):
    green.Timeout(10).cancel()
before = rss()
for _ in range(1_000_000):
    green.Timeout(10).cancel()
after = rss()
print(get_hub().timer_heap()[0], after - before)
"""
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    heap, grown = map(int, output.stdout.split())
    assert heap < 5000
    assert grown < 2_000_000


def test_use_hub_rejects_unknown_and_switches_backend():
    with pytest.raises(ValueError):
        use_hub("kqueue-does-not-exist")
    name = get_hub().backend.name
    try:
        use_hub("select")
        assert get_hub().backend.name == "select"
        assert green.spawn(lambda: 7).wait() == 7
    finally:
        use_hub(name)
    assert get_hub().backend.name == name


def test_hub_per_os_thread():
    hubs = []
    join = start_os_thread(lambda: (hubs.append(get_hub()), green.sleep(0), get_hub().close()))
    assert join()
    assert hubs and hubs[0] is not get_hub()


def test_green_hub_environment_variable_selects_backend():
    for name in green.hubs.available_backends():
        output = subprocess.run(
            [sys.executable, "-c", "from green.hubs import get_hub; print(get_hub().backend.name)"],
            env={**os.environ, "GREEN_HUB": name},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert output.stdout.strip() == name


def test_keyboard_interrupt_from_callback_reaches_main():
    def interrupt():
        raise KeyboardInterrupt

    get_hub().call_soon(interrupt)
    with pytest.raises(KeyboardInterrupt):
        green.sleep(0.01)


def test_fork_child_gets_working_hub(pair):
    left, right = pair
    get_hub().wait_writable(left.fileno())
    pid = os.fork()
    if pid == 0:
        try:
            ok = green.spawn(lambda: (green.sleep(0.01), 5)[1]).wait() == 5
            right.send(b"y")
            ok = ok and get_hub().wait_readable(left.fileno(), 2.0) is True
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_burst_of_spawns_does_not_starve_due_timers():
    """The ready queue is served in slices, so a due timer waits for one slice, not the whole burst."""
    fired_at = []
    get_hub().call_later(0, lambda: fired_at.append(time.monotonic()))
    threads = [green.spawn(int) for _ in range(50_000)]
    yielded_at = time.monotonic()
    for thread in threads:
        thread.wait()
    finished_at = time.monotonic()
    assert fired_at
    # The timer ran early in the burst, not after all 50,000 green threads.
    assert fired_at[0] - yielded_at < (finished_at - yielded_at) / 2


def test_exception_from_signal_handler_during_poll_reaches_main_and_hub_survives():
    import signal

    def handler(signum, frame):
        raise ValueError("from the handler")

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        with pytest.raises(ValueError, match="from the handler"):
            green.sleep(1)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert green.spawn(lambda: 3).wait() == 3


def test_an_fd_closed_behind_the_hubs_back_while_a_dup_keeps_it_open_does_not_make_it_spin(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hub = get_hub()
    if hub.backend.name != "epoll":
        pytest.skip("epoll only: poll and select register fd numbers, not open files")
    real_os = original("os")
    left, right = original("socket").socketpair()
    keeper = real_os.dup(left.fileno())
    try:
        fd = left.fileno()
        assert not hub.wait_readable(fd, 0.001)  # the registration stays after the wait
        real_os.close(left.detach())  # no notify_closing; `keeper` keeps the file open
        right.send(b"x")  # the file is readable now, reported under the closed number
        before = hub.iterations
        green.sleep(0.2)
        turns = hub.iterations - before
    finally:
        real_os.close(keeper)
        right.close()
    assert turns < 100, f"the hub spun {turns} times in 0.2 s"
    assert "rebuilt its backend" in capsys.readouterr().err
    assert fd not in hub.fds()


def test_an_exception_out_of_an_io_wake_up_is_handled_and_the_loop_goes_on():
    # A green thread woken for I/O that raises out of its switch: ValueError is reported (with
    # its traceback) and the other wake-ups of the same poll still happen; SystemExit goes to the
    # main green thread.
    import greenlet

    from green import socket as green_socket

    hub = get_hub()
    reports: list[tuple[str, object, object]] = []
    previous = Hub.exception_handler
    Hub.exception_handler = staticmethod(
        lambda where, exc_info: reports.append((where, exc_info[1], exc_info[2]))
    )
    first, first_peer = green_socket.socketpair()
    second, second_peer = green_socket.socketpair()
    woken: list[int] = []
    try:

        def failing() -> None:
            hub.wait_readable(first.fileno())
            raise ValueError("raised after the wake-up")

        def reading() -> None:
            hub.wait_readable(second.fileno())
            woken.append(second.fileno())

        plain = greenlet.greenlet(failing, parent=hub)  # no GreenThread to catch it
        hub.schedule((plain.switch, ()))
        other = green.spawn(reading)
        green.sleep(0)  # both wait
        first_peer.sendall(b"x")
        second_peer.sendall(b"x")
        other.wait()
        assert plain.dead and woken == [second.fileno()]
        assert len(reports) == 1
        where, error, traceback = reports[0]
        assert where == f"I/O wake-up of fd {first.fileno()}" and isinstance(error, ValueError)
        assert traceback is not None

        def exiting() -> None:
            hub.wait_readable(first.fileno())
            raise SystemExit(3)

        thread = green.spawn(exiting)
        green.sleep(0)
        first_peer.sendall(b"y")
        with pytest.raises(SystemExit):
            green.sleep(1)  # the main green thread gets it
        assert thread.dead
    finally:
        Hub.exception_handler = previous
        for sock in (first, first_peer, second, second_peer):
            sock.close()
