"""An echo server and a thousand clients, all green threads in one OS thread.

    python examples/echo_demo.py [clients] [messages-per-client]

Each client connects, sends its messages one at a time and checks every echo. At the end the
demo prints how many round trips completed and how long it took.
"""

from __future__ import annotations

import resource
import sys
import time

import green


def handle(connection, address):
    with connection:
        while True:
            data = connection.recv(4096)
            if not data:
                return
            connection.sendall(data)


def client(port: int, number: int, messages: int) -> int:
    completed = 0
    with green.connect(("127.0.0.1", port)) as connection:
        for index in range(messages):
            message = b"client %d message %d\n" % (number, index)
            connection.sendall(message)
            received = b""
            while len(received) < len(message):
                chunk = connection.recv(4096)
                if not chunk:
                    raise ConnectionError("server closed the connection")
                received += chunk
            assert received == message
            completed += 1
    return completed


def main() -> None:
    clients = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    messages = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    # Two fds per client (both ends live in this process).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * clients + 64
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))

    server = green.listen(("127.0.0.1", 0), backlog=clients)
    port = server.getsockname()[1]
    server_thread = green.spawn(green.serve, server, handle, concurrency=clients + 10)

    started = time.perf_counter()
    pool = green.GreenPool(clients)
    threads = [pool.spawn(client, port, number, messages) for number in range(clients)]
    total = sum(thread.wait() for thread in threads)
    elapsed = time.perf_counter() - started

    server_thread.kill()
    server.close()
    print(f"{clients} clients, {total} round trips in {elapsed:.2f} s ({total / elapsed:,.0f} round trips/s)")
    print(f"hub: {green.get_hub().backend.name}")


if __name__ == "__main__":
    main()
