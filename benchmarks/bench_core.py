"""Core benchmarks: green threads, queues, switches, timers and memory; green vs eventlet vs gevent.

Each case runs for each library in a fresh process pinned to one CPU; the libraries alternate
over the rounds and the table shows medians. Run ``python benchmarks/bench_core.py --help``.

Cases (sizes are the defaults; ``--quick`` divides them by 10 and runs one round):

spawn_join   spawn 100,000 green threads running an empty function, then join each one
pingpong     two green threads pass a token through two Queues, 200,000 round trips
sleep0_1     one green thread calls sleep(0) 200,000 times (switches per second)
sleep0_100   100 green threads call sleep(0) 2,000 times each
timers       100,000 green threads each sleep a random 0-0.1 s (same seed for every library);
             throughput of the whole run and lateness of each wake-up (actual - requested)
rss          resident memory added per green thread blocked on an Event (10,000 of them),
             from /proc/self/statm after a small warm-up
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
from _common import Row  # noqa: E402

SCRIPT = os.path.abspath(__file__)


# -- one library's primitives, inside the child ---------------------------------------------------


class Library:
    """The handful of primitives the cases need, under uniform names."""

    spawn: Callable[..., Any]
    join: Callable[[Any], Any]
    sleep: Callable[[float], None]
    queue: Callable[[], Any]
    event: Callable[[], Any]
    event_set: Callable[[Any], None]

    def __init__(self, name: str) -> None:
        if name == "green":
            import green

            self.spawn = green.spawn
            self.join = lambda thread: thread.wait()
            self.sleep = green.sleep
            self.queue = green.Queue
            self.event = green.Event
            self.event_set = lambda event: event.send()
        elif name == "eventlet":
            import eventlet
            import eventlet.event
            import eventlet.queue

            self.spawn = eventlet.spawn
            self.join = lambda thread: thread.wait()
            self.sleep = eventlet.sleep
            self.queue = eventlet.queue.Queue
            self.event = eventlet.event.Event
            self.event_set = lambda event: event.send()
        elif name == "gevent":
            import gevent
            import gevent.event
            import gevent.queue

            self.spawn = gevent.spawn
            self.join = lambda thread: thread.join()
            self.sleep = gevent.sleep
            self.queue = gevent.queue.Queue
            self.event = gevent.event.Event
            self.event_set = lambda event: event.set()
        else:
            raise ValueError(f"unknown library {name!r}")


def _nothing() -> None:
    pass


class Stopwatch:
    """Wall-clock and CPU time since creation. On a busy machine the CPU-time rate (operations
    per CPU second of this process) is the steadier figure; on an idle one the two agree."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def rates(self, operations: int) -> dict[str, float]:
        wall = time.perf_counter() - self.wall
        cpu = max(time.process_time() - self.cpu, 1e-9)
        return {"per_second": operations / wall, "per_cpu_second": operations / cpu, "seconds": wall}


def case_spawn_join(name: str, params: dict[str, Any]) -> dict[str, Any]:
    library = Library(name)
    count = params["count"]
    for thread in [library.spawn(_nothing) for _ in range(1000)]:  # warm-up
        library.join(thread)
    spawn, join = library.spawn, library.join
    stopwatch = Stopwatch()
    threads = [spawn(_nothing) for _ in range(count)]
    for thread in threads:
        join(thread)
    return stopwatch.rates(count)


def case_pingpong(name: str, params: dict[str, Any]) -> dict[str, Any]:
    library = Library(name)
    count = params["count"]
    there, back = library.queue(), library.queue()

    def echo(rounds: int) -> None:
        get, put = there.get, back.put
        for _ in range(rounds):
            put(get())

    def drive(rounds: int) -> None:
        put, get = there.put, back.get
        for number in range(rounds):
            put(number)
            get()

    for rounds in (1000, count):  # warm-up, then the measured run
        stopwatch = Stopwatch()
        echoer = library.spawn(echo, rounds)
        drive(rounds)
        library.join(echoer)
    return stopwatch.rates(count)


