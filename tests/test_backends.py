"""The backend contract, run over every backend this platform has (one base class, a subclass each)."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from green.hubs import available_backends
from green.hubs import epoll as epoll_backend
from green.hubs import poll as poll_backend
from green.hubs import select as select_backend
from green.hubs.hub import READ, WRITE


class BackendContract:
    backend_class: type

    @pytest.fixture
    def backend(self):
        backend = self.backend_class()
        yield backend
        backend.close()

    @pytest.fixture
    def pipe(self):
        read_end, write_end = os.pipe()
        yield read_end, write_end
        for fd in (read_end, write_end):
            try:
                os.close(fd)
            except OSError:
                pass

    def test_register_read_reports_only_when_readable(self, backend, pipe):
        read_end, write_end = pipe
        backend.register(read_end, READ)
        assert backend.poll(0) == []
        os.write(write_end, b"x")
        assert backend.poll(0) == [(read_end, READ)]

    def test_register_write(self, backend, pipe):
        _, write_end = pipe
        backend.register(write_end, WRITE)
        assert backend.poll(0) == [(write_end, WRITE)]

    def test_modify_changes_interest(self, backend):
        left, right = socket.socketpair()
        with left, right:
            backend.register(left.fileno(), READ)
            assert backend.poll(0) == []
            backend.modify(left.fileno(), READ | WRITE)
            assert backend.poll(0) == [(left.fileno(), WRITE)]
            right.send(b"x")
            assert backend.poll(0) == [(left.fileno(), READ | WRITE)]
            backend.modify(left.fileno(), READ)
            assert backend.poll(0) == [(left.fileno(), READ)]
            backend.unregister(left.fileno())

    def test_unregister_stops_reports(self, backend, pipe):
        read_end, write_end = pipe
        backend.register(read_end, READ)
        os.write(write_end, b"x")
        backend.unregister(read_end)
        assert backend.poll(0) == []

    def test_poll_positive_timeout_waits(self, backend, pipe):
        read_end, _ = pipe
        backend.register(read_end, READ)
        started = time.monotonic()
        assert backend.poll(0.05) == []
        elapsed = time.monotonic() - started
        assert 0.045 <= elapsed < 1.0

    def test_poll_none_returns_on_event(self, backend, pipe):
        read_end, write_end = pipe
        backend.register(read_end, READ)
        os.write(write_end, b"x")
        assert backend.poll(None) == [(read_end, READ)]

    def test_poll_zero_does_not_wait(self, backend, pipe):
        read_end, _ = pipe
        backend.register(read_end, READ)
        started = time.monotonic()
        assert backend.poll(0) == []
        assert time.monotonic() - started < 0.05

    @pytest.mark.parametrize("direction", [READ, WRITE])
    def test_hangup_wakes_a_waiter_in_either_direction(self, backend, direction):
        left, right = socket.socketpair()
        with left:
            left.setblocking(False)
            # Fill the send buffer so that only the hang-up can make it writable.
            if direction == WRITE:
                try:
                    while True:
                        left.send(b"x" * 65536)
                except BlockingIOError:
                    pass
            backend.register(left.fileno(), direction)
            assert backend.poll(0) == []
            right.close()
            events = backend.poll(0)
            assert len(events) == 1 and events[0][0] == left.fileno() and events[0][1] & direction
            backend.unregister(left.fileno())

    def test_eintr_is_retried_and_handler_runs(self, backend, pipe):
        read_end, _ = pipe
        backend.register(read_end, READ)
        fired = []
        previous = signal.signal(signal.SIGALRM, lambda *args: fired.append(True))
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.02)
            started = time.monotonic()
            assert backend.poll(0.15) == []
            elapsed = time.monotonic() - started
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        assert fired == [True]
        assert elapsed >= 0.14

    def test_fd_closed_while_registered_does_not_break_poll(self, backend, pipe):
        read_end, write_end = pipe
        other_read, other_write = os.pipe()
        try:
            backend.register(read_end, READ)
            backend.register(other_read, READ)
            os.close(read_end)
            os.write(other_write, b"x")
            events = dict(backend.poll(0))
            # The live fd is still reported; the closed one is either forgotten by the kernel
            # (epoll) or reported in both directions so its waiters retry and see EBADF.
            assert events[other_read] & READ
            assert events.get(read_end, READ | WRITE) == READ | WRITE
        finally:
            os.close(other_read)
            os.close(other_write)

    def test_fd_number_reuse(self, backend, pipe):
        read_end, write_end = pipe
        backend.register(read_end, READ)
        backend.unregister(read_end)
        os.close(read_end)
        os.close(write_end)
        new_read, new_write = os.pipe()
        try:
            assert new_read == read_end  # the kernel hands out the lowest free number
            backend.register(new_read, READ)
            assert backend.poll(0) == []
            os.write(new_write, b"x")
            assert backend.poll(0) == [(new_read, READ)]
        finally:
            os.close(new_read)
            os.close(new_write)


@pytest.mark.skipif("epoll" not in available_backends(), reason="no epoll on this platform")
class TestEpoll(BackendContract):
    backend_class = getattr(epoll_backend, "Backend", None)  # type: ignore[assignment]


@pytest.mark.skipif("poll" not in available_backends(), reason="no poll on this platform")
class TestPoll(BackendContract):
    backend_class = poll_backend.Backend


class TestSelect(BackendContract):
    backend_class = select_backend.Backend
