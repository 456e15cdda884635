"""green.ssl: TLS over green sockets, the stdlib's contract, every wait through the hub.

Certificates are made at test time by trustme (a throw-away CA); every peer is on 127.0.0.1.
"""

from __future__ import annotations

import errno
import gc
import http.client
import http.server
import os
import time
import warnings

import pytest
import trustme
from patched import start_os_thread

import green
import green.hubs
import green.socket as gsocket
import green.ssl as gssl
from green._stdlib import original

# The real module, also in the patched run (where `import ssl` gives green's).
stdssl = original("ssl")

HOST = "127.0.0.1"
NAME = "localhost"


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def certificate(authority: trustme.CA) -> trustme.LeafCert:
    return authority.issue_cert(NAME, HOST)


@pytest.fixture(scope="module")
def server_context(certificate: trustme.LeafCert) -> gssl.SSLContext:
    context = gssl.SSLContext(gssl.PROTOCOL_TLS_SERVER)
    certificate.configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_context(authority: trustme.CA) -> gssl.SSLContext:
    context = gssl.create_default_context()
    authority.configure_trust(context)
    return context


@pytest.fixture
def listener():
    server = gsocket.socket()
    server.bind((HOST, 0))
    server.listen(128)
    yield server
    server.close()


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with gsocket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def echo(connection: gssl.SSLSocket) -> int:
    """Echo until the peer ends the stream; returns the number of bytes echoed."""
    total = 0
    with connection:
        while True:
            data = connection.recv(65536)
            if not data:
                return total
            connection.sendall(data)
            total += len(data)


def serve(listener, context, handler, count: int = 1) -> green.GreenThread:
    """Accept `count` TCP connections, wrap each server-side and run `handler(tls)` in its own
    green thread; the returned green thread's result is the list of the handlers' results."""

    def accept_all() -> list:
        threads = []
        for _ in range(count):
            connection, _ = listener.accept()
            threads.append(green.spawn(handle, connection))
        return [thread.wait() for thread in threads]

    def handle(connection):
        tls = context.wrap_socket(connection, server_side=True)
        return handler(tls)

    return green.spawn(accept_all)


def connect(client_context, listener, **options) -> gssl.SSLSocket:
    return client_context.wrap_socket(
        gsocket.create_connection(listener.getsockname()), server_hostname=NAME, **options
    )


# -- the module -------------------------------------------------------------------------------


def test_declarations_match_the_running_stdlib():
    real = original("ssl")
    assert gssl.__green__ == "ssl"
    assert gssl.__removes__ == []
    for name in gssl.__implements__:
        assert hasattr(real, name), name
        assert getattr(gssl, name) is not getattr(real, name), name
    # Everything else is the stdlib's own object.
    for name in ("SSLError", "SSLEOFError", "SSLWantReadError", "CERT_REQUIRED", "SSLObject", "MemoryBIO"):
        assert getattr(gssl, name) is getattr(real, name)
    assert hasattr(gssl, "wrap_socket") == hasattr(real, "wrap_socket")
    assert gssl.SSLContext.sslsocket_class is gssl.SSLSocket
    assert issubclass(gssl.SSLContext, real.SSLContext)
    assert issubclass(gssl.SSLSocket, gsocket.socket)


def test_context_factories_keep_the_stdlib_settings_and_are_green():
    real = original("ssl")
    for green_factory, real_factory in (
        (gssl.create_default_context, real.create_default_context),
        (gssl._create_default_https_context, real._create_default_https_context),
        (gssl._create_unverified_context, real._create_unverified_context),
    ):
        made, reference = green_factory(), real_factory()
        assert type(made) is gssl.SSLContext
        assert made.verify_mode == reference.verify_mode
        assert made.check_hostname == reference.check_hostname
        assert made.options == reference.options
        assert made.protocol == reference.protocol
    server = gssl.create_default_context(gssl.Purpose.CLIENT_AUTH)
    assert server.protocol == gssl.PROTOCOL_TLS_SERVER
    with pytest.raises(TypeError):
        gssl.create_default_context("not a purpose")


def test_sslsocket_has_no_public_constructor():
    with pytest.raises(TypeError, match="wrap_socket"):
        gssl.SSLSocket()


