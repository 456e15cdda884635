"""Shared machinery of the benchmark scripts: fresh processes, alternating rounds, medians, tables.

Why it looks like this
----------------------
green, eventlet and gevent each install a hub and (for eventlet and gevent) patch things on
import, so two of them never share a process: every measurement runs in a fresh child process
that imports exactly one library. A script calls itself as that child::

    python benchmarks/bench_core.py --child CASE LIBRARY '{"param": 1}'

and the child prints one line ``RESULT {json}`` on stdout (`child_main` does this). The parent
(`measure`) runs the libraries in rounds and rotates their order every round, so a slow phase of
the machine (another process waking up, thermal drift) hits every library alike instead of one
library's block; the reported figure is the median over the rounds.

A child can pin itself to one CPU (`pin_to_cpu`: ``os.sched_setaffinity``, the same as
``taskset -c``) so the scheduler does not move it between cores mid-measurement.

Ratios are printed as green/other for every row. Whether bigger is better depends on the row
(operations per second: yes; latency and memory: no), so every row names its direction and the
target column says whether green met its goal.
"""

from __future__ import annotations

import json
import os
import resource
import select
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

LIBRARIES = ("green", "eventlet", "gevent")

# Libraries that may live in another interpreter (their own venv): the child runs under the
# interpreter named by the environment variable BENCH_<LIBRARY>_PYTHON when it is set.
INTERPRETER_VARIABLE = "BENCH_{}_PYTHON"

# When set, `print_table` appends every table it prints to this file as one JSON line, so that
# run.py can gather the results of several scripts (--save, --plot).
RESULTS_VARIABLE = "BENCH_RESULTS_FILE"

RESULT_PREFIX = "RESULT "


# -- in the child ---------------------------------------------------------------------------------


