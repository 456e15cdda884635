"""The eventlet alias (green.compat.eventlet): ``import eventlet`` gives green, unmodified eventlet
programs run under ``python -m green --eventlet``. Each test runs a fresh interpreter, because the
alias changes ``sys.meta_path`` and ``PYTHONPATH`` for the whole process."""

from __future__ import annotations

import http.client
import importlib.util
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import pytest
from servers import Server, require_module

import green
from green.compat.eventlet import ALIAS_PATH

# Where the green under test was imported from (the checkout, or site-packages under tox).
ROOT = Path(green.__file__).resolve().parent.parent


def _environment() -> dict[str, str]:
    environment = dict(os.environ)
    # The child must import the same green as this process, wherever it runs from.
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    return environment


def _run(code: str, *args: str, cwd: Path | None = None, timeout: float = 50) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args, "-c", textwrap.dedent(code)] if not args else [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_environment(),
        # Not the checkout by default: `-m` would put it first on the child's sys.path.
        cwd=cwd if cwd is not None else tempfile.gettempdir(),
    )


def _passes(done: subprocess.CompletedProcess) -> None:
    assert done.stdout.strip().endswith("pass"), f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, done.stderr


def test_import_eventlet_gives_greens_own_objects() -> None:
    done = _run(
        """
        import warnings
        warnings.simplefilter("error")
        import green.compat.eventlet
        green.compat.eventlet.install()
        import eventlet, eventlet.green.socket, eventlet.hubs, eventlet.queue, eventlet.wsgi
        import eventlet.support.greendns
        import green, green.socket, green.hubs, green.queue
        assert eventlet.Event is green.Event and eventlet.spawn is green.spawn
        assert eventlet.GreenPool is green.GreenPool and eventlet.Timeout is green.Timeout
        # eventlet.green.socket: green.socket's objects, greendns's resolver functions; the
        # socket class is eventlet's GreenSocket, green's with eventlet's constructor.
        assert issubclass(eventlet.green.socket.socket, green.socket.socket)
        assert eventlet.green.socket.socket.recv is green.socket.socket.recv
        assert eventlet.green.socket.getaddrinfo is eventlet.support.greendns.getaddrinfo
        # eventlet's queues are green's with eventlet's maxsize (None unbounded, 0 a channel)
        assert issubclass(eventlet.queue.LightQueue, green.queue.LightQueue)
        assert eventlet.Queue is eventlet.queue.Queue and eventlet.Queue().maxsize is None
        assert eventlet.queue.Queue.put is green.queue.Queue.put
        assert eventlet.hubs.get_hub() is green.hubs.get_hub()
        assert eventlet.__version__ == "0.41.3"
        from eventlet.green.http import client
        assert client.socket is green.socket, client.socket
        event = eventlet.Event()
        eventlet.spawn_after(0, event.send, 42)
        assert event.wait() == 42 and event.ready()
        print("pass")
        """
    )
    _passes(done)
    assert done.stderr == "", done.stderr  # no deprecation warning, nothing at all


def test_install_refuses_after_the_real_eventlet_was_imported() -> None:
    done = _run(
        """
        import sys, types
        real = types.ModuleType("eventlet")
        real.__file__ = "/somewhere/site-packages/eventlet/__init__.py"
        sys.modules["eventlet"] = real
        import green.compat.eventlet
        try:
            green.compat.eventlet.install()
        except ImportError as error:
            assert "already imported" in str(error), error
            print("pass")
        """
    )
    _passes(done)


def test_child_interpreters_get_the_alias() -> None:
    done = _run(
        """
        import subprocess, sys
        import green.compat.eventlet
        green.compat.eventlet.install()
        child = subprocess.run(
            [sys.executable, "-c", "import eventlet, green; print(eventlet.Event is green.Event)"],
            capture_output=True, text=True, check=True,
        )
        assert child.stdout.strip() == "True", child
        print("pass")
        """
    )
    _passes(done)


