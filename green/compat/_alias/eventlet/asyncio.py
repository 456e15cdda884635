"""eventlet.asyncio: spawn_for_awaitable, on green.aio's event loop integration."""

from __future__ import annotations

from typing import Any

from green.aio import run_coroutine
from green.greenthread import GreenThread, spawn

__all__ = ["spawn_for_awaitable"]


def spawn_for_awaitable(coroutine: Any) -> GreenThread:
    """A green thread that runs the awaitable `coroutine` to completion (on an asyncio loop
    driven by green's hub) and whose ``wait()`` returns its result or raises its exception."""
    return spawn(run_coroutine, coroutine)
