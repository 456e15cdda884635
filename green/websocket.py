"""WebSocket (RFC 6455) server side on green.wsgi, with optional permessage-deflate (RFC 7692).

Why it looks the way it does
----------------------------
*Framing is hand-written, and small.* A WebSocket frame header is two bytes, an optional 2- or
8-byte length and a 4-byte mask: nothing like HTTP/1.x, whose framing rules (and their
smuggling bugs) made green.wsgi hand parsing to llhttp. wsproto, the well-kept pure-Python frame
library, was measured against the code here (``python benchmarks/bench_websocket.py --parsers``):
receiving one 64-byte masked message and building its echo frame cost wsproto 12.0 us of CPU (its
``FrameProtocol``; 16.5 us through ``WSConnection``) and this module 1.9 us, while a whole echo
round trip costs green's server about 25 us of CPU -- wsproto would have added half as much again
to the server's CPU per message. wsproto also has no limit on frame, message or
decompressed size, the very thing that bit eventlet (CVE-2021-21419: a client sent one huge frame,
or a small deflate bomb, and the server buffered it all), so a wrapper would have had to count
bytes around it anyway.

*Limits before buffering.* The length of a frame is in its header, so a frame larger than
``max_frame_size`` or one that would push the message past ``max_message_size`` is refused with
close code 1009 before a byte of its payload is buffered. Compressed messages are inflated with
``zlib``'s ``max_length`` set to what is left of ``max_message_size``, so a small frame cannot
inflate into gigabytes (a deflate stream expands up to ~1000x).

*Strict where the RFC says MUST.* Client frames must be masked; reserved bits must be zero (RSV1
only on the first frame of a compressed message); control frames are at most 125 bytes and never
fragmented; a continuation needs a message in progress, and a new data frame must not start in
the middle of one; unknown opcodes are errors; close codes must be valid ones; text must be UTF-8
(checked fragment by fragment, so an invalid byte fails at once rather than after the whole
message arrived). Each violation closes with the code the RFC names (1002 protocol error, 1007
invalid data, 1009 too big) and the connection ends.

*One reader, many writers.* Several green threads may ``send`` on one WebSocket at once (a
handler sending while another thread pushes notifications); a frame is written whole under a
lock so frames never interleave. Only one green thread may ``wait`` at a time (the hub refuses
two readers of one fd). Pings are answered by the reader as they arrive.

*Taking over the connection.* For a request asking to upgrade, green.wsgi puts
``environ["green.wsgi.take_over"]`` in the environ: it returns the connection's socket and any
bytes the client sent after its request, and the server then sends nothing itself and closes the
socket when the application returns. `WebSocketWSGI` writes the ``101`` response itself and runs
the handler inside the application call, as eventlet's does.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import logging
import struct
import zlib
from typing import Any, Callable, Iterable, Iterator

from greenlet import GreenletExit

from green import socket as _green_socket
from green._stdlib import original
from green.hubs import deadline_after as _deadline_after
from green.hubs import wait_until as _wait_until
from green.semaphore import Semaphore

__all__ = [
    "WebSocketWSGI",
    "WebSocket",
    "WebSocketError",
    "ProtocolError",
    "MessageTooBig",
    "websocket_middleware",
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_MESSAGE_SIZE",
]

_ssl = original("ssl")

DEFAULT_MAX_FRAME_SIZE = 8 << 20
DEFAULT_MAX_MESSAGE_SIZE = 8 << 20
DEFAULT_CLOSE_TIMEOUT = 5.0
RECEIVE_SIZE = 65536
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Opcodes.
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
# Close codes (RFC 6455 section 7.4.1).
NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
PROTOCOL_ERROR = 1002
UNSUPPORTED_DATA = 1003
NO_STATUS = 1005
ABNORMAL_CLOSURE = 1006
INVALID_DATA = 1007
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011
# Codes a peer may send in a close frame: the RFC's and IANA's registered ones, and 3000-4999.
_SENDABLE_CODES = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))

_FIN = 0x80
_RSV1 = 0x40
_RESERVED = 0x70
_MASKED = 0x80
_DEFLATE_TAIL = b"\x00\x00\xff\xff"
_DEFLATE_WINDOW_BITS = 12
_DEFLATE_MEMORY_LEVEL = 5

_log = logging.getLogger("green.websocket")


class WebSocketError(Exception):
    """A WebSocket failure; `code` is the close code sent to the peer (if any)."""

    code = PROTOCOL_ERROR

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if code is not None:
            self.code = code


class ProtocolError(WebSocketError):
    """The peer broke RFC 6455 (the connection was closed with code 1002 or 1007)."""


class MessageTooBig(WebSocketError):
    """A frame or message exceeded the configured size limit (closed with code 1009)."""

    code = MESSAGE_TOO_BIG


def _unmask(payload: bytes | bytearray, mask: bytes | bytearray) -> bytes:
    """XOR `payload` with the repeating 4-byte `mask` (as one big integer: C speed)."""
    size = len(payload)
    if not size:
        return b""
    key = (mask * ((size >> 2) + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


def _frame_header(opcode_byte: int, size: int) -> bytes:
    """A server (unmasked) frame header for a payload of `size` bytes."""
    if size < 126:
        return bytes((opcode_byte, size))
    if size < 65536:
        return struct.pack("!BBH", opcode_byte, 126, size)
    return struct.pack("!BBQ", opcode_byte, 127, size)


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value answering a ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


# -- permessage-deflate ----------------------------------------------------------------------------


class _Deflate:
    """The negotiated permessage-deflate state of one connection (RFC 7692)."""

    def __init__(self, server_window_bits: int, server_reset: bool, client_reset: bool) -> None:
        # We may always compress with a smaller window than agreed (any inflater reads it): at
        # most 12 bits and memLevel 5, about 32 KiB of zlib state instead of 256 KiB, for a few
        # percent of compression. zlib cannot write a raw stream with an 8-bit window: 9 at least.
        self.server_window_bits = max(min(server_window_bits, _DEFLATE_WINDOW_BITS), 9)
        self.server_reset = server_reset
        self.client_reset = client_reset
        self.compressor: Any = None
        self.decompressor: Any = None

    def compress(self, data: bytes) -> bytes:
        if self.compressor is None:
            self.compressor = zlib.compressobj(
                zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self.server_window_bits, _DEFLATE_MEMORY_LEVEL
            )
        output = self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        if self.server_reset:
            self.compressor = None
        if output.endswith(_DEFLATE_TAIL):
            output = output[:-4]
        return output or b"\x00"

    def decompress(self, data: bytes, final: bool, limit: int) -> bytes:
        """Inflate one frame's payload; raises MessageTooBig past `limit` output bytes."""
        if self.decompressor is None:
            self.decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
        decompressor = self.decompressor
        try:
            output = decompressor.decompress(data, limit + 1)
            if len(output) > limit or decompressor.unconsumed_tail:
                raise MessageTooBig("decompressed message too big")
            if final:
                tail = decompressor.decompress(_DEFLATE_TAIL, limit + 1 - len(output))
                output += tail
                if len(output) > limit or decompressor.unconsumed_tail:
                    raise MessageTooBig("decompressed message too big")
        except zlib.error as error:
            raise ProtocolError(f"invalid compressed data: {error}", INVALID_DATA) from None
        if final and self.client_reset:
            self.decompressor = None
        return output