def test_wrap_rejects_what_the_stdlib_rejects(client_context, server_context):
    with gsocket.socket(gsocket.AF_INET, gsocket.SOCK_DGRAM) as datagram:
        with pytest.raises(NotImplementedError):
            client_context.wrap_socket(datagram, server_hostname=NAME)
    with gsocket.socket() as plain:
        with pytest.raises(ValueError, match="check_hostname requires server_hostname"):
            client_context.wrap_socket(plain)
        with pytest.raises(ValueError, match="client mode"):
            server_context.wrap_socket(plain, server_side=True, server_hostname=NAME)


# -- client and server ------------------------------------------------------------------------


def test_echo_and_connection_facts(listener, server_context, client_context):
    server = serve(listener, server_context, echo)
    with connect(client_context, listener) as client:
        assert isinstance(client, gssl.SSLSocket) and isinstance(client, gsocket.socket)
        assert client.server_hostname == NAME and not client.server_side
        assert client.context is client_context
        assert client.version() in ("TLSv1.2", "TLSv1.3")
        name, protocol, bits = client.cipher()
        assert protocol == client.version() and bits >= 128
        assert ("DNS", NAME) in client.getpeercert()["subjectAltName"]
        assert client.getpeercert(binary_form=True)[:1] == b"\x30"  # a DER SEQUENCE
        assert client.gettimeout() is None
        for message in (b"hello", b"x" * 100_000, b"last"):
            client.sendall(message)
            received = b""
            while len(received) < len(message):
                received += client.recv(65536)
            assert received == message
    assert server.wait() == [100_009]


def test_listening_sslsocket_accepts_sslsockets_and_client_handshakes_after_connect(
    listener, server_context, client_context
):
    tls_listener = server_context.wrap_socket(listener, server_side=True)
    assert listener.fileno() == -1  # detached, as the stdlib does
    try:

        def accept_one():
            connection, address = tls_listener.accept()
            with connection:
                assert isinstance(connection, gssl.SSLSocket) and connection.server_side
                # The handshake happened in accept (do_handshake_on_connect).
                assert connection.version() is not None
                connection.sendall(b"welcome")
                return address

        server = green.spawn(accept_one)
        client = client_context.wrap_socket(gsocket.socket(), server_hostname=NAME)
        with client:
            assert client.version() is None and client.cipher() is None  # not connected yet
            with pytest.raises(OSError) as caught:
                client.getpeercert()
            assert caught.value.errno == errno.ENOTCONN
            client.connect(tls_listener.getsockname())
            # do_handshake_on_connect: the handshake is done when connect returns.
            assert client.version() is not None
            assert client.recv(100) == b"welcome"
            with pytest.raises(ValueError, match="already-connected"):
                client.connect(tls_listener.getsockname())
            assert server.wait() == client.getsockname()
    finally:
        tls_listener.close()


def test_connect_failure_leaves_the_socket_ready_to_connect_again(listener, server_context, client_context):
    server = serve(listener, server_context, echo)
    with client_context.wrap_socket(gsocket.socket(), server_hostname=NAME) as client:
        with pytest.raises(ConnectionRefusedError):
            client.connect((HOST, free_port()))
        client.close()
    with client_context.wrap_socket(gsocket.socket(), server_hostname=NAME) as client:
        assert client.connect_ex(listener.getsockname()) == 0
        client.sendall(b"ping")
        assert client.recv(10) == b"ping"
    assert server.wait() == [4]


@pytest.mark.timeout(30)
def test_many_concurrent_clients(listener, server_context, client_context):
    clients = 40
    server = serve(listener, server_context, echo, count=clients)
    handshakes_in_flight = 0
    most_in_flight = 0

    def client(number: int) -> bytes:
        nonlocal handshakes_in_flight, most_in_flight
        sock = gsocket.create_connection(listener.getsockname())
        handshakes_in_flight += 1
        most_in_flight = max(most_in_flight, handshakes_in_flight)
        tls = client_context.wrap_socket(sock, server_hostname=NAME)
        handshakes_in_flight -= 1
        with tls:
            answers = []
            for round_number in range(3):
                message = f"client {number} round {round_number}".encode()
                tls.sendall(message)
                answers.append(tls.recv(1000))
            return b"|".join(answers)

    pool = green.GreenPool(clients)
    results = list(pool.imap(client, range(clients)))
    for number, result in enumerate(results):
        assert result == b"|".join(f"client {number} round {r}".encode() for r in range(3))
    # The handshakes overlapped: a green thread waiting for the server let the others run.
    assert most_in_flight > 1
    assert sorted(server.wait()) == sorted(len(result) - 2 for result in results)


