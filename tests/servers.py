"""Real servers for the client-library tests: PostgreSQL, MariaDB, Redis and memcached.

Each fixture is session-scoped: the first test that asks for a server starts it on a free
loopback port in a temporary directory, and it is stopped when the session ends. The binaries come
from the OS packages (.ci/services installs them on Debian: postgresql, mariadb-server,
redis-server, memcached); a ``GREEN_TEST_<NAME>_BIN`` environment variable points at another
directory. A test whose server cannot be found is skipped with the reason; under ``CI=true`` it
fails instead, so CI cannot pass by skipping.

PostgreSQL refuses to run as root, so when the suite runs as root its data directory belongs to
the ``postgres`` user (or ``nobody``) and initdb and postgres run as that user (via setpriv).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

START_TIMEOUT = 30.0


@dataclass
class Server:
    """A running server: where it listens and how to reach it from a subprocess (``environment``)."""

    name: str
    host: str
    port: int
    directory: str
    process: subprocess.Popen
    user: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def environment(self) -> dict[str, str]:
        prefix = f"GREEN_TEST_{self.name.upper()}"
        values = {f"{prefix}_HOST": self.host, f"{prefix}_PORT": str(self.port)}
        if self.user:
            values[f"{prefix}_USER"] = self.user
        return values


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: a missing server is a failure; see .ci/services)", pytrace=False)
    pytest.skip(reason)


def _find(program: str, name: str, patterns: tuple[str, ...] = ()) -> str | None:
    override = os.environ.get(f"GREEN_TEST_{name.upper()}_BIN")
    if override:
        candidate = os.path.join(override, program)
        return candidate if os.access(candidate, os.X_OK) else None
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if found:
        return found
    for pattern in patterns:
        matches = sorted(glob.glob(pattern), reverse=True)  # newest version first
        if matches:
            return matches[0]
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(process: subprocess.Popen, port: int, name: str, log: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} at start:\n{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{name} did not listen on port {port} within {START_TIMEOUT} s:\n{_tail(log)}")


def _tail(path: str) -> str:
    try:
        with open(path, errors="replace") as file:
            return "".join(file.readlines()[-20:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _unprivileged() -> tuple[list[str], pwd.struct_passwd | None]:
    """The command prefix that drops root (empty when not root) and the account it switches to."""
    if os.geteuid() != 0:
        return [], None
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise RuntimeError("running as root and setpriv (util-linux) is missing")
    for name in ("postgres", "nobody"):
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            continue
        command = [setpriv, f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups"]
        return command, account
    raise RuntimeError("running as root and there is no postgres or nobody account to run PostgreSQL")


def start_postgres() -> Server:
    patterns = ("/usr/lib/postgresql/*/bin/{}", "/usr/local/pgsql/bin/{}")
    initdb = _find("initdb", "postgres", tuple(pattern.format("initdb") for pattern in patterns))
    if initdb is None:
        _missing("PostgreSQL not found (initdb; Debian package postgresql)")
    binaries = os.path.dirname(os.path.realpath(initdb))  # type: ignore[arg-type]
    prefix, account = _unprivileged()
    directory = tempfile.mkdtemp(prefix="green-postgres-")
    if account is not None:
        os.chown(directory, account.pw_uid, account.pw_gid)
    data, log = os.path.join(directory, "data"), os.path.join(directory, "log")
    with open(log, "w") as log_file:
        if account is not None:
            os.chown(log, account.pw_uid, account.pw_gid)
        done = subprocess.run(
            [*prefix, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-N", "-E", "UTF8", "--locale=C"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed:\n{_tail(log)}")
    port = _free_port()
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": directory,
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "300",
        "shared_buffers": "16MB",
    }
    options = [item for key, value in settings.items() for item in ("-c", f"{key}={value}")]
    with open(log, "a") as log_file:
        process = subprocess.Popen(
            [*prefix, os.path.join(binaries, "postgres"), "-D", data, *options],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )
    try:
        _wait_for_port(process, port, "postgres", log)
        # The port opens a moment before logins are accepted: wait for the server to say so.
        deadline = time.monotonic() + START_TIMEOUT
        while "ready to accept connections" not in _tail(log):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"postgres did not become ready:\n{_tail(log)}")
            time.sleep(0.05)
    except BaseException:
        _stop(process)
        raise
    return Server("postgres", "127.0.0.1", port, directory, process, user="postgres")


def start_mariadb() -> Server:
    daemon = _find("mariadbd", "mariadb") or _find("mysqld", "mariadb")
    if daemon is None:
        _missing("MariaDB/MySQL server not found (mariadbd; Debian package mariadb-server)")
    directory = tempfile.mkdtemp(prefix="green-mariadb-")
    data, log = os.path.join(directory, "data"), os.path.join(directory, "log")
    os.mkdir(data)
    port = _free_port()
    # An empty data directory and no grant tables: any user logs in without a password, which is
    # all these tests need, and start-up takes about a second instead of mariadb-install-db's four.
    command = [
        daemon,  # type: ignore[list-item]
        "--no-defaults",
        f"--datadir={data}",
        f"--socket={os.path.join(directory, 'socket')}",
        f"--pid-file={os.path.join(directory, 'pid')}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        "--skip-grant-tables",
        "--skip-name-resolve",
        "--skip-log-bin",
        "--innodb-buffer-pool-size=16M",
        "--max-connections=300",
        f"--log-error={log}",
    ]
    if os.geteuid() == 0:
        command.append("--user=root")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=directory)
    _wait_for_port(process, port, "mariadbd", log)
    return Server("mariadb", "127.0.0.1", port, directory, process, user="root")


def start_redis() -> Server:
    program = _find("redis-server", "redis")
    if program is None:
        _missing("Redis not found (redis-server; Debian package redis-server)")
    directory = tempfile.mkdtemp(prefix="green-redis-")
    log = os.path.join(directory, "log")
    port = _free_port()
    command = [
        program,  # type: ignore[list-item]
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        directory,
        "--logfile",
        log,
        "--maxclients",
        "4000",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=directory)
    _wait_for_port(process, port, "redis-server", log)
    return Server("redis", "127.0.0.1", port, directory, process)


def start_memcached() -> Server:
    program = _find("memcached", "memcached")
    if program is None:
        _missing("memcached not found (Debian package memcached)")
    directory = tempfile.mkdtemp(prefix="green-memcached-")
    log = os.path.join(directory, "log")
    port = _free_port()
    command = [program, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "16"]  # type: ignore[list-item]
    if os.geteuid() == 0:
        command += ["-u", "root"]
    with open(log, "w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=directory)
    _wait_for_port(process, port, "memcached", log)
    return Server("memcached", "127.0.0.1", port, directory, process)


def _serve(start) -> Iterator[Server]:
    server = start()
    try:
        yield server
    finally:
        _stop(server.process)
        shutil.rmtree(server.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    yield from _serve(start_postgres)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[Server]:
    yield from _serve(start_mariadb)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Server]:
    yield from _serve(start_redis)


@pytest.fixture(scope="session")
def memcached_server() -> Iterator[Server]:
    yield from _serve(start_memcached)


def require_module(name: str) -> None:
    """Skip (fail under CI=true) when a client library is not installed."""
    try:
        __import__(name)
    except ImportError as problem:
        _missing(f"client library {name} is not installed ({problem}); it is in the 'test' extra")


if __name__ == "__main__":  # python tests/servers.py redis: start one, stop it on SIGINT/SIGTERM
    import signal

    starters = {"postgres": start_postgres, "mariadb": start_mariadb, "redis": start_redis}
    starters["memcached"] = start_memcached
    running = starters[sys.argv[1]]()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print(running.environment, flush=True)
    try:
        running.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        _stop(running.process)
        shutil.rmtree(running.directory, ignore_errors=True)
