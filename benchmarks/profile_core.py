"""Where green's time goes in each core benchmark: a sampling profile per case, as a short table.

Usage::

    python benchmarks/profile_core.py                     # every speed case of bench_core.py
    python benchmarks/profile_core.py pingpong tpool_1    # some of them
    python benchmarks/profile_core.py --tool cprofile     # without py-spy (see below)

Each case runs as bench_core.py's child (``--child CASE green``, pinned to CPU 0, at ``--scale``
times its default size) under the profiler, and the script prints, per case, the functions with
the largest share of the samples taken while that function was the innermost Python frame ("self"
time: it includes the C functions it calls, such as ``greenlet.switch`` or ``deque.append``, which
py-spy does not show without ``--native``), with its three hottest lines, then the same shares summed per source file. Samples
taken while modules were being imported are left out.

py-spy (``pip install py-spy``, the default tool) samples the running stack from outside, so it
sees each greenlet's frames as they run; it samples only the thread holding the GIL (``--gil``),
so OS threads blocked in a lock or the hub blocked in ``epoll_wait`` (the tpool and mixed-queue
cases) do not count: the table is where the CPU time of Python code goes. cProfile is the fallback: it traces calls and returns
per OS thread, not per greenlet, so a switch leaves its bookkeeping confused (time spent in the
other greenlet can be charged to the function that called ``switch``) and its tracing slows
small functions far more than large ones; read its figures as rough.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORE = os.path.join(HERE, "bench_core.py")
sys.path.insert(0, HERE)

import bench_core  # noqa: E402

SPEED_CASES = [case for case in bench_core.CASES if case not in ("timers", "rss")]
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def short_file(path: str) -> str:
    """green/hubs/hub.py for a file of green; the base name for anything else."""
    marker = f"{os.sep}green{os.sep}"
    if marker in path:
        return "green" + os.sep + path.rsplit(marker, 1)[1]
    if path.startswith("green" + os.sep):
        return path
    return os.path.basename(path)


Counts = collections.Counter[tuple[str, str]]


def profile_py_spy(case: str, params: dict, rate: int) -> tuple[Counts, Counts]:
    """Self samples per (function, file) and per (function, file:line), from ``py-spy record
    --format raw``."""
    with tempfile.TemporaryDirectory() as directory:
        output = os.path.join(directory, "stacks.txt")
        command = [
            py_spy(),
            "record",
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--gil",
            "--output",
            output,
            "--",
            sys.executable,
            CORE,
            "--child",
            case,
            "green",
            json.dumps(params),
        ]
        subprocess.run(command, capture_output=True, check=True)
        with open(output) as stacks:
            lines = stacks.read().splitlines()
    counts: Counts = collections.Counter()
    by_line: Counts = collections.Counter()
    for line in lines:
        stack, _, number = line.rpartition(" ")
        if not stack or "_find_and_load" in stack:
            continue
        match = FRAME.match(stack.split(";")[-1])
        if match is None:
            continue
        path = short_file(match["file"])
        counts[(match["function"], path)] += int(number)
        by_line[(match["function"], f"{path}:{match['line']}")] += int(number)
    return counts, by_line


def profile_cprofile(case: str, params: dict) -> Counts:
    """Self time (microseconds) per (function, file) from cProfile's tottime."""
    import pstats

    with tempfile.TemporaryDirectory() as directory:
        output = os.path.join(directory, "profile.out")
        command = [sys.executable, "-m", "cProfile", "-o", output, CORE, "--child", case, "green"]
        subprocess.run([*command, json.dumps(params)], capture_output=True, check=True)
        statistics = pstats.Stats(output)
    counts: Counts = collections.Counter()
    for (path, _, function), row in statistics.stats.items():  # type: ignore[attr-defined]
        if "importlib" in path:
            continue
        counts[(function, short_file(path))] += int(row[2] * 1e6)
    return counts


def py_spy() -> str:
    found = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(found):
        raise SystemExit("py-spy is not installed (pip install py-spy), or use --tool cprofile")
    return found


def report(case: str, counts: Counts, by_line: Counts | None, top: int, unit: str) -> None:
    total = sum(counts.values()) or 1
    print(f"\n== {case}: {total:,} {unit}")
    for (function, path), number in counts.most_common(top):
        lines = ""
        if by_line is not None:
            hot = sorted(
                (
                    (count, where.rsplit(":", 1)[1])
                    for (name, where), count in by_line.items()
                    if name == function and where.rsplit(":", 1)[0] == path
                ),
                reverse=True,
            )[:3]
            lines = "  lines " + ", ".join(f"{line} {100 * count / total:.1f}%" for count, line in hot)
        print(f"  {100 * number / total:5.1f}%  {function}  ({path}){lines}")
    per_file: collections.Counter[str] = collections.Counter()
    for (_, path), number in counts.items():
        per_file[path] += number
    print("  per file: " + ", ".join(f"{path} {100 * n / total:.0f}%" for path, n in per_file.most_common(6)))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("cases", nargs="*", default=SPEED_CASES, help=f"default: {' '.join(SPEED_CASES)}")
    parser.add_argument("--tool", choices=("py-spy", "cprofile"), default="py-spy")
    parser.add_argument("--scale", type=float, default=2.0, help="multiply each case's size (default 2)")
    parser.add_argument("--rate", type=int, default=1000, help="py-spy samples per second (default 1000)")
    parser.add_argument("--top", type=int, default=12, help="functions listed per case (default 12)")
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin to (-1: do not pin)")
    arguments = parser.parse_args()
    for case in arguments.cases:
        if case not in bench_core.CASES:
            parser.error(f"unknown case {case!r}")
        params = dict(
            bench_core.case_params(case, arguments.scale), cpu=None if arguments.cpu < 0 else arguments.cpu
        )
        if arguments.tool == "py-spy":
            counts, by_line = profile_py_spy(case, params, arguments.rate)
            report(case, counts, by_line, arguments.top, "samples")
        else:
            report(case, profile_cprofile(case, params), None, arguments.top, "us of self time")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
