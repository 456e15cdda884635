"""green.websocket: RFC 6455 server side on green.wsgi, against a live server on loopback.

The client side is written out frame by frame here (so the tests can also send what a correct
client never would); interoperability, including permessage-deflate, is checked against wsproto's
independent client implementation.
"""

from __future__ import annotations

import base64
import os
import struct
import zlib

import pytest
from wsgi_helpers import connect, read_response, running

import green
from green import websocket

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # the RFC 6455 example key


def handshake_request(path: str = "/", extra: str = "", key: str = KEY) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode("latin-1")


def frame(opcode: int, payload: bytes = b"", fin: bool = True, mask: bool = True, rsv: int = 0) -> bytes:
    first = (0x80 if fin else 0) | rsv | opcode
    size = len(payload)
    masked = 0x80 if mask else 0
    if size < 126:
        header = bytes((first, masked | size))
    elif size < 65536:
        header = struct.pack("!BBH", first, masked | 126, size)
    else:
        header = struct.pack("!BBQ", first, masked | 127, size)
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))


class Client:
    """A raw WebSocket client over a green socket."""

    def __init__(
        self, port: int, path: str = "/", extra: str = "", first_frames: bytes = b"", sock=None
    ) -> None:
        self.sock = sock if sock is not None else connect(port)
        self.sock.sendall(handshake_request(path, extra) + first_frames)
        self.reader = self.sock.makefile("rb")
        self.response = read_response(self.reader, head=True)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_frame(self) -> tuple[bool, int, int, bytes] | None:
        """(fin, rsv bits, opcode, payload), or None at end of stream."""
        header = self.reader.read(2)
        if len(header) < 2:
            return None
        assert not header[1] & 0x80, "server frames must not be masked"
        size = header[1] & 0x7F
        if size == 126:
            size = struct.unpack("!H", self.reader.read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self.reader.read(8))[0]
        payload = self.reader.read(size)
        return bool(header[0] & 0x80), header[0] & 0x70, header[0] & 0x0F, payload

    def expect_close(self, code: int) -> None:
        result = self.read_frame()
        assert result is not None
        assert result[2] == websocket.CLOSE, result
        assert struct.unpack("!H", result[3][:2])[0] == code, result

    def at_end(self) -> bool:
        return self.reader.read(1) == b""

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def echo(ws: websocket.WebSocket) -> None:
    while True:
        message = ws.wait()
        if message is None:
            return
        ws.send(message)


def test_handshake_and_echo_text_and_binary():
    with running(websocket.WebSocketWSGI(echo)) as (_, port):
        client = Client(port)
        assert client.response.status == 101
        assert client.response.headers["upgrade"].lower() == "websocket"
        assert client.response.headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        client.send(frame(websocket.TEXT, "héllo".encode()))
        assert client.read_frame() == (True, 0, websocket.TEXT, "héllo".encode())
        client.send(frame(websocket.BINARY, b"\x00\xff" * 40000))
        assert client.read_frame() == (True, 0, websocket.BINARY, b"\x00\xff" * 40000)
        client.send(frame(websocket.CLOSE, struct.pack("!H", 1000) + b"bye"))
        client.expect_close(1000)
        assert client.at_end()
        client.close()


def test_handler_sees_environ_close_code_and_messages_in_order():
    seen = []

    def handler(ws):
        seen.append((ws.path, ws.environ["QUERY_STRING"], ws.version))
        seen.extend(ws)  # iterate until closed
        seen.append((ws.close_code, ws.close_reason, ws.closed))

    with running(websocket.WebSocketWSGI(handler)) as (_, port):
        client = Client(port, "/chat?room=1")
        for text in ("a", "b", "c"):
            client.send(frame(websocket.TEXT, text.encode()))
        client.send(frame(websocket.CLOSE, struct.pack("!H", 4000) + "fin ✓".encode()))
        client.expect_close(4000)
        assert client.at_end()
        client.close()
    assert seen == [("/chat", "room=1", 13), "a", "b", "c", (4000, "fin ✓", True)]


