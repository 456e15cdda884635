"""green.websocket's hixie-75/76 drafts (``WebSocketWSGI(support_legacy_versions=True)``), the
eventlet alias's defaults, and refused handshakes; raw clients on loopback."""

from __future__ import annotations

import logging

import pytest
from wsgi_helpers import connect, read_response, running

import green
from green import socket as green_socket
from green import websocket
from green.compat._alias.eventlet import websocket as eventlet_websocket

# The example handshake of draft-hixie-thewebsocketprotocol-76, section 1.3.
KEY1 = "4 @1  46546xW%0l 1 5"
KEY2 = "12998 5 Y3 1  .P00"
KEY3 = b"^n:ds[4U"
CHALLENGE_ANSWER = b"8jKS'y:G*Co,Wxa-"


def hixie_request(path: str = "/echo", version: int = 76, extra: str = "") -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        "Upgrade: WebSocket",
        "Connection: Upgrade",
        "Host: example.com",
        "Origin: http://example.com",
    ]
    if version == 76:
        lines += [
            "Sec-WebSocket-Protocol: sample",
            f"Sec-WebSocket-Key1: {KEY1}",
            f"Sec-WebSocket-Key2: {KEY2}",
        ]
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode("latin-1")


def read_head(sock) -> bytes:
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, head
        head += byte
    return head