def test_full_duplex_reader_and_writer_green_threads(listener, server_context, client_context):
    """One green thread writes 4 MiB while another reads the echo: neither direction waits for
    the other (the echo server would otherwise fill both kernel buffers and stall)."""
    server = serve(listener, server_context, echo)
    payload = bytes(range(256)) * 16384
    with connect(client_context, listener) as client:

        def read_all() -> bytes:
            chunks = []
            remaining = len(payload)
            while remaining:
                chunk = client.recv(65536)
                assert chunk
                chunks.append(chunk)
                remaining -= len(chunk)
            return b"".join(chunks)

        reader = green.spawn(read_all)
        client.sendall(payload)
        assert reader.wait() == payload
    assert server.wait() == [len(payload)]


def test_green_client_against_stdlib_server_in_a_real_thread(certificate, client_context):
    """Interoperability with the stdlib's own blocking TLS server in another OS thread."""
    real_socket = original("socket")
    context = stdssl.SSLContext(stdssl.PROTOCOL_TLS_SERVER)
    # Loaded from a file, not with configure_cert: trustme checks the type against whatever
    # `ssl.SSLContext` is, which is green's in the patched run.
    with certificate.private_key_and_cert_chain_pem.tempfile() as path:
        context.load_cert_chain(path)
    with real_socket.create_server((HOST, 0)) as plain_listener:
        address = plain_listener.getsockname()
        failures: list[BaseException] = []

        def stdlib_server() -> None:
            try:
                connection, _ = plain_listener.accept()
                with context.wrap_socket(connection, server_side=True) as tls:
                    tls.sendall(tls.recv(100).upper())
                    tls.unwrap().close()
            except BaseException as problem:
                failures.append(problem)

        join = start_os_thread(stdlib_server)  # a real OS thread, also in the patched run
        try:
            sock = gsocket.create_connection(address)
            with client_context.wrap_socket(sock, server_hostname=NAME) as tls:
                tls.sendall(b"shout")
                assert tls.recv(100) == b"SHOUT"
                plain = tls.unwrap()
                assert plain is tls and tls.version() is None
        finally:
            join(5)
        assert not failures


# -- timeouts, non-blocking, closing ----------------------------------------------------------


def test_handshake_timeout_against_a_silent_peer(listener, client_context):
    silent = gsocket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()  # the peer accepts TCP and then never says a word
    try:
        silent.settimeout(0.1)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="The handshake operation timed out"):
            client_context.wrap_socket(silent, server_hostname=NAME)
        elapsed = time.monotonic() - started
        assert 0.09 <= elapsed < 1.5
        assert silent.fileno() == -1  # detached by the wrap, then closed with the TLS socket
    finally:
        accepted.close()


def test_handshake_timeout_message_matches_the_stdlib(listener, client_context):
    """The stdlib raises the same error type with the same text (after an "_ssl.c:NNN: " prefix)."""
    real_socket = original("socket")
    real_context = stdssl.create_default_context()
    with real_socket.create_connection(listener.getsockname(), timeout=0.05) as plain:
        accepted, _ = listener.accept()
        try:
            with pytest.raises(TimeoutError) as caught:
                real_context.wrap_socket(plain, server_hostname=NAME)
        finally:
            accepted.close()
    assert str(caught.value).endswith("The handshake operation timed out")


def test_read_timeout_and_then_more_data(listener, server_context, client_context):
    go = green.Event()

    def late_writer(tls):
        with tls:
            go.wait()
            tls.sendall(b"late")
            return tls.recv(10)

    server = serve(listener, server_context, late_writer)
    with connect(client_context, listener) as client:
        client.settimeout(0.1)
        assert client.gettimeout() == 0.1
        with pytest.raises(TimeoutError, match="The read operation timed out"):
            client.recv(10)
        go.send()
        client.settimeout(2.0)
        assert client.recv(10) == b"late"
        client.sendall(b"bye")
    assert server.wait() == [b"bye"]


