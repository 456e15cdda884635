"""The pytest plugin (green.pytest_plugin), exercised on small test files through pytester."""

from __future__ import annotations

import sys
import textwrap

import pytest

import green
from green.hubs import get_hub

pytest_plugins = ["pytester"]


def run(
    pytester: pytest.Pytester, source: str, *arguments: str, subprocess: bool = False
) -> pytest.RunResult:
    pytester.makepyfile(test_sample=textwrap.dedent(source))
    if subprocess:
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", *arguments)
    return pytester.runpytest("-p", "no:cacheprovider", *arguments)


def test_marked_test_runs_in_a_green_thread_on_a_fresh_hub(pytester):
    outer = get_hub()
    result = run(
        pytester,
        """
        import pytest, green
        from green.hubs import get_hub

        seen = []

        @pytest.mark.green
        def test_inside(green_hub):
            assert isinstance(green.getcurrent(), green.GreenThread)
            assert green.getcurrent().name == "test test_inside"
            assert get_hub() is green_hub
            seen.append(green_hub)
            green.sleep(0.001)

        @pytest.mark.green
        def test_next():
            assert get_hub() is not seen[0]
            assert seen[0].dead and seen[0].closed

        def test_plain():
            assert not isinstance(green.getcurrent(), green.GreenThread)
        """,
    )
    result.assert_outcomes(passed=3)
    assert get_hub() is outer


def test_module_opt_in_and_ini_option(pytester):
    pytester.makeini("[pytest]\ngreen_mode = true\n")
    result = run(
        pytester,
        """
        import green

        def test_plain_function_is_green():
            assert isinstance(green.getcurrent(), green.GreenThread)
        """,
    )
    result.assert_outcomes(passed=1)
    pytester.makeini("[pytest]\n")
    result = run(
        pytester,
        """
        import pytest, green

        pytestmark = pytest.mark.green

        def test_module_marked():
            assert isinstance(green.getcurrent(), green.GreenThread)
        """,
    )
    result.assert_outcomes(passed=1)


def test_green_hub_option_and_marker_keyword(pytester):
    result = run(
        pytester,
        """
        import pytest

        @pytest.mark.green
        def test_option(green_hub):
            assert green_hub.backend.name == "select"

        @pytest.mark.green(hub="poll")
        def test_keyword(green_hub):
            assert green_hub.backend.name == "poll"
        """,
        "--green-hub=select",
    )
    result.assert_outcomes(passed=2)


def test_disabled_with_no_green(pytester):
    result = run(
        pytester,
        """
        import pytest, green

        @pytest.mark.green
        def test_not_green():
            assert not isinstance(green.getcurrent(), green.GreenThread)
        """,
        "-p",
        "no:green",
        "-W",
        "ignore::pytest.PytestUnknownMarkWarning",
    )
    result.assert_outcomes(passed=1)


def test_autojump_makes_long_waits_instant(pytester):
    result = run(
        pytester,
        """
        import queue, time
        import pytest, green
        from green import select, socket

        @pytest.mark.green(autojump=True)
        def test_waits(clock):
            real = green.patcher.original("time").monotonic()  # also in the patched run
            start = clock()
            green.sleep(3600)
            with green.Timeout(30, False):
                green.Event().wait()
            assert green.Event().wait(timeout=60) is None
            with pytest.raises(queue.Empty):
                green.Queue().get(timeout=5)
            left, right = socket.socketpair()
            with left, right:
                left.settimeout(120)
                with pytest.raises(TimeoutError):
                    left.recv(1)
                assert select.select([left], [], [], 300) == ([], [], [])
            assert clock() - start == pytest.approx(3600 + 30 + 60 + 5 + 120 + 300, abs=1e-6)
            assert green.patcher.original("time").monotonic() - real < 10
        """,
    )
    result.assert_outcomes(passed=1)