def pin_to_cpu(cpu: int | None) -> None:
    """Pin the calling process to one CPU (ignored where affinity is not supported or `cpu` is
    None, or if the CPU is not available to this process)."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return
    try:
        if cpu in os.sched_getaffinity(0):
            os.sched_setaffinity(0, {cpu})
    except OSError:
        pass


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/statm (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of this process (or `pid`, from /proc/<pid>/stat)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    with open(f"/proc/{pid}/stat") as stat:
        # The command name (field 2) may contain spaces; everything after its ')' is fixed.
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def library_version(library: str) -> str:
    """The installed version of `library` (import it first)."""
    module = sys.modules.get(library)
    return str(getattr(module, "__version__", "?"))


def child_main(cases: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]]) -> bool:
    """If this process was started as ``script --child CASE LIBRARY PARAMS``, run
    ``cases[CASE](LIBRARY, PARAMS)``, print its result dict as ``RESULT {json}`` and return
    True; otherwise return False (the script is running as the parent)."""
    if len(sys.argv) < 2 or sys.argv[1] != "--child":
        return False
    case, library = sys.argv[2], sys.argv[3]
    params = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    pin_to_cpu(params.get("cpu"))
    result = cases[case](library, params)
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    return True


# -- in the parent --------------------------------------------------------------------------------


class ChildFailed(RuntimeError):
    """A benchmark child process exited without printing a result."""


def run_child(
    script: str, case: str, library: str, params: dict[str, Any], timeout: float = 300.0
) -> dict[str, Any]:
    """Run one case for one library in a fresh interpreter; return the dict it printed.

    Raises ChildFailed (with the child's stderr) if it crashed, timed out or printed no result.
    """
    command = [interpreter_for(library), script, "--child", case, library, json.dumps(params)]
    environment = dict(os.environ)
    environment.setdefault("PYTHONWARNINGS", "ignore")
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=environment, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise ChildFailed(f"{case}/{library} timed out after {timeout:.0f} s") from error
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise ChildFailed(
        f"{case}/{library} exited with {completed.returncode} and no result:\n" + completed.stderr[-3000:]
    )


def rotated(items: Sequence[str], round_number: int) -> list[str]:
    """`items` rotated left by `round_number`: each round starts with a different library."""
    shift = round_number % len(items) if items else 0
    return list(items[shift:]) + list(items[:shift])


def measure(
    run_one: Callable[[str], dict[str, Any] | None],
    libraries: Sequence[str],
    rounds: int,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Call ``run_one(library)`` `rounds` times per library, rotating the library order every
    round. Returns library -> list of result dicts. A library whose `run_one` returns None or
    raises ChildFailed is reported once and dropped for the rest of the rounds."""
    results: dict[str, list[dict[str, Any]]] = {library: [] for library in libraries}
    failed: set[str] = set()
    for round_number in range(rounds):
        for library in rotated(libraries, round_number):
            if library in failed:
                continue
            try:
                result = run_one(library)
            except ChildFailed as error:
                print(f"  ! {library} failed: {error}", file=sys.stderr)
                failed.add(library)
                continue
            if result is None:
                failed.add(library)
                continue
            results[library].append(result)
            if progress is not None:
                progress(f"round {round_number + 1}/{rounds} {library}")
    return {library: values for library, values in results.items() if values}


def median_of(results: list[dict[str, Any]], key: str) -> float | None:
    """The median of `key` over the result dicts that have it (None if none do)."""
    values = [result[key] for result in results if result.get(key) is not None]
    return statistics.median(values) if values else None


def interpreter_for(library: str) -> str:
    """The Python that runs `library`'s children: ``$BENCH_<LIBRARY>_PYTHON`` if set (filament
    lives in a venv of its own), else this interpreter."""
    return os.environ.get(INTERPRETER_VARIABLE.format(library.upper())) or sys.executable


def installed(library: str) -> bool:
    """Whether `library` can be imported in a child (checked without importing it here)."""
    import importlib.util

    interpreter = interpreter_for(library)
    if interpreter == sys.executable:
        return importlib.util.find_spec(library) is not None
    try:
        completed = subprocess.run(
            [interpreter, "-c", f"import {library}"], capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return completed.returncode == 0


def progress_printer(title: str) -> Callable[[str], None]:
    """A progress callback writing ``title: message`` to stderr, overwriting the line."""
    started = time.monotonic()

    def report(message: str) -> None:
        sys.stderr.write(f"\r  {title}: {message} ({time.monotonic() - started:.0f} s)\x1b[K")
        sys.stderr.flush()

    return report


# -- tables ---------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of a results table: a metric, its value per library, and green's target."""

    metric: str
    unit: str
    higher_is_better: bool
    values: dict[str, float | None]
    # (library, ratio): green/library must be >= ratio (higher is better) or <= ratio (lower).
    target_ratio: tuple[str, float] | None = None
    # An absolute bound on green's own value: >= (higher is better) or <= (lower is better).
    target_value: float | None = None
    notes: list[str] = field(default_factory=list)

    def target_text(self) -> str:
        if self.target_ratio is not None:
            library, ratio = self.target_ratio
            sign = ">=" if self.higher_is_better else "<="
            return f"{sign} {ratio:g}x {library}"
        if self.target_value is not None:
            sign = ">=" if self.higher_is_better else "<="
            return f"{sign} {format_value(self.target_value)} {self.unit}"
        return ""

    def target_met(self) -> bool | None:
        green = self.values.get("green")
        if green is None:
            return None
        if self.target_ratio is not None:
            library, ratio = self.target_ratio
            other = self.values.get(library)
            if other is None or other == 0:
                return None
            actual = green / other
            return actual >= ratio if self.higher_is_better else actual <= ratio
        if self.target_value is not None:
            return green >= self.target_value if self.higher_is_better else green <= self.target_value
        return None


def format_value(value: float | None) -> str:
    """A number in at most ~4 significant digits, with thousands separators when large."""
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 10_000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def print_table(
    title: str,
    rows: list[Row],
    libraries: Sequence[str],
    out: Any = None,
    plot: bool = True,
    clock: str = "wall",
) -> None:
    """Print `rows` as an aligned text table: values per library, green/other ratios, targets.

    With ``$BENCH_RESULTS_FILE`` set, also append the table to that file as one JSON line
    (`plot`: whether run.py's chart draws its rows by default; `clock`: "wall" for rates over
    wall-clock time, "cpu" for a table repeating rows as rates per CPU second, which the chart
    draws instead of their wall-clock rows with ``--plot-cpu``).
    """
    out = out if out is not None else sys.stdout
    record_table(title, rows, libraries, plot, clock)
    others = [library for library in libraries if library != "green"]
    header = ["metric", "unit", *libraries, *(f"green/{other}" for other in others), "target", "met"]
    lines = [header]
    for row in rows:
        green = row.values.get("green")
        ratios = []
        for other in others:
            value = row.values.get(other)
            ratios.append(f"{green / value:.2f}x" if green is not None and value else "-")
        met = row.target_met()
        met_text = (
            ""
            if met is None and not row.target_text()
            else ("?" if met is None else ("yes" if met else "NO"))
        )
        direction = "(higher better)" if row.higher_is_better else "(lower better)"
        lines.append(
            [
                row.metric,
                f"{row.unit} {direction}",
                *(format_value(row.values.get(library)) for library in libraries),
                *ratios,
                row.target_text(),
                met_text,
            ]
        )
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    print(f"\n{title}", file=out)
    for index, line in enumerate(lines):
        cells = [
            cell.ljust(widths[column])
            if column < 2 or column >= len(header) - 2
            else cell.rjust(widths[column])
            for column, cell in enumerate(line)
        ]
        print("  ".join(cells).rstrip(), file=out)
        if index == 0:
            print("  ".join("-" * width for width in widths), file=out)
    for row in rows:
        for note in row.notes:
            print(f"  note ({row.metric}): {note}", file=out)
    out.flush()


def record_table(
    title: str, rows: list[Row], libraries: Sequence[str], plot: bool = True, clock: str = "wall"
) -> None:
    """Append one table to ``$BENCH_RESULTS_FILE`` as a JSON line (nothing if it is not set)."""
    path = os.environ.get(RESULTS_VARIABLE)
    if not path:
        return
    table = {
        "script": os.path.basename(sys.argv[0]),
        "title": title,
        "libraries": list(libraries),
        "plot": plot,
        "clock": clock,
        "rows": [
            {
                "metric": row.metric,
                "unit": row.unit,
                "higher_is_better": row.higher_is_better,
                "values": row.values,
                "target": row.target_text(),
                "met": row.target_met(),
            }
            for row in rows
        ],
    }
    with open(path, "a") as results:
        results.write(json.dumps(table) + "\n")


def _version_elsewhere(interpreter: str, library: str) -> str:
    """`library`'s version and the Python version as seen by another interpreter."""
    code = (
        "import sys\nfrom importlib import metadata\n"
        f"print(metadata.version({library!r}), sys.version.split()[0])"
    )
    try:
        completed = subprocess.run(
            [interpreter, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "(not installed)"
    if completed.returncode != 0:
        return "(not installed)"
    version, python = completed.stdout.split()
    return f"{version} on Python {python}"


def versions_line(libraries: Sequence[str]) -> str:
    """Python and library versions, for the table's caption (looked up in a child-free way)."""
    from importlib import metadata

    parts = [f"Python {sys.version.split()[0]}"]
    for library in libraries:
        interpreter = interpreter_for(library)
        if interpreter != sys.executable:
            parts.append(f"{library} {_version_elsewhere(interpreter, library)}")
            continue
        try:
            parts.append(f"{library} {metadata.version(library)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{library} (not installed)")
    try:
        parts.append(f"greenlet {metadata.version('greenlet')}")
    except metadata.PackageNotFoundError:
        pass
    parts.append(f"{os.cpu_count()} CPUs")
    return ", ".join(parts)


def drive_round_trips(
    sockets: list[Any], message: bytes, reply_size: int, params: dict[str, Any]
) -> dict[str, Any]:
    """Keep one `message` in flight on each non-blocking socket (answered by `reply_size` bytes)
    for ``params["warmup"]`` + ``params["duration"]`` seconds, in one epoll loop; measure the
    last part. Returns round trips per second, latency percentiles (microseconds) and the CPU
    used by this process and by ``params["server_pid"]`` during the measured window."""
    server_pid = params["server_pid"]
    count = len(sockets)
    highest = max(connection.fileno() for connection in sockets) + 1
    receivers: list[Any] = [None] * highest
    senders: list[Any] = [None] * highest
    sent_at = [0] * highest
    pending = [0] * highest
    poller = select.epoll()
    for connection in sockets:
        fd = connection.fileno()
        receivers[fd] = connection.recv
        senders[fd] = connection.send
        poller.register(fd, select.EPOLLIN)
    clock = time.perf_counter_ns
    latencies: list[int] = []

    def run_until(deadline: int, record: Any) -> int:
        poll = poller.poll
        trips = 0
        now = clock()
        while now < deadline:
            for fd, _ in poll(0.1, count):
                data = receivers[fd](65536)
                if not data:
                    raise ConnectionError(f"the server closed connection fd {fd}")
                got = pending[fd] + len(data)
                if got < reply_size:
                    pending[fd] = got
                    continue
                pending[fd] = got - reply_size
                now = clock()
                if record is not None:
                    record(now - sent_at[fd])
                senders[fd](message)
                sent_at[fd] = now
                trips += 1
            now = clock()
        return trips

    started = clock()
    for connection in sockets:
        sent_at[connection.fileno()] = started
        connection.send(message)
    run_until(started + int(params["warmup"] * 1e9), None)
    load_cpu_before = cpu_seconds()
    server_cpu_before = cpu_seconds(server_pid)
    window_start = clock()
    trips = run_until(window_start + int(params["duration"] * 1e9), latencies.append)
    window = (clock() - window_start) / 1e9
    load_cpu = cpu_seconds() - load_cpu_before
    server_cpu = cpu_seconds(server_pid) - server_cpu_before
    poller.close()
    for connection in sockets:
        connection.close()
    latencies.sort()

    def percentile(fraction: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * fraction))] / 1000

    return {
        "per_second": trips / window,
        "p50_us": percentile(0.50),
        "p99_us": percentile(0.99),
        "load_cpu": 100 * load_cpu / window,
        "server_cpu": 100 * server_cpu / window,
        "server_us_per_trip": 1e6 * server_cpu / max(trips, 1),
    }


def machine_info() -> dict[str, Any]:
    """The machine, for a chart's caption: CPU model, CPUs, Python, kernel, date (UTC)."""
    import platform

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": " ".join(model.split()),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "system": f"{platform.system()} {platform.release()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