def test_write_timeout_against_a_peer_that_does_not_read(listener, server_context, client_context):
    release = green.Event()

    def does_not_read(tls):
        with tls:
            release.wait()

    server = serve(listener, server_context, does_not_read)
    with connect(client_context, listener) as client:
        client.settimeout(0.1)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="The write operation timed out"):
            client.sendall(b"x" * (64 * 1024 * 1024))
        assert time.monotonic() - started < 1.5
    release.send()
    server.wait()


def test_sendfile_goes_through_tls(listener, server_context, client_context, tmp_path):
    content = bytes(range(256)) * 1000
    path = tmp_path / "payload"
    path.write_bytes(content)
    server = serve(listener, server_context, echo)
    with connect(client_context, listener) as client:
        with open(path, "rb") as source:
            assert client.sendfile(source, offset=6, count=200_000) == 200_000
            assert source.tell() == 200_006
        received = b""
        while len(received) < 200_000:
            received += client.recv(65536)
        assert received == content[6:200_006]
    assert server.wait() == [200_000]


def test_wrap_keeps_the_socket_timeout(listener, server_context, client_context):
    server = serve(listener, server_context, echo)
    sock = gsocket.create_connection(listener.getsockname(), timeout=3.0)
    with client_context.wrap_socket(sock, server_hostname=NAME) as client:
        assert client.gettimeout() == 3.0
    assert server.wait() == [0]


def test_nonblocking_socket_raises_want_errors_like_the_stdlib(listener, server_context, client_context):
    hub = green.get_hub()
    go = green.Event()

    def waits_then_writes(tls):
        with tls:
            go.wait()
            tls.sendall(b"now")
            return tls.recv(10)

    sock = gsocket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    sock.setblocking(False)
    with pytest.raises(ValueError, match="non-blocking"):
        client_context.wrap_socket(sock, server_hostname=NAME)
    assert sock.fileno() == -1
    accepted.close()

    server = serve(listener, server_context, waits_then_writes)
    sock = gsocket.create_connection(listener.getsockname())
    sock.setblocking(False)
    client = client_context.wrap_socket(sock, server_hostname=NAME, do_handshake_on_connect=False)
    with client:
        # The stdlib's non-blocking handshake loop, with the hub as the selector.
        while True:
            try:
                client.do_handshake()
                break
            except gssl.SSLWantReadError:
                hub.wait_readable(client.fileno())
            except gssl.SSLWantWriteError:
                hub.wait_writable(client.fileno())
        with pytest.raises(gssl.SSLWantReadError):
            client.recv(10)
        go.send()
        hub.wait_readable(client.fileno())
        received = b""
        while not received:
            try:
                received = client.recv(10)
            except gssl.SSLWantReadError:
                hub.wait_readable(client.fileno())
        assert received == b"now"
        client.setblocking(True)
        client.sendall(b"done")
    assert server.wait() == [b"done"]


def test_blocking_handshake_on_a_nonblocking_socket(listener, server_context, client_context):
    server = serve(listener, server_context, echo)
    sock = gsocket.create_connection(listener.getsockname())
    sock.setblocking(False)
    with client_context.wrap_socket(sock, server_hostname=NAME, do_handshake_on_connect=False) as client:
        client.do_handshake(block=True)
        assert client.version() is not None
        assert client.gettimeout() == 0.0
    assert server.wait() == [0]


def test_close_wakes_a_green_thread_parked_in_a_tls_read(listener, server_context, client_context):
    release = green.Event()

    def holds(tls):
        with tls:
            release.wait()

    server = serve(listener, server_context, holds)
    client = connect(client_context, listener)
    reader = green.spawn(client.recv, 100)
    green.sleep(0)  # let the reader park in the hub
    assert green.get_hub().counts()["waiters"] >= 1
    client.close()
    with pytest.raises(OSError) as caught:
        reader.wait()
    assert caught.value.errno == errno.EBADF
    with pytest.raises(ValueError, match="closed or unwrapped"):
        client.read(10)
    release.send()
    server.wait()


# -- how a connection ends --------------------------------------------------------------------