def test_eventlet_path_on_pythonpath_gives_any_interpreter_the_alias() -> None:
    printed = _run("", "-m", "green", "--eventlet-path")
    assert printed.stdout.strip() == ALIAS_PATH
    environment = _environment()
    environment["PYTHONPATH"] = os.pathsep.join([printed.stdout.strip(), environment["PYTHONPATH"]])
    done = subprocess.run(
        [sys.executable, "-c", "import eventlet, green; assert eventlet.sleep is green.sleep; print('pass')"],
        capture_output=True,
        text=True,
        timeout=50,
        env=environment,
    )
    _passes(done)


def test_python_m_green_eventlet_runs_a_script_and_a_module(tmp_path: Path) -> None:
    program = """
        import sys
        import eventlet
        import socket
        assert socket.socket.__module__ == "socket", "nothing is patched before the program asks"
        eventlet.monkey_patch()
        import socket
        assert socket.socket.__module__ == "green.socket", socket.socket
        assert eventlet.patcher.is_monkey_patched("socket")
        pool = eventlet.GreenPool(10)
        assert sorted(pool.imap(lambda n: n * 2, range(5))) == [0, 2, 4, 6, 8]
        print(__name__, sys.argv[1:], "pass")
        """
    (tmp_path / "program.py").write_text(textwrap.dedent(program))
    done = _run("", "-m", "green", "--eventlet", "program.py", "one", cwd=tmp_path)
    _passes(done)
    assert "__main__ ['one']" in done.stdout
    done = _run("", "-m", "green", "--eventlet", "-m", "program", "two", cwd=tmp_path)
    _passes(done)
    assert "__main__ ['two']" in done.stdout


def test_monkey_patch_takes_eventlets_keywords() -> None:
    done = _run(
        """
        import green.compat.eventlet
        green.compat.eventlet.install()
        import eventlet
        from eventlet import patcher
        try:
            eventlet.monkey_patch(sockets=True)
        except TypeError as error:
            assert "sockets" in str(error)
        eventlet.monkey_patch(socket=True, psycopg=True)
        import socket, ssl, time
        assert socket.socket.__module__ == "green.socket"
        assert ssl.SSLSocket.__module__ == "green.ssl", "eventlet's socket keyword covers ssl"
        assert time.sleep.__module__ == "time", "only what was asked for"
        assert patcher.is_monkey_patched("socket") and not patcher.is_monkey_patched("time")
        assert patcher.original("socket").socket.__module__ == "socket"
        eventlet.monkey_patch(all=False, time=True)
        import time
        assert time.sleep.__module__ == "green.time" and patcher.is_monkey_patched("time")
        print("pass")
        """
    )
    _passes(done)


def test_early_rlocks_and_import_patched_as_under_eventlet() -> None:
    """RLocks made before monkey_patch() become threading._PyRLock objects (running on green
    `_thread`), and import_patched copies see eventlet.green.socket, as under eventlet."""
    done = _run(
        """
        import threading
        early = threading.RLock()
        import green.compat.eventlet
        green.compat.eventlet.install()
        import eventlet, eventlet.green.socket
        copy = eventlet.import_patched("ftplib")  # imports socket at the top on every Python
        assert copy.socket is eventlet.green.socket, copy.socket
        eventlet.monkey_patch()
        assert isinstance(early, threading._PyRLock), early
        inside = []
        def other():
            with early:
                inside.append("other")
        with early:
            thread = eventlet.spawn(other)
            eventlet.sleep(0.01)
            assert inside == [], "the early lock let a second green thread in"
        thread.wait()
        assert inside == ["other"]
        print("pass")
        """
    )
    _passes(done)


