"""The configuration files, read the way glibc reads them: /etc/resolv.conf (with LOCALDOMAIN and
RES_OPTIONS) and /etc/hosts, each parsed again only when it changes; `configure()` for tests."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from green._stdlib import original
from green.resolver._numeric import AF_INET, AF_INET6, _parse_ipv4_strict, _parse_ipv6, _parse_ipv6_plain

_socket = original("socket")

_settings: dict[str, Any] = {"resolv_conf": None, "hosts": None, "port": None}


def configure(resolv_conf: str | None = None, hosts: str | None = None, port: int | None = None) -> None:
    """Use another resolv.conf, hosts file and nameserver port (None: back to the defaults).

    The defaults are the environment variables GREEN_RESOLV_CONF, GREEN_HOSTS and GREEN_DNS_PORT
    (read at each lookup), else /etc/resolv.conf, /etc/hosts and 53. The stdlib has no such hook.
    """
    _settings["resolv_conf"] = resolv_conf
    _settings["hosts"] = hosts
    _settings["port"] = port


def _resolv_conf_path() -> str:
    return _settings["resolv_conf"] or os.environ.get("GREEN_RESOLV_CONF") or "/etc/resolv.conf"


def _hosts_path() -> str:
    return _settings["hosts"] or os.environ.get("GREEN_HOSTS") or "/etc/hosts"


def _nameserver_port() -> int:
    port = _settings["port"]
    if port is None:
        port = int(os.environ.get("GREEN_DNS_PORT") or 53)
    return port


def _file_signature(path: str) -> tuple[int, int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size, status.st_ino)


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.readlines()
    except OSError:
        return []


@dataclass
class _ResolvConf:
    nameservers: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)
    ndots: int = 1
    timeout: float = 5.0
    attempts: int = 2
    rotate: bool = False
    use_tcp: bool = False


def _apply_options(config: _ResolvConf, words: list[str]) -> None:
    for word in words:
        name, _, value = word.partition(":")
        try:
            if name == "ndots":
                config.ndots = min(max(int(value), 0), 15)
            elif name == "timeout":
                config.timeout = float(min(max(int(value), 1), 30))
            elif name == "attempts":
                config.attempts = min(max(int(value), 1), 5)
        except ValueError:
            continue
        if name == "rotate":
            config.rotate = True
        elif name in ("use-vc", "usevc", "tcp"):
            config.use_tcp = True


def _parse_resolv_conf(lines: list[str]) -> _ResolvConf:
    config = _ResolvConf()
    for line in lines:
        words = line.split()
        if not words or words[0][0] in "#;":
            continue
        keyword, arguments = words[0], words[1:]
        if keyword == "nameserver" and arguments and len(config.nameservers) < 3:
            server = arguments[0]
            if _parse_ipv4_strict(server) is not None or _parse_ipv6(server) is not None:
                config.nameservers.append(server)
        elif keyword == "domain" and arguments:
            config.search = [arguments[0].rstrip(".")]
        elif keyword == "search":
            config.search = [name.rstrip(".") for name in arguments if name.rstrip(".")]
        elif keyword == "options":
            _apply_options(config, arguments)
    if not config.nameservers:
        config.nameservers = ["127.0.0.1"]
    local_domain = os.environ.get("LOCALDOMAIN")
    if local_domain is not None:
        config.search = [name.rstrip(".") for name in local_domain.split() if name.rstrip(".")]
    elif not config.search:
        domain = _socket.gethostname().partition(".")[2]
        if domain:
            config.search = [domain]
    _apply_options(config, os.environ.get("RES_OPTIONS", "").split())
    return config


@dataclass
class _HostsEntry:
    family: int
    packed: bytes
    names: list[str]  # the official name first, then aliases


@dataclass
class _Hosts:
    by_name: dict[str, list[_HostsEntry]] = field(default_factory=dict)
    by_address: dict[tuple[int, bytes], _HostsEntry] = field(default_factory=dict)


def _parse_hosts(lines: list[str]) -> _Hosts:
    hosts = _Hosts()
    for line in lines:
        words = line.partition("#")[0].split()
        if len(words) < 2:
            continue
        packed = _parse_ipv4_strict(words[0])
        family = AF_INET
        if packed is None:
            packed = _parse_ipv6_plain(words[0])
            family = AF_INET6
            if packed is None:
                continue
        entry = _HostsEntry(family, packed, words[1:])
        hosts.by_address.setdefault((family, packed), entry)
        for name in dict.fromkeys(name.lower() for name in words[1:]):
            hosts.by_name.setdefault(name, []).append(entry)
    return hosts


class _FileCache:
    """Parse a file once and again only when its signature (mtime, size, inode) changes."""

    def __init__(self, parse: Callable[[list[str]], Any]) -> None:
        self._parse = parse
        self._key: tuple[Any, ...] | None = None
        self._value: Any = None

    def get(self, path: str, extra: tuple[Any, ...] = ()) -> Any:
        key = (path, _file_signature(path), *extra)
        if key != self._key or self._value is None:
            self._value = self._parse(_read_lines(path))
            self._key = key
        return self._value


_resolv_conf_cache = _FileCache(_parse_resolv_conf)
_hosts_cache = _FileCache(_parse_hosts)


def _resolv_conf() -> _ResolvConf:
    extra = (os.environ.get("LOCALDOMAIN"), os.environ.get("RES_OPTIONS"))
    config: _ResolvConf = _resolv_conf_cache.get(_resolv_conf_path(), extra)
    return config


def _hosts() -> _Hosts:
    hosts: _Hosts = _hosts_cache.get(_hosts_path())
    return hosts
