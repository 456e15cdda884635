"""green.select: select() and poll() with the stdlib's results, parking only the caller."""

from __future__ import annotations

import os
import tempfile
import time

import pytest

import green
import green.select as gselect
import green.socket as gsocket
from green._stdlib import original
from green.hubs import get_hub

# The real module, also in the patched run (where `import select` gives green's).
stdselect = original("select")


@pytest.fixture
def pair():
    a, b = gsocket.socketpair()
    yield a, b
    a.close()
    b.close()


@pytest.fixture(params=["epoll doorbell", "re-polling fallback"])
def doorbell_kind(request, monkeypatch):
    """Run a test with the epoll doorbell and with the fallback for platforms without epoll."""
    if request.param == "re-polling fallback":
        monkeypatch.setattr(gselect, "_epoll", None)
    elif gselect._epoll is None:
        pytest.skip("this platform has no epoll")
    return request.param


def test_declarations():
    assert gselect.__green__ == "select"
    for name in gselect.__implements__ + gselect.__removes__:
        assert hasattr(stdselect, name), name
    for name in gselect.__removes__:
        assert not hasattr(gselect, name)
    if hasattr(stdselect, "epoll"):
        assert "epoll" in gselect.__removes__
    assert gselect.error is OSError
    assert gselect.POLLIN == stdselect.POLLIN


def test_select_returns_ready_objects_at_once(pair):
    a, b = pair
    b.send(b"x")
    assert gselect.select([a, b], [a], [], None) == ([a], [a], [])
    assert gselect.select([b.fileno()], [], [], 0) == ([], [], [])


def test_select_parks_only_the_caller_until_ready(pair, doorbell_kind):
    a, b = pair
    progress = []

    def other():
        progress.append("other ran")
        b.send(b"wake")

    green.spawn(other)
    readable, writable, exceptional = gselect.select([a], [], [], 5)
    assert readable == [a] and progress == ["other ran"]
    assert a.recv(10) == b"wake"


def test_select_timeout(pair, doorbell_kind):
    a, b = pair
    started = time.monotonic()
    assert gselect.select([a], [], [], 0.05) == ([], [], [])
    assert 0.04 <= time.monotonic() - started < 1.0


def test_select_on_an_fd_another_green_thread_reads(pair):
    # The hub allows one reader per fd; select must not count as one.
    a, b = pair
    reader = green.spawn(a.recv, 3)
    green.sleep(0)
    green.spawn(b.send, b"shared")  # the reader takes half; the rest keeps `a` readable
    assert gselect.select([a], [], [], 2)[0] == [a]
    assert reader.wait() == b"sha"
    assert a.recv(10) == b"red"


def test_select_errors_match_the_stdlib(pair):
    a, b = pair
    for arguments in (([a], [], [], -1), ([a], [], [], "soon"), (["not a file"], [], [], 0)):
        with pytest.raises(Exception) as expected:
            stdselect.select(*arguments)
        with pytest.raises(type(expected.value)):
            gselect.select(*arguments)
    closed = gsocket.socket()
    fd = closed.fileno()
    closed.close()
    with pytest.raises(OSError) as caught:
        gselect.select([fd], [], [], 0)
    assert caught.value.errno == 9


def test_select_regular_files_are_always_ready():
    with tempfile.TemporaryFile() as file:
        assert gselect.select([file], [file], [], None) == ([file], [file], [])


def test_select_many_green_threads_at_once(doorbell_kind):
    pairs = [gsocket.socketpair() for _ in range(20)]
    try:

        def wait_for(sock):
            return gselect.select([sock], [], [], 5)[0] == [sock]

        threads = [green.spawn(wait_for, a) for a, _ in pairs]
        green.sleep(0)
        for _, b in reversed(pairs):
            b.send(b"x")
        assert all(thread.wait() for thread in threads)
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_poll_register_modify_unregister(pair, doorbell_kind):
    a, b = pair
    poller = gselect.poll()
    try:
        poller.register(a, gselect.POLLIN)
        assert poller.poll(0) == []
        green.spawn(b.send, b"x")
        assert poller.poll(2000) == [(a.fileno(), gselect.POLLIN)]
        assert a.recv(1) == b"x"
        poller.modify(a.fileno(), gselect.POLLOUT)
        assert poller.poll() == [(a.fileno(), gselect.POLLOUT)]
        poller.unregister(a)
        with pytest.raises(KeyError):
            poller.unregister(a)
        with pytest.raises(FileNotFoundError):
            poller.modify(a, gselect.POLLIN)
        poller.register(a, gselect.POLLIN)
        started = time.monotonic()
        assert poller.poll(50) == []
        assert 0.04 <= time.monotonic() - started < 1.0
        assert poller.poll(0.5) == []  # fractions of a millisecond are accepted
    finally:
        poller.close()


def test_poll_reports_hang_up_like_the_stdlib(pair):
    a, b = pair
    real = stdselect.poll()
    poller = gselect.poll()
    try:
        for watcher in (real, poller):
            watcher.register(a, stdselect.POLLIN)
        b.close()
        assert poller.poll(1000) == real.poll(1000)
    finally:
        poller.close()


