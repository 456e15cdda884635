"""eventlet.websocket: green.websocket's WebSocketWSGI and WebSocket (RFC 6455, server side)."""

from green.websocket import *  # noqa: F403  (green.websocket's public names, per its __all__)
from green.websocket import WebSocket, WebSocketWSGI

__all__ = ["WebSocket", "WebSocketWSGI"]
