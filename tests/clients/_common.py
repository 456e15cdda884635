"""Helpers for the client-library scripts (imported after green.monkey_patch())."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import green


def server(name: str) -> tuple[str, int]:
    """(host, port) of a server the test runner started (see tests/servers.py)."""
    prefix = f"GREEN_TEST_{name.upper()}"
    return os.environ[f"{prefix}_HOST"], int(os.environ[f"{prefix}_PORT"])


class Ticker:
    """A green thread that counts hub turns: if a call blocks the hub, it stops counting."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.ticks = 0
        self.thread = green.spawn(self._run)

    def _run(self) -> None:
        while True:
            green.sleep(self.interval)
            self.ticks += 1

    def stop(self) -> int:
        self.thread.kill()
        return self.ticks


def concurrently(count: int, function: Callable[[int], Any]) -> tuple[float, list[Any], int]:
    """Run function(0..count-1) in `count` green threads; (elapsed seconds, results, hub ticks)."""
    ticker = Ticker()
    started = time.monotonic()
    pool = green.GreenPool(count)
    results = list(pool.imap(function, range(count)))
    elapsed = time.monotonic() - started
    return elapsed, results, ticker.stop()


def assert_overlapped(label: str, elapsed: float, ticks: int, one_call: float, count: int) -> None:
    """`count` calls of `one_call` seconds each finished together: far below count * one_call, and
    the hub kept turning meanwhile."""
    serial = one_call * count
    assert elapsed < serial / 3, (
        f"{label}: {count} calls of {one_call} s took {elapsed:.2f} s (serial: {serial} s)"
    )
    assert ticks >= one_call / 0.01 / 4, f"{label}: the hub turned only {ticks} times in {elapsed:.2f} s"
    print(f"{label}: {count} x {one_call} s in {elapsed:.2f} s, {ticks} hub ticks")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))
