"""Run the benchmark scripts (``benchmarks/bench_*.py``) one after another and print their tables.

Usage (this is what ``tox -e bench -- ...`` runs)::

    python benchmarks/run.py                   # every bench_*.py, default sizes
    python benchmarks/run.py core echo         # only bench_core.py and bench_echo.py
    python benchmarks/run.py --quick           # smaller sizes, one round: a smoke run
    python benchmarks/run.py echo -- --duration 5 --rounds 3   # after "--": options for the scripts
    python benchmarks/run.py --list
    python benchmarks/run.py core --plot       # and draw docs/benchmarks.png from this run
    python benchmarks/run.py core --save run.json --plot    # keep the figures as JSON too
    python benchmarks/run.py --plot-from run.json --plot    # redraw the chart without running
    python benchmarks/run.py core --filament-python /path/to/filament-venv/bin/python

Each script runs in its own interpreter, so one script crashing does not stop the others; the exit
status is non-zero if any failed. ``--quick`` sets ``BENCH_QUICK=1`` in the scripts' environment
(each script decides what quick means for it).

``--plot [PATH]`` draws every "higher is better" row of the run as bars of ratios to gevent
(benchmarks/_plot.py; needs matplotlib) with the machine, versions, date and command under it;
``--save PATH`` writes the gathered tables as JSON, which ``--plot-from PATH`` draws again;
``--plot-cpu`` charts the core rates per CPU second of the benchmark process instead of per
wall-clock second (steadier when other work shares the machine).
The scripts hand their tables over through a file named by ``$BENCH_RESULTS_FILE``.
``--filament-python`` (or ``$BENCH_FILAMENT_PYTHON``) names the interpreter of a venv where
filament is installed: bench_core runs filament's children with it.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _common  # noqa: E402

DEFAULT_PLOT = os.path.join(os.path.dirname(HERE), "docs", "benchmarks.png")
PEERS = ("green", "eventlet", "gevent", "filament", "uvloop")


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
    parser.add_argument(
        "--plot",
        nargs="?",
        const=DEFAULT_PLOT,
        metavar="PATH",
        help=f"draw the ratios to gevent as a PNG bar chart (default path {os.path.relpath(DEFAULT_PLOT)})",
    )
    parser.add_argument(
        "--plot-cpu",
        action="store_true",
        help="chart rates per CPU second where a script measured them (steadier on a busy machine)",
    )
    parser.add_argument("--save", metavar="PATH", help="write the run's tables as JSON")
    parser.add_argument(
        "--plot-from", metavar="PATH", help="draw the chart from a --save file instead of running"
    )
    parser.add_argument(
        "--filament-python",
        metavar="PYTHON",
        help="interpreter of a venv with filament (sets $BENCH_FILAMENT_PYTHON for the scripts)",
    )
    arguments = parser.parse_args(argv)
    if arguments.plot_from:
        with open(arguments.plot_from) as saved:
            results = json.load(saved)
        return draw(results, arguments.plot or DEFAULT_PLOT, arguments.plot_cpu)

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
    if arguments.filament_python:
        environment[_common.INTERPRETER_VARIABLE.format("FILAMENT")] = arguments.filament_python
    gathered = None
    if arguments.plot or arguments.save:
        descriptor, gathered = tempfile.mkstemp(prefix="bench-results-", suffix=".jsonl")
        os.close(descriptor)
        environment[_common.RESULTS_VARIABLE] = gathered
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
    status = 0
    if gathered is not None:
        results = gather(gathered, argv, passed_on, environment)
        os.unlink(gathered)
        if arguments.save:
            with open(arguments.save, "w") as out:
                json.dump(results, out, indent=1)
            print(f"saved {arguments.save}")
        if arguments.plot:
            status = draw(results, arguments.plot, arguments.plot_cpu)
    if failures:
        print(f"\nfailed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return status


def gather(path: str, argv: list[str], passed_on: list[str], environment: dict[str, str]) -> dict[str, Any]:
    """The tables the scripts appended to `path`, with the machine, versions and command."""
    with open(path) as lines:
        tables = [json.loads(line) for line in lines if line.strip()]
    seen = {library for table in tables for library in table["libraries"]}
    saved_environment = dict(os.environ)
    os.environ.update(environment)  # for the filament interpreter
    try:
        versions = _common.versions_line([library for library in PEERS if library in seen])
    finally:
        os.environ.clear()
        os.environ.update(saved_environment)
    command = ["python", "benchmarks/run.py", *argv]
    if passed_on:
        command += ["--", *passed_on]
    return {
        "machine": _common.machine_info(),
        "versions": versions,
        "command": shlex.join(command),
        "tables": tables,
    }


def draw(results: dict[str, Any], path: str, cpu: bool = False) -> int:
    """Draw the chart (benchmarks/_plot.py); 1 with a message if matplotlib is missing."""
    try:
        import _plot
    except ImportError as error:  # pragma: no cover - _plot itself imports only the stdlib
        print(f"cannot draw: {error}", file=sys.stderr)
        return 1
    try:
        _plot.draw(results, path, cpu)
    except ImportError as error:
        print(f"cannot draw the chart ({error}): pip install matplotlib", file=sys.stderr)
        return 1
    print(f"chart: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
