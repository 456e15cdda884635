"""Client libraries against real servers on loopback, each script in a fresh monkey-patched process.

The scripts live in tests/clients/ and print "pass"; the servers are the session-scoped fixtures
of tests/servers.py, handed to the scripts through GREEN_TEST_<SERVER>_HOST/_PORT.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from servers import require_module

import green

CLIENTS = Path(__file__).parent / "clients"

# script -> (the server fixtures it needs, the client modules it imports)
SCRIPTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pg_psycopg2.py": (("postgres_server",), ("psycopg2",)),
    "pg_psycopg3.py": (("postgres_server",), ("psycopg",)),
    "psycopg_keywords.py": ((), ("psycopg", "psycopg2")),
    "mysql_pymysql.py": (("mariadb_server",), ("pymysql",)),
    "mysql_mysqldb.py": (("mariadb_server",), ("MySQLdb",)),
    "redis_py.py": (("redis_server",), ("redis",)),
    "memcached_pymemcache.py": (("memcached_server",), ("pymemcache",)),
    "http_clients.py": ((), ("requests", "urllib3", "httpx", "trustme")),
    "grpc_sync.py": ((), ("grpc",)),
}


def run_script(script: str, environment: dict[str, str], timeout: float = 50) -> str:
    environment = {**os.environ, **environment}
    environment.setdefault("GREEN_HUB", green.get_hub().backend.name)
    done = subprocess.run(
        [sys.executable, str(CLIENTS / script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        cwd=str(CLIENTS),
    )
    assert done.stdout.strip().endswith("pass"), f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_client(script: str, request: pytest.FixtureRequest) -> None:
    fixtures, modules = SCRIPTS[script]
    for module in modules:
        require_module(module)
    environment: dict[str, str] = {}
    for fixture in fixtures:
        environment.update(request.getfixturevalue(fixture).environment)
    print(run_script(script, environment))


def test_every_script_is_listed() -> None:
    present = {path.name for path in CLIENTS.glob("*.py") if not path.name.startswith("_")}
    assert present == set(SCRIPTS)