def case_sleep0(name: str, params: dict[str, Any]) -> dict[str, Any]:
    library = Library(name)
    threads, total = params["threads"], params["count"]
    each = total // threads
    sleep = library.sleep

    def loop(times: int) -> None:
        for _ in range(times):
            sleep(0)

    for times in (100, each):  # warm-up, then the measured run
        stopwatch = Stopwatch()
        spawned = [library.spawn(loop, times) for _ in range(threads)]
        for thread in spawned:
            library.join(thread)
    return stopwatch.rates(threads * each)


def case_timers(name: str, params: dict[str, Any]) -> dict[str, Any]:
    library = Library(name)
    count, longest = params["count"], params["longest"]
    generator = random.Random(42)
    delays = [generator.uniform(0.0, longest) for _ in range(count)]
    lateness: list[float] = []
    record = lateness.append
    sleep = library.sleep
    clock = time.perf_counter

    def sleeper(delay: float) -> None:
        started = clock()
        sleep(delay)
        record(clock() - started - delay)

    for thread in [library.spawn(sleeper, 0.001) for _ in range(100)]:  # warm-up
        library.join(thread)
    lateness.clear()
    started = clock()
    threads = [library.spawn(sleeper, delay) for delay in delays]
    for thread in threads:
        library.join(thread)
    elapsed = clock() - started
    lateness.sort()
    return {
        "per_second": count / elapsed,
        "seconds": elapsed,
        "p50_ms": lateness[len(lateness) // 2] * 1000,
        "p99_ms": lateness[int(len(lateness) * 0.99)] * 1000,
        "max_ms": lateness[-1] * 1000,
        "min_ms": lateness[0] * 1000,
    }


def case_rss(name: str, params: dict[str, Any]) -> dict[str, Any]:
    library = Library(name)
    count = params["count"]
    started = [0]

    def blocked(event: Any) -> None:
        started[0] += 1
        event.wait()

    def park(number: int) -> tuple[Any, list[Any]]:
        event = library.event()
        threads = [library.spawn(blocked, event) for _ in range(number)]
        while started[0] < number:
            library.sleep(0)
        return event, threads

    def release(event: Any, threads: list[Any]) -> None:
        library.event_set(event)
        for thread in threads:
            library.join(thread)
        started[0] = 0

    release(*park(200))  # warm-up: the hub, the allocator's first arenas
    gc.collect()
    before = _common.rss_bytes()
    event, threads = park(count)
    gc.collect()
    after = _common.rss_bytes()
    release(event, threads)
    return {"bytes_per_thread": (after - before) / count, "rss_delta": after - before}


CASES: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
    "spawn_join": case_spawn_join,
    "pingpong": case_pingpong,
    "sleep0_1": case_sleep0,
    "sleep0_100": case_sleep0,
    "timers": case_timers,
    "rss": case_rss,
}


def case_params(case: str, scale: float) -> dict[str, Any]:
    def size(number: int) -> int:
        return max(1, int(number * scale))

    table: dict[str, dict[str, Any]] = {
        "spawn_join": {"count": size(100_000)},
        "pingpong": {"count": size(200_000)},
        "sleep0_1": {"threads": 1, "count": size(200_000)},
        "sleep0_100": {"threads": 100, "count": size(200_000)},
        "timers": {"count": size(100_000), "longest": 0.1},
        "rss": {"count": size(10_000)},
    }
    return table[case]


# -- the parent -----------------------------------------------------------------------------------


CPU_RATE_UNITS = ("threads/s", "round trips/s", "switches/s")