def test_autojump_follows_io_that_really_arrives(pytester):
    result = run(
        pytester,
        """
        import os, threading, time
        import pytest, green
        from green import socket

        @pytest.mark.green(autojump=True)
        def test_green_peer(clock):
            left, right = socket.socketpair()
            with left, right:
                def answer():
                    green.sleep(5)
                    right.sendall(b"x")
                peer = green.spawn(answer)
                start = clock()
                left.settimeout(60)
                assert left.recv(1) == b"x"
                assert clock() - start == pytest.approx(5)
                peer.wait()

        @pytest.mark.green(autojump=2.0)
        def test_os_thread_peer_within_threshold(clock):
            left, right = socket.socketpair()
            with left, right:
                writer = threading.Thread(target=lambda: (time.sleep(0.05), os.write(right.fileno(), b"y")))
                writer.start()
                start = clock()
                left.settimeout(60)
                assert left.recv(1) == b"y"
                assert clock() - start < 60
                writer.join()
        """,
    )
    result.assert_outcomes(passed=2)


def test_clock_fixture_moves_by_hand(pytester):
    result = run(
        pytester,
        """
        import pytest, green

        def test_advance(clock):
            woken = []
            sleeper = green.spawn(lambda: (green.sleep(10), woken.append(True)))
            green.sleep(0)
            clock.advance(9.5)
            green.sleep(0)
            assert woken == []
            clock.advance(0.5)
            green.sleep(0)
            assert woken == [True]
            sleeper.wait()
            with pytest.raises(ValueError):
                clock.advance(-1)

        def test_nobody_advances(clock):
            green.sleep(1)
        """,
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*only moves when advanced by hand*"])


def test_deadlock_fails_with_the_stack(pytester):
    result = run(
        pytester,
        """
        import pytest, green

        @pytest.mark.green
        def test_forever():
            green.Event().wait()
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*can never happen*", "*green.Event().wait()*"])


def test_leaked_green_thread_fails_with_name_and_stack(pytester):
    result = run(
        pytester,
        """
        import pytest, green

        def forgotten_worker():
            green.sleep(100)

        @pytest.mark.green
        def test_leaks():
            thread = green.spawn(forgotten_worker)
            thread.name = "worker-7"
            green.sleep(0)

        @pytest.mark.green
        @pytest.mark.leaks_allowed
        def test_allowed():
            green.spawn(forgotten_worker)
            green.sleep(0)

        @pytest.mark.green
        @pytest.mark.leaks_allowed("timers")
        def test_only_timers_allowed():
            green.spawn(forgotten_worker)
            green.sleep(0)

        @pytest.mark.green
        def test_after_the_leaks():
            assert green.get_hub().counts()["timers"] == 0
        """,
    )
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        ["*the test left behind:*", "*1 threads:*", "*green thread 'worker-7'*", "*in forgotten_worker*"]
    )


def test_leaked_timer_fd_and_tpool_job(pytester):
    result = run(
        pytester,
        """
        import time
        import pytest, green
        from green import socket, tpool
        from green.hubs import get_hub

        keep = []

        @pytest.mark.green
        def test_timer():
            get_hub().call_later(50, print)

        @pytest.mark.green
        @pytest.mark.leaks_allowed("fds")
        def test_fd_allowed():
            left, right = socket.socketpair()
            keep.append((left, right))
            left.settimeout(0.01)
            with pytest.raises(TimeoutError):
                left.recv(1)

        @pytest.mark.green
        def test_fd():
            left, right = socket.socketpair()
            keep.append((left, right))
            left.settimeout(0.01)
            with pytest.raises(TimeoutError):
                left.recv(1)

        @pytest.mark.green
        def test_tpool():
            # the real sleep, also in the patched run (where time.sleep is green's)
            green.spawn(tpool.execute, green.patcher.original("time").sleep, 0.3)
            green.sleep(0.01)

        def test_close():
            for pair in keep:
                for sock in pair:
                    sock.close()
        """,
    )
    result.assert_outcomes(passed=3, failed=2, errors=1)
    result.stdout.fnmatch_lines(["*1 timers:*", "*<Timer at * pending*"])
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_fd*",
            "*left behind after the fixtures' teardown:*",
            "*1 fds:*",
            "*fd * registered*",
        ]
    )
    result.stdout.fnmatch_lines(["*1 tpool:*", "*tpool job 'sleep' in green.tpool worker *"])


def test_fixture_leaks_are_a_teardown_error_and_fixtures_run_on_the_hub(pytester):
    result = run(
        pytester,
        """
        import pytest, green
        from green import socket

        @pytest.fixture
        def server():
            listener = green.listen(("127.0.0.1", 0))
            def serve():
                connection, _ = listener.accept()
                with connection:
                    connection.sendall(connection.recv(10).upper())
            thread = green.spawn(serve)
            yield listener.getsockname()
            thread.wait()
            listener.close()

        @pytest.fixture
        def sloppy():
            green.spawn(green.sleep, 100)
            yield

        @pytest.mark.green
        def test_client(server):
            with green.connect(server) as client:
                client.sendall(b"hello")
                assert client.recv(10) == b"HELLO"

        @pytest.mark.green
        def test_sloppy(sloppy):
            pass
        """,
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_sloppy*", "*left behind after the fixtures' teardown:*"]
    )


def test_exception_in_an_unwaited_green_thread_fails_the_test(pytester):
    result = run(
        pytester,
        """
        import pytest, green

        def fail():
            raise ValueError("lost in a green thread")

        @pytest.mark.green
        def test_unwaited():
            green.spawn(fail)
            green.sleep(0.01)

        @pytest.mark.green
        def test_waited_later():
            thread = green.spawn(fail)
            green.sleep(0.01)
            with pytest.raises(ValueError):
                thread.wait()

        @pytest.mark.green
        def test_timer_callback():
            green.get_hub().call_soon(fail)
            green.sleep(0)
        """,
    )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*exception in <GreenThread*which nobody waits for*", "*ValueError: lost*"])


@pytest.mark.skipif(sys.platform != "linux", reason="monkey-patched run checked on Linux only")
def test_monkey_patched_run(pytester):
    pytester.makeconftest("import green\ngreen.monkey_patch()\n")
    result = run(
        pytester,
        """
        import threading, time
        import pytest, green

        @pytest.mark.green(autojump=True)
        def test_patched_time():
            real = green.patcher.original("time").monotonic()
            start = time.monotonic()
            time.sleep(600)
            assert threading.Event().wait(timeout=60) is False
            assert time.monotonic() - start == pytest.approx(660)
            assert green.patcher.original("time").monotonic() - real < 10

        def test_time_restored():
            assert time.monotonic() == pytest.approx(green.patcher.original("time").monotonic(), abs=1)
        """,
        subprocess=True,
    )
    result.assert_outcomes(passed=2)


def test_plain_tests_keep_the_hub_they_had(pytester):
    hub = get_hub()
    green.sleep(0)
    result = run(
        pytester,
        """
        import pytest, green

        @pytest.mark.green(autojump=True)
        def test_green():
            green.sleep(5)
        """,
    )
    result.assert_outcomes(passed=1)
    assert get_hub() is hub and hub.clock is not None
    green.sleep(0.001)


# -- the plugin used directly, as green's own tests use it ----------------------------------------


def connect_with_retries(address, attempts, backoff):
    """Connect, sleeping backoff, 2*backoff, 4*backoff... between refused attempts."""
    delay = backoff
    for attempt in range(attempts):
        try:
            return green.connect(address)
        except ConnectionRefusedError:
            if attempt == attempts - 1:
                raise
            green.sleep(delay)
            delay *= 2


@pytest.mark.green(autojump=True)
def test_retry_loop_with_back_off_against_a_refusing_port(clock):
    # Real I/O (an immediate ECONNREFUSED) between virtual sleeps of 150 s in all.
    with green.listen(("127.0.0.1", 0)) as listener:
        address = listener.getsockname()
    started = clock()
    with pytest.raises(ConnectionRefusedError):
        connect_with_retries(address, attempts=5, backoff=10)
    assert clock() - started == pytest.approx(10 + 20 + 40 + 80)


@pytest.mark.green(autojump=True)
def test_server_fixture_style_timeout_on_a_silent_peer(clock):
    with green.listen(("127.0.0.1", 0)) as listener:
        client = green.connect(listener.getsockname())
        server_side, _ = listener.accept()
        with client, server_side:
            client.settimeout(30)
            started = clock()
            with pytest.raises(TimeoutError):
                client.recv(1)
            assert clock() - started == pytest.approx(30)
            server_side.sendall(b"late")
            assert client.recv(4) == b"late"


def test_task_group_in_a_plain_test_on_the_real_clock():
    # Not a green test: the body runs in the main greenlet, on the suite's hub and real time.
    def failing():
        green.sleep(0.01)
        raise ValueError("child")

    with pytest.raises(ValueError, match="child"):
        with green.TaskGroup() as group:
            sleeper = group.spawn(green.sleep, 60)
            group.spawn(failing)
            green.sleep(60)
    assert sleeper.dead