def test_hubs_trampoline_and_schedule_call_global() -> None:
    done = _run(
        """
        import green.compat.eventlet
        green.compat.eventlet.install()
        import eventlet, socket
        from eventlet import hubs
        hub = hubs.get_hub()
        fired = []
        timer = hub.schedule_call_global(0.01, fired.append, "global")
        hub.schedule_call_global(0, fired.append, "first")
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        try:
            hubs.trampoline(reader, read=True, timeout=0.05)
        except eventlet.Timeout:
            pass
        else:
            raise AssertionError("trampoline did not time out")
        assert fired == ["first", "global"], fired
        eventlet.spawn_after(0.01, writer.send, b"x")
        hubs.trampoline(reader.fileno(), read=True, timeout=5)
        assert reader.recv(1) == b"x"
        # eventlet's count includes cancelled timers still in the heap (timers_canceled of them)
        assert not hub.get_readers() and not hub.get_writers()
        assert hub.get_timers_count() == hub.timers_canceled, (hub.get_timers_count(), hub.timers_canceled)
        reader.close(); writer.close()
        print("pass")
        """
    )
    _passes(done)


def test_eventlet_queue_zero_is_a_channel() -> None:
    done = _run(
        """
        import green.compat.eventlet
        green.compat.eventlet.install()
        import queue, eventlet, green.queue
        channel, events = eventlet.Queue(0), []
        assert channel.full() and channel.empty() and channel.maxsize == 0
        def getter():
            events.append(channel.get())
            events.append(channel.get())
        eventlet.spawn(getter)
        events.append("sending")
        channel.put("hello")  # waits for the getter, which runs before put returns
        events.append("sent hello")
        channel.put("world")
        events.append("sent world")
        assert events == ["sending", "hello", "sent hello", "world", "sent world"], events
        try:
            channel.put("nobody", timeout=0.01)
        except queue.Full:
            pass
        else:
            raise AssertionError("a channel put with no getter must time out")
        putter = eventlet.spawn(channel.put, "late")
        eventlet.sleep(0)
        channel.resize(1)  # room now: the waiting putter's item is admitted
        putter.wait()
        assert channel.get_nowait() == "late" and not channel.full()
        assert eventlet.Queue().maxsize is None and not eventlet.Queue().full()
        assert green.queue.Queue(0).maxsize == 0 and not green.queue.Queue(0).full()  # the stdlib's
        print("pass")
        """
    )
    _passes(done)


def test_eventlet_sockets_are_greensockets_with_eventlets_constructor_dict_and_reset() -> None:
    done = _run(
        """
        import fcntl, os, socket as stdsocket, struct
        import green.compat.eventlet
        green.compat.eventlet.install()
        import eventlet, green.socket
        from eventlet.green import socket
        from eventlet.greenio import GreenSocket
        assert socket.socket is GreenSocket and issubclass(GreenSocket, green.socket.socket)
        listener = eventlet.listen(("127.0.0.1", 0))
        client = eventlet.connect(listener.getsockname())
        served, _ = listener.accept()
        assert type(listener) is type(client) is type(served) is GreenSocket
        # a __dict__: methods can be replaced on one socket
        sent = []
        original_send = served.send
        def send_three(data, *flags):
            sent.append(len(data))
            return original_send(data[:3], *flags)
        served.send = send_three
        assert served.makefile("wb", buffering=0).write(b"hello") == 3 and sent == [5]
        assert client.recv(10) == b"hel"
        plain = green.socket.socket()
        assert not hasattr(plain, "__dict__") and isinstance(plain, socket.socket)  # as one class
        assert type(plain) is green.socket.socket and issubclass(green.socket.socket, socket.socket)
        plain.close()
        # eventlet's constructor: wrap an existing socket, leaving its fd mode alone on request
        real = stdsocket.socket()
        os.set_blocking(real.fileno(), True)
        wrapped = socket.socket(real, set_nonblocking=False)
        assert wrapped.fd is real and not fcntl.fcntl(real.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK
        assert GreenSocket(real).gettimeout() is None and not real.getblocking()
        # a reset peer reads as the end of the stream (b"", 0), as under eventlet
        other_client = eventlet.connect(listener.getsockname())
        other_served, _ = listener.accept()
        for sock in (served, other_served):
            sock.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        assert client.recv(10) == b"" and other_client.recv_into(bytearray(4)) == 0
        first, second = socket.socketpair()
        assert type(first) is GreenSocket
        # GreenPipe.truncate moves the position to the new size, as eventlet's
        import tempfile
        from eventlet.greenio import GreenPipe
        with tempfile.TemporaryDirectory() as directory:
            with GreenPipe(directory + "/file", "wb+", 1024) as pipe:
                pipe.write(b"1234567890")
                pipe.truncate(9)
                assert pipe.tell() == 9
                pipe.seek(0)
                assert pipe.read() == b"123456789"
        for sock in (listener, client, other_client, wrapped, first, second):
            sock.close()
        print("pass")
        """
    )
    _passes(done)


