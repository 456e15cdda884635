"""eventlet.websocket: green.websocket with eventlet's names and defaults.

- `WebSocketWSGI` accepts the hixie-75/76 drafts as well as RFC 6455 (eventlet's default; green's
  own class speaks RFC 6455 only unless asked), and refuses a bad handshake as eventlet does: the
  status, ``Connection: close`` and an empty body.
- `WebSocket` is eventlet's base class: constructed, it is the hixie object
  (``WebSocket(sock, environ, version=76)``); every RFC 6455 WebSocket is an instance of it too.
- `RFC6455WebSocket` is green.websocket.WebSocket with eventlet's constructor
  (``RFC6455WebSocket(sock, environ, version=13, protocol=None, client=False, extensions=None,
  max_frame_length=...)``), the objects the server hands to handlers; ``client=True`` makes the
  client end of a connection whose handshake the caller did.

The subclasses add nothing to the per-message path: sending and receiving are green's methods.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Mapping

from green import websocket as _green
from green.websocket import (  # noqa: F401  (green.websocket's other public names)
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_MESSAGE_SIZE,
    HixieWebSocket,
    MessageTooBig,
    ProtocolError,
    WebSocketError,
    websocket_middleware,
)
from green.websocket import DEFAULT_MAX_FRAME_SIZE as DEFAULT_MAX_FRAME_LENGTH  # noqa: F401  (eventlet name)

__all__ = ["WebSocketWSGI", "WebSocket", "RFC6455WebSocket"]


class WebSocket(_green.HixieWebSocket, metaclass=abc.ABCMeta):
    """eventlet's ``WebSocket``: a hixie-75/76 connection when constructed; the base of
    `RFC6455WebSocket` for ``isinstance`` (green's RFC 6455 class is registered under it)."""


WebSocket.register(_green.WebSocket)  # type: ignore[attr-defined]


class RFC6455WebSocket(_green.WebSocket):
    """green.websocket.WebSocket, constructed with eventlet's arguments."""

    def __init__(
        self,
        sock: Any,
        environ: dict,
        version: int = 13,
        protocol: str | None = None,
        client: bool = False,
        extensions: Mapping[str, Mapping[str, Any]] | None = None,
        max_frame_length: int | None = None,
        **options: Any,
    ) -> None:
        if max_frame_length is not None:
            options["max_frame_size"] = options["max_message_size"] = max_frame_length
        super().__init__(sock, environ, protocol=protocol, client=client, extensions=extensions, **options)
        self.version = version

    max_frame_length = _green.WebSocketWSGI.max_frame_length

    @property
    def websocket_closed(self) -> bool:
        return self._close_sent

    @property
    def _remote_close_data(self) -> bytes | None:
        """The payload of the peer's close frame (None until one arrived), as eventlet keeps it."""
        return self._received_close_payload

    def close(self, close_data: tuple[int, str] | int | None = None, reason: str | bytes = "") -> None:  # type: ignore[override]
        """eventlet's ``close(close_data=(code, reason))``; green's ``close(code, reason)`` too."""
        super().close(close_data, reason)

    def _pack_message(
        self,
        message: str | bytes,
        masked: bool = False,
        continuation: bool = False,
        final: bool = True,
        control_code: int | None = None,
    ) -> bytes:
        """One whole frame for `message`, as eventlet builds it (compressed when permessage-deflate
        is on, for the first frame of a data message)."""
        if isinstance(message, str):
            payload = message.encode("utf-8")
            opcode = _green.TEXT
        else:
            payload = bytes(message)
            opcode = _green.BINARY
        if control_code is not None:
            if control_code not in (_green.CLOSE, _green.PING, _green.PONG):
                raise WebSocketError("unknown control opcode")
            if continuation or not final:
                raise WebSocketError("a control frame cannot be fragmented")
            if len(payload) > 125:
                raise WebSocketError("control frame data longer than 125 bytes")
            first = 0x80 | control_code
        else:
            first = (0x80 if final else 0) | (_green.CONTINUATION if continuation else opcode)
            if self._deflate is not None and payload and not continuation:
                payload = self._deflate.compress(payload)
                first |= 0x40
        if masked:
            return _green._masked_frame(first, payload)
        return _green._frame_header(first, len(payload)) + payload

    def _send(self, frame: bytes) -> None:
        """Write one frame built by `_pack_message`."""
        self._write(frame)


class WebSocketWSGI(_green.WebSocketWSGI):
    """green.websocket.WebSocketWSGI with eventlet's defaults: the hixie drafts accepted, bad
    handshakes refused with an empty body and ``Connection: close``."""

    websocket_class = RFC6455WebSocket
    hixie_class = WebSocket  # type: ignore[assignment]

    def __init__(
        self, handler: Callable[[Any], Any], max_frame_length: int | None = None, **options: Any
    ) -> None:
        options.setdefault("support_legacy_versions", True)
        super().__init__(handler, max_frame_length, **options)

    def refuse(
        self, start_response: Callable, status: str, reason: str, headers: list | None = None
    ) -> list[bytes]:
        start_response(status, [("Connection", "close"), *(headers or [])])
        return []