def read_exactly(sock, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, data
        data += chunk
    return data


def echo(ws) -> None:
    for message in ws:
        ws.send(message)


def legacy(handler, **options) -> websocket.WebSocketWSGI:
    return websocket.WebSocketWSGI(handler, support_legacy_versions=True, **options)


def test_hixie_76_handshake_answers_the_drafts_example_and_echoes():
    seen = []

    def handler(ws):
        seen.append((type(ws), ws.version, ws.path, ws.origin, ws.protocol))
        echo(ws)

    with running(legacy(handler)) as (_, port):
        with connect(port) as sock:
            # The third key arrives in a later segment than the headers: it is waited for.
            sock.sendall(hixie_request("/echo?room=1"))
            green.sleep(0.01)
            sock.sendall(KEY3[:3])
            green.sleep(0.01)
            sock.sendall(KEY3[3:] + b"\x00first\xff")
            head = read_head(sock)
            assert head == (
                b"HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Origin: http://example.com\r\nSec-WebSocket-Protocol: sample\r\n"
                b"Sec-WebSocket-Location: ws://example.com/echo?room=1\r\n\r\n"
            )
            assert read_exactly(sock, 16) == CHALLENGE_ANSWER
            assert read_exactly(sock, 7) == b"\x00first\xff"
            sock.sendall(b"\x00h\xc3\xa9llo \xe2\x9c\x93")
            green.sleep(0.01)
            sock.sendall(b"\xff\x00two\xff")
            expected = b"\x00" + "héllo ✓".encode() + b"\xff\x00two\xff"
            assert read_exactly(sock, len(expected)) == expected
            sock.sendall(b"\xff\x00")  # the closing handshake: answered, then the end
            assert read_exactly(sock, 2) == b"\xff\x00"
            assert sock.recv(10) == b""
    assert seen == [(websocket.HixieWebSocket, 76, "/echo", "http://example.com", "sample")]


def test_hixie_75_handshake_and_messages_both_ways():
    def handler(ws):
        ws.send("ready")
        ws.send(42)  # anything else is sent as str(message), as eventlet did
        echo(ws)

    with running(legacy(handler)) as (_, port):
        with connect(port) as sock:
            sock.sendall(hixie_request("/echo?", version=75))
            assert read_head(sock) == (
                b"HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
                b"WebSocket-Origin: http://example.com\r\nWebSocket-Location: ws://example.com/echo?\r\n\r\n"
            )
            assert read_exactly(sock, 11) == b"\x00ready\xff\x0042\xff"
            sock.sendall(b"\x00a\xff\x00b\xff")
            assert read_exactly(sock, 6) == b"\x00a\xff\x00b\xff"
            sock.shutdown(green_socket.SHUT_WR)
            assert sock.recv(10) == b""  # hixie-75 has no closing frame


@pytest.mark.parametrize(
    "bad, error",
    [
        (b"\x80\x05hello", websocket.ProtocolError),  # a length-prefixed frame: not allowed here
        (b"\xef\x00", websocket.ProtocolError),
        (b"\xff\x01", websocket.ProtocolError),
        (b"\x00\xc3\x28\xff", websocket.ProtocolError),  # not UTF-8
        (b"\x00" + b"x" * 101, websocket.MessageTooBig),  # no end in sight past the limit
        (b"\x00" + b"x" * 101 + b"\xff", websocket.MessageTooBig),
    ],
)
def test_a_malformed_frame_ends_the_connection_and_raises_in_the_handler(bad, error, caplog):
    outcome = []

    def handler(ws):
        outcome.append(ws.wait())
        try:
            ws.wait()
        except websocket.WebSocketError as exception:
            outcome.append(type(exception))
        outcome.append(ws.wait())

    caplog.set_level(logging.INFO, "green.websocket")
    with running(legacy(handler, max_message_size=100)) as (_, port):
        with connect(port) as sock:
            sock.sendall(hixie_request() + KEY3 + b"\x00ok\xff" + bad)
            read_head(sock)
            assert read_exactly(sock, 16) == CHALLENGE_ANSWER
            assert read_exactly(sock, 2) == b"\xff\x00"  # the closing frame, then the end
            assert sock.recv(10) == b""
    assert outcome == ["ok", error, None]


def test_an_unhandled_malformed_frame_is_an_error_of_the_application(caplog):
    with running(legacy(echo)) as (_, port):
        with connect(port) as sock:
            sock.sendall(hixie_request() + KEY3 + b"\x07junk")
            read_head(sock)
            read_exactly(sock, 16)
            assert read_exactly(sock, 2) == b"\xff\x00"
            assert sock.recv(10) == b""
    assert "unknown frame type 0x07" in caplog.text


def test_a_peer_gone_while_the_handler_sends_is_not_an_error(caplog):
    done = green.Event()

    def handler(ws):
        try:
            while True:
                ws.send("x" * 10000)
                green.sleep(0)
        finally:
            done.send()

    with running(legacy(handler)) as (_, port):
        with connect(port) as sock:
            sock.sendall(hixie_request(version=75))
            read_head(sock)
        done.wait()
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(
    "request_text",
    [
        hixie_request().replace(b"Sec-WebSocket-Key2", b"X-Nothing"),  # hixie-76 without key 2
        hixie_request().replace(KEY1.encode(), b"123"),  # no space in the key
        hixie_request().replace(KEY1.encode(), b"1 2 3"),  # not divisible by the spaces
        hixie_request().replace(b"Origin: http://example.com\r\n", b""),
        hixie_request().replace(b"Connection: Upgrade\r\n", b""),
    ],
)
def test_bad_hixie_handshakes_are_refused_and_the_connection_closed(request_text):
    called = []
    with running(legacy(called.append)) as (_, port):
        with connect(port) as sock:
            sock.sendall(request_text + KEY3)
            reader = sock.makefile("rb")
            response = read_response(reader)
            assert response.status == 400
            assert response.headers["connection"] == "close"
            assert response.body  # says why
            assert reader.read() == b""
    assert called == []


def test_the_drafts_are_refused_unless_asked_for():
    called = []
    with running(websocket.WebSocketWSGI(called.append)) as (_, port):
        with connect(port) as sock:
            sock.sendall(hixie_request() + KEY3)
            response = read_response(sock.makefile("rb"))
            assert response.status == 426
            assert response.headers["sec-websocket-version"] == "13"
            assert response.headers["connection"] == "close"
    assert called == []
    app = websocket.WebSocketWSGI.configured(called.append, support_legacy_versions=True)
    assert app.support_legacy_versions


def test_origin_checker_applies_to_the_drafts():
    app = legacy(echo, origin_checker=lambda host, origin: origin == "http://good.example")
    with running(app) as (_, port):
        with connect(port) as sock:
            sock.sendall(hixie_request(version=75))
            assert read_response(sock.makefile("rb")).status == 403


def test_hixie_over_tls_says_wss():
    trustme = pytest.importorskip("trustme", reason="trustme is a test dependency")
    green_ssl = pytest.importorskip("green.ssl", reason="green.ssl is not available")
    authority = trustme.CA()
    server_context = green_ssl.create_default_context(green_ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = green_ssl.create_default_context()
    authority.configure_trust(client_context)
    with running(legacy(echo), ssl_context=server_context) as (_, port):
        with client_context.wrap_socket(connect(port), server_hostname="localhost") as tls:
            tls.sendall(hixie_request() + KEY3)
            assert b"Sec-WebSocket-Location: wss://example.com/echo\r\n" in read_head(tls)
            assert read_exactly(tls, 16) == CHALLENGE_ANSWER
            big = "é" * 100_000
            tls.sendall(b"\x00" + big.encode() + b"\xff")
            assert read_exactly(tls, 200_002) == b"\x00" + big.encode() + b"\xff"


def test_hixie_websocket_over_a_socket_of_ones_own():
    ours, theirs = green_socket.socketpair()
    with theirs:
        ws = websocket.HixieWebSocket(ours, {"PATH_INFO": "/p"}, 76)
        ws.send("hi")
        assert theirs.recv(10) == b"\x00hi\xff"
        with pytest.raises(ValueError):
            ws.send(b"\xff")  # would end the frame early: bytes must be UTF-8
        theirs.sendall(b"\x00one\xff\x00tw")
        assert ws.wait() == "one"
        theirs.sendall(b"o\xff")
        assert ws.wait() == "two"
        ws.close()
        assert theirs.recv(10) == b"\xff\x00"
        assert theirs.recv(10) == b""
        assert ws.closed and ws.wait() is None
        with pytest.raises(websocket.WebSocketError):
            ws.send("late")
    with pytest.raises(ValueError):
        websocket.HixieWebSocket(None, {}, 13)


# -- the eventlet alias ---------------------------------------------------------------------------


def test_eventlet_alias_speaks_the_drafts_and_refuses_as_eventlet():
    called = []
    app = eventlet_websocket.WebSocketWSGI(called.append)
    assert app.support_legacy_versions
    assert not eventlet_websocket.WebSocketWSGI.configured(called.append).support_legacy_versions
    with running(app) as (_, port):
        with connect(port) as sock:
            sock.sendall(hixie_request(version=75).replace(b"Connection: Upgrade\r\n", b""))
            reader = sock.makefile("rb")
            response = read_response(reader)
            assert (response.status, response.headers["connection"], response.body) == (400, "close", b"")
        with connect(port) as sock:
            sock.sendall(hixie_request() + KEY3)
            read_head(sock)
            assert read_exactly(sock, 16) == CHALLENGE_ANSWER
            assert read_exactly(sock, 2) == b"\xff\x00"
    assert len(called) == 1 and isinstance(called[0], eventlet_websocket.WebSocket)


def test_eventlet_alias_class_relations():
    ours, theirs = green_socket.socketpair()
    with ours, theirs:
        rfc = eventlet_websocket.RFC6455WebSocket(ours, {}, client=True, max_frame_length=10)
        assert isinstance(rfc, eventlet_websocket.WebSocket)
        assert isinstance(rfc, websocket.WebSocket)
        assert rfc.max_frame_size == rfc.max_message_size == rfc.max_frame_length == 10
        assert isinstance(websocket.WebSocket(ours, {}), eventlet_websocket.WebSocket)
        assert not isinstance(websocket.HixieWebSocket(ours, {}), websocket.WebSocket)
        hixie = eventlet_websocket.WebSocket(ours, {"HTTP_WEBSOCKET_PROTOCOL": "ws"})
        assert (hixie.version, hixie.protocol) == (76, "ws")
        # eventlet's frame builder: RFC 7692's example, unmasked, binary.
        deflating = eventlet_websocket.RFC6455WebSocket(
            None, {}, client=True, extensions={"permessage-deflate": {"client_no_context_takeover": True}}
        )
        for _ in range(2):
            assert deflating._pack_message(b"Hello", masked=False) == b"\xc2\x07\xf2\x48\xcd\xc9\xc9\x07\x00"