@pytest.mark.parametrize("size", ["0", "-1"])
def test_eventlet_threadpool_size_zero_runs_calls_inline(size: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code = """
        import threading, warnings
        import green.compat.eventlet
        green.compat.eventlet.install()
        from eventlet import tpool
        assert tpool._nthreads == ASKED
        if ASKED < 0:
            try:
                tpool.execute(print, "never")
            except AssertionError as error:
                assert "negative" in str(error)
            else:
                raise AssertionError("a negative size must fail")
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                assert tpool.execute(threading.get_ident) == threading.get_ident()  # inline
                assert tpool.execute(threading.get_ident) == threading.get_ident()
            assert len(caught) == 1 and "EVENTLET_THREADPOOL_SIZE" in str(caught[0].message)
        tpool.set_num_threads(2)  # threads again: the pool's
        assert tpool.execute(threading.get_ident) != threading.get_ident() and tpool._nthreads == 2
        tpool.killall()
        print("pass")
        """.replace("ASKED", size)
    monkeypatch.setenv("EVENTLET_THREADPOOL_SIZE", size)
    _passes(_run(code))


def test_eventlet_timers_made_by_hand() -> None:
    done = _run(
        """
        import green.compat.eventlet
        green.compat.eventlet.install()
        import eventlet
        from eventlet.hubs import get_hub, timer
        calls = []
        first = timer.Timer(0.01, calls.append, "first")
        twin = first.copy()
        assert (twin.seconds, twin.tpl, twin.called) == (first.seconds, first.tpl, first.called)
        assert first.schedule() is first and first.pending
        cancelled = timer.Timer(0, calls.append, "cancelled").schedule()
        cancelled.cancel()
        assert not cancelled.pending
        get_hub().add_timer(twin)
        def spawn_local():
            return timer.LocalTimer(0, calls.append, "local of a dead thread").schedule()
        local = eventlet.spawn(spawn_local).wait()
        eventlet.sleep(0.05)
        assert calls == ["first", "first"], calls
        assert first.called and not first.pending and not local.pending
        assert get_hub().get_timers_count() == 0
        print("pass")
        """
    )
    _passes(done)


def test_hub_prevent_multiple_readers_false_warns_and_two_readers_still_fail() -> None:
    done = _run(
        """
        import os, warnings
        import green.compat.eventlet
        green.compat.eventlet.install()
        import eventlet
        from eventlet import debug, hubs
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            debug.hub_prevent_multiple_readers(False)  # a program's start-up call: no crash
        assert len(caught) == 1 and caught[0].category is RuntimeWarning, caught
        read_end, write_end = os.pipe()
        first = eventlet.spawn(hubs.trampoline, read_end, read=True)
        eventlet.sleep(0)
        try:
            hubs.trampoline(read_end, read=True)
        except RuntimeError as error:
            assert str(read_end) in str(error), error
        else:
            raise AssertionError("a second reader must fail")
        os.write(write_end, b"x")
        first.wait()
        os.close(read_end); os.close(write_end)
        print("pass")
        """
    )
    _passes(done)


def test_current_thread_in_green_threads_as_under_eventlet() -> None:
    done = _run(
        """
        import warnings
        warnings.simplefilter("error")
        import green.compat.eventlet
        green.compat.eventlet.install()
        import eventlet
        eventlet.monkey_patch()
        import threading
        seen = {}
        def look():
            seen["current"] = threading.currentThread()  # no deprecation warning either
            seen["again"] = threading.current_thread()
        thread = eventlet.spawn(look)
        thread.wait()
        view = seen["current"]
        assert view is seen["again"] and type(view).__name__ == "_GreenThread", view
        assert view.name == thread.name and view.ident == id(thread) and view.daemon
        assert not view.is_alive() and len(threading._active) == 1
        named = threading.Thread(target=lambda: seen.setdefault("named", threading.current_thread().name), name="t1")
        named.start(); named.join()
        assert seen["named"] == "t1" and threading.current_thread() is threading.main_thread()
        print("pass")
        """
    )
    _passes(done)


def test_ssl_listener_from_wrap_ssl_is_not_held_up_by_a_silent_client() -> None:
    done = _run(
        """
        import green.compat.eventlet
        green.compat.eventlet.install()
        import eventlet, trustme
        from eventlet.green import ssl
        authority = trustme.CA()
        certificate = authority.issue_cert("localhost")
        with certificate.private_key_and_cert_chain_pem.tempfile() as pem:
            listener = eventlet.wrap_ssl(eventlet.listen(("127.0.0.1", 0)), certfile=pem, server_side=True)
        def serve(connection):
            try:
                connection.sendall(b"hello " + connection.recv(8))
            finally:
                connection.close()
        def accept_loop():
            while True:
                connection, _ = listener.accept()
                eventlet.spawn(serve, connection)
        eventlet.spawn(accept_loop)
        silent = eventlet.connect(listener.getsockname())  # never starts TLS
        context = ssl.create_default_context()
        authority.configure_trust(context)
        good = context.wrap_socket(eventlet.connect(listener.getsockname()), server_hostname="localhost")
        good.sendall(b"good")
        assert eventlet.with_timeout(5, good.recv, 16) == b"hello good"
        silent.close()
        print("pass")
        """,
        timeout=30,
    )
    _passes(done)


def test_modules_green_cannot_offer_say_so() -> None:
    done = _run(
        """
        import green.compat.eventlet
        green.compat.eventlet.install()
        for name in ("eventlet.green.zmq", "eventlet.green.OpenSSL"):
            try:
                __import__(name)
            except ImportError as error:
                assert "not offered by green" in str(error), error
            else:
                raise AssertionError(name)
        import eventlet.hubs, eventlet.hubs.kqueue
        assert not eventlet.hubs.kqueue.is_available()  # importable everywhere, as in eventlet
        import eventlet.green.profile, green.profile
        assert eventlet.green.profile is green.profile  # offered: a profiler for green threads
        for name in ("asyncio", "kqueue"):
            try:
                eventlet.hubs.use_hub(name)
            except ValueError as error:
                assert "epolls, poll, selects" in str(error)
            else:
                raise AssertionError(name)
        print("pass")
        """
    )
    _passes(done)


def test_eventlet_wsgi_log_format_continue_api_chunk_errors_and_stop() -> None:
    done = _run(
        """
        import io
        import green.compat.eventlet
        green.compat.eventlet.install()
        import eventlet, eventlet.wsgi

        hooked, caught = [], []

        def app(environ, start_response):
            environ["eventlet.posthooks"].append((lambda env: hooked.append(env["PATH_INFO"]), (), {}))
            if environ["PATH_INFO"] == "/continue":
                environ["wsgi.input"].set_hundred_continue_response_headers([("x-first-hint", "1")])
                body = environ["wsgi.input"].read(3)
                environ["wsgi.input"].set_hundred_continue_response_headers([("X-Second", "2")])
                environ["wsgi.input"].send_hundred_continue_response()
                body += environ["wsgi.input"].read()
            else:
                try:
                    body = environ["wsgi.input"].read()
                except eventlet.wsgi.ChunkReadError as error:
                    caught.append(isinstance(error, OSError))
                    body = b"caught"
            start_response("200 OK", [("Content-Length", str(len(body)))])
            return [body]

        log = io.StringIO()
        listener = eventlet.listen(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        server = eventlet.spawn(
            eventlet.wsgi.server, listener, app, log=log, log_format="%(client_ip)s|%(request_line)s|%(status_code)s|%(body_length)s"
        )

        def exchange(data, shut=False):
            sock = eventlet.connect(("127.0.0.1", port))
            sock.sendall(data)
            if shut:
                sock.shutdown(1)
            received = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
            sock.close()
            return received

        # 100 Continue with the application's headers, twice; the final response after them.
        sock = eventlet.connect(("127.0.0.1", port))
        sock.sendall(b"PUT /continue HTTP/1.1\\r\\nHost: t\\r\\nContent-Length: 6\\r\\nExpect: 100-continue\\r\\nConnection: close\\r\\n\\r\\n")
        first = b""
        while not first.endswith(b"\\r\\n\\r\\n"):
            first += sock.recv(1)
        assert first == b"HTTP/1.1 100 Continue\\r\\nX-First-Hint: 1\\r\\n\\r\\n", first
        sock.sendall(b"abc")
        second = b""
        while not second.endswith(b"\\r\\n\\r\\n"):
            second += sock.recv(1)
        assert second == b"HTTP/1.1 100 Continue\\r\\nX-Second: 2\\r\\n\\r\\n", second
        sock.sendall(b"def")
        rest = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        sock.close()
        assert rest.startswith(b"HTTP/1.1 200 OK") and rest.endswith(b"abcdef"), rest

        # A chunked body the client never finishes, in HTTP/1.0 and without Host, as eventlet takes it.
        answer = exchange(b"PUT /cut HTTP/1.0\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n10\\r\\nabc", shut=True)
        assert answer.endswith(b"caught"), answer
        assert caught == [True]

        answer = exchange(b"GET /log?q=1 HTTP/1.1\\r\\nHost: t\\r\\nX-Forwarded-For: 1.2.3.4, 5.6.7.8\\r\\nConnection: close\\r\\n\\r\\n")
        assert answer.startswith(b"HTTP/1.1 200 OK"), answer
        assert hooked == ["/continue", "/cut", "/log"], hooked
        lines = log.getvalue().splitlines()
        assert lines[0].endswith(f"wsgi starting up on http://127.0.0.1:{port}"), lines
        assert "1.2.3.4,5.6.7.8,127.0.0.1|GET /log?q=1 HTTP/1.1|200|0" in lines, lines
        assert "127.0.0.1|PUT /cut HTTP/1.0|200|6" in lines, lines

        # Killed with KeyboardInterrupt, the server stops and returns, as eventlet's does.
        server.kill(KeyboardInterrupt)
        server.wait()
        assert "wsgi exiting" in log.getvalue()
        print("pass")
        """
    )
    _passes(done)


WSGI_SERVER = """
import sys
import eventlet
import eventlet.wsgi

connections = set()
hooked = []


def after(environ, tag):
    hooked.append(tag)


def app(environ, start_response):
    connections.add(environ["REMOTE_PORT"])
    if environ["PATH_INFO"] == "/raw":
        sock = environ["eventlet.input"].get_socket()
        sock.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\nConnection: close\\r\\n\\r\\nraw")
        return eventlet.wsgi.ALREADY_HANDLED
    if environ["PATH_INFO"] == "/stats":
        body = f"{len(connections)} {len(hooked)}".encode()
    else:
        environ["eventlet.posthooks"].append((after, ("done",), {}))
        body = environ["eventlet.input"].read() or b"hello"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


listener = eventlet.listen(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
eventlet.wsgi.server(listener, app, log_output=False, max_size=200, keepalive=30)
"""


def _start(command: list[str], cwd: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_environment(), cwd=cwd
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=10)
        raise AssertionError(f"server did not start: {process.stderr.read() if process.stderr else ''}")
    return process, line.strip()


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def test_eventlet_wsgi_server_serves_keep_alive_load(tmp_path: Path) -> None:
    (tmp_path / "server.py").write_text(WSGI_SERVER)
    process, port = _start([sys.executable, "-m", "green", "--eventlet", "server.py"], tmp_path)
    clients, requests = 20, 50
    failures: list[str] = []

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
        try:
            for index in range(requests):
                body = f"{number}-{index}".encode()
                connection.request("POST", "/echo", body=body)
                response = connection.getresponse()
                if response.status != 200 or response.read() != body:
                    failures.append(f"client {number} request {index}: {response.status}")
        except Exception as error:  # reported below, with the others
            failures.append(f"client {number}: {error!r}")
        finally:
            connection.close()

    try:
        threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=50)
        assert not failures, failures[:5]
        raw = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
        raw.request("GET", "/raw")
        assert raw.getresponse().read() == b"raw"
        raw.close()
        stats = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
        stats.request("GET", "/stats")
        seen, hooks = stats.getresponse().read().split()
        stats.close()
        # One connection per client (keep-alive), plus /raw and /stats; every echo ran its posthook.
        assert int(seen) == clients + 2, seen
        assert int(hooks) == clients * requests, hooks
    finally:
        _stop(process)


