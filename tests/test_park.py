"""Hub.park: a parking green thread runs the hub's next resume itself (one switch, not two),
in the hub's order, within a bounded budget, and never resumes a green thread that left."""

from __future__ import annotations

import socket

from greenlet import GreenletExit

import green
from green import socket as gsocket
from green.hubs import get_hub
from green.hubs.hub import _DIRECT_WAKEUPS


def test_a_hand_off_between_two_green_threads_runs_without_the_hub():
    hub = get_hub()
    ping, pong = green.Queue(), green.Queue()
    rounds = 2_000

    def echo() -> None:
        for _ in range(rounds):
            pong.put(ping.get())

    thread = green.spawn(echo)
    before = hub.iterations
    for number in range(rounds):
        ping.put(number)
        assert pong.get() == number
    thread.wait()
    # Through the hub, every hand-off would be a loop turn of its own (2 per round trip).
    assert hub.iterations - before <= 2 * rounds // _DIRECT_WAKEUPS + 10


def test_the_hub_still_polls_during_an_endless_hand_off_chain():
    ping, pong = green.Queue(), green.Queue()
    hand_offs = 0
    stop = False

    def bounce(source: green.Queue, target: green.Queue) -> None:
        nonlocal hand_offs
        while not stop:
            target.put(source.get())
            hand_offs += 1

    threads = [green.spawn(bounce, ping, pong), green.spawn(bounce, pong, ping)]
    ping.put("token")
    reader, writer = socket.socketpair()
    try:
        writer.send(b"x")
        green_reader = gsocket.socket(fileno=reader.detach())
        assert green_reader.recv(1) == b"x"
        seen = hand_offs
        stop = True
        green_reader.close()
    finally:
        writer.close()
    for thread in threads:
        thread.kill()
    # The read got in after at most a couple of budgets of direct hand-offs.
    assert seen < 4 * _DIRECT_WAKEUPS + 10, seen


def test_an_entry_unscheduled_during_its_own_turn_does_not_break_the_turn():
    hub = get_hub()
    outcome: list[str] = []

    def victim() -> None:
        try:
            green.sleep(0)
            outcome.append("resumed")
        except GreenletExit:
            outcome.append("killed")
            raise

    thread = green.spawn(victim)
    green.sleep(0)  # the victim runs and queues its sleep(0) entry for the next turn
    # Ahead of that entry, in the same turn: a callback that kills the victim from the hub, which
    # takes the victim's entry off the queue.
    hub.schedule_first((green.kill, (thread,)))
    green.sleep(0.05)  # the hub runs that turn while the main green thread waits on a timer
    assert outcome == ["killed"]
    assert thread.dead


def test_a_green_thread_killed_after_its_wake_up_was_queued_is_not_resumed_by_it_later():
    hub = get_hub()
    first, second = green.Event(), green.Event()
    seen: list[object] = []

    def waiter() -> None:
        try:
            first.wait()
        except GreenletExit:
            # Now waiting on something else: the stale wake-up of `first` must not land here.
            seen.append(second.wait(timeout=0.05))

    thread = green.spawn(waiter)
    green.sleep(0)  # parked in first.wait()
    first.send("stale")  # its resume is queued ...
    hub.schedule_first((green.kill, (thread,)))  # ... and a kill goes ahead of it
    thread.wait()
    assert seen == [None]


def test_a_due_timer_comes_before_a_hand_off_queued_after_it_fell_due():
    # A getter whose Timeout(0) has expired loses to it, even when an item is put for it before
    # the hub ran its timers: the timer fell due first.
    queue = green.Queue()

    def bail() -> str:
        with green.Timeout(0, RuntimeError()):
            try:
                return queue.get()
            except RuntimeError:
                return "timed out"

    thread = green.spawn(bail)
    green.sleep(0)  # parked in get(), its Timeout due at once
    queue.put("sent")
    assert thread.wait() == "timed out"
    assert queue.get() == "sent"


def test_sleep0_with_nothing_else_to_do_still_counts_turns_and_runs_due_timers():
    hub = get_hub()
    fired: list[bool] = []
    before = hub.iterations
    for _ in range(100):
        green.sleep(0)  # nothing else ready, no fd, no timer: returns without the hub
    assert hub.iterations - before >= 100
    hub.call_later(0, fired.append, True)
    green.sleep(0)  # a timer is due now: this sleep(0) goes through the hub, which runs it
    assert fired == [True]
