"""Memory over many hand-offs: RSS and tracemalloc's traced size stay flat (a reference leaked
per wake-up, in the compiled core or the Python code, would grow them by the item count).

    python benchmarks/leakcheck_core.py [--hand-offs 1000000]      (GREEN_PURE=1: the Python path)

Runs queue ping-pong, Event, Semaphore and sleep(0) hand-offs, a timed wait, a kill while parked
and an exception thrown into a parked waiter, in rounds; prints RSS and traced memory after each.
"""

from __future__ import annotations

import argparse
import gc
import resource
import tracemalloc

import green
from green._compiled import core
from green._waiter import Waiter
from green.semaphore import Semaphore


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def one_round(hand_offs: int) -> None:
    ping, pong = green.Queue(), green.Queue()

    def echo() -> None:
        for _ in range(hand_offs // 4):
            pong.put(ping.get())

    thread = green.spawn(echo)
    for number in range(hand_offs // 4):
        ping.put(number)
        pong.get()
    thread.wait()

    first, second = Semaphore(0), Semaphore(0)

    def bounce() -> None:
        for _ in range(hand_offs // 8):
            first.acquire()
            second.release()

    thread = green.spawn(bounce)
    for _ in range(hand_offs // 8):
        first.release()
        second.acquire()
    thread.wait()

    for _ in range(hand_offs // 8):
        event = green.Event()
        waiting = green.spawn(event.wait)
        green.sleep(0)
        event.send(1)
        waiting.wait()

    for _ in range(hand_offs // 100):
        Waiter().wait(0)  # a timed wait that times out
        waiter = Waiter()
        thread = green.spawn(waiter.wait)
        green.sleep(0)
        thread.kill()  # killed while parked
        waiter = Waiter()
        thread = green.spawn(waiter.wait)
        green.sleep(0)
        waiter.throw(KeyError("thrown"))
        try:
            thread.wait()
        except KeyError:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hand-offs", type=int, default=1_000_000, help="per round (default 1,000,000)")
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    print(f"compiled core: {core is not None}")
    one_round(10_000)  # warm-up: caches, free lists, the hub
    gc.collect()
    tracemalloc.start()
    base_traced = tracemalloc.get_traced_memory()[0]
    base_rss = _rss_kb()
    for number in range(arguments.rounds):
        one_round(arguments.hand_offs)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - base_traced
        print(
            f"round {number + 1}: {arguments.hand_offs:,} hand-offs, RSS {_rss_kb() - base_rss:+,} KB, "
            f"traced {traced:+,} bytes"
        )


if __name__ == "__main__":
    main()