@pytest.mark.parametrize("suppress", [True, False])
def test_peer_closing_mid_stream_is_a_ragged_eof(listener, server_context, client_context, suppress):
    def sends_then_drops(tls):
        tls.sendall(b"partial")
        tls.close()  # the TCP connection ends without a TLS close_notify

    server = serve(listener, server_context, sends_then_drops)
    with connect(client_context, listener, suppress_ragged_eofs=suppress) as client:
        assert client.recv(100) == b"partial"
        if suppress:
            assert client.recv(100) == b""
            assert client.recv_into(bytearray(10)) == 0
        else:
            with pytest.raises(gssl.SSLEOFError):
                client.recv(100)
    server.wait()


def test_unwrap_both_sides_then_plain_text(listener, server_context, client_context):
    def tls_then_plain(tls):
        with tls:
            assert tls.recv(100) == b"secret"
            plain = tls.unwrap()
            assert plain is tls and tls.version() is None and tls.pending() == 0
            return plain.recv(100)

    server = serve(listener, server_context, tls_then_plain)
    with connect(client_context, listener) as client:
        client.sendall(b"secret")
        plain = client.unwrap()
        assert plain is client and client.cipher() is None
        with pytest.raises(ValueError, match="No SSL wrapper"):
            client.unwrap()
        with pytest.raises(ValueError, match="closed or unwrapped"):
            client.write(b"x")
        plain.sendall(b"in the clear")
    assert server.wait() == [b"in the clear"]


def test_peer_close_notify_reads_as_end_of_stream(listener, server_context, client_context):
    def says_goodbye(tls):
        tls.sendall(b"bye")
        tls.unwrap().close()

    server = serve(listener, server_context, says_goodbye)
    with connect(client_context, listener, suppress_ragged_eofs=False) as client:
        assert client.recv(100) == b"bye"
        assert client.recv(100) == b""  # a clean TLS end, not a ragged one
        client.unwrap()  # answers the peer's close_notify, which its unwrap waits for
    server.wait()


def test_failed_verification_closes_the_socket(listener, server_context):
    untrusting = gssl.create_default_context()  # does not know the test CA

    def accept_and_fail():
        connection, _ = listener.accept()
        with pytest.raises((gssl.SSLError, ConnectionResetError)):
            server_context.wrap_socket(connection, server_side=True)
        return "failed"

    server = green.spawn(accept_and_fail)
    sock = gsocket.create_connection(listener.getsockname())
    with pytest.raises(gssl.SSLCertVerificationError):
        untrusting.wrap_socket(sock, server_hostname=NAME)
    assert server.wait() == "failed"


# -- reading helpers ----------------------------------------------------------------------------


def test_makefile_reads_lines(listener, server_context, client_context):
    def writes_lines(tls):
        with tls:
            tls.sendall(b"first line\r\nsecond")
            tls.sendall(b" line\r\nthird\r\n")
            tls.unwrap()  # close_notify: the reader sees a clean end of stream

    server = serve(listener, server_context, writes_lines, count=2)
    with connect(client_context, listener) as client:
        with client.makefile("rb") as binary:
            assert binary.readline() == b"first line\r\n"
            assert binary.readline() == b"second line\r\n"
            assert binary.readline() == b"third\r\n"
            assert binary.readline() == b""
        client.unwrap()
    with connect(client_context, listener) as client:
        with client.makefile("r", encoding="ascii", newline="") as text:
            assert list(text) == ["first line\r\n", "second line\r\n", "third\r\n"]
        client.unwrap()
    server.wait()


def test_pending_counts_decrypted_bytes_not_yet_read(listener, server_context, client_context):
    def writes_one_record(tls):
        with tls:
            tls.sendall(b"y" * 100)
            return tls.recv(10)

    server = serve(listener, server_context, writes_one_record)
    with connect(client_context, listener) as client:
        assert client.recv(10) == b"y" * 10
        assert client.pending() == 90
        assert client.read(90) == b"y" * 90
        assert client.pending() == 0
        client.write(b"ok")
    assert server.wait() == [b"ok"]


def test_flags_and_datagram_methods_are_refused_while_tls_is_on(listener, server_context, client_context):
    server = serve(listener, server_context, echo)
    with connect(client_context, listener) as client:
        with pytest.raises(ValueError):
            client.recv(10, gsocket.MSG_PEEK)
        with pytest.raises(ValueError):
            client.send(b"x", gsocket.MSG_DONTWAIT)
        with pytest.raises(ValueError):
            client.recvfrom(10)
        with pytest.raises(NotImplementedError):
            client.sendmsg([b"x"])
        with pytest.raises(NotImplementedError):
            client.dup()
    server.wait()