@pytest.mark.parametrize(
    "request_text, status",
    [
        (b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (handshake_request().replace(b"Version: 13", b"Version: 8"), 426),
        (handshake_request().replace(KEY.encode(), b"c2hvcnQ="), 400),
        (handshake_request().replace(b"GET", b"POST", 1), 405),
    ],
)
def test_bad_handshakes_are_refused_without_calling_the_handler(request_text, status):
    called = []
    with running(websocket.WebSocketWSGI(called.append)) as (_, port):
        with connect(port) as sock:
            sock.sendall(request_text)
            response = read_response(sock.makefile("rb"))
            assert response.status == status
            if status == 426:
                assert response.headers["sec-websocket-version"] == "13"
    assert called == []


def test_origin_checker_and_subprotocol():
    protocols = []

    def handler(ws):
        protocols.append(ws.protocol)

    app = websocket.WebSocketWSGI(
        handler,
        supported_protocols=["chat.v2", "chat.v1"],
        origin_checker=lambda host, origin: host == "test" and origin == "https://good.example",
    )
    with running(app) as (_, port):
        refused = Client(port, extra="Origin: https://evil.example\r\n")
        assert refused.response.status == 403
        refused.close()
        client = Client(
            port, extra="Origin: https://good.example\r\nSec-WebSocket-Protocol: chat.v1, chat.v2\r\n"
        )
        assert client.response.status == 101
        assert client.response.headers["sec-websocket-protocol"] == "chat.v1"
        client.expect_close(1000)  # the handler returned at once
        client.send(frame(websocket.CLOSE, struct.pack("!H", 1000)))
        assert client.at_end()
        client.close()
    assert protocols == ["chat.v1"]


def test_fragmented_message_with_a_ping_in_between():
    with running(websocket.WebSocketWSGI(echo)) as (_, port):
        client = Client(port)
        text = "ünïcödé".encode()
        # Split inside a multi-byte character: must still be accepted.
        client.send(frame(websocket.TEXT, text[:1], fin=False))
        client.send(frame(websocket.CONTINUATION, text[1:4], fin=False))
        client.send(frame(websocket.PING, b"are you there"))
        client.send(frame(websocket.CONTINUATION, text[4:], fin=True))
        assert client.read_frame() == (True, 0, websocket.PONG, b"are you there")
        assert client.read_frame() == (True, 0, websocket.TEXT, text)
        client.close()


def test_frames_sent_with_the_handshake_are_not_lost():
    with running(websocket.WebSocketWSGI(echo)) as (_, port):
        client = Client(port, first_frames=frame(websocket.TEXT, b"early") + frame(websocket.TEXT, b"bird"))
        assert client.response.status == 101
        assert client.read_frame()[3] == b"early"
        assert client.read_frame()[3] == b"bird"
        client.close()


@pytest.mark.parametrize(
    "frames, code",
    [
        ([frame(websocket.TEXT, b"x", mask=False)], 1002),
        ([frame(websocket.TEXT, b"x", rsv=0x40)], 1002),  # RSV1 without permessage-deflate
        ([frame(websocket.TEXT, b"x", rsv=0x20)], 1002),
        ([frame(3, b"x")], 1002),  # reserved data opcode
        ([frame(0xB, b"x")], 1002),  # reserved control opcode
        ([frame(websocket.PING, b"x" * 126)], 1002),
        ([frame(websocket.PING, b"x", fin=False)], 1002),
        ([frame(websocket.CONTINUATION, b"x")], 1002),
        ([frame(websocket.TEXT, b"x", fin=False), frame(websocket.TEXT, b"y")], 1002),
        ([frame(websocket.TEXT, b"\xff\xfe")], 1007),
        ([frame(websocket.TEXT, b"ok", fin=False), frame(websocket.CONTINUATION, b"\xc0\xaf")], 1007),
        ([frame(websocket.CLOSE, b"\x03")], 1002),  # 1-byte close payload
        ([frame(websocket.CLOSE, struct.pack("!H", 1005))], 1002),  # reserved, never sent
        ([frame(websocket.CLOSE, struct.pack("!H", 999))], 1002),
        ([frame(websocket.CLOSE, struct.pack("!H", 5000))], 1002),
        ([frame(websocket.CLOSE, struct.pack("!H", 1000) + b"\xff")], 1007),
    ],
)
def test_protocol_violations_close_with_the_right_code(frames, code):
    codes = []

    def handler(ws):
        assert ws.wait() is None
        codes.append(ws.close_code)

    with running(websocket.WebSocketWSGI(handler)) as (_, port):
        client = Client(port)
        client.send(b"".join(frames))
        client.expect_close(code)
        assert client.at_end()
        client.close()
    assert codes == [code]


def test_a_frame_header_split_across_segments_is_waited_for():
    with running(websocket.WebSocketWSGI(echo)) as (_, port):
        client = Client(port)
        for data in (b"\x00\xff" * 100, b"\x01" * 70000):  # 16-bit and 64-bit extended lengths
            whole = frame(websocket.BINARY, data)
            for piece in (whole[:2], whole[2:5], whole[5:]):
                client.send(piece)
                green.sleep(0.01)  # each piece read on its own
            assert client.read_frame() == (True, 0, websocket.BINARY, data)
        client.close()


def test_a_reserved_opcode_is_refused_before_the_rest_of_its_header_arrives():
    with running(websocket.WebSocketWSGI(echo)) as (_, port):
        client = Client(port)
        client.send(b"\x07\xff")  # opcode 7, "64-bit length follows": nothing follows
        client.expect_close(1002)
        client.close()


def test_a_huge_frame_is_refused_from_its_header_alone():
    """CVE-2021-21419 class: the size in the header is enough to refuse; nothing is buffered."""
    buffered = []

    def handler(ws):
        assert ws.wait() is None
        buffered.append(len(ws._buffer))

    with running(websocket.WebSocketWSGI(handler, max_frame_size=1 << 20)) as (_, port):
        client = Client(port)
        # Claims 1 GiB, sends only the header and a little payload.
        client.send(struct.pack("!BBQ", 0x82, 0xFF, 1 << 30) + b"mask" + b"x" * 1000)
        client.expect_close(1009)
        client.close()
    assert buffered and buffered[0] < 2000


def test_a_message_over_the_limit_in_small_fragments_is_refused():
    received = []

    def handler(ws):
        received.append(ws.wait())
        received.append(ws.close_code)

    app = websocket.WebSocketWSGI(handler, max_frame_size=1000, max_message_size=5000)
    with running(app) as (_, port):
        client = Client(port)
        client.send(frame(websocket.BINARY, b"a" * 1000, fin=False))
        for _ in range(10):
            client.send(frame(websocket.CONTINUATION, b"a" * 1000, fin=False))
        client.expect_close(1009)
        client.close()
    assert received == [None, 1009]


def test_small_limits_apply_to_small_frames_too():
    with running(websocket.WebSocketWSGI(echo, max_frame_size=10)) as (_, port):
        client = Client(port)
        client.send(frame(websocket.TEXT, b"0123456789"))
        assert client.read_frame()[3] == b"0123456789"
        client.send(frame(websocket.TEXT, b"0123456789A"))
        client.expect_close(1009)
        client.close()


def test_eventlet_max_frame_length_sets_both_limits():
    app = websocket.WebSocketWSGI(echo, 100)
    assert app.max_frame_size == app.max_message_size == app.max_frame_length == 100
    app.max_frame_length = 50
    assert app.max_frame_size == app.max_message_size == 50


def test_eventlet_configured_decorator():
    @websocket.WebSocketWSGI.configured(supported_protocols=["v1"], origin_checker=lambda host, origin: True)
    def handler(ws):
        ws.send(ws.protocol)

    assert isinstance(handler, websocket.WebSocketWSGI)
    with running(handler) as (_, port):
        client = Client(port, extra="Sec-WebSocket-Protocol: v0, v1\r\n")
        assert client.read_frame()[3] == b"v1"
        client.close()


def test_handler_close_and_eventlet_close_tuple():
    def handler(ws):
        ws.send("last words")
        ws.close((4001, "done"))
        assert ws.wait() is None
        with pytest.raises(websocket.WebSocketError):
            ws.send("after close")

    with running(websocket.WebSocketWSGI(handler)) as (_, port):
        client = Client(port)
        assert client.read_frame()[3] == b"last words"
        result = client.read_frame()
        assert result[2] == websocket.CLOSE and result[3] == struct.pack("!H", 4001) + b"done"
        client.send(frame(websocket.CLOSE, struct.pack("!H", 4001)))
        assert client.at_end()
        client.close()


def test_handler_exception_closes_with_1011(caplog):
    def handler(ws):
        raise RuntimeError("handler failed")

    with running(websocket.WebSocketWSGI(handler, close_timeout=0)) as (_, port):
        client = Client(port)
        client.expect_close(1011)
        assert client.at_end()
        client.close()
    assert "handler failed" in caplog.text


def test_server_closes_after_close_timeout_if_the_peer_never_answers():
    with running(websocket.WebSocketWSGI(lambda ws: None, close_timeout=0.05)) as (_, port):
        client = Client(port)
        client.expect_close(1000)
        assert client.at_end()  # we never answered the close frame
        client.close()


def test_server_stop_closes_open_websockets_with_going_away():
    with running(websocket.WebSocketWSGI(echo)) as (server, port):
        client = Client(port)
        client.send(frame(websocket.TEXT, b"hi"))
        assert client.read_frame()[3] == b"hi"
        server.stop(timeout=0.05)  # the handler is still waiting for a message: killed
        client.expect_close(1001)
        assert client.at_end()
        client.close()


def test_server_stop_does_not_wait_for_its_deadline_to_end_websockets():
    with running(websocket.WebSocketWSGI(echo)) as (server, port):
        client = Client(port)
        client.send(frame(websocket.TEXT, b"hi"))
        assert client.read_frame()[3] == b"hi"
        stopper = green.spawn(server.stop, 30)
        client.expect_close(1001)  # at once: the 30 s are for requests in flight
        assert client.at_end()
        client.close()
        with green.Timeout(5):
            stopper.wait()


def test_end_of_stream_without_close_is_1006():
    codes = []

    def handler(ws):
        assert ws.wait() is None
        codes.append(ws.close_code)

    with running(websocket.WebSocketWSGI(handler)) as (_, port):
        client = Client(port)
        client.send(frame(websocket.TEXT, b"partial", fin=False)[:5])
        client.close()
        green.sleep(0.05)
    assert codes == [1006]


def test_concurrent_senders_never_interleave_frames():
    def handler(ws):
        big = [bytes([n]) * 300_000 for n in range(4)]
        threads = [green.spawn(ws.send, data) for data in big]
        for thread in threads:
            thread.wait()

    with running(websocket.WebSocketWSGI(handler)) as (_, port):
        client = Client(port)
        payloads = sorted(client.read_frame()[3] for _ in range(4))
        assert payloads == [bytes([n]) * 300_000 for n in range(4)]
        client.expect_close(1000)
        client.close()


def test_middleware_gives_gevent_style_environ():
    def app(environ, start_response):
        ws = environ.get("wsgi.websocket")
        if ws is None:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"plain"]
        message = ws.receive()
        ws.send(message.upper(), binary=False)
        return []

    with running(websocket.websocket_middleware(app)) as (_, port):
        with connect(port) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_response(sock.makefile("rb")).body == b"plain"
        client = Client(port)
        client.send(frame(websocket.TEXT, b"shout"))
        assert client.read_frame()[3] == b"SHOUT"
        client.close()


