"""An app that calls tpool.execute, served by the real gunicorn with green's worker (which
monkey-patches itself): every request is answered (before the fix the first one hung the
worker)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

APP = textwrap.dedent(
    """
    import hashlib
    import threading
    import time

    from green import tpool
    from green._stdlib import original

    _real_time = original("time")
    _lock = threading.Lock()


    def app(environ, start_response):
        if environ["PATH_INFO"] == "/sleep":
            tpool.execute(_real_time.sleep, 0.2)
            body = b"slept"
        elif environ["PATH_INFO"] == "/lock":
            with _lock:
                body = tpool.execute(lambda: hashlib.sha256(b"x" * 1000).hexdigest()).encode()
        else:
            body = str(tpool.execute(lambda: 6 * 7)).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def control_socket_option() -> list:
    from gunicorn.config import KNOWN_SETTINGS

    return ["--no-control-socket"] if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS) else []


directory = tempfile.mkdtemp()
try:
    with open(os.path.join(directory, "tpool_app.py"), "w") as file:
        file.write(APP)
    port = free_port()
    log = open(os.path.join(directory, "gunicorn.log"), "wb")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "-k", "green.gunicorn_worker.GreenWorker",
            "-b", f"127.0.0.1:{port}", "--chdir", directory, *control_socket_option(),
            "--graceful-timeout", "5", "tpool_app:app",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = get(port, "/")
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"\r\n\r\n42"), response
        import threading

        results = []
        workers = [
            threading.Thread(target=lambda path=path: results.append(get(port, path)))
            for path in ["/sleep"] * 5 + ["/lock"] * 5
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert len(results) == 10 and all(r.startswith(b"HTTP/1.1 200") for r in results), results
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        if process.returncode not in (0, -signal.SIGTERM):
            with open(os.path.join(directory, "gunicorn.log"), "rb") as file:
                sys.stderr.write(file.read().decode(errors="replace"))
            raise AssertionError(f"gunicorn exited with {process.returncode}")
finally:
    shutil.rmtree(directory, ignore_errors=True)
print("pass")