# -- protocol features --------------------------------------------------------------------------


def test_alpn_and_sni_callback_see_green_sockets(certificate, authority, listener):
    seen = []
    server_context = gssl.SSLContext(gssl.PROTOCOL_TLS_SERVER)
    certificate.configure_cert(server_context)
    server_context.set_alpn_protocols(["h2", "http/1.1"])
    server_context.sni_callback = lambda tls, name, context: seen.append((type(tls), name))
    client_context = gssl.create_default_context()
    authority.configure_trust(client_context)
    client_context.set_alpn_protocols(["http/1.1"])

    def reports(tls):
        with tls:
            return tls.selected_alpn_protocol()

    server = serve(listener, server_context, reports)
    with connect(client_context, listener) as client:
        assert client.selected_alpn_protocol() == "http/1.1"
    assert server.wait() == ["http/1.1"]
    assert seen == [(gssl.SSLSocket, NAME)]


def test_wrapping_a_real_socket_waits_cooperatively(listener, server_context, client_context):
    server = serve(listener, server_context, echo)
    real = original("socket").create_connection(listener.getsockname())
    with client_context.wrap_socket(real, server_hostname=NAME) as client:
        assert real.fileno() == -1  # detached into the green SSLSocket
        assert isinstance(client, gssl.SSLSocket)
        client.sendall(b"real")
        assert client.recv(10) == b"real"
    assert server.wait() == [4]


def test_get_server_certificate(listener, server_context, authority, certificate, tmp_path):
    def sends_nothing(tls):
        with tls:
            return tls.recv(10)

    server = serve(listener, server_context, sends_nothing)
    authority_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(authority_file))
    pem = gssl.get_server_certificate(listener.getsockname(), ca_certs=str(authority_file), timeout=5)
    expected = certificate.cert_chain_pems[0].bytes().decode()
    assert gssl.PEM_cert_to_DER_cert(pem) == gssl.PEM_cert_to_DER_cert(expected)
    assert server.wait() == [b""]