def _negotiate_deflate(header: str) -> tuple[_Deflate, str] | None:
    """Accept the first valid permessage-deflate offer in a Sec-WebSocket-Extensions header."""
    for offer in header.split(","):
        parts = [part.strip() for part in offer.split(";")]
        if parts[0].lower() != "permessage-deflate":
            continue
        parameters: dict[str, str | None] = {}
        valid = True
        for part in parts[1:]:
            if not part:
                continue
            name, equals, value = part.partition("=")
            name = name.strip().lower()
            value_text: str | None = value.strip().strip('"') if equals else None
            if name in parameters:
                valid = False
                break
            parameters[name] = value_text
        if not valid:
            continue
        response = ["permessage-deflate"]
        server_bits = 15
        server_reset = client_reset = False
        for name, value_text in parameters.items():
            if name == "server_no_context_takeover" and value_text is None:
                server_reset = True
                response.append("server_no_context_takeover")
            elif name == "client_no_context_takeover" and value_text is None:
                client_reset = True
                response.append("client_no_context_takeover")
            elif name in ("server_max_window_bits", "client_max_window_bits"):
                # Without a value (which RFC 7692 allows only for the client's) it means 15, as
                # eventlet reads it. We inflate with a 15-bit window, which reads any smaller
                # one, so the client's value is simply acknowledged.
                bits = 15 if value_text is None else (int(value_text) if value_text.isdigit() else 0)
                if not 8 <= bits <= 15:
                    valid = False
                    break
                if name == "server_max_window_bits":
                    server_bits = bits
                response.append(f"{name}={bits}")
            else:
                valid = False
                break
        if valid:
            return _Deflate(server_bits, server_reset, client_reset), "; ".join(response)
    return None