SOCKETIO_SERVER = """
import eventlet
eventlet.monkey_patch()
import eventlet.wsgi
import socketio

sio = socketio.Server(async_mode="eventlet")


@sio.event
def echo(sid, data):
    return {"echo": data}


listener = eventlet.listen(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
eventlet.wsgi.server(listener, socketio.WSGIApp(sio), log_output=False)
"""


def test_python_socketio_server_in_eventlet_mode(tmp_path: Path) -> None:
    if importlib.util.find_spec("green.websocket") is None:
        pytest.skip("green.websocket is not in this checkout (it comes from the websocket branch)")
    socketio = pytest.importorskip("socketio", reason="python-socketio is not installed")
    pytest.importorskip("websocket", reason="websocket-client is not installed")
    (tmp_path / "server.py").write_text(SOCKETIO_SERVER)
    process, port = _start([sys.executable, "-m", "green", "--eventlet", "server.py"], tmp_path)
    clients: list = []
    try:
        for _ in range(100):
            client = socketio.SimpleClient()
            client.connect(f"http://127.0.0.1:{port}", transports=["websocket"], wait_timeout=20)
            assert client.client.transport() == "websocket"
            clients.append(client)
        failures: list[str] = []

        def talk(number: int, client: object) -> None:
            for index in range(5):
                answer = client.call("echo", f"{number}-{index}", timeout=20)  # type: ignore[attr-defined]
                if answer != {"echo": f"{number}-{index}"}:
                    failures.append(f"{number}: {answer!r}")

        threads = [threading.Thread(target=talk, args=pair) for pair in enumerate(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=50)
        assert not failures, failures[:5]
    finally:
        for client in clients:
            client.disconnect()
        _stop(process)


CELERY_TASKS = """
import time
from celery import Celery

app = Celery("tasks", broker="redis://127.0.0.1:{port}/6", backend="redis://127.0.0.1:{port}/7")
app.conf.broker_connection_retry_on_startup = True
app.conf.worker_prefetch_multiplier = 4


@app.task
def nap(seconds):
    time.sleep(seconds)
    return seconds
"""

CELERY_PRODUCER = """
import time
from celery import group
from tasks import nap

nap.delay(0).get(timeout=60)  # the worker is up
started = time.monotonic()
results = group(nap.s(0.5) for _ in range(200)).apply_async()
values = results.get(timeout=60)
print(f"{len(values)} {time.monotonic() - started:.3f}", flush=True)
"""


def test_celery_worker_with_the_eventlet_pool(tmp_path: Path, redis_server: Server) -> None:
    require_module("celery")
    require_module("redis")
    port = redis_server.port
    worker = None
    try:
        (tmp_path / "tasks.py").write_text(CELERY_TASKS.format(port=port))
        (tmp_path / "producer.py").write_text(CELERY_PRODUCER)
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "green",
                "--eventlet",
                "-m",
                "celery",
                "-A",
                "tasks",
                "worker",
                "-P",
                "eventlet",
                "--concurrency",
                "500",
                "--loglevel",
                "WARNING",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=_environment(),
            cwd=tmp_path,
        )
        producer = subprocess.run(
            [sys.executable, "producer.py"],
            capture_output=True,
            text=True,
            timeout=120,
            env=_environment(),
            cwd=tmp_path,
        )
        assert producer.returncode == 0, producer.stderr
        count, elapsed = producer.stdout.split()
        print(f"celery -P eventlet on green: 200 tasks of 0.5 s in {elapsed} s")
        assert int(count) == 200
        # Run one after another they would take 100 s; 500 green threads take about one second.
        # The bound is generous for a loaded machine and still proves the tasks ran concurrently.
        assert float(elapsed) < 10, elapsed
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.communicate()


