"""Run the benchmark scripts (``benchmarks/bench_*.py``) one after another and print their tables.

Usage (this is what ``tox -e bench -- ...`` runs)::

    python benchmarks/run.py                   # every bench_*.py, default sizes
    python benchmarks/run.py core echo         # only bench_core.py and bench_echo.py
    python benchmarks/run.py --quick           # smaller sizes, one round: a smoke run
    python benchmarks/run.py echo -- --duration 5 --rounds 3   # after "--": options for the scripts
    python benchmarks/run.py --list

Each script runs in its own interpreter, so one script crashing does not stop the others; the exit
status is non-zero if any failed. ``--quick`` sets ``BENCH_QUICK=1`` in the scripts' environment
(each script decides what quick means for it).
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def discover() -> dict[str, str]:
    """Short name ("core" for bench_core.py) -> path, in alphabetical order."""
    found = {}
    for path in sorted(glob.glob(os.path.join(HERE, "bench_*.py"))):
        found[os.path.basename(path)[len("bench_") : -len(".py")]] = path
    return found


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passed_on: list[str] = []
    if "--" in argv:
        index = argv.index("--")
        argv, passed_on = argv[:index], argv[index + 1 :]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run (core, echo, ...; default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes and one round (BENCH_QUICK=1)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    arguments = parser.parse_args(argv)

    scripts = discover()
    if arguments.list:
        for name, path in scripts.items():
            print(f"{name:12} {os.path.relpath(path)}")
        return 0
    names = arguments.names or list(scripts)
    unknown = [name for name in names if name.removeprefix("bench_").removesuffix(".py") not in scripts]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(scripts)}")
    environment = dict(os.environ)
    if arguments.quick:
        environment["BENCH_QUICK"] = "1"
    failures = []
    for name in names:
        name = name.removeprefix("bench_").removesuffix(".py")
        command = [sys.executable, scripts[name], *passed_on]
        print(
            f"\n=== {name}: {' '.join(os.path.relpath(part) if part == scripts[name] else part for part in command)}"
        )
        sys.stdout.flush()
        started = time.monotonic()
        status = subprocess.call(command, env=environment)
        print(
            f"=== {name}: {'ok' if status == 0 else f'FAILED (exit {status})'} in {time.monotonic() - started:.0f} s"
        )
        if status != 0:
            failures.append(name)
    if failures:
        print(f"\nfailed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