# -- the WebSocket ---------------------------------------------------------------------------------


class WebSocket:
    """One server-side WebSocket connection, handed to the handler of `WebSocketWSGI`.

    `send(message)` sends a text frame for ``str`` and a binary frame for bytes-like data;
    `wait()` returns the next message (``str`` or ``bytes``), or None once the connection closed
    (the peer's close frame, end of stream, or a protocol error -- see `close_code`). Pings are
    answered automatically. `close(code, reason)` starts the closing handshake.

    Attributes: `environ` (the WSGI environ of the upgrade request), `path`, `origin`, `protocol`
    (the negotiated subprotocol or None), `version` (13), `socket`, `closed`, `close_code` and
    `close_reason` (what the peer sent, or the code we closed with after a protocol error).
    gevent-websocket's names work too: `receive()`, `send(message, binary=None)`, `closed`.
    """

    def __init__(
        self,
        sock: Any,
        environ: dict,
        *,
        data: bytes = b"",
        protocol: str | None = None,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        deflate: _Deflate | None = None,
    ) -> None:
        self._sock = sock  # the connection's real non-blocking socket (or TLS object)
        self._green_socket: Any = None
        self.environ = environ
        self.path = environ.get("PATH_INFO", "")
        self.origin = environ.get("HTTP_ORIGIN")
        self.protocol = protocol
        self.version = 13
        self.max_frame_size = max_frame_size
        self.max_message_size = max_message_size
        self.close_timeout = close_timeout
        self.closed = False
        self.close_code: int | None = None
        self.close_reason = ""
        self._deflate = deflate
        self._fd = sock.fileno()
        self._buffer = bytearray(data)
        self._ended = False  # no more bytes will come (end of stream or error)
        self._close_sent = False
        self._close_received = False
        self._write_lock = Semaphore(1)

    @property
    def socket(self) -> Any:
        """The connection as a green socket (for ``settimeout``, ``getpeername``...; a TLS
        connection is given as it is). Frames go through `send`/`wait`, never through it."""
        sock = self._sock
        if isinstance(sock, _ssl.SSLSocket):
            return sock
        if self._green_socket is None:
            self._green_socket = _green_socket.socket._from_real(sock, None)
        return self._green_socket

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<WebSocket {self.path!r} {state}>"

    # -- sending --

    def send(self, message: str | bytes | bytearray | memoryview, binary: bool | None = None) -> None:
        """Send one message: a text frame for ``str``, a binary frame for bytes-like data.

        `binary` (gevent-websocket's argument) forces the frame type: a ``str`` is encoded as
        UTF-8 for a binary frame, bytes must be UTF-8 for a text frame. Raises WebSocketError if
        the connection is closing or closed, OSError if the socket fails.
        """
        if type(message) is str:
            payload = message.encode("utf-8")
            first = _FIN | BINARY if binary else _FIN | TEXT
        elif isinstance(message, str):
            payload = message.encode("utf-8")
            first = _FIN | BINARY if binary else _FIN | TEXT
        else:
            payload = bytes(message)
            first = _FIN | TEXT if binary is False else _FIN | BINARY
        if self._close_sent:
            raise WebSocketError("send on a closed WebSocket", NORMAL_CLOSURE)
        if self._deflate is not None:
            payload = self._deflate.compress(payload)
            first |= _RSV1
        size = len(payload)
        self._write((bytes((first, size)) if size < 126 else _frame_header(first, size)) + payload)

    def send_binary(self, message: bytes | bytearray | memoryview) -> None:
        """Send `message` as a binary frame."""
        self.send(bytes(message), binary=True)

    def ping(self, data: bytes = b"") -> None:
        """Send a ping (at most 125 bytes of `data`); the peer's pong is ignored."""
        if len(data) > 125:
            raise ValueError("ping data longer than 125 bytes")
        self._write(_frame_header(_FIN | PING, len(data)) + data)

    def pong(self, data: bytes = b"") -> None:
        """Send an unsolicited pong (a heartbeat the peer does not answer)."""
        if len(data) > 125:
            raise ValueError("pong data longer than 125 bytes")
        self._write(_frame_header(_FIN | PONG, len(data)) + data)

    def _write(self, frame: bytes) -> None:
        lock = self._write_lock
        lock.acquire()
        try:
            sock = self._sock
            view: memoryview | None = None
            sent = 0
            while True:
                try:
                    sent += sock.send(frame if view is None else view[sent:])
                except (BlockingIOError, _ssl.SSLWantWriteError):
                    _wait_until(self._fd, True, None)
                    continue
                except _ssl.SSLWantReadError:
                    _wait_until(self._fd, False, None)
                    continue
                if sent >= len(frame):
                    return
                if view is None:
                    view = memoryview(frame)
        finally:
            lock.release()

    def _send_close(self, code: int, reason: str = "") -> None:
        if self._close_sent:
            return
        self._close_sent = True
        if code == NO_STATUS:
            payload = b""
        else:
            payload = struct.pack("!H", code) + reason.encode("utf-8")[:123]
        try:
            self._write(_frame_header(_FIN | CLOSE, len(payload)) + payload)
        except OSError:
            self._ended = True

    # -- receiving --

    def _receive(self, deadline: float | None = None) -> bool:
        """Append one ``recv`` to the buffer; False at end of stream (or once `deadline`, on the
        hub clock, has passed)."""
        sock = self._sock
        while True:
            try:
                data = sock.recv(RECEIVE_SIZE)
                break
            except (BlockingIOError, _ssl.SSLWantReadError):
                if not _wait_until(self._fd, False, deadline):
                    return False
            except _ssl.SSLWantWriteError:
                if not _wait_until(self._fd, True, deadline):
                    return False
            except (ConnectionError, _ssl.SSLError):
                data = b""
                break
        if not data:
            self._ended = True
            return False
        self._buffer += data
        return True

    def _fail(self, error: WebSocketError) -> None:
        """Close after a protocol violation by the peer: send the code, end the connection."""
        _log.info("closing WebSocket %s: %s (%d)", self.path, error.reason, error.code)
        self.close_code = error.code
        self.close_reason = error.reason
        self._send_close(error.code, error.reason)
        self._finish()

    def _finish(self) -> None:
        self.closed = True
        self._ended = True

    def wait(self) -> str | bytes | None:
        """Wait for the next message: ``str`` for text, ``bytes`` for binary, None once closed.

        Never raises for the peer's behaviour: a protocol violation closes the connection with
        the proper code (see `close_code`) and returns None, as does end of stream.
        """
        if self.closed or self._ended:
            self.closed = True
            return None
        try:
            return self._read_message()
        except WebSocketError as error:
            self._fail(error)
            return None
        except OSError:
            self._finish()
            return None

    receive = wait  # gevent-websocket's name

    def __iter__(self) -> Iterator[str | bytes]:
        """Iterate over the messages until the connection closes."""
        while True:
            message = self.wait()
            if message is None:
                return
            yield message

    def _read_message(self) -> str | bytes | None:
        buffer = self._buffer
        # The common case first: a whole small unfragmented text or binary frame is buffered
        # (FIN set, RSV clear, masked, length < 126, within both limits).
        if len(buffer) >= 6:
            first = buffer[0]
            size = buffer[1] - _MASKED
            if (first == 0x81 or first == 0x82) and 0 <= size < 126:
                end = 6 + size
                if len(buffer) >= end and size <= self.max_frame_size and size <= self.max_message_size:
                    payload = _unmask(buffer[6:end], buffer[2:6])
                    del buffer[:end]
                    if first == 0x82:
                        return payload
                    try:
                        return payload.decode("utf-8")
                    except UnicodeDecodeError:
                        raise ProtocolError("invalid UTF-8 in a text message", INVALID_DATA) from None
        max_frame = self.max_frame_size
        message_opcode = 0
        compressed = False
        parts: list[bytes] = []
        total = 0
        decoder: Any = None
        while True:
            # -- one frame header --
            while len(buffer) < 2:
                if not self._receive():
                    self._lost()
                    return None
            first, second = buffer[0], buffer[1]
            opcode = first & 0x0F
            size = second & 0x7F
            if not second & _MASKED:
                raise ProtocolError("unmasked client frame")
            # Everything the first two bytes tell is checked before waiting for more of the
            # frame: a peer sending garbage is failed at once, not left waiting on.
            if first & _RESERVED:
                if first & _RESERVED != _RSV1 or self._deflate is None or opcode not in (TEXT, BINARY):
                    raise ProtocolError("reserved bits set")
            if opcode >= CLOSE:
                if opcode > PONG:
                    raise ProtocolError(f"unknown opcode {opcode}")
                if size > 125:
                    raise ProtocolError("control frame longer than 125 bytes")
                if not first & _FIN:
                    raise ProtocolError("fragmented control frame")
            elif opcode == CONTINUATION:
                if not message_opcode:
                    raise ProtocolError("continuation frame without a message")
            elif opcode <= BINARY:
                if message_opcode:
                    raise ProtocolError("new message inside a fragmented message")
            else:
                raise ProtocolError(f"unknown opcode {opcode}")
            offset = 2
            if size == 126:
                offset = 4
                while len(buffer) < 4:
                    if not self._receive():
                        self._lost()
                        return None
                size = (buffer[2] << 8) | buffer[3]
            elif size == 127:
                offset = 10
                while len(buffer) < 10:
                    if not self._receive():
                        self._lost()
                        return None
                size = int.from_bytes(buffer[2:10], "big")
                if size >> 63:
                    raise ProtocolError("frame length with the high bit set")
            if size > max_frame:
                raise MessageTooBig(f"frame of {size} bytes over the limit of {max_frame}")
            if opcode < CLOSE and total + size > self.max_message_size:
                raise MessageTooBig(f"message over the limit of {self.max_message_size} bytes")
            # -- its payload --
            end = offset + 4 + size
            while len(buffer) < end:
                if not self._receive():
                    self._lost()
                    return None
            mask = bytes(buffer[offset : offset + 4])
            payload = _unmask(buffer[offset + 4 : end], mask)
            del buffer[:end]
            final = first & _FIN
            if opcode >= CLOSE:
                if opcode == PING:
                    if not self._close_sent:
                        self._write(_frame_header(_FIN | PONG, len(payload)) + payload)
                elif opcode == CLOSE:
                    self._on_close(payload)
                    return None
                continue
            if opcode:  # the first frame of a message
                message_opcode = opcode
                compressed = bool(first & _RSV1)
                if final and not compressed:  # the common case: one frame, no deflate
                    if opcode == TEXT:
                        try:
                            return payload.decode("utf-8")
                        except UnicodeDecodeError:
                            raise ProtocolError("invalid UTF-8 in a text message", INVALID_DATA) from None
                    return payload
            if compressed:
                assert self._deflate is not None
                payload = self._deflate.decompress(payload, bool(final), self.max_message_size - total)
            total += len(payload)
            if message_opcode == TEXT:
                if decoder is None:
                    decoder = codecs.getincrementaldecoder("utf-8")()
                try:
                    decoder.decode(payload, bool(final))
                except UnicodeDecodeError:
                    raise ProtocolError("invalid UTF-8 in a text message", INVALID_DATA) from None
            parts.append(payload)
            if final:
                data = b"".join(parts)
                return data.decode("utf-8") if message_opcode == TEXT else data

    def _lost(self) -> None:
        """End of stream without a close frame: code 1006 (abnormal closure)."""
        if self.close_code is None:
            self.close_code = ABNORMAL_CLOSURE
        self._finish()

    def _on_close(self, payload: bytes) -> None:
        self._close_received = True
        if not payload:
            code, reason = NO_STATUS, ""
        else:
            if len(payload) < 2:
                raise ProtocolError("close frame with a 1-byte payload")
            code = (payload[0] << 8) | payload[1]
            if code not in _SENDABLE_CODES and not 3000 <= code <= 4999:
                raise ProtocolError(f"invalid close code {code}")
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError("invalid UTF-8 in the close reason", INVALID_DATA) from None
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        # Echo the code (RFC 6455 5.5.1), unless we started the closing handshake ourselves.
        self._send_close(NORMAL_CLOSURE if code == NO_STATUS else code)
        self._finish()

    # -- closing --

    def close(self, code: int | tuple[int, str] | None = NORMAL_CLOSURE, reason: str | bytes = "") -> None:
        """Start the closing handshake: send a close frame with `code` and `reason`.

        Also accepts eventlet's ``close((code, reason))`` and gevent-websocket's
        ``close(code, message)``. The socket itself is closed when the handler returns (after the
        peer's answer, or `close_timeout`); later `wait` calls return None and `send` raises.
        """
        if isinstance(code, tuple):
            code, reason = code
        if code is None:
            code = NORMAL_CLOSURE
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        if self.close_code is None and not self._close_received:
            self.close_code = code
            self.close_reason = reason
        self._send_close(code, reason)
        self.closed = True

    def _shutdown(self) -> None:
        """After the handler: finish the closing handshake (bounded by close_timeout)."""
        if not self._close_sent:
            self._send_close(NORMAL_CLOSURE)
        if self._close_received or self._ended or self.close_timeout <= 0:
            self._finish()
            return
        # Read (and drop) what the peer still sends until its close frame arrives.
        deadline = _deadline_after(self.close_timeout)
        try:
            while not self._close_received and not self._ended:
                if not self._drain_frame(deadline):
                    break
        except (WebSocketError, OSError):
            pass
        self._finish()

    def _drain_frame(self, deadline: float | None) -> bool:
        buffer = self._buffer
        while True:
            if len(buffer) >= 2:
                size = buffer[1] & 0x7F
                offset = 2 if size < 126 else (4 if size == 126 else 10)
                if len(buffer) >= offset:
                    if size == 126:
                        size = (buffer[2] << 8) | buffer[3]
                    elif size == 127:
                        size = int.from_bytes(buffer[2:10], "big")
                    if size > self.max_frame_size:
                        return False
                    end = offset + 4 + size
                    if len(buffer) >= end:
                        if buffer[0] & 0x0F == CLOSE:
                            self._close_received = True
                        del buffer[:end]
                        return True
            if not self._receive(deadline):
                return False