def test_eventlet_wsgi_server_class_serves_a_connection_the_caller_accepted() -> None:
    done = _run(
        """
        import io
        import green.compat.eventlet
        green.compat.eventlet.install()
        import eventlet, eventlet.wsgi, trustme
        from eventlet.green import ssl

        def app(environ, start_response):
            start_response("200 OK", [("content-TYPE", "text/plain")])
            yield b"got " + environ["wsgi.input"].read()

        def exchange(listener, client, data):
            log = io.StringIO()
            server = eventlet.wsgi.Server(listener, listener.getsockname(), app, log=log)
            def send():
                client.sendall(data)
            sender = eventlet.spawn(send)
            connection, address = listener.accept()
            server.process_request([address, connection, eventlet.wsgi.STATE_IDLE])
            sender.wait()
            received = b""
            while True:
                chunk = client.recv(65536)
                if not chunk:
                    break
                received += chunk
            client.close()
            listener.close()
            return received, log.getvalue()

        request = b"POST / HTTP/1.1\\r\\nHost: t\\r\\nContent-Length: 4\\r\\nConnection: close\\r\\n\\r\\nbody"
        listener = eventlet.listen(("127.0.0.1", 0))
        received, log = exchange(listener, eventlet.connect(listener.getsockname()), request)
        assert received.startswith(b"HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\n"), received
        assert received.endswith(b"\\r\\n8\\r\\ngot body\\r\\n0\\r\\n\\r\\n"), received
        assert '"POST / HTTP/1.1" 200' in log, log

        # A connection accepted from a listener wrapped with wrap_ssl: its handshake, then TLS.
        authority = trustme.CA()
        certificate = authority.issue_cert("localhost")
        with certificate.private_key_and_cert_chain_pem.tempfile() as pem:
            listener = eventlet.wrap_ssl(eventlet.listen(("127.0.0.1", 0)), certfile=pem, server_side=True)
        context = ssl.create_default_context()
        authority.configure_trust(context)
        client = context.wrap_socket(
            eventlet.connect(listener.getsockname()), server_hostname="localhost", do_handshake_on_connect=False
        )
        received, log = exchange(listener, client, request)
        assert received.startswith(b"HTTP/1.1 200 OK\\r\\n") and b"got body" in received, received
        print("pass")
        """,
        timeout=30,
    )
    _passes(done)
