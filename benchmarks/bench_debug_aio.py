"""Blocking detector overhead, and asyncio served by the green hub vs asyncio's own loop.

Run ``python benchmarks/bench_debug_aio.py`` (``--quick`` for one short round, ``--rounds N``).

Cases, each in fresh processes, variants alternating over the rounds, medians reported. On a
machine shared with other work, wall-clock rates are noisy; the rates per CPU second of the
measured process (all its threads, the watchdog included) are the steadier figure.

sleep0     one green thread calls ``green.sleep(0)`` 200,000 times: switches per second with the
           detector never loaded ("off"), enabled with the default 0.1 s threshold ("on"), and
           enabled then disabled ("off again": the hub must be back to exactly its old speed)
tcp_echo   green sockets over loopback in one process: 20 client green threads each make 2,000
           64-byte request/response round trips with an echo server's green threads; round trips
           per second, detector off / on / off again
aio_echo   an asyncio echo server (Protocol-based) in one process pinned to one CPU, on the green
           hub (``green.aio.EventLoopPolicy``) or on asyncio's default loop; the load comes from a
           separate client process (asyncio, uvloop if installed, 50 connections each sending
           64 bytes and waiting for the echo) pinned to the other CPU for 2 s after a warm-up;
           round trips per second, server CPU microseconds per round trip, events per select();
           both servers run with the same fixed glibc mmap threshold (see `run_aio_round`)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

SCRIPT = os.path.abspath(__file__)
DETECTOR_VARIANTS = ("off", "on", "off again")
AIO_VARIANTS = ("asyncio default", "green hub")


# -- children -------------------------------------------------------------------------------------


def _detector(variant: str) -> None:
    if variant == "off":
        return  # green.debug is never imported
    import green.debug

    green.debug.enable_blocking_detector(0.1)
    if variant == "off again":
        green.debug.disable_blocking_detector()


def case_sleep0(variant: str, params: dict[str, Any]) -> dict[str, Any]:
    import green

    _detector(variant)
    count = params["count"]

    def loop() -> None:
        for _ in range(count):
            green.sleep(0)

    started, cpu_started = time.perf_counter(), time.process_time()
    green.spawn(loop).wait()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {"rate": count / elapsed, "cpu_rate": count / cpu}


def case_tcp_echo(variant: str, params: dict[str, Any]) -> dict[str, Any]:
    import green
    import green.socket

    _detector(variant)
    clients, trips = params["clients"], params["trips"]
    listener = green.socket.create_server(("127.0.0.1", 0), backlog=clients)
    address = listener.getsockname()
    message = b"x" * 64

    def handle(connection: Any) -> None:
        with connection:
            while data := connection.recv(4096):
                connection.sendall(data)

    def accept_all() -> None:
        for _ in range(clients):
            connection, _ = listener.accept()
            green.spawn(handle, connection)

    def client() -> None:
        with green.socket.create_connection(address) as sock:
            for _ in range(trips):
                sock.sendall(message)
                received = 0
                while received < len(message):
                    received += len(sock.recv(4096))

    acceptor = green.spawn(accept_all)
    started, cpu_started = time.perf_counter(), time.process_time()
    threads = [green.spawn(client) for _ in range(clients)]
    for thread in threads:
        thread.wait()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    acceptor.wait()
    listener.close()
    return {"rate": clients * trips / elapsed, "cpu_rate": clients * trips / cpu}


def case_aio_server(variant: str, params: dict[str, Any]) -> dict[str, Any]:
    """Serve echo until stdin closes; announce the port on stdout first."""
    import asyncio

    if variant == "green hub":
        import green.aio

        asyncio.set_event_loop_policy(green.aio.EventLoopPolicy())

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)

    counts = [0, 0]  # select calls, events returned

    async def main() -> None:
        loop = asyncio.get_running_loop()
        selector = loop._selector  # type: ignore[attr-defined]
        select = selector.select

        def counting_select(timeout: float | None = None) -> Any:
            events = select(timeout)
            counts[0] += 1
            counts[1] += len(events)
            return events

        selector.select = counting_select
        server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=256)
        port = server.sockets[0].getsockname()[1]
        sys.stdout.write(f"PORT {port} {type(loop).__name__}\n")
        sys.stdout.flush()
        stopped = loop.create_future()
        loop.add_reader(sys.stdin.fileno(), lambda: stopped.done() or stopped.set_result(None))
        await stopped
        loop.remove_reader(sys.stdin.fileno())
        server.close()

    asyncio.run(main())
    sys.stdout.write(f"SELECTS {counts[0]} {counts[1]}\n")
    return {}


def case_aio_client(variant: str, params: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    try:
        import uvloop

        uvloop.install()
        client_loop = "uvloop"
    except ImportError:
        client_loop = "asyncio"
    port, connections = params["port"], params["connections"]
    warmup, duration = params["warmup"], params["duration"]
    message = b"x" * 64

    async def one(counter: list[int], stop: list[bool]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while not stop[0]:
            writer.write(message)
            await reader.readexactly(len(message))
            counter[0] += 1
        writer.close()

    async def main() -> dict[str, Any]:
        counter, stop = [0], [False]
        tasks = [asyncio.ensure_future(one(counter, stop)) for _ in range(connections)]
        await asyncio.sleep(warmup)
        before = counter[0]
        started = time.perf_counter()
        await asyncio.sleep(duration)
        done = counter[0] - before
        elapsed = time.perf_counter() - started
        stop[0] = True
        await asyncio.gather(*tasks, return_exceptions=True)
        return {"rate": done / elapsed, "trips": done, "client_loop": client_loop}

    return asyncio.run(main())


CASES = {
    "sleep0": case_sleep0,
    "tcp_echo": case_tcp_echo,
    "aio_server": case_aio_server,
    "aio_client": case_aio_client,
}


# -- parent ---------------------------------------------------------------------------------------


def run_aio_round(variant: str, params: dict[str, Any]) -> dict[str, Any]:
    # asyncio receives into a fresh 256 KiB bytes object per read. With glibc's default malloc
    # settings that is an mmap + mremap + munmap per read -- unless an earlier free of a large
    # block happened to raise glibc's adaptive mmap threshold, which depends on what the process
    # imported. Fixed thresholds (no mmap, no trimming for such blocks) give both variants the
    # same allocator.
    environment = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(4 << 20), MALLOC_TRIM_THRESHOLD_=str(64 << 20))
    server = subprocess.Popen(
        [sys.executable, SCRIPT, "--child", "aio_server", variant, json.dumps({"cpu": 0})],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        assert server.stdout is not None and server.stdin is not None
        line = server.stdout.readline().split()
        if not line or line[0] != "PORT":
            raise _common.ChildFailed(f"aio server ({variant}) did not start: {line}")
        port = int(line[1])
        cpu_before = _common.cpu_seconds(server.pid)
        client_params = dict(params, port=port, cpu=1)
        result = _common.run_child(SCRIPT, "aio_client", variant, client_params)
        cpu_after = _common.cpu_seconds(server.pid)
        total_trips = result["trips"] * (params["warmup"] + params["duration"]) / params["duration"]
        result["cpu_us"] = (cpu_after - cpu_before) / total_trips * 1e6 if total_trips else None
        result["server_loop"] = line[2]
        server.stdin.close()
        for line_text in server.stdout:
            if line_text.startswith("SELECTS"):
                calls, events = map(int, line_text.split()[1:])
                result["events_per_select"] = events / calls if calls else None
        server.wait(timeout=30)
        return result
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def medians(
    results: dict[str, list[dict[str, Any]]], key: str, variants: tuple[str, ...]
) -> dict[str, float | None]:
    return {variant: _common.median_of(results.get(variant, []), key) for variant in variants}


def table(
    title: str, rows: list[tuple[str, str, dict[str, float | None]]], variants: tuple[str, ...]
) -> None:
    baseline = variants[0]
    header = ["metric", "unit", *variants, *(f"{variant}/{baseline}" for variant in variants[1:])]
    lines = [header]
    for metric, unit, values in rows:
        base = values.get(baseline)
        ratios = [
            f"{values[variant] / base:.3f}" if base and values.get(variant) is not None else "-"
            for variant in variants[1:]
        ]
        lines.append(
            [metric, unit, *(_common.format_value(values.get(variant)) for variant in variants), *ratios]
        )
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    print(f"\n{title}")
    for index, line in enumerate(lines):
        print("  ".join(cell.ljust(widths[column]) for column, cell in enumerate(line)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
    sys.stdout.flush()


def main() -> None:
    if _common.child_main(CASES):
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one round, a tenth of the work")
    parser.add_argument("--cases", default="sleep0,tcp_echo,aio_echo")
    arguments = parser.parse_args()
    rounds = 1 if arguments.quick else arguments.rounds
    scale = 10 if arguments.quick else 1
    cases = arguments.cases.split(",")
    print(f"{_common.versions_line(())}; {rounds} rounds, medians")

    if "sleep0" in cases:
        params = {"count": 200_000 // scale, "cpu": 0}
        results = _common.measure(
            lambda variant: _common.run_child(SCRIPT, "sleep0", variant, params),
            DETECTOR_VARIANTS,
            rounds,
            _common.progress_printer("sleep0"),
        )
        table(
            "sleep(0) with the blocking detector",
            [
                ("sleep(0)", "switches/CPU s", medians(results, "cpu_rate", DETECTOR_VARIANTS)),
                ("sleep(0)", "switches/wall s", medians(results, "rate", DETECTOR_VARIANTS)),
            ],
            DETECTOR_VARIANTS,
        )

    if "tcp_echo" in cases:
        params = {"clients": 20, "trips": 2_000 // scale, "cpu": 0}
        results = _common.measure(
            lambda variant: _common.run_child(SCRIPT, "tcp_echo", variant, params),
            DETECTOR_VARIANTS,
            rounds,
            _common.progress_printer("tcp_echo"),
        )
        table(
            "green TCP echo with the blocking detector",
            [
                ("echo 64 B", "round trips/CPU s", medians(results, "cpu_rate", DETECTOR_VARIANTS)),
                ("echo 64 B", "round trips/wall s", medians(results, "rate", DETECTOR_VARIANTS)),
            ],
            DETECTOR_VARIANTS,
        )

    if "aio_echo" in cases:
        params = {"connections": 50, "warmup": 0.3, "duration": 2.0 / (5 if arguments.quick else 1)}
        results = _common.measure(
            lambda variant: run_aio_round(variant, params),
            AIO_VARIANTS,
            rounds,
            _common.progress_printer("aio_echo"),
        )
        rates = {variant: _common.median_of(results.get(variant, []), "rate") for variant in AIO_VARIANTS}
        cpu = {variant: _common.median_of(results.get(variant, []), "cpu_us") for variant in AIO_VARIANTS}
        batch = {
            variant: _common.median_of(results.get(variant, []), "events_per_select")
            for variant in AIO_VARIANTS
        }
        client_loop = next((r["client_loop"] for rs in results.values() for r in rs), "?")
        table(
            f"asyncio echo server, 50 connections, client on {client_loop} in another process",
            [
                ("echo 64 B", "round trips/s", rates),
                ("server CPU", "us/round trip", cpu),
                ("events per select()", "events", batch),
            ],
            AIO_VARIANTS,
        )
        spread = {
            variant: (min(r["rate"] for r in rs), max(r["rate"] for r in rs))
            for variant, rs in results.items()
        }
        print(
            "  spread (min..max round trips/s): "
            + "; ".join(f"{variant} {low:,.0f}..{high:,.0f}" for variant, (low, high) in spread.items())
        )


if __name__ == "__main__":
    main()
