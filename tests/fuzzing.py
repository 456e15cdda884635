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
from hypothesis import strategies as st

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


MUTATION_KINDS = ["flip", "set", "insert", "delete", "duplicate", "splice", "truncate"]


@st.composite
def mutations(draw: Any) -> list[tuple[str, int, int, bytes]]:
    """1 to 6 byte-level mutations, drawn ahead so that they can be applied later (on another
    thread, to bytes not known yet): (kind, position, number, bytes); positions wrap around."""
    return draw(
        st.lists(
            st.tuples(
                st.sampled_from(MUTATION_KINDS),
                st.integers(0, 1 << 16),
                st.integers(0, 255),
                st.one_of(st.binary(min_size=1, max_size=8), st.sampled_from(INTERESTING)),
            ),
            min_size=1,
            max_size=6,
        )
    )


def apply_mutations(data: bytes, operations: list[tuple[str, int, int, bytes]]) -> bytes:
    """`data` changed by the `mutations()` drawn."""
    buffer = bytearray(data)
    for kind, where, number, piece in operations:
        position = where % (len(buffer) + 1)
        index = where % len(buffer) if buffer else 0
        if kind == "flip" and buffer:
            buffer[index] ^= 1 << (number % 8)
        elif kind == "set" and buffer:
            buffer[index] = number
        elif kind == "insert":
            buffer[position:position] = piece
        elif kind == "delete":
            buffer[position : position + 1 + number % 16] = b""
        elif kind == "duplicate":
            buffer[position:position] = buffer[position : position + 1 + number % 64]
        elif kind == "splice":
            buffer[position:position] = INTERESTING[number % len(INTERESTING)]
        elif kind == "truncate":
            del buffer[position:]
    return bytes(buffer)