def test_module_level_wrap_socket_follows_the_stdlib(listener, server_context):
    if not hasattr(original("ssl"), "wrap_socket"):
        # Python 3.12 removed it; green does not bring it back.
        assert not hasattr(gssl, "wrap_socket")
        return
    server = serve(listener, server_context, echo)
    sock = gsocket.create_connection(listener.getsockname())
    with pytest.warns(DeprecationWarning, match="wrap_socket"):
        client = gssl.wrap_socket(sock)  # CERT_NONE by default, as the stdlib
    with client:
        assert isinstance(client, gssl.SSLSocket)
        client.sendall(b"old api")
        assert client.recv(10) == b"old api"
    assert server.wait() == [7]
    with pytest.raises(ValueError, match="certfile"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        gssl.wrap_socket(gsocket.socket(), server_side=True)


# -- http.client over green TLS -----------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"you asked for {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_https_connection_against_stdlib_http_server(listener, server_context, client_context, monkeypatch):
    """http.client's HTTPSConnection with a green context, its sockets made by green.socket,
    talking to the stdlib's http.server request handler running over a green SSLSocket."""
    monkeypatch.setattr(http.client, "socket", gsocket)

    def handle(tls):
        _Handler(tls, tls.getpeername(), None)
        tls.close()

    server = serve(listener, server_context, handle)
    connection = http.client.HTTPSConnection(NAME, listener.getsockname()[1], context=client_context)
    try:
        for path in ("/one", "/two"):  # two requests over one kept-alive TLS connection
            connection.request("GET", path)
            response = connection.getresponse()
            assert response.status == 200
            assert response.read() == f"you asked for {path}".encode()
            assert isinstance(connection.sock, gssl.SSLSocket)
    finally:
        connection.close()
    server.wait()


# -- after monkey_patch(): unmodified stdlib code ------------------------------------------------

_PATCHED_SCRIPT = """
import green

green.monkey_patch()

import http.server
import socket
import ssl
import threading
import urllib.request

import trustme

assert ssl.SSLContext.__module__ == "green.ssl", ssl.SSLContext
authority = trustme.CA()
server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
authority.issue_cert("127.0.0.1").configure_cert(server_context)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
httpd.socket = server_context.wrap_socket(httpd.socket, server_side=True)
assert isinstance(httpd.socket, socket.socket)
serving = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
serving.start()
client_context = ssl.create_default_context()
authority.configure_trust(client_context)
port = httpd.server_address[1]
bodies = []


def fetch(number):
    url = f"https://127.0.0.1:{port}/{number}"
    with urllib.request.urlopen(url, context=client_context, timeout=10) as response:
        bodies.append(response.read())


clients = [threading.Thread(target=fetch, args=(number,)) for number in range(20)]
for client in clients:
    client.start()
for client in clients:
    client.join()
httpd.shutdown()
serving.join()
httpd.server_close()
assert sorted(bodies) == sorted(f"/{number}".encode() for number in range(20)), bodies
print("pass")
"""


@pytest.mark.timeout(60)
def test_unmodified_stdlib_https_after_monkey_patch():
    """ThreadingHTTPServer with a wrapped listening socket and 20 urllib clients, all stdlib
    code, in a fresh process after green.monkey_patch(): threads are green threads, so a TLS
    call that blocked the OS thread would stall everything."""
    import subprocess
    import sys

    completed = subprocess.run(
        [sys.executable, "-c", _PATCHED_SCRIPT], capture_output=True, text=True, timeout=50
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().splitlines()[-1] == "pass", completed.stdout + completed.stderr


def test_a_select_loop_tls_server_on_a_non_blocking_socket(listener, server_context, client_context):
    # The pattern of every select-loop TLS server (asyncore's dispatchers in CPython's
    # test_ftplib and test_poplib): a non-blocking socket, do_handshake until it stops raising
    # SSLWant*, waiting with select in between. The socket is writable all along, so the loop
    # spins while the client -- another green thread -- must get its turn to answer.
    import green.select as gselect

    def client() -> bytes:
        with client_context.wrap_socket(
            gsocket.create_connection(listener.getsockname()), server_hostname=NAME
        ) as connection:
            connection.sendall(b"ping")
            return connection.recv(4)

    talking = green.spawn(client)
    accepted, _ = listener.accept()
    accepted.setblocking(False)
    connection = server_context.wrap_socket(accepted, server_side=True, do_handshake_on_connect=False)
    with connection:
        for _ in range(10_000):
            gselect.select([connection], [connection], [], 5)
            try:
                connection.do_handshake()
                break
            except (gssl.SSLWantReadError, gssl.SSLWantWriteError):
                continue
        else:
            raise AssertionError("the handshake never finished: the client never ran")
        data = b""
        while len(data) < 4:
            gselect.select([connection], [], [], 5)
            try:
                data += connection.recv(4 - len(data))
            except gssl.SSLWantReadError:
                continue
        connection.setblocking(True)
        connection.sendall(data)
        assert talking.wait() == b"ping"


def test_sendto_without_flags_on_an_unconnected_ssl_socket_is_a_plain_sendto(client_context):
    # CPython's test_ssl test_wrapped_unconnected: sendto(data, address) before any TLS is a
    # plain sendto, which fails with OSError on an unconnected stream socket (not TypeError).
    with client_context.wrap_socket(gsocket.socket(), server_hostname=NAME) as unconnected:
        with pytest.raises(OSError):
            unconnected.sendto(b"x", ("0.0.0.0", 0))


def test_handshake_interrupted_in_accept_leaves_no_stale_registration(listener, server_context):
    # Killed in accept()'s handshake, the half-made TLS socket dies in a reference cycle with the
    # frames of its green thread; the real socket's own finaliser may close the fd first.
    tls_listener = server_context.wrap_socket(listener, server_side=True)

    def accept_one():
        tls_listener.accept()

    acceptor = green.spawn(accept_one)
    silent = gsocket.create_connection(tls_listener.getsockname())  # never starts TLS
    try:
        while not any(entry[2] is acceptor for entry in green.hubs.get_hub().registrations()):
            green.sleep(0.01)  # until the handshake waits on the accepted connection
        acceptor.kill()
        del acceptor
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)  # the dropped connection, on purpose
            gc.collect()
        for fd, mask, _, _ in green.hubs.get_hub().registrations():
            if mask:
                os.fstat(fd)  # every fd the hub keeps a registration for is still open
    finally:
        silent.close()
        tls_listener.close()
