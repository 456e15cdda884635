"""green.backdoor: a Python console per TCP connection, in green threads."""

from __future__ import annotations

import subprocess
import sys

import pytest

import green
import green.backdoor
import green.socket

PROMPT = b">>> "


@pytest.fixture
def server():
    backdoor = green.backdoor.serve(locals={"answer": 41})
    yield backdoor
    backdoor.close()


class Client:
    def __init__(self, address) -> None:
        self.sock = green.socket.create_connection(address, timeout=5)
        self.buffer = b""

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            data = self.sock.recv(4096)
            if not data:
                break
            self.buffer += data
        head, found, self.buffer = self.buffer.partition(marker)
        return head + found

    def command(self, line: bytes) -> bytes:
        """Send one line, return the output up to (without) the next prompt."""
        self.sock.sendall(line)
        return self.read_until(PROMPT)[: -len(PROMPT)]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def client(server):
    connection = Client(server.address)
    banner = connection.read_until(PROMPT)
    assert b"green backdoor" in banner
    yield connection
    connection.close()


def test_expression_value(client):
    assert client.command(b"1+1\n") == b"2\r\n"


def test_crlf_lines_and_shared_locals(client):
    assert client.command(b"answer + 1\r\n") == b"42\r\n"
    assert client.command(b"value = 'x' * 3\r\n") == b""
    assert client.command(b"value\r\n") == b"'xxx'\r\n"


def test_print_goes_to_the_connection_not_the_process(client, capfd):
    assert client.command(b"print('hello from backdoor')\n") == b"hello from backdoor\r\n"
    assert "hello from backdoor" not in capfd.readouterr().out


def test_multi_line_block(client):
    output = client.command(b"for index in range(2):\n    print(index)\n\n")
    assert output.endswith(b"0\r\n1\r\n")


def test_exception_traceback_is_shown_and_session_continues(client):
    output = client.command(b"1/0\n")
    assert b"ZeroDivisionError" in output and b"Traceback" in output
    assert client.command(b"2*3\n") == b"6\r\n"


def test_telnet_negotiation_is_ignored(client):
    # IAC DO ECHO, then a line; telnet's CR NUL is dropped too.
    assert client.command(b"\xff\xfd\x01" + b"3+4\r\x00\n") == b"7\r\n"


def test_exit_ends_only_the_session(server, client):
    client.sock.sendall(b"exit()\n")
    assert client.read_until(b"never") == b""  # closed by the server
    again = Client(server.address)
    try:
        again.read_until(PROMPT)
        assert again.command(b"answer\n") == b"41\r\n"
    finally:
        again.close()


def test_end_of_file_ends_the_session(client):
    client.sock.shutdown(green.socket.SHUT_WR)
    assert client.read_until(b"never") == b"\r\n"


def test_consoles_do_not_see_each_others_output(server):
    first, second = Client(server.address), Client(server.address)
    try:
        first.read_until(PROMPT)
        second.read_until(PROMPT)
        slow = green.spawn(first.command, b"import green; green.sleep(0.05); print('first')\n")
        assert second.command(b"print('second')\n") == b"second\r\n"
        assert slow.wait() == b"first\r\n"
    finally:
        first.close()
        second.close()


def test_default_address_is_loopback():
    backdoor = green.backdoor.serve()
    try:
        assert backdoor.address[0] == "127.0.0.1"
        assert backdoor.address[1] > 0
    finally:
        backdoor.close()


def test_close_ends_sessions_and_restores_streams(client, server):
    assert client.command(b"1\n") == b"1\r\n"
    assert type(sys.stdout).__name__ == "_PerGreenThreadStream"
    server.close()
    assert client.read_until(b"never") == b""
    assert type(sys.stdout).__name__ != "_PerGreenThreadStream"
    assert not server.sessions


EXTERNAL_CLIENT = """
import socket, sys
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
data = b""
while not data.endswith(b">>> "):
    data += sock.recv(4096)
sock.sendall(b"1+1\\r\\n")
data = b""
while not data.endswith(b">>> "):
    data += sock.recv(4096)
print(data.decode().split()[0])
sock.close()
"""


def test_external_client_process(server):
    """A plain blocking client in another process, like nc or telnet."""
    process = subprocess.Popen(
        [sys.executable, "-c", EXTERNAL_CLIENT, str(server.address[1])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    hub = green.get_hub()
    # Serve the client while waiting for it: park on its stdout pipe.
    output = b""
    while True:
        hub.wait_readable(process.stdout.fileno(), 10)
        chunk = process.stdout.read1(4096) if hasattr(process.stdout, "read1") else b""
        if not chunk:
            break
        output += chunk
    hub.notify_closing(process.stdout.fileno())
    process.wait(timeout=10)
    process.stdout.close()
    process.stderr.close()
    assert output.strip() == b"2", output


def test_console_on_one_connection_in_the_calling_green_thread():
    ours, theirs = green.socket.socketpair()
    session = green.spawn(green.backdoor.console, ours, {"answer": 5}, banner="hello")
    client = Client.__new__(Client)
    client.sock, client.buffer = theirs, b""
    try:
        assert client.read_until(PROMPT) == b"hello\r\n" + PROMPT
        assert client.command(b"answer * 2\n") == b"10\r\n"
        theirs.sendall(b"exit()\n")
        session.wait()  # the console ended, and closed its end
        assert client.read_until(b"never") == b""
    finally:
        theirs.close()
