"""eventlet.greenio: GreenSocket (green's socket class) and GreenPipe (a green file over a pipe)."""

from __future__ import annotations

from .base import SOCKET_CLOSED, GreenPipe, GreenSocket, set_nonblocking, shutdown_safe

__all__ = ["SOCKET_CLOSED", "GreenPipe", "GreenSocket", "set_nonblocking", "shutdown_safe"]
