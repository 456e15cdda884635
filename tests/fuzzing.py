"""Shared settings of the hypothesis fuzz tests (test_fuzz_*.py).

The default run gives each fuzz target a small fixed budget: `GREEN_FUZZ_EXAMPLES` examples
(default 150), derandomized (the same examples on every run, so CI cannot flake on a lucky
draw) and without hypothesis' example database. `tox -e fuzz` sets a much larger budget and
`GREEN_FUZZ_RANDOM=1`, which draws fresh random examples each run; a failure then prints the
`@reproduce_failure` blob that replays it.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("GREEN_FUZZ_EXAMPLES", "150"))
RANDOM = os.environ.get("GREEN_FUZZ_RANDOM", "") not in ("", "0")
# pytest-timeout for one fuzz test: generous for the budget (an example takes milliseconds).
TIMEOUT = max(120, EXAMPLES // 10)


def fuzz_settings(examples_scale: float = 1.0) -> Any:
    """hypothesis settings for one fuzz target: `examples_scale` times the budget."""
    return settings(
        max_examples=max(1, int(EXAMPLES * examples_scale)),
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        print_blob=RANDOM,
        suppress_health_check=list(HealthCheck),
    )


# Byte strings that tend to matter to parsers, spliced in by the mutators.
INTERESTING = [
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n\r\n",
    b":",
    b" ",
    b"\t",
    b"\x00",
    b"\xff",
    b"0",
    b"-1",
    b"ffffffffffffffffff",
    b"99999999999999999999",
    b";",
    b",",
    b"chunked",
    b"Content-Length: ",
    b"Transfer-Encoding: chunked\r\n",
    b"Expect: 100-continue\r\n",
    b"Connection: close\r\n",
    b"Host: a\r\n",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"GET / HTTP/1.1\r\n",
    b"%00",
    b"%",
]


def mutate(data: bytes, draw: Any, strategies: Any) -> bytes:
    """Apply 1 to 6 random byte-level mutations to `data` (`draw` is hypothesis' data.draw)."""
    st = strategies
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, 6), label="mutations")):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "duplicate", "splice", "truncate"]))
        position = draw(st.integers(0, len(buffer)))
        if kind == "flip" and buffer:
            index = min(position, len(buffer) - 1)
            buffer[index] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and buffer:
            index = min(position, len(buffer) - 1)
            buffer[index] = draw(st.integers(0, 255))
        elif kind == "insert":
            buffer[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            buffer[position : position + draw(st.integers(1, 16))] = b""
        elif kind == "duplicate":
            length = draw(st.integers(1, 64))
            buffer[position:position] = buffer[position : position + length]
        elif kind == "splice":
            buffer[position:position] = draw(st.sampled_from(INTERESTING))
        elif kind == "truncate":
            del buffer[position:]
    return bytes(buffer)
