"""Core benchmarks: green threads, queues, switches, timers and memory; green vs eventlet vs gevent
(and filament, when it can be imported: ``--filament-python``).

Each case runs for each library in a fresh process pinned to one CPU; the libraries alternate
over the rounds and the table shows medians. Run ``python benchmarks/bench_core.py --help``.

Cases (sizes are the defaults; ``--quick`` divides them by 10 and runs one round):

spawn_join   spawn 100,000 green threads running an empty function, then join each one
pingpong     two green threads pass a token through two Queues, 200,000 round trips
sleep0_1     one green thread calls sleep(0) 200,000 times (switches per second)
sleep0_100   100 green threads call sleep(0) 2,000 times each
handoff_event, handoff_semaphore, handoff_lock
             two green threads hand control back and forth through a pair of Events (set, then
             wait and clear), Semaphores (counter 0: release / acquire) or Locks (both held: one
             thread releases, the other acquires); 100,000 round trips
tpool_1      one green thread calls an empty function in the library's OS thread pool, 20,000
             times (green.tpool.execute, eventlet.tpool.execute, the gevent hub's
             threadpool.apply, filament.tpool.execute)
tpool_10     the same from 10 green threads at once, 20,000 calls in all
queue_mixed  2 OS threads put 200,000 items in all, 10 green threads get them, through each
             library's way of passing items from OS threads to green threads (see _mixed_queue)
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

# filament (github.com/comstud/filament: a C scheduler and its own greenlet build) joins when it
# can be imported, usually from a venv of its own: see --filament-python.
LIBRARIES = (*_common.LIBRARIES, "filament")
# Above this many sleepers filament's timers case does not finish in minutes (see main).
FILAMENT_TIMERS_MAX = 20_000


# -- one library's primitives, inside the child ---------------------------------------------------


class Library:
    """The handful of primitives the cases need, under uniform names.

    `lock` is each library's green lock (one green thread may release what another acquired, as
    with ``_thread`` locks); `tpool` runs a function in the library's pool of OS threads and
    returns its result; an event is set by its method named `event_set`, and made waitable again
    after it was set by its method named `event_clear`.
    """

    spawn: Callable[..., Any]
    join: Callable[[Any], Any]
    sleep: Callable[[float], None]
    queue: Callable[[], Any]
    event: Callable[[], Any]
    event_set: str
    event_clear: str
    semaphore: Callable[[int], Any]
    lock: Callable[[], Any]
    tpool: Callable[[Callable[[], Any]], Any]

    def __init__(self, name: str) -> None:
        if name == "green":
            import green
            import green.thread
            import green.tpool

            self.spawn = green.spawn
            self.join = lambda thread: thread.wait()
            self.sleep = green.sleep
            self.queue = green.Queue
            self.event = green.Event
            self.event_set = "send"
            self.event_clear = "reset"
            self.semaphore = green.Semaphore
            self.lock = green.thread.allocate_lock
            self.tpool = green.tpool.execute
        elif name == "eventlet":
            import eventlet
            import eventlet.event
            import eventlet.lock
            import eventlet.queue
            import eventlet.semaphore
            import eventlet.tpool

            self.spawn = eventlet.spawn
            self.join = lambda thread: thread.wait()
            self.sleep = eventlet.sleep
            self.queue = eventlet.queue.Queue
            self.event = eventlet.event.Event
            self.event_set = "send"
            self.event_clear = "reset"
            self.semaphore = eventlet.semaphore.Semaphore
            self.lock = eventlet.lock.Lock
            self.tpool = eventlet.tpool.execute
        elif name == "gevent":
            import gevent
            import gevent.event
            import gevent.lock
            import gevent.queue
            import gevent.thread

            self.spawn = gevent.spawn
            self.join = lambda thread: thread.join()
            self.sleep = gevent.sleep
            self.queue = gevent.queue.Queue
            self.event = gevent.event.Event
            self.event_set = "set"
            self.event_clear = "clear"
            self.semaphore = gevent.lock.Semaphore
            self.lock = gevent.thread.allocate_lock
            self.tpool = lambda function: gevent.get_hub().threadpool.apply(function)
        elif name == "filament":
            import filament
            import filament.tpool

            self.spawn = filament.spawn
            self.join = lambda thread: thread.wait()
            self.sleep = filament.sleep
            self.queue = filament.Queue
            self.event = filament.Event
            self.event_set = "set"
            self.event_clear = "clear"
            self.semaphore = filament.Semaphore
            self.lock = filament.Lock
            self.tpool = filament.tpool.execute
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
        getattr(event, library.event_set)()
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


def _hand_off(
    library: Library,
    rounds: int,
    there: Callable[[], None],
    back: Callable[[], None],
    wait_there: Callable[[], None],
    wait_back: Callable[[], None],
) -> None:
    """Ping-pong through a pair of primitives: the main green thread signals `there` and waits
    on `back`; a second green thread waits on `there` and signals `back`."""

    def other() -> None:
        for _ in range(rounds):
            wait_there()
            back()

    thread = library.spawn(other)
    for _ in range(rounds):
        there()
        wait_back()
    library.join(thread)


def case_handoff(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Two green threads hand control to each other through two Events, two Semaphores
    (counter 0) or two Locks (both held, released by one thread and acquired by the other)."""
    library = Library(name)
    count, kind = params["count"], params["kind"]
    if kind == "event":
        ping, pong = library.event(), library.event()
        # Bound methods, as the other hand-offs use: the case measures the Events, not the calls
        # around them.
        ping_wait, ping_clear = ping.wait, getattr(ping, library.event_clear)
        pong_wait, pong_clear = pong.wait, getattr(pong, library.event_clear)

        def wait_ping() -> None:
            ping_wait()
            ping_clear()

        def wait_pong() -> None:
            pong_wait()
            pong_clear()

        steps = (getattr(ping, library.event_set), getattr(pong, library.event_set), wait_ping, wait_pong)
    elif kind == "semaphore":
        ping, pong = library.semaphore(0), library.semaphore(0)
        steps = (ping.release, pong.release, ping.acquire, pong.acquire)
    elif kind == "lock":
        ping, pong = library.lock(), library.lock()
        ping.acquire()
        pong.acquire()
        steps = (ping.release, pong.release, ping.acquire, pong.acquire)
    else:
        raise ValueError(f"unknown hand-off {kind!r}")
    _hand_off(library, 1000, *steps)  # warm-up
    stopwatch = Stopwatch()
    _hand_off(library, count, *steps)
    return stopwatch.rates(count)


