"""green.selectors: the stdlib selectors over green select/poll, and socketserver on top."""

from __future__ import annotations

import socketserver
import time

import pytest

import green
import green.selectors as gselectors
import green.socket as gsocket
from green._stdlib import original

# The real module, also in the patched run (where `import selectors` gives green's).
stdselectors = original("selectors")

SELECTORS = [gselectors.SelectSelector] + (
    [gselectors.PollSelector] if hasattr(gselectors, "PollSelector") else []
)


@pytest.fixture
def pair():
    a, b = gsocket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_declarations():
    assert gselectors.__green__ == "selectors"
    for name in gselectors.__implements__ + gselectors.__removes__:
        assert hasattr(stdselectors, name), name
    for name in gselectors.__removes__:
        assert not hasattr(gselectors, name)
    assert gselectors.DefaultSelector in SELECTORS
    assert gselectors.EVENT_READ is stdselectors.EVENT_READ
    assert gselectors.SelectorKey is stdselectors.SelectorKey


@pytest.mark.parametrize("selector_class", SELECTORS)
def test_selector_semantics(pair, selector_class):
    a, b = pair
    with selector_class() as selector:
        key = selector.register(a, gselectors.EVENT_READ, "data for a")
        assert key.fileobj is a and key.data == "data for a"
        assert selector.get_key(a) is key
        assert selector.select(0) == []
        green.spawn(b.send, b"x")
        assert selector.select(2) == [(key, gselectors.EVENT_READ)]
        assert a.recv(1) == b"x"
        key = selector.modify(a, gselectors.EVENT_READ | gselectors.EVENT_WRITE)
        assert selector.select() == [(key, gselectors.EVENT_WRITE)]
        selector.unregister(a)
        with pytest.raises(KeyError):
            selector.unregister(a)
        selector.register(a, gselectors.EVENT_READ)
        started = time.monotonic()
        assert selector.select(0.05) == []
        assert 0.04 <= time.monotonic() - started < 1.0


@pytest.mark.parametrize("selector_class", SELECTORS)
def test_selector_parks_only_the_caller(pair, selector_class):
    a, b = pair
    ran = []

    def other():
        ran.append(True)
        b.send(b"y")

    with selector_class() as selector:
        selector.register(a, gselectors.EVENT_READ)
        green.spawn(other)
        assert len(selector.select(5)) == 1
        assert ran == [True]
        a.recv(1)


class EchoHandler(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line.upper())


class GreenTCPServer(socketserver.TCPServer):
    """A socketserver TCPServer whose listening socket is green."""

    allow_reuse_address = True

    def __init__(self, address, handler):
        super().__init__(address, handler, bind_and_activate=False)
        self.socket.close()
        self.socket = gsocket.socket(self.address_family, self.socket_type)
        try:
            self.server_bind()
            self.server_activate()
        except BaseException:
            self.server_close()
            raise


@pytest.mark.parametrize("selector_class", SELECTORS)
def test_socketserver_with_green_sockets_and_selector(monkeypatch, selector_class):
    monkeypatch.setattr(socketserver, "_ServerSelector", selector_class)
    server = GreenTCPServer(("127.0.0.1", 0), EchoHandler)
    try:
        serving = green.spawn(server.serve_forever, 0.01)

        def client(number):
            with gsocket.create_connection(server.server_address) as sock:
                reader = sock.makefile("rb")
                with reader:
                    answers = []
                    for round_number in range(3):
                        sock.sendall(f"client {number} round {round_number}\n".encode())
                        answers.append(reader.readline())
                    return answers

        # The server handles one connection at a time (TCPServer is not threading); green
        # clients still interleave with it cooperatively.
        for number in range(5):
            assert client(number) == [f"CLIENT {number} ROUND {r}\n".encode() for r in range(3)]
        # serve_forever's shutdown() waits on a threading.Event from another OS thread; here the
        # server runs in a green thread of this one, so ask it to stop through its flag.
        server._BaseServer__shutdown_request = True  # type: ignore[attr-defined]
        serving.wait()
    finally:
        server.server_close()
