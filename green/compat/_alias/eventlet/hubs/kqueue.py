"""eventlet.hubs.kqueue: importable on every platform, as eventlet's is, and never available:
green has no kqueue backend (its hubs are epolls, poll and selects)."""

from __future__ import annotations


def is_available() -> bool:
    """False: green's hubs do not use kqueue (``eventlet.hubs.use_hub("kqueue")`` raises)."""
    return False