def build_rows(
    results: dict[str, dict[str, list[dict[str, Any]]]],
    params: dict[str, dict[str, Any]],
    rate: str = "per_second",
) -> list[Row]:
    """The table rows; `rate` is "per_second" (wall clock) or "per_cpu_second" (CPU time) for
    the spawn, ping-pong and sleep(0) rows."""

    def medians(case: str, key: str, factor: float = 1.0) -> dict[str, float | None]:
        per_library = results.get(case, {})
        values: dict[str, float | None] = {}
        for library, runs in per_library.items():
            value = _common.median_of(runs, key)
            values[library] = None if value is None else value * factor
        return values

    rows: list[Row] = []
    if "spawn_join" in results:
        count = params["spawn_join"]["count"]
        rows.append(
            Row(
                f"spawn+join {count:,}",
                "threads/s",
                True,
                medians("spawn_join", rate),
                ("gevent", 1.5),
            )
        )
    if "pingpong" in results:
        count = params["pingpong"]["count"]
        rows.append(
            Row(
                f"Queue ping-pong {count:,}",
                "round trips/s",
                True,
                medians("pingpong", rate),
                ("gevent", 1.0),
            )
        )
    for case, label in (("sleep0_1", "sleep(0), 1 thread"), ("sleep0_100", "sleep(0), 100 threads")):
        if case in results:
            rows.append(Row(label, "switches/s", True, medians(case, rate), ("gevent", 1.0)))
    if "timers" in results:
        count = params["timers"]["count"]
        rows.append(Row(f"{count:,} sleeps 0-0.1 s", "wake-ups/s", True, medians("timers", "per_second")))
        rows.append(Row("  wake-up lateness p50", "ms", False, medians("timers", "p50_ms")))
        rows.append(Row("  wake-up lateness p99", "ms", False, medians("timers", "p99_ms"), ("gevent", 1.0)))
        early = medians("timers", "min_ms")
        if any(value is not None and value < -0.05 for value in early.values()):
            text = ", ".join(
                f"{library} {_common.format_value(value)} ms" for library, value in early.items()
            )
            rows[-1].notes.append(f"earliest wake-up relative to the request (negative = early): {text}")
    if "rss" in results:
        count = params["rss"]["count"]
        rows.append(
            Row(
                f"RSS per thread blocked on Event ({count:,})",
                "KB",
                False,
                medians("rss", "bytes_per_thread", 1 / 1024),
                target_value=6.0,
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES), metavar="CASE")
    parser.add_argument("--libraries", nargs="+", default=list(_common.LIBRARIES), metavar="LIBRARY")
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds per library (default 5; 1 with --quick)"
    )
    parser.add_argument(
        "--scale", type=float, default=None, help="multiply every size (default 1; 0.1 with --quick)"
    )
    parser.add_argument(
        "--cpu", type=int, default=0, help="CPU to pin each child to (-1: do not pin; default 0)"
    )
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    arguments = parser.parse_args(argv)
    rounds = arguments.rounds if arguments.rounds is not None else (1 if arguments.quick else 5)
    scale = arguments.scale if arguments.scale is not None else (0.1 if arguments.quick else 1.0)
    libraries = [library for library in arguments.libraries if _common.installed(library)]
    for missing in sorted(set(arguments.libraries) - set(libraries)):
        print(f"skipping {missing}: not installed", file=sys.stderr)
    cpu = None if arguments.cpu < 0 else arguments.cpu

    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    params: dict[str, dict[str, Any]] = {}
    for case in arguments.cases:
        params[case] = dict(case_params(case, scale), cpu=cpu)
        progress = _common.progress_printer(case)

        def run_one(library: str, case: str = case) -> dict[str, Any]:
            return _common.run_child(SCRIPT, case, library, params[case])

        results[case] = _common.measure(
            run_one,
            libraries,
            rounds,
            progress,
        )
    sys.stderr.write("\n")
    title = (
        f"Core benchmarks: median of {rounds} round(s), each library in a fresh process"
        f"{'' if cpu is None else f' pinned to CPU {cpu}'}\n({_common.versions_line(libraries)})"
    )
    _common.print_table(title, build_rows(results, params), libraries)
    _common.print_table(
        "The same runs, rates per CPU second of the benchmark process (steadier on a busy machine)",
        [row for row in build_rows(results, params, "per_cpu_second") if row.unit in CPU_RATE_UNITS],
        libraries,
    )
    return 0


if __name__ == "__main__":
    if not _common.child_main(CASES):
        sys.exit(main())
