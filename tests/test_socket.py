"""green.socket: the stdlib socket contract, cooperatively, and every fault the stdlib's way."""

from __future__ import annotations

import errno
import gc
import hashlib
import http.client
import http.server
import io
import os
import struct
import sys
import tempfile
import time
import warnings

import pytest

import green
import green.socket as gsocket
from green._stdlib import original
from green.hubs import get_hub

# The real module, also in the patched run (where `import socket` gives green's).
stdsocket = original("socket")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on (bound, then released)."""
    with stdsocket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def pair():
    a, b = gsocket.socketpair()
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def listener():
    server = gsocket.socket(gsocket.AF_INET, gsocket.SOCK_STREAM)
    server.setsockopt(gsocket.SOL_SOCKET, gsocket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    yield server
    server.close()


def tcp_pair(listener):
    client = gsocket.socket()
    client.connect(listener.getsockname())
    served, _ = listener.accept()
    return client, served


# -- the object -------------------------------------------------------------------------------


def test_attributes_match_the_stdlib(listener):
    real = stdsocket.socket()
    try:
        sock = gsocket.socket()
        with sock:
            assert sock.family == real.family == stdsocket.AF_INET
            assert isinstance(sock.family, stdsocket.AddressFamily)
            assert sock.type == real.type == stdsocket.SOCK_STREAM  # no SOCK_NONBLOCK bit
            assert sock.proto == real.proto
            assert sock.gettimeout() is None and sock.getblocking()
            assert repr(sock).startswith("<green.socket.socket fd=")
            assert repr(sock).split(" ", 1)[1] == repr(real).split(" ", 1)[1].replace(
                f"fd={real.fileno()}", f"fd={sock.fileno()}"
            )
            assert not os.get_blocking(sock.fileno())  # the kernel socket never blocks
            assert gsocket.SocketType is gsocket.socket
            assert gsocket.timeout is TimeoutError
        assert "[closed]" in repr(sock)
        assert sock.fileno() == -1
        sock.close()  # twice is harmless
    finally:
        real.close()


def test_every_name_of_the_stdlib_socket_is_reachable_without_a_getattr_hook(pair):
    # A class-level __getattr__ would slow every attribute read of every green socket.
    assert "__getattr__" not in vars(gsocket.socket)
    left, _ = pair
    for name in dir(stdsocket.socket):
        assert hasattr(left, name), name
    assert type(gsocket._MSG_DONTWAIT) is int  # `flags & MsgFlag` runs enum's Python code
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        left.no_such_name  # noqa: B018


def test_names_missing_from_the_class_are_forwarded_to_the_real_socket():
    # What a platform or a newer CPython adds to the stdlib socket reaches the real one.
    class Shell:
        __slots__ = ("_sock",)

    gsocket._forward_the_rest(Shell)
    shell = Shell()
    shell._sock = stdsocket.socket()
    try:
        shell.bind(("127.0.0.1", 0))
        assert shell.getsockname()[0] == "127.0.0.1"
        assert shell.family == stdsocket.AF_INET  # a property stays a property
        assert Shell.getsockname.__name__ == "getsockname"
        assert Shell.getsockname.__doc__ == stdsocket.socket.getsockname.__doc__
    finally:
        shell._sock.close()


def test_settimeout_validates_like_the_stdlib():
    real = stdsocket.socket()
    sock = gsocket.socket()
    try:
        for value in (None, 0, 0.0, 1, 2.5, True):
            real.settimeout(value)
            sock.settimeout(value)
            assert sock.gettimeout() == real.gettimeout()
            assert sock.getblocking() == real.getblocking()
        for value in (-1, "1", float("nan"), [], 1j):
            with pytest.raises(Exception) as expected:
                real.settimeout(value)
            with pytest.raises(type(expected.value)) as got:
                sock.settimeout(value)
            assert str(got.value) == str(expected.value)
        sock.setblocking(False)
        assert sock.gettimeout() == 0.0 and not sock.getblocking()
        sock.setblocking(True)
        assert sock.gettimeout() is None
    finally:
        real.close()
        sock.close()


def test_default_timeout_is_inherited():
    old = stdsocket.getdefaulttimeout()
    gsocket.setdefaulttimeout(3.0)
    try:
        with gsocket.socket() as sock:
            assert sock.gettimeout() == 3.0
    finally:
        gsocket.setdefaulttimeout(old)


def test_operations_on_a_closed_socket_raise_ebadf_like_the_stdlib():
    real = stdsocket.socket()
    real.close()
    sock = gsocket.socket()
    sock.close()
    for name, args in (("recv", (1,)), ("send", (b"x",)), ("accept", ()), ("getsockname", ())):
        with pytest.raises(OSError) as expected:
            getattr(real, name)(*args)
        with pytest.raises(OSError) as got:
            getattr(sock, name)(*args)
        assert got.value.errno == expected.value.errno == errno.EBADF


# -- closing while others wait ----------------------------------------------------------------


def test_close_wakes_a_waiting_reader_with_ebadf_at_once(pair):
    a, b = pair
    reader = green.spawn(a.recv, 10)
    green.sleep(0)  # the reader parks in recv
    assert [entry[1:] for entry in get_hub().waiters()] == [("read", reader)]
    started = time.monotonic()
    a.close()
    with pytest.raises(OSError) as caught:
        reader.wait()
    assert caught.value.errno == errno.EBADF
    assert time.monotonic() - started < 0.5
    assert get_hub().waiters() == []


def test_close_wakes_a_waiting_writer_with_ebadf(pair):
    a, b = pair
    a.setsockopt(gsocket.SOL_SOCKET, gsocket.SO_SNDBUF, 4096)
    writer = green.spawn(a.sendall, b"x" * 4_000_000)
    green.sleep(0)
    a.close()
    with pytest.raises(OSError) as caught:
        writer.wait()
    assert caught.value.errno == errno.EBADF


def test_reused_fd_numbers_never_wake_the_wrong_green_thread():
    a, b = gsocket.socketpair()
    old_fd = a.fileno()
    reader = green.spawn(a.recv, 10)
    green.sleep(0)
    a.close()
    b.close()
    with pytest.raises(OSError):
        reader.wait()
    # The lowest free fd numbers come back: the new pair reuses the old number.
    c, d = gsocket.socketpair()
    try:
        assert old_fd in (c.fileno(), d.fileno())
        receiver, sender = (c, d) if c.fileno() == old_fd else (d, c)
        receiver.settimeout(2)
        second = green.spawn(receiver.recv, 10)
        green.sleep(0)
        sender.send(b"fresh")
        assert second.wait() == b"fresh"
    finally:
        c.close()
        d.close()


def test_a_socket_dropped_without_close_leaves_no_stale_registration():
    a, b = gsocket.socketpair()
    a.settimeout(1)
    b.send(b"1")
    assert a.recv(1) == b"1"
    reader = green.spawn(a.recv, 1)  # registers the fd with the hub's backend
    green.sleep(0)
    b.send(b"2")
    assert reader.wait() == b"2"
    old_fd = a.fileno()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        del a, reader
        gc.collect()
    assert old_fd not in get_hub().fds()
    c, d = gsocket.socketpair()
    try:
        receiver, sender = (c, d) if c.fileno() == old_fd else (d, c)
        assert receiver.fileno() == old_fd
        receiver.settimeout(2)
        waiting = green.spawn(receiver.recv, 10)
        green.sleep(0)
        sender.send(b"ok")
        assert waiting.wait() == b"ok"
    finally:
        b.close()
        c.close()
        d.close()


def test_two_green_threads_reading_one_socket_is_an_error_naming_the_fd(pair):
    a, b = pair
    first = green.spawn(a.recv, 10)
    green.sleep(0)
    with pytest.raises(RuntimeError, match=f"fd {a.fileno()} "):
        a.recv(10)
    b.send(b"data")
    assert first.wait() == b"data"


# -- errors the stdlib way ----------------------------------------------------------------------


def test_connect_refused_is_what_the_stdlib_raises():
    port = free_port()
    with stdsocket.socket() as real, pytest.raises(OSError) as expected:
        real.connect(("127.0.0.1", port))
    with gsocket.socket() as sock, pytest.raises(OSError) as got:
        sock.connect(("127.0.0.1", port))
    assert type(got.value) is type(expected.value) is ConnectionRefusedError
    assert got.value.errno == expected.value.errno
    with gsocket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED


def test_unreachable_unix_path_is_what_the_stdlib_raises(tmp_path):
    # "Unreachable" on loopback: an AF_UNIX address whose path does not exist.
    missing = str(tmp_path / "nobody-listens-here")
    with stdsocket.socket(stdsocket.AF_UNIX) as real, pytest.raises(OSError) as expected:
        real.connect(missing)
    with gsocket.socket(gsocket.AF_UNIX) as sock, pytest.raises(OSError) as got:
        sock.connect(missing)
    assert type(got.value) is type(expected.value) is FileNotFoundError
    with gsocket.socket(gsocket.AF_UNIX) as sock:
        assert sock.connect_ex(missing) == errno.ENOENT


def test_peer_reset_is_what_the_stdlib_raises(listener):
    def provoke(client, served):
        served.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, struct.pack("ii", 1, 0))
        served.close()
        with pytest.raises(OSError) as caught:
            client.recv(10)
        client.close()
        return caught.value

    got = provoke(*tcp_pair(listener))
    # The same with plain stdlib sockets.
    real_client = stdsocket.create_connection(listener.getsockname())
    served, _ = listener.accept()
    expected = provoke(real_client, served)
    assert type(got) is type(expected) is ConnectionResetError
    assert got.errno == expected.errno


def test_peer_reset_while_waiting(listener):
    client, served = tcp_pair(listener)
    reader = green.spawn(client.recv, 10)
    green.sleep(0)
    served.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, struct.pack("ii", 1, 0))
    served.close()
    with pytest.raises(ConnectionResetError):
        reader.wait()
    client.close()


def test_send_to_a_closed_peer_raises_broken_pipe(pair):
    a, b = pair
    b.close()
    with pytest.raises(BrokenPipeError):
        a.sendall(b"x" * 100)


def test_half_close_peer_reads_end_of_stream_and_can_still_answer(listener):
    client, served = tcp_pair(listener)
    try:
        client.sendall(b"request")
        client.shutdown(gsocket.SHUT_WR)
        received = b""
        while True:
            chunk = served.recv(100)
            if not chunk:
                break
            received += chunk
        assert received == b"request"
        served.sendall(b"answer")
        served.close()
        assert client.recv(100) == b"answer"
        assert client.recv(100) == b""
    finally:
        client.close()
        served.close()


# -- timeouts -----------------------------------------------------------------------------------


def test_recv_timeout_raises_timed_out(pair):
    a, b = pair
    a.settimeout(0.05)
    started = time.monotonic()
    with pytest.raises(gsocket.timeout) as caught:
        a.recv(10)
    assert type(caught.value) is TimeoutError and str(caught.value) == "timed out"
    assert 0.04 <= time.monotonic() - started < 1.0
    # Still usable after a timeout.
    b.send(b"late")
    assert a.recv(10) == b"late"


def test_accept_timeout(listener):
    listener.settimeout(0.02)
    with pytest.raises(TimeoutError, match="timed out"):
        listener.accept()


def test_sendall_timeout_covers_the_whole_call(pair):
    a, b = pair
    a.setsockopt(gsocket.SOL_SOCKET, gsocket.SO_SNDBUF, 4096)
    a.settimeout(0.1)

    def slow_reader():
        # Reads a little now and then: each read lets sendall progress, but not enough.
        for _ in range(20):
            green.sleep(0.02)
            b.recv(1024)

    reader = green.spawn(slow_reader)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="timed out"):
        a.sendall(b"x" * 10_000_000)
    assert time.monotonic() - started < 0.5
    reader.kill()


def test_non_blocking_socket_raises_blocking_io_error(pair):
    a, b = pair
    a.setblocking(False)
    with pytest.raises(BlockingIOError):
        a.recv(10)
    b.send(b"x")
    green.sleep(0.01)
    assert a.recv(10) == b"x"


# -- data transfer ------------------------------------------------------------------------------


def test_sendall_partial_writes_to_a_slow_reader(pair):
    a, b = pair
    a.setsockopt(gsocket.SOL_SOCKET, gsocket.SO_SNDBUF, 4096)
    payload = os.urandom(2_000_000)
    received = bytearray()
    waits_before = get_hub().iterations

    def reader():
        while len(received) < len(payload):
            chunk = b.recv(65536)
            assert chunk
            received.extend(chunk)
            green.sleep(0)  # slow: let the writer run between reads

    thread = green.spawn(reader)
    a.sendall(memoryview(payload))
    thread.wait()
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
    assert get_hub().iterations - waits_before > 10  # the writer really waited, many times


def test_sendall_of_non_byte_items_counts_bytes(pair):
    import array

    a, b = pair
    data = array.array("i", range(1000))
    a.sendall(data)
    received = b""
    while len(received) < data.itemsize * len(data):
        received += b.recv(100000)
    assert received == data.tobytes()


def test_recv_into_recvfrom_into_and_scatter_gather(pair):
    a, b = pair
    buffer = bytearray(10)
    reader = green.spawn(a.recv_into, buffer)
    green.sleep(0)
    b.send(b"hello")
    assert reader.wait() == 5 and bytes(buffer[:5]) == b"hello"
    b.sendmsg([b"ab", b"cd"])
    assert a.recvmsg(10)[0] == b"abcd"
    b.send(b"xyz")
    count, _ = a.recvfrom_into(buffer)
    assert bytes(buffer[:count]) == b"xyz"
    first, second = bytearray(2), bytearray(5)
    b.send(b"1234567")
    assert a.recvmsg_into([first, second])[0] == 7 and first + second == b"1234567"


def test_many_concurrent_echo_clients(listener):
    clients = 50
    rounds = 10

    def echo(conn):
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                conn.sendall(data)

    def server():
        for _ in range(clients):
            conn, _ = listener.accept()
            green.spawn(echo, conn)

    def client(number):
        with gsocket.create_connection(listener.getsockname()) as sock:
            for round_number in range(rounds):
                message = f"{number}:{round_number};".encode() * 50
                sock.sendall(message)
                received = b""
                while len(received) < len(message):
                    received += sock.recv(4096)
                assert received == message
        return number

    acceptor = green.spawn(server)
    pool = green.GreenPool(clients)
    assert sorted(pool.imap(client, range(clients))) == list(range(clients))
    acceptor.wait()


def test_udp_sendto_recvfrom():
    receiver = gsocket.socket(gsocket.AF_INET, gsocket.SOCK_DGRAM)
    sender = gsocket.socket(gsocket.AF_INET, gsocket.SOCK_DGRAM)
    try:
        receiver.bind(("127.0.0.1", 0))
        sender.bind(("127.0.0.1", 0))
        waiting = green.spawn(receiver.recvfrom, 100)
        green.sleep(0)
        sender.sendto(b"datagram", receiver.getsockname())
        assert waiting.wait() == (b"datagram", sender.getsockname())
        sender.sendto(b"by name", 0, ("localhost", receiver.getsockname()[1]))
        assert receiver.recvfrom(100)[0] == b"by name"
        receiver.settimeout(0.02)
        with pytest.raises(TimeoutError):
            receiver.recvfrom(100)
    finally:
        receiver.close()
        sender.close()


def test_unix_stream_socket(tmp_path):
    path = str(tmp_path / "server.sock")
    server = gsocket.socket(gsocket.AF_UNIX, gsocket.SOCK_STREAM)
    try:
        server.bind(path)
        server.listen()

        def serve_one():
            conn, _ = server.accept()
            with conn:
                conn.sendall(conn.recv(100).upper())

        thread = green.spawn(serve_one)
        with gsocket.socket(gsocket.AF_UNIX) as client:
            client.connect(path)
            client.sendall(b"unix")
            assert client.recv(100) == b"UNIX"
        thread.wait()
    finally:
        server.close()


def test_ipv6_loopback():
    if not stdsocket.has_ipv6:
        pytest.skip("this Python has no IPv6 support")
    try:
        server = gsocket.socket(gsocket.AF_INET6)
        server.bind(("::1", 0))
    except OSError as error:
        server.close()
        print(f"::1 unavailable: {error}")
        pytest.skip(f"IPv6 loopback ::1 is not available here: {error}")
    try:
        server.listen()
        thread = green.spawn(lambda: server.accept()[0])
        with gsocket.create_connection(server.getsockname()[:2]) as client:
            served = thread.wait()
            with served:
                client.sendall(b"six")
                assert served.recv(10) == b"six"
                assert served.family == gsocket.AF_INET6
    finally:
        server.close()


# -- module functions ---------------------------------------------------------------------------


def test_accept_returns_green_sockets_with_the_default_timeout(listener):
    listener.settimeout(5)
    client, served = tcp_pair(listener)
    with client, served:
        assert type(served) is gsocket.socket
        assert served.gettimeout() is None
        assert served.type == gsocket.SOCK_STREAM and not os.get_blocking(served.fileno())


def test_create_connection_timeout_and_source_address(listener):
    with gsocket.create_connection(
        listener.getsockname(), timeout=2.5, source_address=("127.0.0.1", 0)
    ) as sock:
        assert type(sock) is gsocket.socket
        assert sock.gettimeout() == 2.5
        assert sock.getsockname()[0] == "127.0.0.1"
        served, _ = listener.accept()
        served.close()


def test_create_connection_errors():
    port = free_port()
    with pytest.raises(ConnectionRefusedError):
        gsocket.create_connection(("127.0.0.1", port))
    if sys.version_info >= (3, 11):
        with pytest.raises(ExceptionGroup) as group:  # noqa: F821
            gsocket.create_connection(("127.0.0.1", port), all_errors=True)
        assert all(isinstance(error, ConnectionRefusedError) for error in group.value.exceptions)


def test_connect_resolves_host_names_cooperatively(listener):
    with gsocket.socket() as sock:
        sock.connect(("localhost", listener.getsockname()[1]))
        served, _ = listener.accept()
        served.close()
    assert gsocket.gethostbyname("localhost") == "127.0.0.1"
    assert gsocket.getaddrinfo("127.0.0.1", 80, gsocket.AF_INET, gsocket.SOCK_STREAM)[0][4] == (
        "127.0.0.1",
        80,
    )


def test_create_server_socketpair_fromfd_dup_detach():
    server = gsocket.create_server(("127.0.0.1", 0))
    with server:
        assert type(server) is gsocket.socket
        with gsocket.create_connection(server.getsockname()) as client:
            served, _ = server.accept()
            with served:
                duplicate = served.dup()
                with duplicate:
                    assert duplicate.fileno() != served.fileno()
                    client.sendall(b"dup")
                    assert duplicate.recv(10) == b"dup"
                again = gsocket.fromfd(served.fileno(), gsocket.AF_INET, gsocket.SOCK_STREAM)
                with again:
                    client.sendall(b"fromfd")
                    assert again.recv(10) == b"fromfd"
    a, b = gsocket.socketpair()
    fd = a.detach()
    assert a.fileno() == -1
    revived = gsocket.socket(fileno=fd)
    with revived, b:
        assert revived.family == gsocket.AF_UNIX
        b.send(b"back")
        assert revived.recv(10) == b"back"


def test_sendfile_regular_file_and_file_object(pair):
    a, b = pair
    payload = os.urandom(300_000)
    with tempfile.TemporaryFile() as file:
        file.write(payload)
        file.seek(0)
        received = bytearray()

        def reader():
            while len(received) < len(payload) - 1000:
                received.extend(b.recv(65536))

        thread = green.spawn(reader)
        assert a.sendfile(file, offset=1000) == len(payload) - 1000
        thread.wait()
        assert bytes(received) == payload[1000:]
        assert file.tell() == len(payload)
    memory = io.BytesIO(b"in memory")
    assert a.sendfile(memory, count=2) == 2
    assert b.recv(10) == b"in"
    with tempfile.TemporaryFile("w+") as text, pytest.raises(ValueError, match="binary mode"):
        a.sendfile(text)
    a.setblocking(False)
    with pytest.raises(ValueError, match="non-blocking"):  # as the stdlib
        a.sendfile(io.BytesIO(b"x"))


def test_makefile_refcount_keeps_the_fd_until_the_file_closes(pair):
    a, b = pair
    reader = a.makefile("rb")
    a.close()
    assert a.fileno() != -1  # the file still uses it
    b.sendall(b"line one\nline two\n")
    assert reader.readline() == b"line one\n"
    reader.close()
    assert a.fileno() == -1


def test_makefile_with_http_client_against_http_server(listener, monkeypatch):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = f"you asked for {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    def serve_one():
        conn, address = listener.accept()
        with conn:
            Handler(conn, address, None)

    server = green.spawn(serve_one)
    monkeypatch.setattr(http.client, "socket", gsocket)  # http.client connects with green sockets
    host, port = listener.getsockname()
    connection = http.client.HTTPConnection(host, port, timeout=5)
    try:
        for path in ("/one", "/two"):  # two requests on one keep-alive connection
            connection.request("GET", path)
            response = connection.getresponse()
            assert response.status == 200
            assert response.read() == f"you asked for {path}".encode()
        assert type(connection.sock) is gsocket.socket
    finally:
        connection.close()
    server.wait()


def test_declarations():
    assert gsocket.__green__ == "socket"
    for name in gsocket.__implements__:
        assert hasattr(stdsocket, name), name
        assert getattr(gsocket, name) is not getattr(stdsocket, name)
    assert gsocket.AF_INET is stdsocket.AF_INET
    assert gsocket.SocketIO is stdsocket.SocketIO


def test_connect_timeout_against_a_full_backlog():
    # A listener that never accepts, with a full accept queue: Linux drops further SYNs, so a
    # connect stays in progress until its timeout.
    server = stdsocket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    connected = []
    try:
        for _ in range(8):
            sock = gsocket.socket()
            sock.settimeout(0.1)
            try:
                sock.connect(server.getsockname())
            except TimeoutError as error:
                assert str(error) == "timed out"
                sock.close()
                with gsocket.socket() as again:
                    again.settimeout(0.05)
                    # As the stdlib: connect_ex reports a timeout as EWOULDBLOCK.
                    assert again.connect_ex(server.getsockname()) == errno.EWOULDBLOCK
                break
            connected.append(sock)
        else:
            pytest.skip("this kernel completed every connect to a full backlog; no connect timeout to test")
    finally:
        for sock in connected:
            sock.close()
        server.close()


# -- the stdlib's finer points (found by CPython's own test_socket) -------------------------------


@pytest.mark.skipif(not hasattr(stdsocket, "SOCK_NONBLOCK"), reason="no SOCK_NONBLOCK on this platform")
def test_sock_nonblock_type_gives_a_non_blocking_socket_as_the_stdlib():
    kind = stdsocket.SOCK_STREAM | stdsocket.SOCK_NONBLOCK
    with stdsocket.socket(type=kind) as real, gsocket.socket(type=kind) as sock:
        assert sock.gettimeout() == real.gettimeout() == 0.0
        assert not sock.getblocking()
        assert sock.type == stdsocket.SOCK_STREAM
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(BlockingIOError):
            sock.accept()


def test_settimeout_and_setblocking_fail_on_a_bad_fd_as_the_stdlib():
    sock = gsocket.socket()
    sock.close()
    for call in (lambda: sock.settimeout(1.0), lambda: sock.setblocking(True)):
        with pytest.raises(OSError) as got:
            call()
        assert got.value.errno == errno.EBADF
    first = gsocket.socket()
    borrowed = gsocket.socket(fileno=first.fileno())  # the same fd, then closed under it
    first.close()
    try:
        with pytest.raises(OSError):
            borrowed.setblocking(False)
    finally:
        borrowed.detach()


@pytest.mark.skipif(not hasattr(stdsocket, "MSG_DONTWAIT"), reason="no MSG_DONTWAIT on this platform")
def test_msg_dontwait_never_waits_even_on_a_blocking_socket(pair):
    a, b = pair
    assert a.gettimeout() is None
    for call in (
        lambda: a.recv(10, gsocket.MSG_DONTWAIT),
        lambda: a.recv_into(bytearray(10), 10, gsocket.MSG_DONTWAIT),
        lambda: a.recvfrom(10, gsocket.MSG_DONTWAIT),
        lambda: a.recvmsg(10, 0, gsocket.MSG_DONTWAIT),
    ):
        with pytest.raises(BlockingIOError):
            call()
    with pytest.raises(BlockingIOError):  # fills the buffer, then refuses to wait
        while True:
            a.send(b"x" * 65536, gsocket.MSG_DONTWAIT)
    for call in (
        lambda: a.sendall(b"x" * 65536, gsocket.MSG_DONTWAIT),
        lambda: a.sendmsg([b"x"], [], gsocket.MSG_DONTWAIT),
    ):
        with pytest.raises(BlockingIOError):
            call()


def test_sendto_argument_errors_are_the_stdlibs():
    real = stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_DGRAM)
    sock = gsocket.socket(gsocket.AF_INET, gsocket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 0))
        address = sock.getsockname()
        for args in ((b"x", None), (b"x", 0, None), ("text", address), (b"x",), (b"x", 0, address, 4)):
            with pytest.raises(TypeError) as expected:
                real.sendto(*args)
            with pytest.raises(TypeError) as got:
                sock.sendto(*args)
            assert str(got.value) == str(expected.value), args
        assert sock.sendto(b"ok", 0, address) == 2
        assert sock.recvfrom(10) == (b"ok", address)
    finally:
        real.close()
        sock.close()


def test_the_class_has_the_stdlib_socket_methods():
    ours = set(dir(gsocket.socket))
    assert {name for name in dir(stdsocket.socket) if not name.startswith("__")} <= ours


def test_low_level_accept_and_the_two_sendfile_halves_wait_cooperatively(listener):
    client, served = tcp_pair(listener)
    payload = os.urandom(500_000)  # more than the socket buffers hold: the sender must wait
    try:
        waiting = green.spawn(listener._accept)
        green.sleep(0)
        late = gsocket.create_connection(listener.getsockname())
        fd, address = waiting.wait()
        os.close(fd)
        late.close()
        assert address[0] == "127.0.0.1"
        with tempfile.TemporaryFile() as file:
            file.write(payload)
            for method in (client._sendfile_use_sendfile, client._sendfile_use_send):
                file.seek(0)
                received = bytearray()

                def reader(received: bytearray = received) -> None:
                    while len(received) < len(payload):
                        received.extend(served.recv(65536))

                thread = green.spawn(reader)
                assert method(file) == len(payload)
                thread.wait()
                assert bytes(received) == payload
        with pytest.raises(gsocket._GiveupOnSendfile):
            client._sendfile_use_sendfile(io.BytesIO(b"not a regular file"))
        client.setblocking(False)
        with pytest.raises(ValueError, match="non-blocking"):
            client._sendfile_use_send(io.BytesIO(b"x"))
    finally:
        client.close()
        served.close()


def test_a_dropped_socket_warns_naming_the_green_socket_and_closes_the_fd():
    sock = gsocket.socket()
    fd = sock.fileno()
    described = repr(sock)
    with pytest.warns(ResourceWarning) as caught:
        del sock
        gc.collect()
    assert [str(warning.message) for warning in caught] == [f"unclosed {described}"]
    with pytest.raises(OSError) as got:
        os.fstat(fd)
    assert got.value.errno == errno.EBADF


def test_getnameinfo_type_error_keeps_no_reference_to_the_argument():
    """CPython's test_socket testRefCountGetNameInfo: while the TypeError is being handled, the
    argument has the reference count it had before the call."""
    argument = "not a tuple " + str(id(object()))
    before = sys.getrefcount(argument)
    try:
        gsocket.getnameinfo(argument, 0)
    except TypeError:
        assert sys.getrefcount(argument) == before
    else:
        pytest.fail("getnameinfo accepted a str")


def test_listener_dropped_with_its_killed_acceptor_leaves_no_stale_registration():
    # The killed green thread's frames and the listener die together in a reference cycle; the
    # real socket outlives the green one by a moment there, and its fd number is reused next.
    def accept_forever(server):
        while True:
            client, _ = server.accept()
            client.close()

    def serve_and_drop() -> int:
        server = gsocket.create_server(("127.0.0.1", 0))
        acceptor = green.spawn(accept_forever, server)
        green.sleep(0)  # parked in accept: the hub registered the fd
        acceptor.kill()
        return server.fileno()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the dropped listener, on purpose
        fd = serve_and_drop()
        gc.collect()
    assert fd not in [entry[0] for entry in get_hub().registrations()]
    server = gsocket.create_server(("127.0.0.1", 0))
    try:
        client = gsocket.create_connection(server.getsockname())
        accepted = green.with_timeout(5, lambda: server.accept()[0])
        accepted.close()
        client.close()
    finally:
        server.close()


def _connection(module) -> tuple:
    """A TCP connection on loopback made of `module`'s sockets: (client, server)."""
    listener = module.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = module.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    return client, server


