"""green.time and green.os: sleep, read, write, close that park only the caller."""

from __future__ import annotations

import errno
import sys
import tempfile

import pytest

import green
import green.os as gos
import green.socket as gsocket
import green.time as gtime
from green._stdlib import original
from green.hubs import get_hub

# The real modules, also in the patched run (where `import os`/`import time` give green's).
stdos = original("os")
stdtime = original("time")


def test_time_declarations_and_reexports():
    assert gtime.__green__ == "time" and gtime.__implements__ == ["sleep"]
    assert gtime.monotonic is stdtime.monotonic and gtime.struct_time is stdtime.struct_time
    assert gtime.sleep is not stdtime.sleep


def test_sleep_lets_others_run():
    ran = []
    green.spawn(ran.append, "other")
    started = stdtime.monotonic()
    gtime.sleep(0.02)
    assert ran == ["other"]
    assert stdtime.monotonic() - started >= 0.015
    green.spawn(ran.append, "again")
    gtime.sleep(0)
    assert ran == ["other", "again"]


def test_sleep_rejects_what_the_stdlib_rejects():
    for value in (-1, -0.5, float("nan"), "1", None, 1j):
        with pytest.raises(Exception) as expected:
            stdtime.sleep(value)
        with pytest.raises(type(expected.value)) as got:
            gtime.sleep(value)
        assert str(got.value) == str(expected.value)


def test_os_declarations_and_reexports():
    assert gos.__green__ == "os"
    for name in gos.__implements__:
        assert hasattr(stdos, name)
    assert gos.path is stdos.path and gos.getpid is stdos.getpid and gos.fork is stdos.fork
    assert gos.waitpid is not stdos.waitpid  # green: parks only the caller


@pytest.fixture
def pipe():
    read_end, write_end = stdos.pipe()
    yield read_end, write_end
    for fd in (read_end, write_end):
        try:
            gos.close(fd)
        except OSError:
            pass


def test_read_parks_only_the_caller(pipe):
    read_end, write_end = pipe
    blocking = True
    ran = []

    def writer():
        ran.append("writer")
        gos.write(write_end, b"data")

    green.spawn(writer)
    assert gos.read(read_end, 100) == b"data"
    assert ran == ["writer"]
    assert stdos.get_blocking(read_end) is blocking  # the fd's mode is left alone


def test_write_to_a_full_pipe_parks_only_the_caller(pipe):
    read_end, write_end = pipe
    payload = b"z" * 1_000_000  # far more than a pipe holds
    received = bytearray()

    def reader():
        while len(received) < len(payload):
            received.extend(gos.read(read_end, 65536))

    thread = green.spawn(reader)
    view = memoryview(payload)
    while view:
        written = gos.write(write_end, view)
        assert written > 0
        view = view[written:]
    thread.wait()
    assert bytes(received) == payload


def test_a_non_blocking_fd_raises_instead_of_waiting(pipe):
    # The caller asked for BlockingIOError (select loops, asyncio's pipe transports rely on it).
    read_end, write_end = pipe
    stdos.set_blocking(read_end, False)
    stdos.set_blocking(write_end, False)
    with pytest.raises(BlockingIOError):
        gos.read(read_end, 100)
    assert gos.write(write_end, b"data") == 4
    assert gos.read(read_end, 100) == b"data"
    assert stdos.get_blocking(read_end) is False  # the fd's mode is left alone
    written = 0
    with pytest.raises(BlockingIOError):
        while True:  # a pipe holds 64 KiB by default: the loop ends within a few rounds
            written += gos.write(write_end, b"z" * 65536)
    assert written > 0
    assert get_hub().counts()["waiters"] == 0


@pytest.mark.skipif(not hasattr(stdos, "eventfd"), reason="os.eventfd needs Linux and Python 3.10+")
def test_a_non_blocking_eventfd_semaphore_raises_when_empty():
    # CPython's test_os EventfdTests.test_eventfd_semaphore, which hung when patched.
    fd = stdos.eventfd(1, stdos.EFD_CLOEXEC | stdos.EFD_SEMAPHORE | stdos.EFD_NONBLOCK)
    try:
        assert int.from_bytes(gos.read(fd, 8), sys.byteorder) == 1
        with pytest.raises(BlockingIOError):
            gos.read(fd, 8)
        gos.write(fd, (1).to_bytes(8, sys.byteorder))
        assert int.from_bytes(gos.read(fd, 8), sys.byteorder) == 1
    finally:
        gos.close(fd)


def test_read_end_of_file_and_regular_files(pipe):
    read_end, write_end = pipe
    gos.close(write_end)
    assert gos.read(read_end, 10) == b""
    with tempfile.TemporaryFile() as file:
        fd = file.fileno()
        assert gos.write(fd, b"x" * 100_000) == 100_000  # regular files are never cut short
        stdos.lseek(fd, 0, 0)
        assert gos.read(fd, 5) == b"xxxxx"


def test_close_wakes_a_waiting_reader_with_ebadf(pipe):
    read_end, write_end = pipe
    reader = green.spawn(gos.read, read_end, 10)
    green.sleep(0)
    gos.close(read_end)
    with pytest.raises(OSError) as caught:
        reader.wait()
    assert caught.value.errno == errno.EBADF
    with pytest.raises(OSError) as caught:
        gos.close(read_end)
    assert caught.value.errno == errno.EBADF


def test_closerange_tells_the_hub(pipe):
    read_end, write_end = pipe
    reader = green.spawn(gos.read, read_end, 10)
    green.sleep(0)
    assert read_end in get_hub().fds()
    gos.closerange(read_end, read_end + 1)  # a range of one: other tests' fds stay open
    with pytest.raises(OSError):
        reader.wait()
    assert read_end not in get_hub().fds()


def test_a_wait_the_backend_refuses_leaves_no_waiter_behind():
    # epoll refuses regular files (EPERM); the other backends report them ready. Either way the
    # hub must not keep a waiter (green.os never waits on a regular file, but others might).
    with tempfile.TemporaryFile() as file:
        fd = file.fileno()
        hub = get_hub()
        try:
            assert hub.wait_readable(fd, 0.5) is True
        except PermissionError:
            pass
        assert hub.waiters() == []
        hub.notify_closing(fd)


def test_a_green_sockets_fd_parks_although_it_is_non_blocking():
    # green keeps sockets non-blocking whatever their timeout; multiprocessing's connections
    # read such fds with os.read and expect to wait for the peer.
    left, right = gsocket.socketpair()
    try:
        green.spawn(right.sendall, b"late")
        assert gos.read(left.fileno(), 10) == b"late"
    finally:
        left.close()
        right.close()


def test_a_bad_fd_raises_the_stdlibs_errors():
    for function, arguments in ((gos.read, (-1, 1)), (gos.write, (-1, b"x"))):
        with pytest.raises(OSError) as caught:
            function(*arguments)
        assert caught.value.errno == errno.EBADF
    with pytest.raises(TypeError):
        gos.read("not an fd", 1)