# -- the WSGI application --------------------------------------------------------------------------


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",")}


def _reject(start_response: Callable, status: str, text: str, headers: list | None = None) -> list[bytes]:
    body = (text + "\n").encode("utf-8")
    start_response(
        status,
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), *(headers or [])],
    )
    return [body]


def _handshake_error(environ: dict) -> tuple[str, str, list] | None:
    """Why `environ` is not a valid WebSocket opening handshake (None if it is)."""
    if environ.get("REQUEST_METHOD") != "GET":
        return "405 Method Not Allowed", "a WebSocket handshake is a GET request", [("Allow", "GET")]
    if "websocket" not in _tokens(environ.get("HTTP_UPGRADE", "")):
        return "400 Bad Request", "expected a WebSocket upgrade (Upgrade: websocket)", []
    if "upgrade" not in _tokens(environ.get("HTTP_CONNECTION", "")):
        return "400 Bad Request", "expected Connection: Upgrade", []
    if environ.get("HTTP_SEC_WEBSOCKET_VERSION", "").strip() != "13":
        return "426 Upgrade Required", "unsupported WebSocket version", [("Sec-WebSocket-Version", "13")]
    key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "").strip()
    try:
        valid_key = len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        valid_key = False
    if not valid_key:
        return "400 Bad Request", "invalid Sec-WebSocket-Key", []
    return None


