"""eventlet.hubs.asyncio: importable so that programs can ask ``isinstance(get_hub(), Hub)``.

green has no asyncio-based hub (green.aio runs asyncio code on green's own hub instead), so the
answer is always False, and ``eventlet.hubs.use_hub("asyncio")`` raises ValueError.
"""

from __future__ import annotations

from typing import Any


class Hub:
    """eventlet's asyncio hub; green never creates one (constructing it raises RuntimeError)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("green has no asyncio-based hub: green.aio runs asyncio code on green's own hub")


__all__ = ["Hub"]