def _reset_connection() -> tuple[gsocket.socket, gsocket.socket]:
    """A green TCP connection on loopback whose server side is closed with a reset (RST)."""
    client, server = _connection(gsocket)
    server.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, struct.pack("ii", 1, 0))
    return client, server


def test_calls_without_a_timeout_wait_and_retry_with_the_stdlib_outcomes(pair):
    # recv, recv_into, send and sendall of a socket without a timeout, called without flags, take
    # the compiled core's path when it is built (green/_core.c); their outcomes are those of the
    # Python methods, which take every other call.
    from green._compiled import core

    for name in ("recv", "recv_into", "send", "sendall"):
        kind = type(vars(gsocket.socket)[name]).__name__
        assert kind == ("method_descriptor" if core is not None else "function"), name
    left, right = pair
    assert left.gettimeout() is None
    got: list[object] = []

    def reader() -> None:
        got.append(left.recv(100))  # waits
        buffer = bytearray(10)
        got.append((left.recv_into(buffer), bytes(buffer[:3])))  # waits
        got.append(left.recv(100, stdsocket.MSG_PEEK))  # a flag: the Python method
        got.append(left.recv(100))

    thread = green.spawn(reader)
    green.sleep(0)
    right.sendall(b"first")
    green.sleep(0)
    right.sendall(b"xyz")
    green.sleep(0)
    right.send(b"last")
    thread.wait()
    assert got == [b"first", (3, b"xyz"), b"last", b"last"]
    assert left._expect_wait  # the last wait returned less than asked: the next recv waits first

    # A full send buffer: send and sendall park until the reader makes room; sendall sends all.
    payload = os.urandom(3 * 1024 * 1024)
    received = bytearray()

    def drain() -> None:
        while len(received) < len(payload) + 5:
            received.extend(right.recv(65536))

    drainer = green.spawn(drain)
    left.sendall(payload)
    sent = 0
    while sent < 5:
        sent += left.send(b"12345"[sent:])
    drainer.wait()
    assert bytes(received) == payload + b"12345"
    left.sendall(bytearray(b"not bytes"))  # the Python loop over a memoryview
    assert right.recv(100) == b"not bytes"

    # A timeout: the Python methods, TimeoutError as the stdlib raises it.
    left.settimeout(0.01)
    with pytest.raises(TimeoutError, match="timed out"):
        left.recv(10)
    with pytest.raises(TimeoutError):
        left.recv_into(bytearray(10))