def case_tpool(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Round trips through the library's pool of OS threads (a call of an empty function), from
    `threads` green threads at once (1: one call after the other)."""
    library = Library(name)
    threads, count = params["threads"], params["count"]
    each = max(1, count // threads)
    execute = library.tpool

    def caller(times: int) -> None:
        for _ in range(times):
            execute(_nothing)

    for times in (50, each):  # warm-up (starts the pool's threads), then the measured run
        stopwatch = Stopwatch()
        spawned = [library.spawn(caller, times) for _ in range(threads)]
        for thread in spawned:
            library.join(thread)
    return stopwatch.rates(threads * each)


def _mixed_queue(
    name: str, library: Library
) -> tuple[Callable[[Any], None], Callable[[], Any], Callable[[], None]]:
    """(put from any OS thread, get from a green thread, close) for the queue_mixed case: each
    library's own way for OS threads to pass items to green threads.

    green and filament: their Queue, documented as safe to share with OS threads. gevent's queues
    are not thread-safe; its documented way across threads is a loop `async_` watcher (its
    ``send`` may be called from any thread): the OS threads append to a deque and send, the hub
    moves the items into a gevent Queue. eventlet has no thread-safe queue or wake-up: a green
    thread takes an item from a stdlib ``queue.Queue`` through ``eventlet.tpool.execute``.
    """
    if name in ("green", "filament"):
        shared = library.queue()
        return shared.put, shared.get, lambda: None
    if name == "gevent":
        import collections

        import gevent

        inbox: collections.deque[Any] = collections.deque()
        items = library.queue()
        watcher = gevent.get_hub().loop.async_()

        def move() -> None:
            while inbox:
                items.put_nowait(inbox.popleft())

        watcher.start(move)

        def put(item: Any) -> None:
            inbox.append(item)
            watcher.send()

        return put, items.get, watcher.close
    if name == "eventlet":
        import queue

        stdlib_queue: queue.Queue[Any] = queue.Queue()
        execute, get = library.tpool, stdlib_queue.get
        return stdlib_queue.put, lambda: execute(get), lambda: None
    raise ValueError(f"no mixed queue for {name!r}")


def case_queue_mixed(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """`producers` OS threads put `count` items in all; `consumers` green threads get them."""
    import threading

    library = Library(name)
    count, producers, consumers = params["count"], params["producers"], params["consumers"]
    each = count // producers
    put, get, close = _mixed_queue(name, library)
    received = [0]

    def produce(times: int) -> None:
        for number in range(times):
            put(number)

    def consume() -> None:
        got = 0
        while get() is not None:
            got += 1
        received[0] += got

    def run(times: int) -> None:
        threads = [threading.Thread(target=produce, args=(times,)) for _ in range(producers)]
        readers = [library.spawn(consume) for _ in range(consumers)]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            library.sleep(0.001)
        for thread in threads:
            thread.join()
        for _ in readers:
            put(None)
        for reader in readers:
            library.join(reader)

    run(100)  # warm-up
    received[0] = 0
    stopwatch = Stopwatch()
    run(each)
    result = stopwatch.rates(producers * each)
    close()
    if received[0] != producers * each:
        raise RuntimeError(f"received {received[0]} items of {producers * each}")
    return result


CASES: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
    "spawn_join": case_spawn_join,
    "pingpong": case_pingpong,
    "sleep0_1": case_sleep0,
    "sleep0_100": case_sleep0,
    "handoff_event": case_handoff,
    "handoff_semaphore": case_handoff,
    "handoff_lock": case_handoff,
    "tpool_1": case_tpool,
    "tpool_10": case_tpool,
    "queue_mixed": case_queue_mixed,
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
        "handoff_event": {"kind": "event", "count": size(100_000)},
        "handoff_semaphore": {"kind": "semaphore", "count": size(100_000)},
        "handoff_lock": {"kind": "lock", "count": size(100_000)},
        "tpool_1": {"threads": 1, "count": size(20_000)},
        "tpool_10": {"threads": 10, "count": size(20_000)},
        "queue_mixed": {"count": size(200_000), "producers": 2, "consumers": 10},
        "timers": {"count": size(100_000), "longest": 0.1},
        "rss": {"count": size(10_000)},
    }
    return table[case]


# -- the parent -----------------------------------------------------------------------------------


CPU_RATE_UNITS = ("threads/s", "round trips/s", "switches/s", "calls/s", "items/s")


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
                ("gevent", 3.0),
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
                ("gevent", 4.4),
            )
        )
    for case, label, target in (
        ("sleep0_1", "sleep(0), 1 thread", None),
        ("sleep0_100", "sleep(0), 100 threads", ("gevent", 3.5)),
    ):
        if case in results:
            rows.append(Row(label, "switches/s", True, medians(case, rate), target))
    for case, label in (
        ("handoff_event", "Event hand-off"),
        ("handoff_semaphore", "Semaphore hand-off"),
        ("handoff_lock", "Lock hand-off"),
    ):
        if case in results:
            count = params[case]["count"]
            rows.append(
                Row(f"{label} {count:,}", "round trips/s", True, medians(case, rate), ("gevent", 4.0))
            )
    for case, label in (("tpool_1", "tpool, 1 green thread"), ("tpool_10", "tpool, 10 green threads")):
        if case in results:
            rows.append(Row(label, "calls/s", True, medians(case, rate), ("gevent", 2.0)))
    if "queue_mixed" in results:
        mixed = params["queue_mixed"]
        row = Row(
            f"queue, {mixed['producers']} OS threads -> {mixed['consumers']} green threads",
            "items/s",
            True,
            medians("queue_mixed", rate),
        )
        row.notes.append(
            "green and filament share their own Queue with OS threads; gevent: the OS threads "
            "append to a deque and send() a loop async_ watcher whose callback fills a gevent "
            "Queue (gevent's queues are not thread-safe); eventlet: green threads take items "
            "from a stdlib queue.Queue through tpool.execute (eventlet has no thread-safe queue "
            "or wake-up)"
        )
        rows.append(row)
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
                target_value=6.5,  # issue 13: no worse than the 6.5 KB measured when it was filed
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES), metavar="CASE")
    parser.add_argument("--libraries", nargs="+", default=list(LIBRARIES), metavar="LIBRARY")
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
    parser.add_argument(
        "--filament-python",
        metavar="PYTHON",
        help="interpreter whose venv has filament (default: $BENCH_FILAMENT_PYTHON, else this one)",
    )
    arguments = parser.parse_args(argv)
    if arguments.filament_python:
        os.environ[_common.INTERPRETER_VARIABLE.format("FILAMENT")] = arguments.filament_python
    rounds = arguments.rounds if arguments.rounds is not None else (1 if arguments.quick else 5)
    scale = arguments.scale if arguments.scale is not None else (0.1 if arguments.quick else 1.0)
    libraries = [library for library in arguments.libraries if _common.installed(library)]
    for missing in sorted(set(arguments.libraries) - set(libraries)):
        if missing == "filament":
            print(
                f"skipping filament: cannot import it with {_common.interpreter_for('filament')} "
                "(build it from github.com/comstud/filament into a venv of its own and set "
                "BENCH_FILAMENT_PYTHON to that venv's python, or pass --filament-python)",
                file=sys.stderr,
            )
        else:
            print(f"skipping {missing}: not installed", file=sys.stderr)
    cpu = None if arguments.cpu < 0 else arguments.cpu

    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    params: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for case in arguments.cases:
        params[case] = dict(case_params(case, scale), cpu=cpu)
        progress = _common.progress_printer(case)

        def run_one(library: str, case: str = case) -> dict[str, Any]:
            return _common.run_child(SCRIPT, case, library, params[case])

        peers = libraries
        if case == "timers" and "filament" in libraries and params[case]["count"] > FILAMENT_TIMERS_MAX:
            peers = [library for library in libraries if library != "filament"]
            skipped.append(
                f"filament left out of timers: {params[case]['count']:,} sleepers is above "
                f"{FILAMENT_TIMERS_MAX:,} (filament 0.9.5 took 0.8 s for 10,000 and 2 s for 20,000, "
                "did not finish 40,000 in 100 s nor 100,000 in 300 s)"
            )
        results[case] = _common.measure(
            run_one,
            peers,
            rounds,
            progress,
        )
    sys.stderr.write("\n")
    for note in skipped:
        print(f"note: {note}")
    title = (
        f"Core benchmarks: median of {rounds} round(s), each library in a fresh process"
        f"{'' if cpu is None else f' pinned to CPU {cpu}'}\n({_common.versions_line(libraries)})"
    )
    _common.print_table(title, build_rows(results, params), libraries)
    _common.print_table(
        "The same runs, rates per CPU second of the benchmark process (steadier on a busy machine)",
        [row for row in build_rows(results, params, "per_cpu_second") if row.unit in CPU_RATE_UNITS],
        libraries,
        plot=False,
        clock="cpu",
    )
    return 0


if __name__ == "__main__":
    if not _common.child_main(CASES):
        sys.exit(main())
