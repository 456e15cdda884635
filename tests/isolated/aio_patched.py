"""asyncio's own machinery (selectors, sockets, threads, locks) after green.monkey_patch():
both asyncio's default loop and green.aio's loop work, in one process. Prints "pass"."""

from __future__ import annotations

import green

green.monkey_patch()

import asyncio  # noqa: E402  (imported after patching on purpose)
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import green.aio  # noqa: E402


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(4096):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


def blocking_client(port: int) -> bytes:
    """Plain stdlib-style code; after patching its socket is green."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"ping")
        return sock.recv(4096)


async def exercise(label: str) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0.01)
    # Threads (green after patching) through asyncio's executor machinery.
    assert await asyncio.to_thread(lambda: time.sleep(0.01) or 5) == 5, label
    lock = asyncio.Lock()
    async with lock:
        pass
    queue: asyncio.Queue[int] = asyncio.Queue()
    loop.call_soon(queue.put_nowait, 1)
    assert await asyncio.wait_for(queue.get(), 2) == 1, label
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        # An asyncio client ...
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello")
        await writer.drain()
        assert await reader.readexactly(5) == b"hello", label
        writer.close()
        await writer.wait_closed()
        # ... and blocking-style clients in executor threads, concurrently.
        answers = await asyncio.gather(*(loop.run_in_executor(None, blocking_client, port) for _ in range(3)))
        assert answers == [b"ping"] * 3, (label, answers)
    # A thread-safe call from a real-looking thread.
    done = loop.create_future()
    threading.Thread(target=lambda: loop.call_soon_threadsafe(done.set_result, "threadsafe")).start()
    assert await asyncio.wait_for(done, 2) == "threadsafe", label


async def green_only() -> None:
    # green.aio crossings in the patched process.
    assert await green.aio.spawn(blocking_client_via_server) == b"ping"


def blocking_client_via_server() -> bytes:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_one() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.sendall(connection.recv(4096))

    server = threading.Thread(target=serve_one)
    server.start()
    try:
        return blocking_client(port)
    finally:
        server.join()
        listener.close()


def main() -> None:
    asyncio.run(exercise("default loop"))
    asyncio.set_event_loop_policy(green.aio.EventLoopPolicy())
    asyncio.run(exercise("green loop"))
    asyncio.run(green_only())

    async def add_one(value: int) -> int:
        await asyncio.sleep(0.01)
        return value + 1

    assert green.aio.run_coroutine(add_one(1)) == 2
    green.aio.shutdown_background_loop()
    print("pass")


if __name__ == "__main__":
    main()
