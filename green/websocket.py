"""WebSocket (RFC 6455) on green.wsgi, with optional permessage-deflate (RFC 7692); the same
object as a client; the 2010 drafts hixie-75/76 on request.

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

*A client is the same object, mirrored.* ``WebSocket(sock, {}, client=True)`` masks what it sends
and wants unmasked frames back; permessage-deflate swaps which side's parameters govern
compressing and inflating. The server's fast path (a whole small masked frame in the buffer) never
matches an unmasked frame, so the client costs the server nothing but a flag test per send.

*The hixie drafts are a separate, small class.* hixie-75/76 (2010; no browser has sent them since
2011) frame text as ``0x00 ... 0xFF`` and have no close codes, so `HixieWebSocket` shares nothing
with the RFC 6455 reader but the limits: a frame past ``max_message_size`` or text that is not
UTF-8 ends the connection, and so does any frame type other than text and hixie-76's closing
frame (the drafts' length-prefixed frames were never used; eventlet refused them too). With no
code to tell the peer why, ``wait`` raises the error (after the messages before it), as
eventlet's did. It runs over the taken-over connection as a blocking green socket (`_Stream`):
speed does not matter there. `WebSocketWSGI` speaks them only with ``support_legacy_versions``.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import logging
import struct
import zlib
from collections import deque
from os import urandom as _urandom
from typing import Any, Callable, Iterable, Iterator, Mapping

from greenlet import GreenletExit

from green import socket as _green_socket
from green._stdlib import original
from green.hubs import deadline_after as _deadline_after
from green.hubs import wait_until as _wait_until
from green.semaphore import Semaphore

__all__ = [
    "WebSocketWSGI",
    "WebSocket",
    "HixieWebSocket",
    "WebSocketError",
    "ProtocolError",
    "MessageTooBig",
    "websocket_middleware",
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_MESSAGE_SIZE",
]

_ssl = original("ssl")
_original_socket = original("socket")

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


def _masked_frame(opcode_byte: int, payload: bytes) -> bytes:
    """A whole client frame: the header with the mask bit, a fresh random key, the masked payload.

    RFC 6455 section 10.3 wants the key unpredictable (it protects proxies from cache
    poisoning by script-chosen bytes), hence the operating system's random source.
    """
    size = len(payload)
    if size < 126:
        header = bytes((opcode_byte, _MASKED | size))
    elif size < 65536:
        header = struct.pack("!BBH", opcode_byte, _MASKED | 126, size)
    else:
        header = struct.pack("!BBQ", opcode_byte, _MASKED | 127, size)
    key = _urandom(4)
    return header + key + _unmask(payload, key)


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value answering a ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


# -- permessage-deflate ----------------------------------------------------------------------------


class _Deflate:
    """The negotiated permessage-deflate state of one connection (RFC 7692), for either end.

    `parameters` are the negotiated extension parameters, as eventlet spells them:
    ``server_no_context_takeover`` / ``client_no_context_takeover`` (bools) and
    ``server_max_window_bits`` / ``client_max_window_bits`` (ints, when negotiated). `client`
    says which end we are: a client compresses under the client's parameters and inflates
    under the server's, a server the other way round.
    """

    def __init__(self, parameters: Mapping[str, Any], client: bool = False) -> None:
        self.parameters = dict(parameters)
        ours, theirs = ("client", "server") if client else ("server", "client")
        bits = parameters.get(f"{ours}_max_window_bits", 15)
        bits = 15 if bits is True else int(bits)
        # We may always compress with a smaller window than agreed (any inflater reads it): at
        # most 12 bits and memLevel 5, about 32 KiB of zlib state instead of 256 KiB, for a few
        # percent of compression. zlib cannot write a raw stream with an 8-bit window: 9 at least.
        self.send_window_bits = max(min(bits, _DEFLATE_WINDOW_BITS), 9)
        self.send_reset = bool(parameters.get(f"{ours}_no_context_takeover"))
        self.receive_reset = bool(parameters.get(f"{theirs}_no_context_takeover"))
        self.compressor: Any = None
        self.decompressor: Any = None

    def compress(self, data: bytes) -> bytes:
        if self.compressor is None:
            self.compressor = zlib.compressobj(
                zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self.send_window_bits, _DEFLATE_MEMORY_LEVEL
            )
        output = self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        if self.send_reset:
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
        if final and self.receive_reset:
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
        negotiated: dict[str, Any] = {
            "server_no_context_takeover": False,
            "client_no_context_takeover": False,
        }
        for name, value_text in parameters.items():
            if name in ("server_no_context_takeover", "client_no_context_takeover") and value_text is None:
                negotiated[name] = True
                response.append(name)
            elif name in ("server_max_window_bits", "client_max_window_bits"):
                # Without a value (which RFC 7692 allows only for the client's) it means 15, as
                # eventlet reads it. We inflate with a 15-bit window, which reads any smaller
                # one, so the client's value is simply acknowledged.
                bits = 15 if value_text is None else (int(value_text) if value_text.isdigit() else 0)
                if not 8 <= bits <= 15:
                    valid = False
                    break
                negotiated[name] = bits
                response.append(f"{name}={bits}")
            else:
                valid = False
                break
        if valid:
            return _Deflate(negotiated), "; ".join(response)
    return None


# -- the WebSocket ---------------------------------------------------------------------------------


class WebSocket:
    """One RFC 6455 WebSocket connection: handed to the handler of `WebSocketWSGI`, or made by
    a client over a connection whose opening handshake it did itself (``client=True``).

    `send(message)` sends a text frame for ``str`` and a binary frame for bytes-like data;
    `wait()` returns the next message (``str`` or ``bytes``), or None once the connection closed
    (the peer's close frame, end of stream, or a protocol error -- see `close_code`). Pings are
    answered automatically. `close(code, reason)` starts the closing handshake.

    Attributes: `environ` (the WSGI environ of the upgrade request), `path`, `origin`, `protocol`
    (the negotiated subprotocol or None), `version` (13), `socket`, `closed`, `close_code` and
    `close_reason` (what the peer sent, or the code we closed with after a protocol error).
    gevent-websocket's names work too: `receive()`, `send(message, binary=None)`, `closed`.

    As a client: ``WebSocket(sock, {}, client=True, extensions=...)`` after sending the opening
    handshake on `sock` (a connected green socket or green TLS socket) and reading the server's
    ``101`` answer. The client masks every frame it sends (with a fresh key from
    ``os.urandom``) and refuses masked frames from the server (1002). `extensions` gives what the
    server accepted, as a mapping: ``{"permessage-deflate": {"server_no_context_takeover": bool,
    "client_no_context_takeover": bool, "server_max_window_bits": int, ...}}`` (the form
    `extensions` reads back; assigning it changes the compression state). Closing as a client
    (`close`, or the server's close frame) completes the closing handshake, waiting at most
    `close_timeout` for the server's answer, and then closes `sock`.
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
        client: bool = False,
        extensions: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        # The connection: a real non-blocking socket (or TLS object) handed over by green.wsgi,
        # or, for a client, usually a green socket (whose calls simply block cooperatively).
        self._sock = sock
        self._green_socket: Any = sock if isinstance(sock, _green_socket.socket) else None
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
        self._client = client
        self._deflate = deflate
        if extensions is not None:
            self.extensions = extensions  # type: ignore[assignment]
        self._fd = sock.fileno() if sock is not None else -1
        self._buffer = bytearray(data)
        self._ended = False  # no more bytes will come (end of stream or error)
        self._close_sent = False
        self._close_received = False
        self._received_close_payload: bytes | None = None  # the peer's close frame, as sent
        self._reading = False  # a green thread is inside wait()
        self._write_lock = Semaphore(1)

    @property
    def client(self) -> bool:
        """True for the client end of the connection (frames sent masked)."""
        return self._client

    @property
    def extensions(self) -> dict[str, dict[str, Any]]:
        """The negotiated extensions and their parameters (``{}`` when none)."""
        if self._deflate is None:
            return {}
        return {"permessage-deflate": dict(self._deflate.parameters)}

    @extensions.setter
    def extensions(self, extensions: Mapping[str, Mapping[str, Any]] | None) -> None:
        parameters = (extensions or {}).get("permessage-deflate")
        self._deflate = None if parameters is None else _Deflate(parameters, self._client)

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
        if self._client:
            self._write(_masked_frame(first, payload))
            return
        size = len(payload)
        self._write((bytes((first, size)) if size < 126 else _frame_header(first, size)) + payload)

    def send_binary(self, message: bytes | bytearray | memoryview) -> None:
        """Send `message` as a binary frame."""
        self.send(bytes(message), binary=True)

    def ping(self, data: bytes = b"") -> None:
        """Send a ping (at most 125 bytes of `data`); the peer's pong is ignored."""
        if len(data) > 125:
            raise ValueError("ping data longer than 125 bytes")
        self._write_control(PING, data)

    def pong(self, data: bytes = b"") -> None:
        """Send an unsolicited pong (a heartbeat the peer does not answer)."""
        if len(data) > 125:
            raise ValueError("pong data longer than 125 bytes")
        self._write_control(PONG, data)

    def _write_control(self, opcode: int, payload: bytes) -> None:
        """Write a control frame (never compressed; masked by a client)."""
        if self._client:
            self._write(_masked_frame(_FIN | opcode, payload))
        else:
            self._write(_frame_header(_FIN | opcode, len(payload)) + payload)

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
                except ConnectionError:
                    self._ended = True  # the peer is gone (see WebSocketWSGI.run)
                    raise
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
            self._write_control(CLOSE, payload)
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
        if self._client and self._sock is not None:
            # The client's end of the connection is over: the socket is ours to close.
            try:
                self._sock.close()
            except OSError:
                pass

    def wait(self) -> str | bytes | None:
        """Wait for the next message: ``str`` for text, ``bytes`` for binary, None once closed.

        Never raises for the peer's behaviour: a protocol violation closes the connection with
        the proper code (see `close_code`) and returns None, as does end of stream.
        """
        if self.closed or self._ended:
            self.closed = True
            return None
        self._reading = True
        try:
            return self._read_message()
        except WebSocketError as error:
            self._fail(error)
            return None
        except OSError:
            self._finish()
            return None
        finally:
            self._reading = False

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
        client = self._client
        key_size = 0 if client else 4
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
                if not client:
                    raise ProtocolError("unmasked client frame")
            elif client:
                raise ProtocolError("masked server frame")
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
                raise MessageTooBig(
                    f"Incoming frame of {size} bytes is above length limit of {max_frame} bytes."
                )
            if opcode < CLOSE and total + size > self.max_message_size:
                raise MessageTooBig(f"message over the limit of {self.max_message_size} bytes")
            # -- its payload --
            end = offset + key_size + size
            while len(buffer) < end:
                if not self._receive():
                    self._lost()
                    return None
            if key_size:
                payload = _unmask(buffer[offset + 4 : end], bytes(buffer[offset : offset + 4]))
            else:
                payload = bytes(buffer[offset:end])
            del buffer[:end]
            final = first & _FIN
            if opcode >= CLOSE:
                if opcode == PING:
                    if not self._close_sent:
                        self._write_control(PONG, payload)
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
        self._received_close_payload = payload
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
        ``close(code, message)``. On the server the socket itself is closed when the handler
        returns (after the peer's answer, or `close_timeout`). A client waits here for the
        server's answer (at most `close_timeout`) and closes its socket -- unless another green
        thread is inside `wait`, which then sees the answer and closes it. Later `wait` calls
        return None and `send` raises.
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
        if self._client and not self._reading and not self._ended:
            # No wait() in progress to see the server's answer: wait for it here.
            self._shutdown()

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
                    key_size = 4 if buffer[1] & _MASKED else 0
                    end = offset + key_size + size
                    if len(buffer) >= end:
                        if buffer[0] & 0x0F == CLOSE:
                            self._close_received = True
                            payload = bytes(buffer[offset + key_size : end])
                            if key_size:
                                payload = _unmask(payload, buffer[offset : offset + 4])
                            self._received_close_payload = payload
                        del buffer[:end]
                        return True
            if not self._receive(deadline):
                return False


# -- the hixie-75/76 drafts ------------------------------------------------------------------------


class _Stream:
    """A connection taken over from green.wsgi (a real non-blocking socket or ``ssl.SSLSocket``)
    seen as a blocking socket: `recv` and `sendall` wait on the hub, TLS included.

    `close` only shuts the connection down: the server closes the descriptor itself when the
    application returns (closing it here could let the number be reused before the server's
    ``notify_closing``). Other attributes are the underlying socket's.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._fd = sock.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def fileno(self) -> int:
        return self._fd

    def recv(self, size: int, deadline: float | None = None) -> bytes:
        """Wait for and return up to `size` bytes (b"" at end of stream); TimeoutError once the
        hub-clock `deadline` passed."""
        sock = self._sock
        while True:
            try:
                return sock.recv(size)
            except (BlockingIOError, _ssl.SSLWantReadError):
                writing = False
            except _ssl.SSLWantWriteError:
                writing = True
            if not _wait_until(self._fd, writing, deadline):
                raise TimeoutError("timed out")

    def sendall(self, data: bytes) -> None:
        sock = self._sock
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            try:
                sent += sock.send(view[sent:])
                continue
            except (BlockingIOError, _ssl.SSLWantWriteError):
                writing = True
            except _ssl.SSLWantReadError:
                writing = False
            _wait_until(self._fd, writing, None)

    def shutdown(self, how: int) -> None:
        # A TLS connection is shut down below TLS: there is no close_notify in the drafts.
        _original_socket.socket.shutdown(self._sock, how)

    def close(self) -> None:
        try:
            self.shutdown(_original_socket.SHUT_RDWR)
        except OSError:
            pass


class HixieWebSocket:
    """One WebSocket connection speaking a pre-standard draft: hixie-75 or hixie-76 (2010).

    `WebSocketWSGI` makes these only when asked (``support_legacy_versions=True``; the eventlet
    alias asks) for a handshake without ``Sec-WebSocket-Version``. `socket` is the connection
    as a blocking green socket; `send(message)` sends one text frame (``0x00``, UTF-8, ``0xFF``;
    a ``str``, UTF-8 bytes, or anything else as ``str(message)``); `wait()` returns the next
    message as ``str``, or None once the connection ended (end of stream, or the hixie-76
    closing frame ``0xFF 0x00``, which is answered); `close()` sends the closing frame (76) and
    shuts the connection down.

    The drafts define no error codes, so a frame the drafts do not give a meaning to (any type
    other than text and the closing frame), text that is not UTF-8, or a frame longer than
    `max_message_size` ends the connection, and `wait` raises ProtocolError (MessageTooBig for
    the size) once the messages before it were returned -- as eventlet's ``wait`` raised. The
    search for a frame's end is resumed where it stopped, so a long frame costs linear time.

    Attributes: `environ`, `path`, `origin`, `protocol` (the client's ``Sec-WebSocket-Protocol``
    or ``WebSocket-Protocol``), `version` (75 or 76), `socket`, `closed`.
    """

    def __init__(
        self,
        sock: Any,
        environ: dict,
        version: int = 76,
        *,
        data: bytes = b"",
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        if version not in (75, 76):
            raise ValueError(f"hixie WebSocket version must be 75 or 76, not {version!r}")
        self.socket = sock
        self.environ = environ
        self.path = environ.get("PATH_INFO")
        self.origin = environ.get("HTTP_ORIGIN")
        self.protocol = environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL", environ.get("HTTP_WEBSOCKET_PROTOCOL"))
        self.version = version
        self.max_message_size = max_message_size
        self.closed = False
        self.close_code: int | None = None  # the drafts have no close codes; kept for symmetry
        self._buf = bytearray(data)
        self._msgs: deque[str] = deque()
        self._scanned = 1  # where the search for the end of the frame at _buf[0] resumes
        self._unparsed = bool(data)  # bytes that came with the handshake, parsed at the first wait
        self._error: WebSocketError | None = None
        self._ended = False
        self._close_sent = False
        self._close_received = False
        self._write_lock = Semaphore(1)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<HixieWebSocket {self.version} {self.path!r} {state}>"

    def send(self, message: Any) -> None:
        """Send `message` as one text frame (OSError if the connection is gone, ValueError for
        bytes that are not UTF-8, WebSocketError after `close`)."""
        if isinstance(message, str):
            payload = message.encode("utf-8")
        elif isinstance(message, (bytes, bytearray, memoryview)):
            payload = bytes(message)
            try:
                payload.decode("utf-8")  # also rules out 0xFF, which would end the frame early
            except UnicodeDecodeError:
                raise ValueError("a hixie WebSocket frame carries UTF-8 text only") from None
        else:
            payload = str(message).encode("utf-8")
        if self._close_sent:
            raise WebSocketError("send on a closed WebSocket")
        self._sendall(b"\x00" + payload + b"\xff")

    def _sendall(self, data: bytes) -> None:
        with self._write_lock:
            try:
                self.socket.sendall(data)
            except ConnectionError:
                self._ended = True
                raise

    def wait(self) -> str | None:
        """The next message, or None once the connection ended; raises ProtocolError (after
        ending the connection) for a frame the drafts do not allow."""
        messages = self._msgs
        while not messages:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if self.closed or self._ended:
                self.closed = True
                return None
            if self._unparsed:
                self._unparsed = False
                self._parse()
                continue
            try:
                data = self.socket.recv(RECEIVE_SIZE)
            except ConnectionError:
                data = b""
            if not data:
                self._finish()
                return None
            self._buf += data
            self._parse()
        return messages.popleft()

    def __iter__(self) -> Iterator[str]:
        """Iterate over the messages until the connection closes."""
        while True:
            message = self.wait()
            if message is None:
                return
            yield message

    def _parse(self) -> None:
        buffer = self._buf
        limit = self.max_message_size
        while buffer:
            kind = buffer[0]
            if kind == 0x00:
                end = buffer.find(b"\xff", self._scanned)
                if end < 0:
                    if len(buffer) - 1 > limit:
                        self._fail(MessageTooBig(f"frame over the limit of {limit} bytes"))
                    else:
                        self._scanned = len(buffer)
                    return
                self._scanned = 1
                if end - 1 > limit:
                    self._fail(MessageTooBig(f"frame over the limit of {limit} bytes"))
                    return
                try:
                    text = buffer[1:end].decode("utf-8")
                except UnicodeDecodeError:
                    self._fail(ProtocolError("invalid UTF-8 in a text frame", INVALID_DATA))
                    return
                del buffer[: end + 1]
                self._msgs.append(text)
            elif kind == 0xFF:
                if len(buffer) < 2:
                    return
                if buffer[1]:
                    self._fail(ProtocolError("a 0xFF frame that is not the closing frame"))
                    return
                del buffer[:2]
                self._close_received = True
                self._send_close()
                self._finish()
                return
            else:
                self._fail(ProtocolError(f"unknown frame type 0x{kind:02x}"))
                return

    def _fail(self, error: WebSocketError) -> None:
        _log.info("closing hixie WebSocket %s: %s", self.path, error.reason)
        self._error = error
        self._send_close()
        self._finish()
        try:
            self.socket.shutdown(_original_socket.SHUT_RDWR)
        except OSError:
            pass

    def _send_close(self, code: int | None = None) -> None:
        """Send hixie-76's closing frame (hixie-75 has none); `code` is ignored."""
        if self._close_sent:
            return
        self._close_sent = True
        if self.version == 76 and not self._ended:
            try:
                self._sendall(b"\xff\x00")
            except OSError:
                self._ended = True

    def _finish(self) -> None:
        self.closed = True
        self._ended = True

    def _shutdown(self) -> None:
        """After the handler: the closing frame (76); the server then closes the socket."""
        self._send_close()
        self._finish()

    def close(self) -> None:
        """Send the closing frame (hixie-76) and close the connection (over green.wsgi: shut it
        down; the server closes the socket when the handler returns)."""
        self._send_close()
        self._finish()
        try:
            self.socket.shutdown(_original_socket.SHUT_WR)
        except OSError:
            pass
        try:
            self.socket.close()
        except OSError:
            pass


def _hixie_key_number(value: str | None) -> int | None:
    """hixie-76's key value: its digits as a number divided by its count of spaces (None when
    the draft says the handshake must be refused: no space, not divisible, over 32 bits)."""
    if value is None:
        return None
    digits = "".join(character for character in value if "0" <= character <= "9")
    spaces = value.count(" ")
    if not digits or not spaces:
        return None
    number, remainder = divmod(int(digits), spaces)
    if remainder or number > 0xFFFFFFFF:
        return None
    return number


# -- the WSGI application --------------------------------------------------------------------------


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",")}


def _upgrade_error(environ: dict) -> tuple[str, str, list] | None:
    """Why `environ` is not a WebSocket upgrade request at all (None if it is one)."""
    if environ.get("REQUEST_METHOD") != "GET":
        return "405 Method Not Allowed", "a WebSocket handshake is a GET request", [("Allow", "GET")]
    if "websocket" not in _tokens(environ.get("HTTP_UPGRADE", "")):
        return "400 Bad Request", "expected a WebSocket upgrade (Upgrade: websocket)", []
    if "upgrade" not in _tokens(environ.get("HTTP_CONNECTION", "")):
        return "400 Bad Request", "expected Connection: Upgrade", []
    return None


def _handshake_error(environ: dict) -> tuple[str, str, list] | None:
    """Why `environ` is not a valid RFC 6455 opening handshake (None if it is)."""
    problem = _upgrade_error(environ)
    if problem is not None:
        return problem
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


def _set_both_limits(owner: Any, size: int) -> None:
    # eventlet's max_frame_length (on WebSocketWSGI here, on the WebSocket in the eventlet alias).
    owner.max_frame_size = owner.max_message_size = size


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
    the server; 1001 if it was killed because the server stopped; if the handler raised a
    ConnectionError because the peer went away while it was sending, the WebSocket simply ends,
    as in eventlet). Requests that are not a valid handshake get 400 (426 for another protocol
    version, 405 for another method, 403 if `origin_checker` refuses the Origin) with a text
    body saying why and ``Connection: close``, and the handler is not called (override `refuse`
    to answer differently).

    Options: `max_frame_size` and `max_message_size` (8 MiB each; a larger frame or message
    closes the connection with code 1009 before it is buffered; eventlet's name
    `max_frame_length` sets both), `supported_protocols` (subprotocols the server speaks, chosen
    in the client's order; `ws.protocol` tells which), `origin_checker(host, origin) -> bool`
    (the Host and Origin headers, as in eventlet),
    `permessage_deflate` (True: accept the compression extension when a client offers it, as
    eventlet does; costs ~75 KiB of zlib state per connection that uses it, created at its first
    message; decompressed size is bounded by `max_message_size`), `close_timeout` (5 s to wait for the peer's close frame),
    `support_legacy_versions` (False: only RFC 6455 is spoken; True: a handshake without
    ``Sec-WebSocket-Version`` is taken as one of the 2010 drafts hixie-75/76 and the handler
    gets a `HixieWebSocket` -- eventlet's default, which its alias turns on).
    The classes of the objects made are the class attributes `websocket_class` and `hixie_class`.

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
        support_legacy_versions: bool = False,
    ) -> None:
        self.handler = handler
        self.support_legacy_versions = support_legacy_versions
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

        `support_legacy_versions` (False, as in eventlet) also accepts the hixie-75/76 drafts.
        """

        def decorate(function: Callable[[WebSocket], Any]) -> WebSocketWSGI:
            return cls(
                function,
                supported_protocols=supported_protocols,
                origin_checker=origin_checker,
                support_legacy_versions=support_legacy_versions,
            )

        return decorate if handler is None else decorate(handler)

    max_frame_length = property(
        lambda self: self.max_message_size,
        _set_both_limits,
        doc="eventlet's single limit: setting it sets both `max_frame_size` and `max_message_size`.",
    )

    websocket_class: Callable[..., WebSocket] = WebSocket
    hixie_class: Callable[..., HixieWebSocket] = HixieWebSocket

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        ws = self.accept(environ, start_response)
        if isinstance(ws, list):
            return ws
        return self.run(ws, self.handler)

    @staticmethod
    def run(ws: Any, handler: Callable[[Any], Any]) -> list[bytes]:
        """Run `handler(ws)`, then close the WebSocket (1000, or 1011 if the handler raised)."""
        try:
            handler(ws)
        except BaseException as error:
            if isinstance(error, ConnectionError) and ws._ended:
                # The peer went away while the handler was sending: the end of this WebSocket,
                # not an error of the server's (eventlet's choice too, for EPIPE and ECONNRESET).
                ws._finish()
                return []
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

    def refuse(
        self, start_response: Callable, status: str, reason: str, headers: list | None = None
    ) -> list[bytes]:
        """Answer a request that is not an acceptable handshake (the handler is not called):
        `status`, `reason` as a text body, and ``Connection: close`` (bytes the client sent after
        its request were meant for a WebSocket, not as the next request). Returns the body."""
        body = (reason + "\n").encode("utf-8")
        start_response(
            status,
            [
                ("Content-Type", "text/plain"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
                *(headers or []),
            ],
        )
        return [body]

    def _take_over(self, environ: dict) -> Callable[[], tuple[Any, bytes]]:
        take_over = environ.get("green.wsgi.take_over")
        if take_over is None:
            raise RuntimeError(
                "WebSocketWSGI needs green.wsgi's server (environ has no 'green.wsgi.take_over')"
            )
        return take_over

    def accept(self, environ: dict, start_response: Callable) -> WebSocket | HixieWebSocket | list[bytes]:
        """Check the handshake and send ``101``: the WebSocket, or the error response to return."""
        if self.support_legacy_versions and "HTTP_SEC_WEBSOCKET_VERSION" not in environ:
            problem = _upgrade_error(environ)
            if problem is None:
                return self._accept_hixie(environ, start_response)
        else:
            problem = _handshake_error(environ)
        if problem is not None:
            status, text, headers = problem
            return self.refuse(start_response, status, text, headers)
        origin = environ.get("HTTP_ORIGIN")
        if self.origin_checker is not None and not self.origin_checker(environ.get("HTTP_HOST"), origin):
            return self.refuse(start_response, "403 Forbidden", "origin not allowed")
        take_over = self._take_over(environ)
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
        ws = self.websocket_class(
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

    def _accept_hixie(self, environ: dict, start_response: Callable) -> HixieWebSocket | list[bytes]:
        """The opening handshake of hixie-75 (no keys) or hixie-76 (two keys in headers, eight
        bytes after them, answered with the MD5 of the three)."""
        host = environ.get("HTTP_HOST")
        origin = environ.get("HTTP_ORIGIN")
        if not host or origin is None:
            return self.refuse(
                start_response, "400 Bad Request", "a hixie WebSocket handshake needs Host and Origin"
            )
        key1 = environ.get("HTTP_SEC_WEBSOCKET_KEY1")
        key2 = environ.get("HTTP_SEC_WEBSOCKET_KEY2")
        version = 75 if key1 is None and key2 is None else 76
        number1 = number2 = 0
        if version == 76:
            number1 = _hixie_key_number(key1)  # type: ignore[assignment]
            number2 = _hixie_key_number(key2)  # type: ignore[assignment]
            if number1 is None or number2 is None:
                return self.refuse(start_response, "400 Bad Request", "invalid Sec-WebSocket-Key1/Key2")
        if self.origin_checker is not None and not self.origin_checker(host, origin):
            return self.refuse(start_response, "403 Forbidden", "origin not allowed")
        take_over = self._take_over(environ)
        sock, data = take_over()
        stream = _Stream(sock)
        if version == 76:
            # The third key is the 8 bytes after the request's headers (no Content-Length).
            deadline = _deadline_after(self.close_timeout)
            try:
                while len(data) < 8:
                    chunk = stream.recv(RECEIVE_SIZE, deadline)
                    if not chunk:
                        return []
                    data += chunk
            except OSError:
                return []
            challenge = hashlib.md5(struct.pack(">II", number1, number2) + data[:8]).digest()
            data = data[8:]
        scheme = "wss" if environ.get("wsgi.url_scheme") == "https" else "ws"
        target = environ.get("RAW_URI")
        if not target:
            query = environ.get("QUERY_STRING")
            target = (
                environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
            )
        location = f"{scheme}://{host}{target}"
        if version == 75:
            lines = [
                "HTTP/1.1 101 Web Socket Protocol Handshake",
                "Upgrade: WebSocket",
                "Connection: Upgrade",
                "WebSocket-Origin: " + origin,
                "WebSocket-Location: " + location,
            ]
            tail = b""
        else:
            lines = [
                "HTTP/1.1 101 WebSocket Protocol Handshake",
                "Upgrade: WebSocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Origin: " + origin,
            ]
            protocol = environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL")
            if protocol is not None:
                lines.append("Sec-WebSocket-Protocol: " + protocol)
            lines.append("Sec-WebSocket-Location: " + location)
            tail = challenge
        ws = self.hixie_class(stream, environ, version, data=data, max_message_size=self.max_message_size)
        try:
            stream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + tail)
        except OSError:
            return []
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
        if isinstance(ws, list):
            return ws

        def handler(ws: Any) -> None:
            environ["wsgi.websocket"] = ws
            environ["wsgi.websocket_version"] = str(ws.version)
            result = app(environ, lambda *args: None)
            close = getattr(result, "close", None)
            if close is not None:
                close()

        return acceptor.run(ws, handler)

    return middleware