def test_without_green_wsgi_the_application_says_why():
    environ = {
        "REQUEST_METHOD": "GET",
        "HTTP_UPGRADE": "websocket",
        "HTTP_CONNECTION": "Upgrade",
        "HTTP_SEC_WEBSOCKET_VERSION": "13",
        "HTTP_SEC_WEBSOCKET_KEY": KEY,
    }
    with pytest.raises(RuntimeError, match="green.wsgi"):
        websocket.WebSocketWSGI(echo)(environ, lambda *args: None)


def test_take_over_is_offered_only_to_upgrade_requests():
    offered = []

    def app(environ, start_response):
        offered.append("green.wsgi.take_over" in environ)
        start_response("200 OK", [("Content-Length", "0")])
        return []

    with running(app) as (_, port):
        with connect(port) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n\r\n")  # no Connection: Upgrade
            assert read_response(sock.makefile("rb")).status == 200
    assert offered == [False]


def test_upgrade_request_that_does_not_take_over_is_answered_and_closed_as_before():
    def app(environ, start_response):
        assert "green.wsgi.take_over" in environ
        start_response("200 OK", [("Content-Length", "2")])
        return [b"no"]

    with running(app) as (_, port):
        client = Client(port)
        assert client.response.status == 200
        assert client.reader.read() == b"no"
        client.close()