def _outcome_of(call, *args) -> object:
    try:
        return ("returned", call(*args))
    except Exception as error:
        return (type(error).__name__, getattr(error, "errno", None), str(error))


def test_recv_and_send_made_as_system_calls_have_the_methods_outcomes():
    # With the compiled core, recv(size) and send(bytes) of a green socket without a timeout are
    # the system calls themselves (MSG_DONTWAIT); every outcome is the stdlib method's, on a
    # stdlib socket in the same state.
    from green._compiled import core

    if core is not None:
        assert gsocket._plain  # the stdlib class keeps _socket's recv, send and fileno

    def reset(client, server) -> None:
        server.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, struct.pack("ii", 1, 0))
        server.close()

    scenarios = [
        ("recv(0)", lambda c, s: None, lambda c: c.recv(0)),
        ("recv after data", lambda c, s: s.sendall(b"hello"), lambda c: c.recv(100)),
        ("recv(3) of more", lambda c, s: s.sendall(b"hello"), lambda c: (c.recv(3), c.recv(3))),
        ("recv(-1)", lambda c, s: None, lambda c: c.recv(-1)),
        ("recv(2**70)", lambda c, s: None, lambda c: c.recv(2**70)),
        ("recv('x')", lambda c, s: None, lambda c: c.recv("x")),
        ("recv of a large read", lambda c, s: s.sendall(b"z" * 200_000), lambda c: len(c.recv(100_000)) > 0),
        ("recv at the end", lambda c, s: s.close(), lambda c: c.recv(10)),
        ("recv after a reset", reset, lambda c: c.recv(10)),
        ("send", lambda c, s: None, lambda c: c.send(b"data")),
        ("send of nothing", lambda c, s: None, lambda c: c.send(b"")),
        ("send after a reset", reset, lambda c: c.send(b"data")),
        ("recv after close", lambda c, s: c.close(), lambda c: c.recv(10)),
        ("send after close", lambda c, s: c.close(), lambda c: c.send(b"x")),
    ]
    differences = []
    seen = []
    for name, prepare, call in scenarios:
        outcomes = []
        for module in (gsocket, stdsocket):
            client, server = _connection(module)
            try:
                if module is stdsocket:
                    client.settimeout(5)  # blocking, as the green call waits; the data is there
                prepare(client, server)
                if name.endswith("reset"):  # the RST has arrived when the socket reads as ready
                    assert original("select").select([client.fileno()], [], [], 5)[0]
                outcomes.append(_outcome_of(call, client))
            finally:
                client.close()
                server.close()
        if outcomes[0] != outcomes[1]:
            differences.append((name, *outcomes))
        seen.append(outcomes[0])
    assert differences == []
    assert {outcome[:2] for outcome in seen} >= {
        ("ConnectionResetError", errno.ECONNRESET),
        ("OSError", errno.EBADF),
    }


