"""green.wsgi: the HTTP/1.x behaviour of the server, against a live server on loopback."""

from __future__ import annotations

import logging
import os
import ssl
import sys
import tempfile

import pytest
from wsgi_helpers import connect, get, read_response, receive_until_closed, request, running

import green
from green import tpool, wsgi
from green._stdlib import original
from green.wsgi import _command as wsgi_command


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, World!"]


def echo_body(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [body]


def test_get_keep_alive_and_one_send():
    with running(hello) as (server, port):
        with connect(port) as sock:
            reader = sock.makefile("rb")
            for _ in range(3):
                sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
                response = read_response(reader)
                assert response.status == 200
                assert response.body == b"Hello, World!"
                assert response.headers["content-length"] == "13"
                assert "date" in response.headers
                assert "connection" not in response.headers
            reader.close()
        assert server.requests_served == 3


def test_small_response_arrives_in_one_segment_with_nodelay():
    with running(hello) as (_, port):
        with connect(port) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            data = sock.recv(65536)
            assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"Hello, World!")


def test_tcp_nodelay_is_set_on_connections():
    import socket as stdlib_socket

    settings = []

    def app(environ, start_response):
        for connection in server.connections:
            settings.append(connection.sock.getsockopt(stdlib_socket.IPPROTO_TCP, stdlib_socket.TCP_NODELAY))
        return hello(environ, start_response)

    with running(app) as (server, port):
        assert get(port).status == 200
    assert settings and all(settings)


def test_file_wrapper_falls_back_to_iteration_for_non_files():
    import io

    def app(environ, start_response):
        start_response("200 OK", [])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"x" * 100_000), 30_000)

    with running(app) as (_, port):
        response = get(port)
        assert response.body == b"x" * 100_000 and response.headers["transfer-encoding"] == "chunked"