class WebSocketWSGI:
    """A WSGI application that accepts WebSocket connections and runs ``handler(ws)`` for each.

    Use it as a decorator or wrap a function; mount it where the WebSocket path is served::

        @green.websocket.WebSocketWSGI
        def echo(ws):
            while (message := ws.wait()) is not None:
                ws.send(message)

        green.wsgi.server(green.listen(("127.0.0.1", 8080)), echo)

    The handler runs inside the WSGI call, on the connection's green thread; when it returns
    the WebSocket is closed (code 1000; 1011 if it raised -- the exception is then logged by
    the server; 1001 if it was killed because the server stopped). Requests that are not a valid handshake get 400 (426 for another protocol
    version, 403 if `origin_checker` refuses the Origin) and the handler is not called.

    Options: `max_frame_size` and `max_message_size` (8 MiB each; a larger frame or message
    closes the connection with code 1009 before it is buffered; eventlet's name
    `max_frame_length` sets both), `supported_protocols` (subprotocols the server speaks, chosen
    in the client's order; `ws.protocol` tells which), `origin_checker(host, origin) -> bool`
    (the Host and Origin headers, as in eventlet),
    `permessage_deflate` (True: accept the compression extension when a client offers it, as
    eventlet does; costs ~75 KiB of zlib state per connection that uses it, created at its first
    message; decompressed size is bounded by `max_message_size`), `close_timeout` (5 s to wait for the peer's close frame).

    Needs green.wsgi's server (or the green gunicorn worker): the connection is taken over
    through ``environ["green.wsgi.take_over"]``; another server gets a RuntimeError.
    """

    def __init__(
        self,
        handler: Callable[[WebSocket], Any],
        max_frame_length: int | None = None,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        supported_protocols: Iterable[str] | None = None,
        origin_checker: Callable[[str | None, str | None], bool] | None = None,
        permessage_deflate: bool = True,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
    ) -> None:
        self.handler = handler
        if max_frame_length is not None:
            max_frame_size = max_message_size = max_frame_length
        self.max_frame_size = max_frame_size
        self.max_message_size = max_message_size
        self.supported_protocols = list(supported_protocols) if supported_protocols else []
        self.origin_checker = origin_checker
        self.permessage_deflate = permessage_deflate
        self.close_timeout = close_timeout

    @classmethod
    def configured(
        cls,
        handler: Callable[[WebSocket], Any] | None = None,
        supported_protocols: Iterable[str] | None = None,
        origin_checker: Callable[[str | None, str | None], bool] | None = None,
        support_legacy_versions: bool = False,
    ) -> Any:
        """eventlet's decorator factory: ``@WebSocketWSGI.configured(supported_protocols=[...])``.

        Only RFC 6455 (version 13) is spoken, whatever `support_legacy_versions` says: the
        pre-standard drafts (hixie-75/76) are refused with 426, as no browser has sent them
        since 2012.
        """

        def decorate(function: Callable[[WebSocket], Any]) -> WebSocketWSGI:
            return cls(function, supported_protocols=supported_protocols, origin_checker=origin_checker)

        return decorate if handler is None else decorate(handler)

    @property
    def max_frame_length(self) -> int:
        """eventlet's single limit: setting it sets both `max_frame_size` and `max_message_size`."""
        return self.max_message_size

    @max_frame_length.setter
    def max_frame_length(self, size: int) -> None:
        self.max_frame_size = self.max_message_size = size

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        ws = self.accept(environ, start_response)
        if not isinstance(ws, WebSocket):
            return ws
        return self.run(ws, self.handler)

    @staticmethod
    def run(ws: WebSocket, handler: Callable[[WebSocket], Any]) -> list[bytes]:
        """Run `handler(ws)`, then close the WebSocket (1000, or 1011 if the handler raised)."""
        try:
            handler(ws)
        except BaseException as error:
            if not ws._close_sent:
                # Killed (the server stopping): "going away"; an exception: "internal error".
                code = GOING_AWAY if isinstance(error, GreenletExit) else INTERNAL_ERROR
                ws.close_code = ws.close_code or code
                ws._send_close(code)
            ws._finish()
            raise
        finally:
            if not ws._ended:
                ws._shutdown()
        return []

    def accept(self, environ: dict, start_response: Callable) -> WebSocket | list[bytes]:
        """Check the handshake and send ``101``: the WebSocket, or the error response to return."""
        problem = _handshake_error(environ)
        if problem is not None:
            status, text, headers = problem
            return _reject(start_response, status, text, headers)
        origin = environ.get("HTTP_ORIGIN")
        if self.origin_checker is not None and not self.origin_checker(environ.get("HTTP_HOST"), origin):
            return _reject(start_response, "403 Forbidden", "origin not allowed")
        take_over = environ.get("green.wsgi.take_over")
        if take_over is None:
            raise RuntimeError(
                "WebSocketWSGI needs green.wsgi's server (environ has no 'green.wsgi.take_over')"
            )
        protocol = None
        if self.supported_protocols:
            offered = [p.strip() for p in environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL", "").split(",")]
            protocol = next((p for p in offered if p in self.supported_protocols), None)
        deflate = None
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Accept: " + accept_key(environ["HTTP_SEC_WEBSOCKET_KEY"].strip()),
        ]
        if protocol is not None:
            lines.append("Sec-WebSocket-Protocol: " + protocol)
        if self.permessage_deflate:
            negotiated = _negotiate_deflate(environ.get("HTTP_SEC_WEBSOCKET_EXTENSIONS", ""))
            if negotiated is not None:
                deflate, extension = negotiated
                lines.append("Sec-WebSocket-Extensions: " + extension)
        sock, data = take_over()
        ws = WebSocket(
            sock,
            environ,
            data=data,
            protocol=protocol,
            max_frame_size=self.max_frame_size,
            max_message_size=self.max_message_size,
            close_timeout=self.close_timeout,
            deflate=deflate,
        )
        ws._write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        return ws


def websocket_middleware(app: Callable[[dict, Callable], Iterable[bytes]], **options: Any) -> Callable:
    """gevent-websocket style: WebSocket requests reach `app` with ``environ["wsgi.websocket"]``.

    A valid WebSocket handshake is accepted before `app` runs (options as for `WebSocketWSGI`);
    `app` then talks over ``environ["wsgi.websocket"]`` and its return value is ignored. Other
    requests go to `app` unchanged.
    """
    acceptor = WebSocketWSGI(lambda ws: None, **options)

    def middleware(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if "websocket" not in _tokens(environ.get("HTTP_UPGRADE", "")):
            return app(environ, start_response)
        ws = acceptor.accept(environ, start_response)
        if not isinstance(ws, WebSocket):
            return ws

        def handler(ws: WebSocket) -> None:
            environ["wsgi.websocket"] = ws
            environ["wsgi.websocket_version"] = "13"
            result = app(environ, lambda *args: None)
            close = getattr(result, "close", None)
            if close is not None:
                close()

        return acceptor.run(ws, handler)

    return middleware
