"""green.aio: asyncio on the green hub, and calls across the boundary both ways."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time

import pytest
from patched import skip_loop_exit_if_patched

import green
import green.aio
import green.socket
from green.hubs import get_hub


@pytest.fixture(autouse=True)
def green_policy():
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(green.aio.EventLoopPolicy())
    yield
    green.aio.shutdown_background_loop()
    asyncio.set_event_loop_policy(previous)


def test_asyncio_run_uses_the_green_loop_and_green_threads_progress():
    ticks: list[int] = []

    def ticker():
        for index in range(5):
            ticks.append(index)
            green.sleep(0.005)
        return "done"

    async def main():
        assert isinstance(asyncio.get_running_loop(), green.aio.GreenEventLoop)
        thread = green.spawn(ticker)
        await asyncio.sleep(0.1)
        assert ticks == [0, 1, 2, 3, 4]  # ran while the loop slept
        return thread.wait()

    assert asyncio.run(main()) == "done"


def test_new_event_loop_runs_and_closes_cleanly():
    loop = green.aio.new_event_loop()
    try:
        assert loop.run_until_complete(asyncio.sleep(0.01, result=7)) == 7
    finally:
        loop.close()
    assert get_hub().counts()["fds"] == 0


def test_busy_asyncio_loop_does_not_starve_green_threads():
    progress = []

    def green_worker():
        for _ in range(50):
            progress.append(1)
            green.sleep(0)

    async def spinner():
        while len(progress) < 50:
            await asyncio.sleep(0)  # never sleeps: the loop always has work

    async def main():
        thread = green.spawn(green_worker)
        await asyncio.wait_for(spinner(), 5)
        thread.wait()

    asyncio.run(main())
    assert len(progress) == 50


def test_green_thread_wakes_a_parked_loop():
    """A green thread settling a future must resume a loop with nothing else to wait for."""

    async def main():
        future = asyncio.get_running_loop().create_future()
        green.spawn_after(0.01, future.set_result, "from green")
        return await asyncio.wait_for(future, 2)

    assert asyncio.run(main()) == "from green"


# -- one process, both worlds on the network ------------------------------------------------------


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(4096):
        writer.write(data.upper())
        await writer.drain()
    writer.close()
    await writer.wait_closed()


def _green_client(port: int, count: int) -> list[bytes]:
    answers = []
    with green.socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for index in range(count):
            message = f"message {index}".encode()
            sock.sendall(message)
            received = b""
            while len(received) < len(message):
                received += sock.recv(4096)
            answers.append(received)
    return answers


def test_asyncio_server_green_clients():
    async def main():
        server = await asyncio.start_server(_echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            results = await asyncio.gather(*(green.aio.spawn(_green_client, port, 20) for _ in range(5)))
        return results

    results = asyncio.run(main())
    assert len(results) == 5
    assert all(answers == [f"MESSAGE {index}".encode() for index in range(20)] for answers in results)


def test_green_server_asyncio_client_from_green_thread():
    listener = green.socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_one():
        connection, _ = listener.accept()
        with connection:
            while data := connection.recv(4096):
                connection.sendall(data[::-1])

    server = green.spawn(serve_one)

    async def client():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"abc")
        await writer.drain()
        answer = await reader.readexactly(3)
        writer.close()
        await writer.wait_closed()
        return answer

    try:
        assert green.aio.run_coroutine(client()) == b"cba"  # on the background loop
        server.wait()
    finally:
        listener.close()


# -- asyncio -> green -----------------------------------------------------------------------------


def test_gather_of_tasks_calling_green_code_runs_concurrently():
    def blocking_style(value):
        green.sleep(0.1)
        return value * 2

    async def task(value):
        return await green.aio.spawn(blocking_style, value)

    async def main():
        started = time.monotonic()
        results = await asyncio.gather(*(task(value) for value in range(10)))
        return results, time.monotonic() - started

    results, elapsed = asyncio.run(main())
    assert results == [value * 2 for value in range(10)]
    assert elapsed < 0.5  # ten 0.1 s waits overlapped


def test_spawn_propagates_exceptions():
    def failing():
        raise LookupError("from green")

    async def main():
        with pytest.raises(LookupError, match="from green"):
            await green.aio.spawn(failing)

    asyncio.run(main())


def test_cancelling_the_task_kills_the_green_thread_first():
    events = []

    def slow():
        try:
            green.sleep(10)
        finally:
            events.append("green cleanup")

    async def awaiting():
        try:
            await green.aio.spawn(slow)
        except asyncio.CancelledError:
            events.append("task cancelled")
            raise

    async def main():
        task = asyncio.ensure_future(awaiting())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert events == ["green cleanup", "task cancelled"]


def test_wait_for_timeout_kills_the_green_thread():
    killed = []

    def slow():
        try:
            green.sleep(10)
        except green.GreenletExit:
            killed.append(True)
            raise

    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(green.aio.spawn(slow), 0.02)

    asyncio.run(main())
    assert killed == [True]


def test_killing_the_green_thread_cancels_the_awaiting_task():
    started = green.Event()

    def victim():
        started.send()
        green.sleep(10)

    async def main():
        future = asyncio.ensure_future(green.aio.spawn(victim))
        await green.aio.spawn(started.wait)
        threads = [thread for thread in _green_threads() if getattr(thread, "_function", None) is victim]
        assert len(threads) == 1
        green.spawn(threads[0].kill)
        with pytest.raises(asyncio.CancelledError):
            await future

    asyncio.run(main())


def _green_threads():
    import gc

    return [obj for obj in gc.get_objects() if isinstance(obj, green.GreenThread) and not obj.dead]


def test_spawn_needs_a_green_loop():
    async def main():
        with pytest.raises(RuntimeError, match="green event loop"):
            await green.aio.spawn(lambda: None)

    loop = asyncio.SelectorEventLoop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


# -- green -> asyncio -----------------------------------------------------------------------------


async def _add_later(value: int, delay: float = 0.05) -> int:
    await asyncio.sleep(delay)
    return value + 1


def test_run_coroutine_from_green_threads_on_the_running_loop():
    async def main():
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        threads = [green.spawn(green.aio.run_coroutine, _add_later(value)) for value in range(10)]
        results = await asyncio.gather(*(green.aio.spawn(thread.wait) for thread in threads))
        assert green.aio._loop_for_green_thread() is loop
        return results, time.monotonic() - started

    results, elapsed = asyncio.run(main())
    assert results == [value + 1 for value in range(10)]
    assert elapsed < 0.4


def test_run_coroutine_on_the_background_loop_does_not_block_green_threads():
    ticks = []

    def ticker():
        for _ in range(3):
            ticks.append(1)
            green.sleep(0.01)

    thread = green.spawn(ticker)
    assert green.aio.run_coroutine(_add_later(1, 0.1)) == 2
    assert len(ticks) == 3
    thread.wait()
    # Objects bound to the background loop stay usable between calls.
    lock = green.aio.run_coroutine(_make_lock())
    assert green.aio.run_coroutine(_use_lock(lock)) == "locked"


async def _make_lock() -> asyncio.Lock:
    return asyncio.Lock()


async def _use_lock(lock: asyncio.Lock) -> str:
    async with lock:
        return "locked"


def test_run_coroutine_propagates_exceptions():
    async def failing():
        await asyncio.sleep(0)
        raise ValueError("from asyncio")

    with pytest.raises(ValueError, match="from asyncio"):
        green.aio.run_coroutine(failing())


def test_run_coroutine_timeout_cancels_the_task():
    cancelled = []

    async def slow():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        green.aio.run_coroutine(slow(), timeout=0.05)
    assert time.monotonic() - started < 1
    assert cancelled == [True]


def test_green_timeout_cancels_the_task():
    cancelled = []

    async def slow():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    with pytest.raises(green.Timeout):
        with green.Timeout(0.05):
            green.aio.run_coroutine(slow())
    assert cancelled == [True]


def test_killing_the_green_thread_cancels_the_task():
    events = []

    async def slow():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            events.append("task cancelled")
            raise

    def caller():
        try:
            green.aio.run_coroutine(slow())
        finally:
            events.append("green thread exits")

    async def main():
        thread = green.spawn(caller)
        await asyncio.sleep(0.02)
        await green.aio.spawn(thread.kill)
        # The killed thread ends with GreenletExit, which reaches a coroutine as cancellation.
        with pytest.raises(asyncio.CancelledError):
            await green.aio.spawn(thread.wait)
        assert thread.dead

    asyncio.run(main())
    assert events == ["task cancelled", "green thread exits"]


def test_task_cancelled_on_the_asyncio_side_raises_cancelled_error():
    async def main():
        loop = asyncio.get_running_loop()

        def caller():
            task = loop.create_task(asyncio.sleep(10))
            loop.call_later(0.01, task.cancel)
            return green.aio.run_coroutine(task)

        with pytest.raises(asyncio.CancelledError):
            await green.aio.spawn(caller)

    asyncio.run(main())


def test_run_coroutine_from_the_loops_own_green_thread_is_an_error():
    async def main():
        coroutine = asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="own green thread"):
            green.aio.run_coroutine(coroutine)

    asyncio.run(main())


def test_run_coroutine_on_a_loop_in_another_os_thread():
    loop = asyncio.new_event_loop()  # a plain green loop, driven by a real OS thread
    ready = threading.Event()

    def run_loop():
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    thread = threading.Thread(target=run_loop)
    thread.start()
    try:
        ready.wait(5)
        assert green.aio.run_coroutine(_add_later(10, 0.01), loop=loop) == 11
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_green_threads_do_not_see_a_parked_loop_as_running():
    async def main():
        def probe():
            with pytest.raises(RuntimeError):
                asyncio.get_running_loop()
            # ...so a green thread may even run a loop of its own meanwhile.
            return asyncio.run(_add_later(1, 0.01))

        return await green.aio.spawn(probe)

    assert asyncio.run(main()) == 2


def test_monkey_patched_process():
    script = os.path.join(os.path.dirname(__file__), "isolated", "aio_patched.py")
    result = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "pass"


# -- documented limits, pinned ---------------------------------------------------------------------


def test_green_selector_needs_epoll_or_kqueue(monkeypatch):
    """Documented: green.aio needs epoll or kqueue (every Linux has epoll); without either,
    creating a green loop fails at once with a RuntimeError naming the reason."""
    monkeypatch.setattr(green.aio, "_KernelSelector", None)
    with pytest.raises(RuntimeError, match="needs epoll or kqueue"):
        green.aio.GreenSelector()
    with pytest.raises(RuntimeError, match="needs epoll or kqueue"):
        green.aio.new_event_loop()


@skip_loop_exit_if_patched
def test_background_loop_keeps_the_hub_from_raising_loop_exit():
    """Documented: while the background loop exists, the hub waits (it watches the loop's fd)
    instead of raising LoopExit; after shutdown_background_loop() an impossible wait raises."""
    assert green.aio.run_coroutine(asyncio.sleep(0, result=1)) == 1
    event = green.Event()
    hub = get_hub()
    # Nothing green will ever set it: only an OS thread, through the thread-safe door.
    setter = threading.Timer(0.1, hub.call_soon_threadsafe, args=(event.send, "from another thread"))
    setter.start()
    assert event.wait() == "from another thread"
    setter.join()
    green.aio.shutdown_background_loop()
    with pytest.raises(green.LoopExit):
        green.Event().wait()


def test_blocking_green_call_inside_a_coroutine_blocks_only_its_loop():
    """Documented: a coroutine calling a blocking green function directly (not through
    green.aio.spawn) holds its loop: green threads keep running, asyncio tasks do not."""
    green_ticks: list[int] = []
    task_ticks: list[int] = []

    def green_ticker():
        for index in range(5):
            green_ticks.append(index)
            green.sleep(0.01)

    async def task_ticker():
        while True:
            task_ticks.append(1)
            await asyncio.sleep(0.005)

    async def main():
        ticker_task = asyncio.ensure_future(task_ticker())
        await asyncio.sleep(0.02)
        thread = green.spawn(green_ticker)
        before = len(task_ticks)
        green.sleep(0.2)  # blocking green call, straight from the coroutine
        assert len(task_ticks) == before, "an asyncio task ran while its loop was blocked"
        assert green_ticks == [0, 1, 2, 3, 4], "green threads stopped too"
        ticker_task.cancel()
        thread.wait()
        # The supported way parks only the awaiting task.
        before = len(task_ticks)
        ticker_task = asyncio.ensure_future(task_ticker())
        await green.aio.spawn(green.sleep, 0.1)
        assert len(task_ticks) > before
        ticker_task.cancel()

    asyncio.run(main())