def test_environ_follows_pep_3333():
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        start_response("200 OK", [])
        return []

    with running(app) as (server, port):
        headers = (
            "X-Many: a\r\nX-Many: b\r\nCookie: a=1\r\nCookie: b=2\r\nX_Spoof: 1\r\n"
            "Content-Type: text/plain\r\nX-Latin: caf\xe9\r\n"
        )
        response = get(port, "/caf%C3%A9/a%2Fb?x=1&y=%20", headers)
        assert response.status == 200
        assert response.headers["content-length"] == "0"
    assert seen["REQUEST_METHOD"] == "GET"
    assert seen["PATH_INFO"] == "/caf\xc3\xa9/a/b"
    assert seen["RAW_PATH_INFO"] == "/caf%C3%A9/a%2Fb"
    assert seen["QUERY_STRING"] == "x=1&y=%20"
    assert seen["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert seen["REMOTE_ADDR"] == "127.0.0.1"
    assert seen["SERVER_NAME"] == "127.0.0.1"
    assert seen["SERVER_PORT"] == str(port)
    assert seen["SCRIPT_NAME"] == ""
    assert seen["wsgi.url_scheme"] == "http"
    assert seen["wsgi.version"] == (1, 0)
    assert seen["wsgi.errors"] is sys.stderr
    assert seen["HTTP_HOST"] == "test"
    assert seen["HTTP_X_MANY"] == "a, b"
    assert seen["HTTP_COOKIE"] == "a=1; b=2"
    assert seen["HTTP_X_LATIN"] == "caf\xe9"
    assert seen["CONTENT_TYPE"] == "text/plain"
    assert "HTTP_CONTENT_TYPE" not in seen
    assert "HTTP_X_SPOOF" not in seen
    assert seen["wsgi.input"].read() == b""


def test_http_1_0_closes_unless_keep_alive_requested():
    with running(hello) as (_, port):
        with connect(port) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = receive_until_closed(sock)
            assert data.startswith(b"HTTP/1.1 200 OK") and b"Connection: close\r\n" in data
        responses = request(port, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2, count=2)
        assert [r.status for r in responses] == [200, 200]
        assert responses[0].headers["connection"] == "keep-alive"


def test_http_1_1_connection_close():
    with running(hello) as (_, port):
        with connect(port) as sock:
            sock.sendall(
                b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n"
            )
            data = receive_until_closed(sock)
            assert data.count(b"HTTP/1.1 200") == 1


def test_pipelined_requests_answered_in_order():
    def app(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            green.sleep(0.05)
        start_response("200 OK", [])
        return [environ["PATH_INFO"].encode() + environ["wsgi.input"].read()]

    with running(app) as (_, port):
        data = (
            b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
            b"POST /post HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
            b"POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            b"GET /last HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        responses = request(port, data, count=4)
        assert [r.body for r in responses] == [b"/slow", b"/posthello", b"/chunkedabc", b"/last"]


def test_chunked_request_body_and_trailers_discarded():
    seen = {}

    def app(environ, start_response):
        stream = environ["wsgi.input"]
        if environ["REQUEST_METHOD"] == "GET":
            return hello(environ, start_response)
        seen["first"] = stream.readline()
        seen["sized"] = stream.read(3)
        seen["rest"] = list(stream)
        seen["environ_trailer"] = environ.get("HTTP_X_TRAILER")
        start_response("200 OK", [])
        return [b"ok"]

    with running(app) as (_, port):
        body = b"6\r\nline1\n\r\n9;ext=1\r\nabcline2\n\r\n6\r\nline3\n\r\n0\r\nX-Trailer: bad\r\n\r\n"
        responses = request(
            port,
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            + body
            + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
            count=2,
        )
        assert [r.status for r in responses] == [200, 200]
    assert seen == {
        "first": b"line1\n",
        "sized": b"abc",
        "rest": [b"line2\n", b"line3\n"],
        "environ_trailer": None,
    }


def test_input_never_reads_past_the_body():
    results = []

    def app(environ, start_response):
        stream = environ["wsgi.input"]
        results.append(
            (stream.read(2), stream.readline(), stream.readlines(), stream.read(), stream.read(10))
        )
        start_response("200 OK", [])
        return [b"x"]

    with running(app) as (_, port):
        data = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab12\n34\n56GET / HTTP/1.1\r\nHost: t\r\n\r\n"
        responses = request(port, data, count=2)
        assert [r.status for r in responses] == [200, 200]
    assert results[0] == (b"ab", b"12\n", [b"34\n", b"56"], b"", b"")
    assert results[1] == (b"", b"", [], b"", b"")


def test_large_body_in_many_pieces():
    payload = os.urandom(300_000)
    with running(echo_body) as (_, port):
        with connect(port) as sock:
            sock.sendall(b"PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(payload))
            for start in range(0, len(payload), 50_000):
                sock.sendall(payload[start : start + 50_000])
                green.sleep(0.001)
            reader = sock.makefile("rb")
            assert read_response(reader).body == payload
            reader.close()


def test_chunked_response_when_no_content_length():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"one "
        yield b""
        yield b"two"

    with running(app) as (_, port):
        (response,) = request(port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert response.headers["transfer-encoding"] == "chunked"
        assert response.body == b"one two"
        with connect(port) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = receive_until_closed(sock)
        assert data.endswith(b"\r\n\r\none two") and b"chunked" not in data


def test_expect_100_continue_sent_when_body_is_read():
    with running(echo_body) as (_, port):
        with connect(port) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(b"data")
            reader = sock.makefile("rb")
            response = read_response(reader)
            assert response.body == b"data"
            reader.close()


def test_expect_100_continue_not_sent_when_body_is_ignored():
    with running(hello) as (_, port):
        with connect(port) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            data = receive_until_closed(sock)
        assert b"100 Continue" not in data
        assert data.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in data


def test_unread_body_is_drained_for_keep_alive():
    with running(hello) as (_, port):
        data = (
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        assert [r.status for r in request(port, data, count=2)] == [200, 200]


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
def test_no_body_statuses(status):
    def app(environ, start_response):
        start_response(status, [])
        return [b"must not be sent"]

    with running(app) as (_, port):
        responses = request(
            port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n", count=2
        )
        assert [r.status for r in responses] == [int(status[:3])] * 2
        assert "content-length" not in responses[0].headers
        assert "transfer-encoding" not in responses[0].headers


def test_head_has_headers_but_no_body():
    with running(hello) as (_, port):
        responses = request(
            port, b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\nHEAD / HTTP/1.1\r\nHost: t\r\n\r\n", count=2, head=True
        )
        assert [r.headers["content-length"] for r in responses] == ["13", "13"]
        with connect(port) as sock:
            sock.sendall(b"HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            assert receive_until_closed(sock).endswith(b"\r\n\r\n")


def test_write_callable_and_content_length():
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Length", "11")])
        write(b"hello ")
        write(b"world")
        return []

    with running(app) as (_, port):
        (response,) = request(port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert response.body == b"hello world"


def test_file_wrapper_uses_sendfile(monkeypatch):
    calls = []
    real_sendfile = os.sendfile

    def counting_sendfile(*args):
        calls.append(args)
        return real_sendfile(*args)

    monkeypatch.setattr(os, "sendfile", counting_sendfile)
    payload = os.urandom(200_000)
    with tempfile.NamedTemporaryFile() as handle:
        handle.write(payload)
        handle.flush()

        def app(environ, start_response):
            opened = open(handle.name, "rb")
            opened.seek(1000)
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return environ["wsgi.file_wrapper"](opened)

        with running(app) as (_, port):
            responses = request(
                port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n", count=2
            )
    assert [r.body == payload[1000:] for r in responses] == [True, True]
    assert responses[0].headers["content-length"] == str(len(payload) - 1000)
    assert calls


def test_start_response_with_exc_info_before_headers_sent():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise RuntimeError("late problem")
        except RuntimeError:
            start_response("503 Service Unavailable", [("Retry-After", "1")], sys.exc_info())
        return [b"try later"]

    with running(app) as (_, port):
        response = get(port)
        assert response.status == 503 and response.body == b"try later"
        assert response.headers["retry-after"] == "1"


def test_start_response_with_exc_info_after_headers_sent_closes(caplog):
    def app(environ, start_response):
        if environ["PATH_INFO"] != "/partial":
            return hello(environ, start_response)
        write = start_response("200 OK", [])
        write(b"partial")
        try:
            raise RuntimeError("too late")
        except RuntimeError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        return []

    with running(app) as (_, port):
        with connect(port) as sock:
            sock.sendall(b"GET /partial HTTP/1.1\r\nHost: t\r\n\r\n")
            data = receive_until_closed(sock)
        assert data.startswith(b"HTTP/1.1 200 OK") and b"partial" in data
        assert get(port).status == 200


def test_app_exception_gives_500_and_server_keeps_serving(caplog):
    def app(environ, start_response):
        if environ["PATH_INFO"] == "/boom":
            raise ValueError("secret detail")
        return hello(environ, start_response)

    with running(app) as (_, port):
        with caplog.at_level(logging.ERROR, logger="green.wsgi"):
            response = get(port, "/boom")
        assert response.status == 500
        assert b"secret detail" not in response.body and b"Traceback" not in response.body
        assert "secret detail" in caplog.text
        assert get(port).status == 200
    with running(app, debug=True) as (_, port):
        with caplog.at_level(logging.CRITICAL, logger="green.wsgi"):
            response = get(port, "/boom")
        assert response.status == 500 and b"ValueError: secret detail" in response.body


@pytest.mark.parametrize(
    "headers",
    [[("X-Bad", "a\r\nInjected: yes")], [("X-Bad\r\nInjected", "yes")], [("Transfer-Encoding", "chunked")]],
)
def test_invalid_response_headers_give_500(headers, caplog):
    def app(environ, start_response):
        start_response("200 OK", headers)
        return [b"x"]

    with running(app) as (_, port):
        with caplog.at_level(logging.CRITICAL, logger="green.wsgi"):
            response = get(port)
        assert response.status == 500 and "injected" not in response.headers


def test_client_disconnect_mid_response_logs_one_line(caplog):
    finished = green.Event()

    def app(environ, start_response):
        if environ["PATH_INFO"] != "/big":
            yield from hello(environ, start_response)
            return
        start_response("200 OK", [])
        try:
            for _ in range(2000):
                yield b"x" * 65536
        finally:
            finished.send()

    with running(app) as (_, port):
        with caplog.at_level(logging.INFO, logger="green.wsgi"):
            sock = connect(port)
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            sock.recv(1000)
            sock.close()
            finished.wait()
        records = [record for record in caplog.records if record.name == "green.wsgi"]
        assert len(records) == 1
        assert "disconnected" in records[0].getMessage() and records[0].exc_info is None
        assert get(port).status == 200


def test_idle_keep_alive_connection_closed_after_timeout():
    with running(hello, keepalive_timeout=0.2) as (_, port):
        with connect(port) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            data = receive_until_closed(sock)
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"Hello, World!")


def test_slow_headers_get_408_and_are_dropped():
    with running(hello, header_timeout=0.2) as (_, port):
        with connect(port) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: te")
            data = receive_until_closed(sock)
        assert data.startswith(b"HTTP/1.1 408 ")
        assert get(port).status == 200


def test_graceful_stop_finishes_in_flight_and_closes_idle():
    started = green.Event()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            started.send()
            green.sleep(0.2)
        return hello(environ, start_response)

    listener = green.listen(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = wsgi.Server(listener, app)
    listener.close()
    serving = green.spawn(server.serve_forever)
    idle = connect(port)
    idle.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    idle_reader = idle.makefile("rb")
    assert read_response(idle_reader).status == 200
    busy = connect(port)
    busy.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
    started.wait()
    stopper = green.spawn(server.stop, 5.0)
    busy_reader = busy.makefile("rb")
    response = read_response(busy_reader)
    assert response.status == 200 and response.headers["connection"] == "close"
    assert idle_reader.read() == b""
    stopper.wait()
    serving.wait()
    with pytest.raises(ConnectionRefusedError):
        connect(port)
    for closable in (idle_reader, idle, busy_reader, busy):
        closable.close()


def test_stop_deadline_kills_stuck_requests():
    started = green.Event()

    def app(environ, start_response):
        started.send()
        green.sleep(30)
        return hello(environ, start_response)

    with running(app) as (server, port):
        with connect(port) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            started.wait()
            with green.Timeout(3):
                server.stop(timeout=0.1)
            assert receive_until_closed(sock) == b""


def test_max_connections():
    release = green.Event()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/hold":
            release.wait()
        return hello(environ, start_response)

    with running(app, max_connections=1) as (_, port):
        first = connect(port)
        first.sendall(b"GET /hold HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        second = connect(port)
        second.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        second.settimeout(0.2)
        with pytest.raises(TimeoutError):
            second.recv(100)
        release.send()
        second.settimeout(5)
        assert receive_until_closed(first).startswith(b"HTTP/1.1 200")
        assert receive_until_closed(second).startswith(b"HTTP/1.1 200")
        first.close()
        second.close()


def test_max_body_for_content_length_and_chunked():
    with running(echo_body, max_body=10) as (_, port):
        assert (
            request(port, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n" + b"x" * 11)[0].status
            == 413
        )
        chunked = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nxxxxxx\r\n6\r\nxxxxxx\r\n0\r\n\r\n"
        assert request(port, chunked)[0].status == 413
        assert (
            request(port, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n" + b"x" * 10)[0].body
            == b"x" * 10
        )


def test_https(tmp_path):
    trustme = pytest.importorskip("trustme", reason="trustme is a test dependency")
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    seen = {}

    def app(environ, start_response):
        seen["scheme"] = environ["wsgi.url_scheme"]
        return echo_body(environ, start_response)

    real_socket = original("socket")

    def client(port: int) -> bytes:
        # A blocking stdlib client in an OS thread (tpool), talking to the green server.
        with real_socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with client_context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(
                    b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                )
                chunks = []
                while True:
                    data = tls.recv(65536)
                    if not data:
                        return b"".join(chunks)
                    chunks.append(data)

    with running(app, ssl_context=server_context) as (_, port):
        data = tpool.execute(client, port)
    assert data.startswith(b"HTTP/1.1 200 OK") and data.count(b"HTTP/1.1 200 OK") == 2
    assert b"\r\n\r\nhello" in data
    assert seen["scheme"] == "https"


@pytest.mark.parametrize("server_side", ["stdlib context", "green.ssl context"])
def test_https_with_green_ssl_client(server_side):
    trustme = pytest.importorskip("trustme", reason="trustme is a test dependency")
    green_ssl = pytest.importorskip("green.ssl", reason="green.ssl is not available")
    authority = trustme.CA()
    certificate = authority.issue_cert("localhost")
    if server_side == "stdlib context":
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    else:
        server_context = green_ssl.create_default_context(green_ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    client_context = green_ssl.create_default_context()
    authority.configure_trust(client_context)
    with running(echo_body, ssl_context=server_context) as (_, port):
        for _ in range(2):
            with client_context.wrap_socket(connect(port), server_hostname="localhost") as tls:
                reader = tls.makefile("rb")
                for body in (b"first", b"second"):
                    tls.sendall(
                        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
                    )
                    response = read_response(reader)
                    assert response.status == 200 and response.body == body
                reader.close()


def test_command_line_app_loading():
    assert wsgi_command._load_app("wsgi_helpers:running") is running


def test_command_line_server_with_access_log(tmp_path):
    import signal
    import subprocess

    (tmp_path / "cli_app.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'from the command line']\n"
    )
    probe = green.listen(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    process = subprocess.Popen(
        [sys.executable, "-m", "green.wsgi", "cli_app:app", "--bind", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with green.Timeout(10):
            while True:
                try:
                    response = get(port, "/hello?x=1")
                    break
                except ConnectionRefusedError:
                    assert process.poll() is None
                    green.sleep(0.05)
        assert response.status == 200 and response.body == b"from the command line"
        process.send_signal(signal.SIGTERM)
        with green.Timeout(10):
            while process.poll() is None:
                green.sleep(0.05)
        assert process.returncode == 0
        log = process.stderr.read().decode()
        assert '"GET /hello?x=1 HTTP/1.1" 200 21' in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


def test_log_request_called_after_each_response():
    seen = []

    def log_request(environ, status, headers, sent, seconds):
        seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], status, headers, sent, seconds))

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/fail":
            raise RuntimeError("failing on purpose")
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b"made"]

    logger = logging.getLogger("green.wsgi")
    logger.disabled = True  # the failing request's traceback is expected
    try:
        with running(app, log_request=log_request) as (_, port):
            assert get(port, "/thing?x=1").status == 201
            assert get(port, "/fail").status == 500
            (response,) = request(port, b"GET / HTTP/1.1\r\n\r\n")  # no Host
            assert response.status == 400
    finally:
        logger.disabled = False
    assert [entry[:5] for entry in seen] == [
        ("GET", "/thing", "201 Created", [("Content-Type", "text/plain")], 4),
        ("GET", "/fail", "500 Internal Server Error", [], 0),
        ("-", "", "400 Bad Request", [], 0),
    ]
    assert all(entry[5] >= 0 for entry in seen)


@pytest.mark.parametrize(
    "head, seen",
    [
        (
            b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            b"GET /chat  websocket",
        ),
        (
            b"POST /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 3\r\n\r\nabc",
            b"POST /chat  h2c",
        ),
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", b"CONNECT  example.com:443 -"),
    ],
)
def test_upgrade_and_connect_answered_then_closed(head, seen):
    """Documented: the server speaks HTTP/1.x only. A request asking to switch protocols (Upgrade)
    or to open a tunnel (CONNECT) reaches the application like any other; its response carries
    Connection: close, and whatever the client sent after the request is never parsed as HTTP."""

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        fields = (
            environ["REQUEST_METHOD"],
            environ["PATH_INFO"],
            environ["RAW_PATH_INFO"] if environ["REQUEST_METHOD"] == "CONNECT" else "",
            environ.get("HTTP_UPGRADE", "-"),
        )
        return [" ".join(fields).encode()]

    with running(app) as (_, port):
        with connect(port) as sock:
            sock.sendall(head + b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
            answer = receive_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close\r\n" in answer
    assert answer.endswith(b"\r\n\r\n" + seen)
    assert answer.count(b"HTTP/1.1") == 1


def test_https_server_at_its_limit_sheds_clients_that_never_finish_the_handshake():
    trustme = pytest.importorskip("trustme", reason="trustme is a test dependency")
    green_ssl = pytest.importorskip("green.ssl", reason="green.ssl is not available")
    authority = trustme.CA()
    certificate = authority.issue_cert("localhost")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    client_context = green_ssl.create_default_context()
    authority.configure_trust(client_context)
    with running(echo_body, ssl_context=server_context, max_connections=4, header_timeout=5.0) as (
        server,
        port,
    ):
        silent = [connect(port) for _ in range(4)]  # TCP only, no ClientHello
        green.sleep(0.7)  # past the grace period (header_timeout / 10)
        assert server.active == 4
        started = green.hubs.hub.monotonic()
        with client_context.wrap_socket(connect(port), server_hostname="localhost") as tls:
            reader = tls.makefile("rb")
            tls.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok")
            response = read_response(reader)
            reader.close()
        elapsed = green.hubs.hub.monotonic() - started
        assert response.status == 200 and response.body == b"ok"
        assert elapsed < 2.5, f"the new client waited {elapsed:.2f} s for a slot"
        assert sum(receive_until_closed(sock) == b"" for sock in silent[:1]) == 1  # shed: closed
        for sock in silent:
            sock.close()


def test_https_failed_handshake_frees_its_slot(capfd):
    trustme = pytest.importorskip("trustme", reason="trustme is a test dependency")
    green_ssl = pytest.importorskip("green.ssl", reason="green.ssl is not available")
    authority = trustme.CA()
    certificate = authority.issue_cert("localhost")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    client_context = green_ssl.create_default_context()
    authority.configure_trust(client_context)
    with running(echo_body, ssl_context=server_context, max_connections=1) as (server, port):
        for _ in range(3):
            with connect(port) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # plain HTTP to the TLS port
                assert receive_until_closed(sock) == b""
        with client_context.wrap_socket(connect(port), server_hostname="localhost") as tls:
            reader = tls.makefile("rb")
            tls.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok")
            assert read_response(reader).body == b"ok"
            reader.close()
    assert "unhandled exception" not in capfd.readouterr().err


def _reading_app(seen: list):
    """An app that reads its body and answers with the error it caught, if any."""

    def app(environ, start_response):
        try:
            body = environ["wsgi.input"].read()
        except OSError as error:  # a BodyError is an OSError (and a ValueError)
            seen.append(error)
            body = b"caught"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    return app


@pytest.mark.parametrize(
    "head, body",
    [
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n", b"abc"),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", b"5\r\nab"),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", b"2\r\nab\r\n"),
    ],
    ids=["content-length", "inside a chunk", "between chunks"],
)
def test_body_cut_short_by_the_client_raises_body_error_in_the_application(head, body):
    seen: list = []
    with running(_reading_app(seen)) as (server, port):
        with connect(port) as sock:
            sock.sendall(head)
            green.sleep(0.05)  # the application is already waiting for the body
            sock.sendall(body)
            sock.shutdown(original("socket").SHUT_WR)
            data = receive_until_closed(sock)
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"caught"), data
        assert b"Connection: close" in data
        (error,) = seen
        assert isinstance(error, wsgi.BodyError) and isinstance(error, ValueError)
        assert isinstance(error, wsgi.HTTPError) and error.status == 400
        assert get(port).status == 200  # and the server serves on
        assert server.requests_served == 2


def test_malformed_chunk_reaches_the_application_as_body_error():
    seen: list = []
    with running(_reading_app(seen)) as (_, port):
        with connect(port) as sock:
            sock.sendall(
                b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n"
            )
            data = receive_until_closed(sock)
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"caught"), data
        assert b"Connection: close" in data
        assert isinstance(seen[0], wsgi.BodyError)


def test_body_error_not_caught_by_the_application_gives_400():
    with running(echo_body) as (_, port):
        with connect(port) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
            sock.shutdown(original("socket").SHUT_WR)
            data = receive_until_closed(sock)
        assert data.startswith(b"HTTP/1.1 400 "), data


def test_http_1_0_request_with_transfer_encoding_is_answered_then_closed():
    with running(echo_body) as (_, port):
        with connect(port) as sock:
            sock.sendall(
                b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.0\r\n\r\n"
            )
            data = receive_until_closed(sock)
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"\r\n\r\nabc"), data
        assert data.count(b"HTTP/1.1") == 1  # the pipelined request is not answered
        assert b"Connection: close" in data


def test_require_host_false_serves_http_1_1_without_host():
    request_bytes = b"GET / HTTP/1.1\r\n\r\n"
    with running(hello) as (_, port):
        assert request(port, request_bytes)[0].status == 400
    with running(hello, require_host=False) as (_, port):
        (response,) = request(port, request_bytes)
        assert response.status == 200 and response.body == b"Hello, World!"


def test_error_log_receives_the_applications_tracebacks():
    def crash(environ, start_response):
        raise RuntimeError("intentional")

    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("test_wsgi.error_log")
    logger.propagate = False
    handler = Collect()
    logger.addHandler(handler)
    try:
        with running(crash, error_log=logger) as (_, port):
            assert get(port).status == 500
    finally:
        logger.removeHandler(handler)
    (record,) = records
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


def test_timeout_escaping_the_application_gives_500_and_server_keeps_serving(caplog):
    def times_out(environ, start_response):
        if environ["PATH_INFO"] == "/late":
            with green.Timeout(0):
                green.sleep(1)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with running(times_out) as (_, port):
        assert get(port, "/late").status == 500
        assert get(port).status == 200
    assert any(record.exc_info and isinstance(record.exc_info[1], green.Timeout) for record in caplog.records)


def test_whitespace_around_header_values_is_not_part_of_them():
    def headers(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{environ['HTTP_SPACED']}|{environ['HTTP_TAB']}|{environ['HTTP_NBSP']}".encode("latin-1")]

    with running(headers) as (_, port):
        (response,) = request(
            port,
            b"GET / HTTP/1.1\r\nHost: t\r\nSpaced:   o   u   t   \r\nTab: \tx\t\r\nNbsp: \xc2\xa0\r\n\r\n",
        )
    assert response.body == b"o   u   t|x|\xc2\xa0"


# -- options (eventlet's habits, which the eventlet alias turns on) ---------------------------------


def test_response_header_names_go_out_as_given_or_capitalised():
    def app(environ, start_response):
        start_response("200 OK", [("sOMe-WEirD", "cAsE"), ("wiTH-\xdf-LATIN1-\xff", "v")])
        return [b"x"]

    with running(app) as (_, port):
        names = [name for name, _ in get(port).raw_headers]
        assert "sOMe-WEirD" in names and "wiTH-\xdf-LATIN1-\xff" in names
    with running(app, capitalize_response_headers=True) as (_, port):
        response = get(port)
        assert ("Some-Weird", "cAsE") in response.raw_headers
        # Only ASCII letters change: latin-1 has no capital for these two.
        assert ("With-\xdf-Latin1-\xff", "v") in response.raw_headers


def test_minimum_chunk_size_gathers_pieces_so_an_early_error_is_a_500(caplog):
    sent = []

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial "
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("after the first piece")
        yield b"body"

    with running(app) as (_, port):
        with caplog.at_level(logging.CRITICAL, logger="green.wsgi"), connect(port) as sock:
            sock.sendall(b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\n")
            data = receive_until_closed(sock)
        # Without the option the first piece is on its way when the error comes: the response
        # is cut short.
        assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n8\r\npartial \r\n")
    with running(app, minimum_chunk_size=4096) as (_, port):
        with caplog.at_level(logging.CRITICAL, logger="green.wsgi"):
            response = get(port, "/boom")
        assert response.status == 500 and response.headers["connection"] == "close"
        with connect(port) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            reader = sock.makefile("rb")
            response = read_response(reader)
            reader.close()
        # Both pieces went out in one chunk, then the end of the body.
        assert response.status == 200 and response.body == b"partial body"
        assert response.headers["transfer-encoding"] == "chunked"
    with running(app, minimum_chunk_size=4) as (_, port):
        with connect(port) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            sent.append(receive_until_closed(sock))
        assert sent[0].endswith(b"\r\n8\r\npartial \r\n4\r\nbody\r\n0\r\n\r\n")


def test_minimum_chunk_size_sends_a_sized_iterable_with_its_length_and_empty_ones_chunked():
    def app(environ, start_response):
        start_response("200 OK", [])
        if environ["PATH_INFO"] == "/tuple":
            return (b"ab", b"cd")
        return iter([b""])

    with running(app, minimum_chunk_size=4096) as (_, port):
        response = get(port, "/tuple")
        assert response.body == b"abcd" and response.headers["content-length"] == "4"
        (response,) = request(port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.0\r\n\r\n", count=2)[:1]
        assert response.headers["transfer-encoding"] == "chunked" and response.body == b""


def test_str_pieces_are_refused_unless_encode_str(caplog):
    def app(environ, start_response):
        start_response("200 OK", [])
        if environ["PATH_INFO"] == "/write":
            environ["write"] = start_response
        return [b"bytes, ", "ascii"] if environ["PATH_INFO"] == "/list" else iter([b"bytes, ", "ascii"])

    def unicode_app(environ, start_response):
        start_response("200 OK", [])
        yield b"oh hai, "
        yield "\u0230"

    with running(app) as (_, port):
        with caplog.at_level(logging.CRITICAL, logger="green.wsgi"):
            assert get(port, "/list").status == 500
    with running(app, encode_str=True) as (_, port):
        assert get(port, "/list").body == b"bytes, ascii"
        assert get(port, "/iter").body == b"bytes, ascii"
    with running(unicode_app, encode_str=True, minimum_chunk_size=4096) as (_, port):
        with caplog.at_level(logging.CRITICAL, logger="green.wsgi"):
            assert get(port).status == 500


def test_announce_keepalive_answers_connection_keep_alive_with_its_timeout():
    with running(hello) as (_, port):
        response = get(port, headers="Connection: keep-alive\r\n")
        assert "connection" not in response.headers and "keep-alive" not in response.headers
    with running(hello, announce_keepalive=True, keepalive_timeout=2.5) as (_, port):
        response = get(port, headers="Connection: keep-alive\r\n")
        assert response.headers["connection"] == "keep-alive"
        assert response.headers["keep-alive"] == "timeout=2"
        response = get(port)  # keep-alive by default in HTTP/1.1: nothing to answer
        assert "connection" not in response.headers and "keep-alive" not in response.headers
        (response,) = request(port, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert (
            response.headers["connection"] == "keep-alive" and response.headers["keep-alive"] == "timeout=2"
        )


def test_error_response_makes_the_servers_own_error_responses():
    calls = []

    def error_response(status, reason, detail):
        calls.append((status, reason, detail))
        if status == 408:
            return b""  # close without a word
        return b"HTTP/1.0 400 Nope\r\nContent-Length: 0\r\n\r\n"

    with running(hello, error_response=error_response, header_timeout=0.2) as (_, port):
        (response,) = request(port, b"GET / HTTP/1.1\r\nHost: t\r\nLong: " + b"a" * 10000 + b"\r\n\r\n")
        assert (response.version, response.status, response.reason) == ("HTTP/1.0", 400, "Nope")
        with connect(port) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n")
            assert receive_until_closed(sock) == b""
    assert calls == [(431, "header line too long", ""), (408, "Request Timeout", "")]


def test_unix_socket_peers_remote_addr(tmp_path):
    def app(environ, start_response):
        start_response("200 OK", [])
        return [f"{environ['REMOTE_ADDR']}|{environ['REMOTE_PORT']}".encode()]

    path = str(tmp_path / "socket")
    for options, expected in (({}, b"|"), ({"unix_remote_addr": "unix"}, b"unix|")):
        listener = green.listen(path, family=green.socket.AF_UNIX)
        server = wsgi.Server(listener, app, **options)
        listener.close()
        thread = green.spawn(server.serve_forever)
        try:
            client = green.socket.socket(green.socket.AF_UNIX)
            client.connect(path)
            client.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = receive_until_closed(client)
            client.close()
            assert data.endswith(b"\r\n\r\n" + expected), data
        finally:
            server.stop(timeout=1.0)
            thread.wait()
            os.unlink(path)


def test_eventlet_environ_has_headers_raw():
    def app(environ, start_response):
        start_response("200 OK", [])
        return [repr(environ.get("headers_raw")).encode()]

    data = b"GET / HTTP/1.1\r\nHost: t\r\nx-ANY_k: one \r\nx-ANY_k: two\r\n\r\n"
    with running(app) as (_, port):
        assert request(port, data)[0].body == b"None"
    with running(app, eventlet_environ=True) as (_, port):
        assert (
            request(port, data)[0].body
            == repr((("Host", "t"), ("x-ANY_k", "one"), ("x-ANY_k", "two"))).encode()
        )


def test_headers_raw_names_are_latin_1_and_kept_to_a_bound():
    from green.wsgi import _environ

    for number in range(3000):
        _environ._header_name(b"X-%d" % number)
    assert len(_environ._header_names) <= 2048
    assert _environ._header_name(b"\xe9t\xe9") == "\xe9t\xe9"

    def app(environ, start_response):
        start_response("200 OK", [])
        return [repr(environ["headers_raw"]).encode("utf-8")]

    with running(app, eventlet_environ=True) as (_, port):
        data = b"GET / HTTP/1.1\r\nHost: t\r\nx-Cafe: caf\xe9\r\n\r\n"
        expected = (("Host", "t"), ("x-Cafe", "caf\xe9"))
        assert request(port, data)[0].body == repr(expected).encode("utf-8")


@pytest.mark.parametrize("eventlet_environ", [False, True])
def test_a_request_environ_fills_the_templates_room_without_growing(eventlet_environ):
    # A copy of the template takes a request's keys in place (see _environ._request_template):
    # an environ with a dozen headers is as large as the template.
    from green.wsgi import _environ

    seen = []

    def app(environ, start_response):
        seen.append((sys.getsizeof(environ), environ["REMOTE_ADDR"], environ["PATH_INFO"]))
        start_response("200 OK", [])
        return [b""]

    with running(app, eventlet_environ=eventlet_environ) as (server, port):
        assert _environ._room(server.request_template) >= _environ._ROOM
        headers = "".join(f"X-Header-{number}: {number}\r\n" for number in range(12))
        assert get(port, "/a?b", headers).status == 200
        (size, address, path) = seen[0]
        assert (address, path) == ("127.0.0.1", "/a")
        assert size == sys.getsizeof(server.request_template)


def test_eventlet_input_of_a_request_without_a_body():
    # Without Expect: the connection's own empty input (nothing to read, no 100 Continue, the
    # socket); with Expect: 100-continue and no body, eventlet's API sends the 100 Continue.
    def app(environ, start_response):
        body = environ["eventlet.input"]
        assert environ["wsgi.input"] is body
        body.set_hundred_continue_response_headers([("x-hint", "1")])
        body.send_hundred_continue_response()
        assert body.read() == b"" and body.readline() == b"" and list(body) == []
        peer = body.get_socket().getpeername()
        start_response("200 OK", [])
        return [f"{peer[0]}".encode()]

    with running(app, eventlet_environ=True) as (_, port):
        (response,) = request(port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert (response.status, response.body) == (200, b"127.0.0.1")
        data = b"GET / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n"
        interim, final = request(port, data, count=2)
        assert (interim.status, interim.headers.get("x-hint")) == (100, "1")
        assert (final.status, final.body) == (200, b"127.0.0.1")


def test_request_arriving_after_the_keep_alive_deadline_is_not_served(clock):
    # The sweeper ends idle connections a few times per timeout; a request that arrives after
    # the deadline but before the sweeper came round is not served either.
    served = []

    def app(environ, start_response):
        served.append(environ["PATH_INFO"])
        return hello(environ, start_response)

    with running(app, keepalive_timeout=10) as (_, port):
        with connect(port, timeout=None) as sock:
            reader = sock.makefile("rb")
            sock.sendall(b"GET /first HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_response(reader).status == 200
            clock.advance(10)  # to the deadline: the sweep due now finds nothing overdue
            green.sleep(0)
            clock.advance(0.5)  # past it, half a sweep before the next one
            sock.sendall(b"GET /late HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_response(reader) is None  # closed, without a response
            reader.close()
    assert served == ["/first"]


def test_pool_option_serves_connections_in_the_pools_green_threads():
    pool = green.GreenPool(4)
    inside = green.Event()
    release = green.Event()

    def app(environ, start_response):
        inside.send(pool.running())
        release.wait()
        return hello(environ, start_response)

    with running(app, pool=pool, max_connections=pool.size) as (_, port):
        waiter = green.spawn(request, port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert inside.wait() == 1  # the connection is the pool's
        release.send()
        (response,) = waiter.wait()
        assert response.status == 200
        pool.waitall()
        assert pool.running() == 0