def test_websocket_over_tls():
    trustme = pytest.importorskip("trustme", reason="trustme is a test dependency")
    green_ssl = pytest.importorskip("green.ssl", reason="green.ssl is not available")
    authority = trustme.CA()
    server_context = green_ssl.create_default_context(green_ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = green_ssl.create_default_context()
    authority.configure_trust(client_context)
    with running(websocket.WebSocketWSGI(echo), ssl_context=server_context) as (_, port):
        tls = client_context.wrap_socket(connect(port), server_hostname="localhost")
        client = Client(port, sock=tls, first_frames=frame(websocket.TEXT, b"early"))
        assert client.response.status == 101
        assert client.read_frame()[3] == b"early"
        big = os.urandom(300_000)
        client.send(frame(websocket.BINARY, big))
        assert client.read_frame() == (True, 0, websocket.BINARY, big)
        client.send(frame(websocket.CLOSE, struct.pack("!H", 1000)))
        client.expect_close(1000)
        client.close()


GUNICORN_APP = """
from green.websocket import WebSocketWSGI

def shout(ws):
    for message in ws:
        ws.send(message.upper())

websocket_app = WebSocketWSGI(shout)

def app(environ, start_response):
    if environ["PATH_INFO"] == "/ws":
        return websocket_app(environ, start_response)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""


def test_websocket_under_the_gunicorn_worker(tmp_path, monkeypatch):
    test_gunicorn = pytest.importorskip("test_gunicorn", reason="gunicorn is a test dependency")
    monkeypatch.setattr(test_gunicorn, "APP", GUNICORN_APP)
    server = test_gunicorn.Gunicorn(tmp_path, "-w", "1")
    try:
        server.wait_ready()
        clients = [Client(server.port, "/ws") for _ in range(3)]
        for number, client in enumerate(clients):
            assert client.response.status == 101
            client.send(frame(websocket.TEXT, f"hello {number}".encode()))
        for number, client in enumerate(clients):
            assert client.read_frame()[3] == f"HELLO {number}".encode()
            client.send(frame(websocket.CLOSE, struct.pack("!H", 1000)))
            client.expect_close(1000)
            client.close()
    finally:
        server.close()


# -- permessage-deflate ----------------------------------------------------------------------------


def deflate_frame(data: bytes, compressor=None, opcode: int = websocket.BINARY) -> bytes:
    compressor = compressor or zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert payload.endswith(b"\x00\x00\xff\xff")
    return frame(opcode, payload[:-4], rsv=0x40)


def test_deflate_can_be_turned_off():
    with running(websocket.WebSocketWSGI(echo, permessage_deflate=False)) as (_, port):
        client = Client(port, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n")
        assert "sec-websocket-extensions" not in client.response.headers
        client.close()


def test_deflate_bomb_is_bounded_by_the_message_limit():
    received = []

    def handler(ws):
        received.append(ws.wait())
        received.append(ws.close_code)

    app = websocket.WebSocketWSGI(handler, permessage_deflate=True, max_message_size=1 << 20)
    with running(app) as (_, port):
        client = Client(port, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n")
        assert client.response.headers["sec-websocket-extensions"] == "permessage-deflate"
        bomb = deflate_frame(b"\x00" * (64 << 20))  # 64 MiB of zeros in ~64 KiB
        assert len(bomb) < 100_000
        client.send(bomb)
        client.expect_close(1009)
        client.close()
    assert received == [None, 1009]


def test_deflate_interoperates_with_wsproto():
    wsproto = pytest.importorskip("wsproto", reason="wsproto is the independent client implementation")
    from wsproto import events
    from wsproto.extensions import PerMessageDeflate

    with running(websocket.WebSocketWSGI(echo, permessage_deflate=True)) as (_, port):
        connection = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        sock = connect(port)
        sock.sendall(
            connection.send(
                events.Request(
                    host="test", target="/", extensions=[PerMessageDeflate(client_max_window_bits=12)]
                )
            )
        )
        pending = []

        def next_event():
            while not pending:
                data = sock.recv(65536)
                connection.receive_data(data or None)
                pending.extend(connection.events())
            return pending.pop(0)

        accepted = next_event()
        assert isinstance(accepted, events.AcceptConnection)
        assert [extension.name for extension in accepted.extensions] == ["permessage-deflate"]
        messages = ["x" * 10_000, "hello " * 3, "y" * 200_000]
        for text in messages:
            sock.sendall(connection.send(events.TextMessage(data=text)))
            reply = next_event()
            assert isinstance(reply, events.TextMessage) and reply.data == text
        sock.sendall(connection.send(events.BytesMessage(data=b"\x01" * 5000)))
        assert next_event().data == b"\x01" * 5000
        sock.sendall(connection.send(events.CloseConnection(code=1000)))
        assert isinstance(next_event(), events.CloseConnection)
        sock.close()


def test_deflate_negotiation_parameters():
    negotiate = websocket._negotiate_deflate
    assert negotiate("x-webkit-deflate-frame") is None
    state, header = negotiate("permessage-deflate; server_no_context_takeover; client_max_window_bits")
    assert header == "permessage-deflate; server_no_context_takeover; client_max_window_bits=15"
    assert state.send_reset and not state.receive_reset  # the server's view
    state, header = negotiate("PerMessage-Deflate;  Server_Max_Window_Bits = 11; client_no_context_takeover")
    assert header == "permessage-deflate; server_max_window_bits=11; client_no_context_takeover"
    assert state.send_window_bits == 11 and state.receive_reset
    _, header = negotiate("permessage-deflate; server_max_window_bits; client_max_window_bits=9")
    assert header == "permessage-deflate; server_max_window_bits=15; client_max_window_bits=9"
    # An invalid first offer falls back to the next one.
    state, header = negotiate(
        "permessage-deflate; server_max_window_bits=20, permessage-deflate; server_max_window_bits=10"
    )
    assert header == "permessage-deflate; server_max_window_bits=10"
    _, header = negotiate(
        "permessage-deflate; client_max_window_bits=7, permessage-deflate; server_max_window_bits=16, "
        "permessage-deflate"
    )
    assert header == "permessage-deflate"
    assert negotiate("permessage-deflate; unknown_parameter") is None
    assert negotiate("permessage-deflate; client_no_context_takeover; client_no_context_takeover") is None


def test_deflate_context_takeover_and_reset_across_messages():
    with running(websocket.WebSocketWSGI(echo, permessage_deflate=True)) as (_, port):
        client = Client(
            port, extra="Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
        )
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # the client keeps its context
        for _ in range(3):
            client.send(deflate_frame(b"repeat me " * 50, compressor))
            fin, rsv, opcode, payload = client.read_frame()
            assert rsv == 0x40
            # server_no_context_takeover: each reply inflates on its own.
            assert zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff") == b"repeat me " * 50
        client.close()


def test_random_key_handshake():
    key = base64.b64encode(os.urandom(16)).decode()
    assert (
        websocket.accept_key(key)
        == base64.b64encode(
            __import__("hashlib").sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        ).decode()
    )