def test_a_reset_is_an_error_or_the_end_of_stream_as_the_class_says():
    class ResetIsEnd(gsocket.socket):
        __slots__ = ()
        _end_of_stream_errnos = frozenset({errno.ECONNRESET})

    for kind, expected in ((gsocket.socket, None), (ResetIsEnd, b"")):
        client, server = _reset_connection()
        client.__class__ = kind
        try:
            waiting = green.spawn(client.recv, 10)
            green.sleep(0)  # parked in the wait
            server.close()  # the peer resets the connection
            if expected is None:
                with pytest.raises(ConnectionResetError):
                    waiting.wait()
            else:
                assert waiting.wait() == expected
        finally:
            client.close()
    client, server = _reset_connection()
    client.__class__ = ResetIsEnd
    server.close()
    try:
        assert client.recv_into(bytearray(10)) == 0  # the error without a wait
    finally:
        client.close()


def test_a_subclass_that_redefines_the_wait_keeps_it():
    waits: list[bool] = []

    class Counting(gsocket.socket):
        __slots__ = ()

        def _retry(self, method, args, writing):  # type: ignore[no-untyped-def]
            waits.append(writing)
            return super()._retry(method, args, writing)

    class Plain(gsocket.socket):
        __slots__ = ()

    assert gsocket.socket._compiled_path == 1 and Plain._compiled_path == 1
    assert Counting._compiled_path == 0
    left, right = gsocket.socketpair()
    left.__class__ = Counting
    try:
        reader = green.spawn(left.recv, 10)
        green.sleep(0)
        right.sendall(b"data")
        assert reader.wait() == b"data" and waits == [False]
    finally:
        left.close()
        right.close()
