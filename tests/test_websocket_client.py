"""green.websocket.WebSocket as a client (``client=True``): against green's own server, and
against a raw peer written out byte by byte where the test needs to see or send exact frames."""

from __future__ import annotations

import struct
import zlib

import pytest
from wsgi_helpers import connect, running

import green
from green import socket as green_socket
from green import websocket

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def echo(ws: websocket.WebSocket) -> None:
    for message in ws:
        ws.send(message)


def open_client(port: int, extensions: str = "", **options) -> tuple[websocket.WebSocket, str]:
    """Handshake by hand, then wrap the socket; returns the WebSocket and the 101 head."""
    sock = connect(port)
    extra = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
    sock.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        ).encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, head
        head += byte
    return websocket.WebSocket(sock, {}, client=True, **options), head.decode("latin-1")


def deflate_parameters(head: str) -> dict:
    """The server's accepted permessage-deflate parameters, in the `extensions` form."""
    line = next(line for line in head.split("\r\n") if line.lower().startswith("sec-websocket-extensions:"))
    parts = [part.strip() for part in line.split(":", 1)[1].split(";")]
    assert parts[0] == "permessage-deflate"
    parameters: dict = {"server_no_context_takeover": False, "client_no_context_takeover": False}
    for part in parts[1:]:
        name, _, value = part.partition("=")
        parameters[name] = int(value) if value else True
    return parameters


@pytest.mark.parametrize(
    "offer",
    [
        "",
        "permessage-deflate",
        "permessage-deflate; client_no_context_takeover",
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    ],
)
def test_client_round_trip_against_greens_server(offer):
    with running(websocket.WebSocketWSGI(echo)) as (_, port):
        ws, head = open_client(port, offer)
        assert head.startswith("HTTP/1.1 101 ")
        if offer:
            ws.extensions = {"permessage-deflate": deflate_parameters(head)}
            assert ws.extensions["permessage-deflate"] == deflate_parameters(head)
        else:
            assert ws.extensions == {}
        assert ws.client
        # Repeated messages: with context takeover the second travels as back-references.
        for message in ("hello", b"hello world!\x01", "hello world again! " * 20, "hello world again! " * 20):
            ws.send(message)
            assert ws.wait() == message
        big = bytes(range(256)) * 1000
        ws.send(big)
        assert ws.wait() == big
        ws.ping(b"p")
        ws.send("after the ping")
        assert ws.wait() == "after the ping"
        sock = ws.socket
        ws.close()  # waits for the server's close frame, then closes the socket
        assert ws.closed and ws.close_code == websocket.NORMAL_CLOSURE
        assert ws._received_close_payload == struct.pack("!H", 1000)
        assert sock.fileno() == -1
        assert ws.wait() is None


def test_server_closing_first_is_answered_and_the_socket_closed():
    def handler(ws):
        ws.send("bye")
        ws.close(4000, "done")

    with running(websocket.WebSocketWSGI(handler)) as (_, port):
        ws, _ = open_client(port)
        sock = ws.socket
        assert ws.wait() == "bye"
        assert ws.wait() is None
        assert (ws.close_code, ws.close_reason) == (4000, "done")
        assert sock.fileno() == -1


def test_client_masks_what_it_sends_and_refuses_masked_frames():
    ours, theirs = green_socket.socketpair()
    with theirs:
        ws = websocket.WebSocket(ours, {}, client=True)
        ws.send(b"\x00" * 10)
        data = theirs.recv(100)
        assert data[0] == 0x82 and data[1] == 0x80 | 10  # the mask bit
        key = data[2:6]
        assert bytes(byte ^ key[index % 4] for index, byte in enumerate(data[6:])) == b"\x00" * 10
        # An unmasked server frame is what a client expects...
        theirs.sendall(b"\x81\x02hi")
        assert ws.wait() == "hi"
        # ...a masked one is a protocol error: close 1002, and the socket is closed.
        theirs.sendall(b"\x81\x82abcd" + bytes((ord("h") ^ ord("a"), ord("i") ^ ord("b"))))
        assert ws.wait() is None
        assert ws.close_code == websocket.PROTOCOL_ERROR
        close = theirs.recv(100)
        assert close[0] == 0x88 and close[1] & 0x80  # our close frame, masked too
        assert ours.fileno() == -1


def test_client_deflate_uses_the_client_parameters():
    # RFC 7692 section 7.2.3's example, from the client side: "Hello" twice with the context
    # kept, then with client_no_context_takeover.
    for reset, second in ((False, b"\xf2\x00\x11\x00\x00"), (True, b"\xf2\x48\xcd\xc9\xc9\x07\x00")):
        ours, theirs = green_socket.socketpair()
        with theirs:
            extensions = {"permessage-deflate": {"client_no_context_takeover": reset}}
            ws = websocket.WebSocket(ours, {}, client=True, extensions=extensions)
            payloads = []
            for _ in range(2):
                ws.send(b"Hello")
                data = theirs.recv(100)
                assert data[0] == 0xC2  # FIN, RSV1 (compressed), binary
                key = data[2:6]
                payloads.append(bytes(byte ^ key[index % 4] for index, byte in enumerate(data[6:])))
            assert payloads == [b"\xf2\x48\xcd\xc9\xc9\x07\x00", second]
            # The server's compressed reply is inflated (a 15-bit window, whatever was agreed).
            reply = zlib.compressobj(9, zlib.DEFLATED, -15)
            body = reply.compress(b"server says hi") + reply.flush(zlib.Z_SYNC_FLUSH)
            body = body[:-4]
            theirs.sendall(bytes((0xC1, len(body))) + body)
            assert ws.wait() == "server says hi"
            ours.close()


def test_client_message_limit_applies_to_what_the_server_sends():
    def handler(ws):
        ws.send(b"x" * 1000)
        ws.wait()

    with running(websocket.WebSocketWSGI(handler)) as (_, port):
        ws, _ = open_client(port, max_message_size=100, max_frame_size=100)
        assert ws.wait() is None
        assert ws.close_code == websocket.MESSAGE_TOO_BIG


def test_a_green_thread_reading_sees_the_close_handshake_started_by_another():
    with running(websocket.WebSocketWSGI(echo)) as (_, port):
        ws, _ = open_client(port)
        sock = ws.socket
        reader = green.spawn(ws.wait)
        green.sleep(0)
        ws.close()  # the reader is inside wait(): close only sends the frame
        assert reader.wait() is None
        assert ws.close_code == websocket.NORMAL_CLOSURE
        assert sock.fileno() == -1
