"""green.listen, green.connect, green.serve, green.StopServe, green.wrap_ssl."""

from __future__ import annotations

import importlib.util

import pytest

import green
import green.socket as gsocket


def test_listen_and_connect_tcp():
    server = green.listen(("127.0.0.1", 0))
    try:
        assert type(server) is gsocket.socket
        assert server.getsockopt(gsocket.SOL_SOCKET, gsocket.SO_REUSEADDR)
        assert not server.getsockopt(gsocket.SOL_SOCKET, gsocket.SO_REUSEPORT)  # port 0: never shared
        client = green.connect(server.getsockname(), bind=("127.0.0.1", 0))
        served, address = server.accept()
        with client, served:
            assert address == client.getsockname()
            client.sendall(b"hi")
            assert served.recv(10) == b"hi"
    finally:
        server.close()


def test_listen_reuse_port_defaults_on_for_a_fixed_port():
    with gsocket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = green.listen(("127.0.0.1", port), backlog=5)
    with server:
        assert server.getsockopt(gsocket.SOL_SOCKET, gsocket.SO_REUSEPORT)
    server = green.listen(("127.0.0.1", port), reuse_port=False, reuse_addr=False)
    with server:
        assert not server.getsockopt(gsocket.SOL_SOCKET, gsocket.SO_REUSEPORT)
        assert not server.getsockopt(gsocket.SOL_SOCKET, gsocket.SO_REUSEADDR)


def test_listen_warns_about_reuse_port_on_port_zero():
    from green._convenience import ReuseRandomPortWarning

    with pytest.warns(ReuseRandomPortWarning):
        server = green.listen(("127.0.0.1", 0), reuse_port=True)
    with server:
        assert server.getsockopt(gsocket.SOL_SOCKET, gsocket.SO_REUSEPORT)


def test_listen_warns_when_the_kernel_refuses_an_asked_reuse_port(monkeypatch):
    from green._convenience import ReusePortUnavailableWarning

    with gsocket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    real_setsockopt = gsocket.socket.setsockopt

    def refuse_reuse_port(self, level, option, *value):
        if option == gsocket.SO_REUSEPORT:
            raise OSError(22, "Invalid argument")
        return real_setsockopt(self, level, option, *value)

    monkeypatch.setattr(gsocket.socket, "setsockopt", refuse_reuse_port)
    with pytest.warns(ReusePortUnavailableWarning, match="SO_REUSEPORT"):
        server = green.listen(("127.0.0.1", port), reuse_port=True)
    with server:
        assert not server.getsockopt(gsocket.SOL_SOCKET, gsocket.SO_REUSEPORT)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        green.listen(("127.0.0.1", port)).close()  # the default (None) asks nothing: no warning


def test_listen_and_connect_unix(tmp_path):
    path = str(tmp_path / "sock")
    with green.listen(path, family=gsocket.AF_UNIX) as server:
        with green.connect(path, family=gsocket.AF_UNIX) as client:
            served, _ = server.accept()
            with served:
                client.sendall(b"u")
                assert served.recv(1) == b"u"


def test_connect_refused_closes_and_raises():
    with gsocket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        green.connect(("127.0.0.1", port))


def test_serve_handles_clients_concurrently_and_stops_on_stop_serve(capsys):
    server = green.listen(("127.0.0.1", 0))
    address = server.getsockname()
    handled = []
    both_connected = green.Event()

    def handle(sock, client_address):
        with sock:
            command = sock.recv(100)
            handled.append(command)
            if command == b"wait":
                both_connected.wait()
                sock.sendall(b"done")
            elif command == b"fail":
                raise ValueError("handler failure is printed, serving goes on")
            elif command == b"stop":
                raise green.StopServe()
            else:
                both_connected.send()
                sock.sendall(b"ok")

    serving = green.spawn(green.serve, server, handle, 10)

    def client(command):
        with green.connect(address) as sock:
            sock.sendall(command)
            return sock.recv(100)

    waiting = green.spawn(client, b"wait")  # blocks its handler until the next client comes
    assert client(b"go") == b"ok"
    assert waiting.wait() == b"done"
    assert client(b"fail") == b""
    assert client(b"stop") == b""
    assert serving.wait() is None
    server.close()
    assert sorted(handled) == sorted([b"wait", b"go", b"fail", b"stop"])
    assert "ValueError: handler failure is printed" in capsys.readouterr().err


def test_serve_concurrency_limit():
    server = green.listen(("127.0.0.1", 0))
    running = []
    most = []
    release = green.Event()

    def handle(sock, _):
        with sock:
            running.append(sock)
            most.append(len(running))
            if sock.recv(10) == b"stop":
                raise green.StopServe()
            release.wait()
            running.remove(sock)

    serving = green.spawn(green.serve, server, handle, 2)
    clients = [green.connect(server.getsockname()) for _ in range(4)]
    for sock in clients:
        sock.sendall(b"x")
    green.sleep(0.05)
    assert max(most) == 2  # the other two wait in the backlog
    release.send()
    green.sleep(0.05)
    assert max(most) == 2 and len(most) == 4
    with green.connect(server.getsockname()) as last:
        last.sendall(b"stop")
        serving.wait()
    for sock in clients:
        sock.close()
    server.close()


@pytest.mark.skipif(
    importlib.util.find_spec("green.ssl") is None or importlib.util.find_spec("trustme") is None,
    reason="green.ssl (another part of the project) or trustme is not available",
)
def test_wrap_ssl_round_trip(tmp_path):
    import trustme

    authority = trustme.CA()
    certificate = authority.issue_cert("localhost")
    cert_file = tmp_path / "server.pem"
    certificate.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))

    server = green.listen(("127.0.0.1", 0))

    def serve_one():
        sock, _ = server.accept()
        tls = green.wrap_ssl(sock, certfile=str(cert_file), server_side=True)
        with tls:
            tls.sendall(tls.recv(100).upper())

    thread = green.spawn(serve_one)
    client = green.wrap_ssl(green.connect(server.getsockname()), ca_certs=str(ca_file), cert_reqs=2)
    with client:
        client.sendall(b"secret")
        assert client.recv(100) == b"SECRET"
    thread.wait()
    server.close()