def test_poll_keeps_its_doorbell_and_close_releases_it(pair):
    a, b = pair
    poller = gselect.poll()
    poller.register(a, gselect.POLLIN)
    for _ in range(3):
        green.spawn(b.send, b"x")
        assert poller.poll(1000)
        a.recv(1)
    doorbell = poller._doorbell
    assert doorbell is not None and doorbell._epoll is not None
    poller.close()
    assert doorbell._epoll.closed
    # Still usable: a new doorbell appears on the next wait.
    green.spawn(b.send, b"y")
    assert poller.poll(1000)
    a.recv(1)
    del poller  # the finaliser releases it too (the hub must be left empty)


@pytest.mark.skipif(gselect._epoll is None, reason="the doorbell needs epoll, absent on this platform")
def test_poll_object_in_a_forked_child_leaves_the_parents_doorbell_alone(pair):
    """The child inherits the doorbell's epoll fd (one kernel interest list for both processes):
    unregistering an fd in the child must not stop the parent's poll from seeing it."""
    a, b = pair
    poller = gselect.poll()
    poller.register(a, gselect.POLLIN)
    green.spawn(b.send, b"x")
    assert poller.poll(1000)
    a.recv(1)
    assert poller._doorbell is not None
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            poller.unregister(a)
            # The child let the inherited doorbell go; a poll there builds its own.
            status = 0 if poller._doorbell is None else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    writer = green.spawn_after(0.05, b.send, b"y")
    with green.Timeout(5, AssertionError("the parent's poll was not woken")):
        assert poller.poll() == [(a.fileno(), gselect.POLLIN)]
    writer.wait()
    a.recv(1)
    poller.close()


def test_concurrent_poll_on_one_object_is_an_error(pair):
    a, b = pair
    poller = gselect.poll()
    poller.register(a, gselect.POLLIN)
    try:
        first = green.spawn(poller.poll, 2000)
        green.sleep(0)
        with pytest.raises(RuntimeError, match="concurrent poll"):
            poller.poll(10)
        b.send(b"x")
        assert first.wait() == [(a.fileno(), gselect.POLLIN)]
    finally:
        poller.close()


def test_select_with_a_pipe():
    read_end, write_end = os.pipe()
    try:
        green.spawn_after(0.01, os.write, write_end, b"p")
        assert gselect.select([read_end], [], [], 2) == ([read_end], [], [])
        assert get_hub().counts()["fds"] == 0 or read_end not in get_hub().fds()
    finally:
        os.close(read_end)
        os.close(write_end)


def shrinking_select(module) -> tuple[tuple, list]:
    """`module.select` on ten entries whose fileno() deletes the list's last entry."""
    objects: list = []
    read_end, write_end = os.pipe()

    class Shrinking:
        def fileno(self) -> int:
            del objects[-1]
            return write_end

    try:
        objects[:] = [Shrinking()] * 10
        return module.select([], objects, []), objects
    finally:
        os.close(read_end)
        os.close(write_end)


def test_select_reads_the_callers_list_as_the_stdlib_does():
    # A fileno() that shrinks its own list (CPython's test_select_mutated): the stdlib walks the
    # live list, so it sees 5 of the 10 entries and returns them; green must answer the same.
    for module in (stdselect, gselect):
        result, objects = shrinking_select(module)
        assert len(objects) == 5, module
        assert result == ([], objects, []), module


def test_select_waits_on_a_snapshot_of_the_lists(pair, doorbell_kind):
    # The stdlib reads the lists once; a list changed by another green thread while select waits
    # must not change the answer.
    a, b = pair
    readers = [a]

    def meddle():
        readers[:] = [b]  # b never becomes readable here
        b.send(b"x")  # a becomes readable

    green.spawn_after(0.01, meddle)
    assert gselect.select(readers, [], [], 2) == ([a], [], [])
    assert readers == [b]


# A select loop whose fds never stop being ready (an always-writable socket while the loop waits
# for its peer) must still let the peer run: no green thread may monopolise the OS thread.
SPIN_LIMIT = 10_000


def test_a_select_loop_on_ready_fds_lets_other_green_threads_run(pair):
    left, right = pair
    left.setblocking(False)
    green.spawn(right.sendall, b"x")
    for _ in range(SPIN_LIMIT):
        readable, writable, _ = gselect.select([left], [left], [], 5)
        assert writable
        if readable:
            break
    else:
        raise AssertionError("the peer never ran: select never yielded")
    assert left.recv(1) == b"x"


def test_select_with_zero_timeout_lets_other_green_threads_run():
    ran = []
    green.spawn(ran.append, "other")
    for _ in range(SPIN_LIMIT):
        gselect.select([], [], [], 0)
        if ran:
            break
    assert ran == ["other"]


def test_a_poll_loop_on_ready_fds_lets_other_green_threads_run(pair):
    left, right = pair
    poller = gselect.poll()
    poller.register(left, stdselect.POLLIN | stdselect.POLLOUT)
    green.spawn(right.sendall, b"x")
    try:
        for _ in range(SPIN_LIMIT):
            events = dict(poller.poll(5000))
            if events[left.fileno()] & stdselect.POLLIN:
                break
        else:
            raise AssertionError("the peer never ran: poll never yielded")
    finally:
        poller.close()
    assert left.recv(1) == b"x"


def test_poll_timeout_out_of_a_c_int_raises_overflow_error_as_the_stdlib():
    for module in (stdselect, gselect):
        poller = module.poll()
        for timeout in (1 << 64, 2**31, -(2**31) - 1):
            with pytest.raises(OverflowError):
                poller.poll(timeout)
