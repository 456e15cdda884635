"""green.resolver against a real DNS server on loopback, and against the stdlib where it can be."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dnsserver import DNSServer

import green
from green import resolver
from green._stdlib import original
from green.resolver import _configuration, _interfaces, _numeric, _sorting
from green.timeout import Timeout

RECORDS = {
    "www.test.": [("A", "192.0.2.1"), ("AAAA", "2001:db8::1")],
    "v4only.test.": [("A", "192.0.2.9")],
    "two.test.": [("A", "192.0.2.21"), ("A", "192.0.2.22")],
    "alias.test.": [("CNAME", "middle.test.")],
    "middle.test.": [("CNAME", "www.test.")],
    "partial-alias.test.": [("CNAME", "v4only.test.")],
    "text-only.test.": [("TXT", "no addresses here")],
    "truncated.test.": [("A", "192.0.2.7")],
    "1.2.0.192.in-addr.arpa.": [("PTR", "www.test.")],
}

STREAM = (socket.SOCK_STREAM, socket.IPPROTO_TCP)


@pytest.fixture(scope="module")
def server() -> Iterator[DNSServer]:
    with DNSServer(RECORDS) as running:
        yield running


class Setup:
    """The files the resolver reads in one test, and a way to change them."""

    def __init__(self, directory: Path, server: DNSServer) -> None:
        self.server = server
        self.resolv_conf = directory / "resolv.conf"
        self.hosts = directory / "hosts"
        self._stamp = time.time() - 100
        self.write_resolv_conf("nameserver 127.0.0.1\nsearch test\noptions timeout:1 attempts:1 ndots:1\n")
        self.write_hosts("10.9.9.9 filehost filealias\n")
        resolver.configure(resolv_conf=str(self.resolv_conf), hosts=str(self.hosts), port=server.port)

    def _bump(self, path: Path) -> None:
        # A distinct modification time even on file systems with coarse timestamps.
        self._stamp += 1
        os.utime(path, (self._stamp, self._stamp))

    def write_resolv_conf(self, text: str) -> None:
        self.resolv_conf.write_text(text)
        self._bump(self.resolv_conf)

    def write_hosts(self, text: str) -> None:
        self.hosts.write_text(text)
        self._bump(self.hosts)

    def asked(self, transport: str | None = None) -> list[str]:
        return self.server.names_asked(transport)


@pytest.fixture
def setup(tmp_path: Path, server: DNSServer) -> Iterator[Setup]:
    server.queries.clear()
    yield Setup(tmp_path, server)
    resolver.configure()


def addresses(results: list[tuple[Any, ...]]) -> list[Any]:
    return [result[4][0] for result in results]


def outcome(function: Any, *args: Any) -> Any:
    try:
        return function(*args)
    except (OSError, TypeError, ValueError, OverflowError, UnicodeError) as error:
        return type(error), error.args


# -- DNS -----------------------------------------------------------------------------------------


def test_a_record(setup: Setup) -> None:
    result = resolver.getaddrinfo("www.test", 80, socket.AF_INET, socket.SOCK_STREAM)
    assert result == [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("192.0.2.1", 80))]
    assert isinstance(result[0][0], socket.AddressFamily)
    assert isinstance(result[0][1], socket.SocketKind)
    assert setup.asked("udp") == ["www.test."]


def test_aaaa_record(setup: Setup) -> None:
    result = resolver.getaddrinfo("www.test", "http", socket.AF_INET6, socket.SOCK_STREAM)
    assert result == [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::1", 80, 0, 0))]


def test_unspec_asks_both_types_at_once(setup: Setup) -> None:
    result = resolver.getaddrinfo("www.test", 443)
    assert sorted(set(addresses(result))) == ["192.0.2.1", "2001:db8::1"]
    # One entry per socket type, as glibc: stream, datagram, raw for each address.
    assert [entry[1] for entry in result] == [socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW] * 2
    assert sorted(query[2] for query in setup.server.queries) == ["A", "AAAA"]


def test_every_address_is_returned(setup: Setup) -> None:
    result = resolver.getaddrinfo("two.test", 80, socket.AF_INET, *STREAM)
    assert sorted(addresses(result)) == ["192.0.2.21", "192.0.2.22"]
    assert resolver.gethostbyname_ex("two.test")[2] in (
        ["192.0.2.21", "192.0.2.22"],
        ["192.0.2.22", "192.0.2.21"],
    )


def test_search_domains_and_ndots(setup: Setup) -> None:
    # No dot (< ndots): search domains first, the bare name last.
    assert addresses(resolver.getaddrinfo("www", 80, socket.AF_INET, *STREAM)) == ["192.0.2.1"]
    assert setup.asked() == ["www.test."]
    setup.server.queries.clear()
    with pytest.raises(socket.gaierror):
        resolver.getaddrinfo("nothing", 80, socket.AF_INET, *STREAM)
    assert setup.asked() == ["nothing.test.", "nothing."]
    # Enough dots: the name as given first; a trailing dot means no search at all.
    setup.server.queries.clear()
    with pytest.raises(socket.gaierror):
        resolver.getaddrinfo("nothing.here", 80, socket.AF_INET, *STREAM)
    assert setup.asked() == ["nothing.here.", "nothing.here.test."]
    setup.server.queries.clear()
    with pytest.raises(socket.gaierror):
        resolver.getaddrinfo("nothing.", 80, socket.AF_INET, *STREAM)
    assert setup.asked() == ["nothing."]


def test_cname_chain(setup: Setup) -> None:
    result = resolver.getaddrinfo("alias", 80, socket.AF_INET, *STREAM, socket.AI_CANONNAME)
    assert result == [(socket.AF_INET, socket.SOCK_STREAM, 6, "www.test", ("192.0.2.1", 80))]
    assert resolver.gethostbyname_ex("alias.test") == (
        "www.test",
        ["alias.test", "middle.test"],
        ["192.0.2.1"],
    )


def test_unfinished_cname_chain_is_followed(setup: Setup) -> None:
    result = resolver.getaddrinfo("partial-alias.test", 80, socket.AF_INET, *STREAM, socket.AI_CANONNAME)
    assert result == [(socket.AF_INET, socket.SOCK_STREAM, 6, "v4only.test", ("192.0.2.9", 80))]
    assert setup.asked() == ["partial-alias.test.", "v4only.test."]


def test_nxdomain_is_eai_noname(setup: Setup) -> None:
    for function, argument in [
        (resolver.getaddrinfo, ("missing.test.", 80)),
        (resolver.gethostbyname, ("missing.test.",)),
        (resolver.gethostbyname_ex, ("missing.test.",)),
    ]:
        with pytest.raises(socket.gaierror) as caught:
            function(*argument)
        assert caught.value.args == (socket.EAI_NONAME, "Name or service not known")


def test_name_without_addresses_is_eai_nodata(setup: Setup) -> None:
    # glibc 2.36 answers EAI_NODATA (-5) when the name exists without an address of the family
    # (checked against the stdlib talking to this same server).
    for family in (socket.AF_INET6, socket.AF_UNSPEC):
        host = "v4only.test" if family == socket.AF_INET6 else "text-only.test"
        with pytest.raises(socket.gaierror) as caught:
            resolver.getaddrinfo(host, 80, family)
        assert caught.value.args == (socket.EAI_NODATA, "No address associated with hostname")


def test_v4_mapped(setup: Setup) -> None:
    mapped = socket.AI_V4MAPPED
    result = resolver.getaddrinfo("v4only.test", 80, socket.AF_INET6, *STREAM, mapped)
    assert addresses(result) == ["::ffff:192.0.2.9"]
    result = resolver.getaddrinfo("www.test", 80, socket.AF_INET6, *STREAM, mapped)
    assert addresses(result) == ["2001:db8::1"]
    result = resolver.getaddrinfo("www.test", 80, socket.AF_INET6, *STREAM, mapped | socket.AI_ALL)
    assert sorted(addresses(result)) == ["2001:db8::1", "::ffff:192.0.2.1"]  # order: RFC 3484


# The two timeout tests run on the pytest plugin's virtual clock: the hub jumps to the timeout
# once the DNS server (an OS thread) has been silent for 0.2 s of real time.
@pytest.mark.green(autojump=0.2)
def test_silent_server_times_out_with_eai_again(setup: Setup, clock: Any) -> None:
    started = clock()
    with pytest.raises(socket.gaierror) as caught:
        resolver.getaddrinfo("silent.test.", 80)
    elapsed = clock() - started
    assert caught.value.args == (socket.EAI_AGAIN, "Temporary failure in name resolution")
    assert elapsed == pytest.approx(1.0)  # timeout:1 attempts:1
    assert sorted(query[2] for query in setup.server.queries) == ["A", "AAAA"]


def test_attempts_and_nameservers_are_all_tried(setup: Setup) -> None:
    # An error answer moves on to the next server, then to the next attempt, without waiting.
    setup.write_resolv_conf("nameserver 127.0.0.1\nnameserver 127.0.0.1\noptions timeout:1 attempts:3\n")
    with pytest.raises(socket.gaierror) as caught:
        resolver.gethostbyname("servfail.test.")
    assert caught.value.errno == socket.EAI_AGAIN
    assert setup.asked() == ["servfail.test."] * 6


@pytest.mark.green(autojump=0.2)
def test_garbage_answers_are_ignored_until_the_timeout(setup: Setup, clock: Any) -> None:
    started = clock()
    with pytest.raises(socket.gaierror) as caught:
        resolver.getaddrinfo("garbage.test.", 80, socket.AF_INET)
    assert caught.value.errno == socket.EAI_AGAIN
    assert clock() - started == pytest.approx(1.0)
    assert setup.asked() == ["garbage.test."]


def test_server_errors_are_eai_again_without_waiting(setup: Setup) -> None:
    for host in ("servfail.test.", "refused.test."):
        started = time.monotonic()
        with pytest.raises(socket.gaierror) as caught:
            resolver.getaddrinfo(host, 80)
        assert caught.value.errno == socket.EAI_AGAIN
        assert time.monotonic() - started < 0.5


def test_truncated_answer_is_asked_again_over_tcp(setup: Setup) -> None:
    result = resolver.getaddrinfo("truncated.test", 80, socket.AF_INET, *STREAM)
    assert addresses(result) == ["192.0.2.7"]
    assert setup.asked("udp") == ["truncated.test."]
    assert setup.asked("tcp") == ["truncated.test."]


def test_unreachable_nameserver_is_skipped(setup: Setup) -> None:
    # Nothing listens on 127.0.0.2 at this port: the ICMP error moves on at once.
    setup.write_resolv_conf("nameserver 127.0.0.2\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    started = time.monotonic()
    assert resolver.gethostbyname("www.test") == "192.0.2.1"
    assert time.monotonic() - started < 0.5


def test_use_vc_asks_over_tcp_only(setup: Setup) -> None:
    setup.write_resolv_conf("nameserver 127.0.0.1\noptions use-vc timeout:1\n")
    assert resolver.gethostbyname("www.test") == "192.0.2.1"
    assert setup.asked("udp") == []
    assert setup.asked("tcp") == ["www.test."]


def test_reverse_lookups(setup: Setup) -> None:
    assert resolver.gethostbyaddr("192.0.2.1") == ("www.test", [], ["192.0.2.1"])
    assert resolver.getnameinfo(("192.0.2.1", 80), 0) == ("www.test", "http")
    assert resolver.getnameinfo(("192.0.2.1", 53), socket.NI_DGRAM | socket.NI_NUMERICSERV) == (
        "www.test",
        "53",
    )
    with pytest.raises(socket.herror) as caught:
        resolver.gethostbyaddr("192.0.2.99")
    assert caught.value.args == (1, "Unknown host")
    assert resolver.getnameinfo(("192.0.2.99", 80), 0) == ("192.0.2.99", "http")
    with pytest.raises(socket.gaierror) as caught_gai:
        resolver.getnameinfo(("192.0.2.99", 80), socket.NI_NAMEREQD)
    assert caught_gai.value.errno == socket.EAI_NONAME
    assert setup.asked() == ["1.2.0.192.in-addr.arpa."] * 3 + ["99.2.0.192.in-addr.arpa."] * 3


def test_reverse_lookup_without_answer(setup: Setup) -> None:
    # The PTR question for 192.0.2.1 goes to a server that is not there (a closed port).
    setup.write_resolv_conf("nameserver 127.0.0.2\noptions timeout:1 attempts:1\n")
    with pytest.raises(socket.herror) as caught:
        resolver.gethostbyaddr("192.0.2.1")
    assert caught.value.args == (2, "Host name lookup failure")
    with pytest.raises(socket.gaierror) as caught_gai:
        resolver.getnameinfo(("192.0.2.1", 80), 0)
    assert caught_gai.value.errno == socket.EAI_AGAIN


# -- cooperation ---------------------------------------------------------------------------------


def test_lookups_wait_cooperatively(setup: Setup) -> None:
    finished: list[str] = []

    def slow() -> None:
        with pytest.raises(socket.gaierror):
            resolver.getaddrinfo("silent.test.", 80)
        finished.append("slow")

    def fast() -> None:
        resolver.getaddrinfo("www.test", 80)
        finished.append("fast")

    ticks = 0

    def ticker() -> None:
        nonlocal ticks
        while "slow" not in finished:
            ticks += 1
            green.sleep(0.05)

    threads = [green.spawn(slow), green.spawn(fast), green.spawn(ticker)]
    for thread in threads:
        thread.wait()
    assert finished == ["fast", "slow"]
    assert ticks >= 10  # the hub kept running while the slow lookup waited


def test_timeout_interrupts_a_lookup_cleanly(setup: Setup) -> None:
    started = time.monotonic()
    with pytest.raises(Timeout), Timeout(0.1):
        resolver.getaddrinfo("silent.test.", 80)
    assert time.monotonic() - started < 0.5
    # The hub_left_empty fixture checks that the socket was forgotten by the hub.


# -- files and numbers ---------------------------------------------------------------------------


def test_hosts_file_comes_first_and_is_reread(setup: Setup) -> None:
    setup.write_hosts("10.1.1.1 www.test\n")
    assert resolver.gethostbyname("www.test") == "10.1.1.1"
    setup.write_hosts("10.2.2.2 www.test other\n10.3.3.3 www.test\n")
    assert resolver.gethostbyname_ex("www.test") == ("www.test", ["other"], ["10.2.2.2", "10.3.3.3"])
    assert resolver.gethostbyaddr("10.3.3.3") == ("www.test", [], ["10.3.3.3"])
    assert resolver.getnameinfo(("10.2.2.2", 22), 0) == ("www.test", "ssh")
    assert setup.asked() == []
    # A name with a trailing dot does not match the hosts file (as in glibc): DNS answers it.
    assert resolver.gethostbyname("www.test.") == "192.0.2.1"


def test_hosts_file_canonical_name_and_aliases(setup: Setup) -> None:
    result = resolver.getaddrinfo("FileAlias", 80, 0, *STREAM, socket.AI_CANONNAME)
    assert result == [(socket.AF_INET, socket.SOCK_STREAM, 6, "filehost", ("10.9.9.9", 80))]
    assert setup.asked() == []


def test_resolv_conf_is_reread(setup: Setup) -> None:
    assert resolver.gethostbyname("www") == "192.0.2.1"
    setup.write_resolv_conf("nameserver 127.0.0.1\nsearch elsewhere\noptions timeout:1 attempts:1\n")
    with pytest.raises(socket.gaierror) as caught:
        resolver.gethostbyname("www")
    assert caught.value.errno == socket.EAI_NONAME
    assert setup.asked()[-2:] == ["www.elsewhere.", "www."]


def test_localhost_and_numbers_stay_off_the_network(setup: Setup) -> None:
    result = resolver.getaddrinfo("localhost", 80, 0, *STREAM)
    assert sorted(addresses(result)) == ["127.0.0.1", "::1"]
    assert addresses(resolver.getaddrinfo("db.localhost", 80, socket.AF_INET, *STREAM)) == ["127.0.0.1"]
    assert addresses(resolver.getaddrinfo("LOCALHOST", 80, socket.AF_INET6, *STREAM)) == ["::1"]
    # Documented difference from glibc (RFC 6761): no DNS question for a localhost name.
    assert setup.asked() == []
    assert addresses(resolver.getaddrinfo("127.1", 80, 0, *STREAM)) == ["127.0.0.1"]
    assert resolver.getaddrinfo("fe80::1%1", 80, 0, *STREAM)[0][4] == ("fe80::1", 80, 0, 1)
    with pytest.raises(socket.herror):  # not in this hosts file: DNS says NXDOMAIN
        resolver.gethostbyaddr("::1")
    setup.server.queries.clear()
    setup.write_hosts("::1 localhost six\n")
    assert addresses(resolver.getaddrinfo("localhost", 80, 0, *STREAM)) == ["::1"]
    assert setup.asked() == []


def test_configuration_from_the_environment(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, server: DNSServer
) -> None:
    resolver.configure()
    monkeypatch.setenv("GREEN_RESOLV_CONF", str(setup.resolv_conf))
    monkeypatch.setenv("GREEN_HOSTS", str(setup.hosts))
    monkeypatch.setenv("GREEN_DNS_PORT", str(server.port))
    assert resolver.gethostbyname("filehost") == "10.9.9.9"
    assert resolver.gethostbyname("www") == "192.0.2.1"


# -- AI_ADDRCONFIG and the interface addresses --------------------------------------------------


def interfaces(*texts: str, deprecated: tuple[str, ...] = (), home: tuple[str, ...] = ()) -> list[Any]:
    found = []
    for text in texts:
        family = socket.AF_INET6 if ":" in text else socket.AF_INET
        found.append(
            _interfaces._InterfaceAddress(
                family, socket.inet_pton(family, text), text in deprecated, text in home
            )
        )
    return found


def test_interface_addresses_come_from_the_kernel() -> None:
    found = _interfaces._interface_addresses()
    assert found is not None, "the netlink address dump failed"
    loopback = [
        entry for entry in found if entry.family == socket.AF_INET and entry.packed == bytes([127, 0, 0, 1])
    ]
    assert loopback and loopback[0].index == socket.if_nametoindex("lo")
    # Every IPv6 address the kernel lists in /proc is in the dump, and nothing else.
    listed = Path("/proc/net/if_inet6")
    if listed.exists():
        expected = {
            bytes.fromhex(line.split()[0]) for line in listed.read_text().splitlines() if line.strip()
        }
        assert {entry.packed for entry in found if entry.family == socket.AF_INET6} == expected


@pytest.mark.parametrize(
    "configured, family, expected",
    [
        # Only loopback: a family asked for by name fails; AF_UNSPEC is not narrowed.
        (("127.0.0.1", "::1"), socket.AF_INET, socket.EAI_NONAME),
        (("127.0.0.1", "::1"), socket.AF_INET6, socket.EAI_NONAME),
        (("127.0.0.1", "::1"), socket.AF_UNSPEC, ["192.0.2.1", "2001:db8::1"]),
        # IPv4 only (127.0.0.2 counts: only 127.0.0.1 itself is left out, as in glibc).
        (("127.0.0.2", "::1"), socket.AF_UNSPEC, ["192.0.2.1"]),
        (("192.0.2.2", "::1"), socket.AF_INET6, socket.EAI_NONAME),
        (("192.0.2.2",), socket.AF_INET, ["192.0.2.1"]),
        # IPv6 only; a link-local address is enough.
        (("127.0.0.1", "fe80::1"), socket.AF_UNSPEC, ["2001:db8::1"]),
        (("127.0.0.1", "fe80::1"), socket.AF_INET, socket.EAI_NONAME),
        # Both.
        (("192.0.2.2", "2001:db8::2"), socket.AF_UNSPEC, ["192.0.2.1", "2001:db8::1"]),
        # The kernel could not be asked: both count as configured.
        (None, socket.AF_INET6, ["2001:db8::1"]),
    ],
)
def test_ai_addrconfig(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, configured: Any, family: int, expected: Any
) -> None:
    listed = None if configured is None else interfaces(*configured)
    monkeypatch.setattr(_interfaces, "_interface_addresses", lambda: listed)
    arguments = ("www.test", 80, family, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)
    if isinstance(expected, list):
        assert sorted(addresses(resolver.getaddrinfo(*arguments))) == expected
        # Without the flag, every family is returned.
        assert len(resolver.getaddrinfo(*arguments[:5])) == (2 if family == socket.AF_UNSPEC else 1)
    else:
        with pytest.raises(socket.gaierror) as caught:
            resolver.getaddrinfo(*arguments)
        assert caught.value.errno == expected
        # Checked before the name: numeric hosts fail the same way, and no question is asked.
        setup.server.queries.clear()
        numeric = "192.0.2.9" if family == socket.AF_INET else "2001:db8::9"
        with pytest.raises(socket.gaierror):
            resolver.getaddrinfo(numeric, 80, family, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)
        assert setup.asked() == []


def test_rules_3_and_4_use_the_source_address_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 3484 rule 3 (avoid deprecated sources) and 4 (prefer home addresses), decided before
    the precedence table (rule 6) that would otherwise put ::1 first."""
    sources = {"::1": "::1", "2001:db8::5": "2001:db8::2"}

    def source_address(family: int, packed: bytes, scope_id: int) -> bytes:
        return socket.inet_pton(family, sources[socket.inet_ntop(family, packed)])

    monkeypatch.setattr(_sorting, "_source_address", source_address)
    candidates = [
        (socket.AF_INET6, socket.inet_pton(socket.AF_INET6, "2001:db8::5"), 0),
        (socket.AF_INET6, socket.inet_pton(socket.AF_INET6, "::1"), 0),
    ]

    def order(listed: list[Any]) -> list[str]:
        monkeypatch.setattr(_interfaces, "_interface_addresses", lambda: listed)
        return [
            socket.inet_ntop(family, packed) for family, packed, _ in _sorting._sort_addresses(candidates)
        ]

    assert order(interfaces("::1", "2001:db8::2")) == ["::1", "2001:db8::5"]  # rule 6
    assert order(interfaces("::1", "2001:db8::2", deprecated=("::1",))) == ["2001:db8::5", "::1"]
    assert order(interfaces("::1", "2001:db8::2", home=("2001:db8::2",))) == ["2001:db8::5", "::1"]
    # Rule 3 outranks rule 4.
    listed = interfaces("::1", "2001:db8::2", deprecated=("2001:db8::2",), home=("2001:db8::2",))
    assert order(listed) == ["::1", "2001:db8::5"]


def test_gai_conf_is_not_read_and_the_default_tables_apply(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Documented: /etc/gai.conf is ignored; glibc's default precedence table orders a global
    IPv6 address (40) before an IPv4 one (10, as ::ffff:0:0/96), whatever gai.conf says."""
    sources = {"192.0.2.1": "192.0.2.2", "2001:db8::1": "2001:db8::2"}

    def source_address(family: int, packed: bytes, scope_id: int) -> bytes:
        return socket.inet_pton(family, sources[socket.inet_ntop(family, packed)])

    read: list[str] = []
    original_read_lines = _configuration._read_lines

    def read_lines(path: str) -> list[str]:
        read.append(path)
        return original_read_lines(path)

    monkeypatch.setattr(_sorting, "_source_address", source_address)
    monkeypatch.setattr(_configuration, "_read_lines", read_lines)
    setup.write_hosts("192.0.2.1 dual\n2001:db8::1 dual\n")
    assert addresses(resolver.getaddrinfo("dual", 80, 0, *STREAM)) == ["2001:db8::1", "192.0.2.1"]
    assert read and not [path for path in read if "gai.conf" in path]


def test_rule_7_prefers_a_native_interface_over_a_tunnel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two destinations equal under rules 1-6, reached from sources on different interfaces: the
    one whose interface is not a tunnel (ARPHRD_SIT here) comes first, whatever the order received."""
    sources = {"2001:db8::5": "2001:db8::2", "2001:db8:1::5": "2001:db8:1::2"}

    def source_address(family: int, packed: bytes, scope_id: int) -> bytes:
        return socket.inet_pton(family, sources[socket.inet_ntop(family, packed)])

    listed = interfaces("2001:db8::2", "2001:db8:1::2")
    listed[0].index, listed[1].index = 7, 3
    monkeypatch.setattr(_sorting, "_source_address", source_address)
    monkeypatch.setattr(_interfaces, "_interface_addresses", lambda: listed)
    candidates = [
        (socket.AF_INET6, socket.inet_pton(socket.AF_INET6, "2001:db8::5"), 0),
        (socket.AF_INET6, socket.inet_pton(socket.AF_INET6, "2001:db8:1::5"), 0),
    ]

    def order(link_types: dict[int, int]) -> list[str]:
        monkeypatch.setattr(_interfaces, "_link_types", lambda: link_types)
        return [
            socket.inet_ntop(family, packed) for family, packed, _ in _sorting._sort_addresses(candidates)
        ]

    ethernet, sit = 1, 776
    assert order({7: sit, 3: ethernet}) == ["2001:db8:1::5", "2001:db8::5"]
    assert order({7: ethernet, 3: sit}) == ["2001:db8::5", "2001:db8:1::5"]
    assert order({7: ethernet, 3: ethernet}) == ["2001:db8::5", "2001:db8:1::5"]  # rule 10


def test_rule_9_for_ipv4_counts_a_shared_prefix_only_inside_the_source_subnet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        _sorting, "_source_address", lambda *_: socket.inet_pton(socket.AF_INET, "198.51.100.7")
    )
    candidates = [
        (socket.AF_INET, socket.inet_pton(socket.AF_INET, text), 0)
        for text in ("203.0.113.1", "198.51.100.200", "198.51.100.9", "198.51.100.7")
    ]

    def order(prefix_length: int) -> list[str]:
        listed = interfaces("198.51.100.7", "2001:db8::2")
        listed[0].prefix_length = prefix_length
        monkeypatch.setattr(_interfaces, "_interface_addresses", lambda: listed)
        return [
            socket.inet_ntop(family, packed) for family, packed, _ in _sorting._sort_addresses(candidates)
        ]

    assert order(24) == ["198.51.100.7", "198.51.100.9", "198.51.100.200", "203.0.113.1"]
    # Subnet unknown: only the exact match shares a prefix; the rest keep the order received.
    assert order(0) == ["198.51.100.7", "203.0.113.1", "198.51.100.200", "198.51.100.9"]


def test_link_types_come_from_the_kernel() -> None:
    types = _interfaces._link_types()
    assert types.get(socket.if_nametoindex("lo")) == 772  # ARPHRD_LOOPBACK


# -- the stdlib as the reference -----------------------------------------------------------------

NUMERIC_HOSTS: list[Any] = [
    None,
    "",
    "127.0.0.1",
    "1.2.3",
    "0x7f.1",
    "2130706433",
    "::1",
    "::ffff:1.2.3.4",
    "fe80::1%lo",
    "fe80::1%1",
    "fe80::1%nosuchif",
    "1.2.3.4.5",
    "1.2.3.4 ",
    "::1::",
    "no.such.name",
    b"127.0.0.1",
]
PORTS: list[Any] = [None, 0, 80, "80", "http", "domain", "nosuch", -1, 70000, "", " 80", "+80", "80x", b"22"]
FAMILIES = [socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6, socket.AF_UNIX]
TYPES = [0, socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_SEQPACKET, 99]
PROTOCOLS = [0, socket.IPPROTO_TCP, socket.IPPROTO_UDP, socket.IPPROTO_SCTP, socket.IPPROTO_ICMP]
FLAGS = [
    0,
    socket.AI_PASSIVE,
    socket.AI_CANONNAME,
    socket.AI_NUMERICSERV,
    socket.AI_V4MAPPED,
    socket.AI_V4MAPPED | socket.AI_ALL,
    socket.AI_ADDRCONFIG,
    0x10000,
]


def test_numeric_getaddrinfo_matches_stdlib(setup: Setup) -> None:
    # Every combination stays off the network for the stdlib too: AI_NUMERICHOST on names.
    mismatches = []
    for host, port, family, flags in itertools.product(NUMERIC_HOSTS, PORTS, FAMILIES, FLAGS):
        flags |= socket.AI_NUMERICHOST
        arguments = (host, port, family, 0, 0, flags)
        expected = outcome(socket.getaddrinfo, *arguments)
        if expected != outcome(resolver.getaddrinfo, *arguments):
            mismatches.append((arguments, expected, outcome(resolver.getaddrinfo, *arguments)))
    assert mismatches == []


def test_socket_types_and_protocols_match_stdlib(setup: Setup) -> None:
    mismatches = []
    for port, kind, protocol in itertools.product(PORTS, TYPES, PROTOCOLS):
        for host in ("127.0.0.1", None):
            arguments = (host, port, 0, kind, protocol, 0)
            expected = outcome(socket.getaddrinfo, *arguments)
            if expected != outcome(resolver.getaddrinfo, *arguments):
                mismatches.append((arguments, expected, outcome(resolver.getaddrinfo, *arguments)))
    assert mismatches == []


def test_argument_errors_match_stdlib(setup: Setup) -> None:
    for arguments in [
        (1234, 80),
        ("127.0.0.1", 1.5),
        ("127.0.0.1", 2**70),
        (None, None),
        ("a..b", 80),
        ("127.0.0.1", 80, 0, 0, 0, socket.AI_CANONNAME),
    ]:
        assert outcome(resolver.getaddrinfo, *arguments) == outcome(socket.getaddrinfo, *arguments)
    for sockaddr, flags in [
        (("127.0.0.1", 80), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV),
        (("::1", 80, 0, 0), socket.NI_NUMERICHOST),
        (("fe80::1", 80, 0, 1), socket.NI_NUMERICHOST),
        (("fe80::1%lo", 80), socket.NI_NUMERICHOST),
        (("127.0.0.1", 80, 0, 0), 0),
        (("127.0.0.1", 80), 0x10000),
        (("127.0.0.1",), 0),
        (("127.0.0.1", "80"), 0),
        (("::1", 80, 2**21, 0), 0),
        ("127.0.0.1", 0),
        (("no.such.name", 80), 0),
        ((None, 80), 0),
    ]:
        expected = outcome(socket.getnameinfo, sockaddr, flags)
        assert outcome(resolver.getnameinfo, sockaddr, flags) == expected, (sockaddr, flags)
    for name in ["127.0.0.1", "1.2.3", "", "<broadcast>", "::1", "0x7f.1", 1234, None, "a..b"]:
        for function in ("gethostbyname", "gethostbyname_ex"):
            expected = outcome(getattr(socket, function), name)
            assert outcome(getattr(resolver, function), name) == expected, (function, name)
    for name in [1234, None, "a..b"]:
        assert outcome(resolver.gethostbyaddr, name) == outcome(socket.gethostbyaddr, name)


def _system_hosts() -> list[tuple[str, str]]:
    """(address, name) pairs of /etc/hosts whose IPv4 address the stdlib resolves from it."""
    pairs = []
    for line in Path("/etc/hosts").read_text().splitlines():
        words = line.partition("#")[0].split()
        if len(words) >= 2 and _numeric._parse_ipv4_strict(words[0]) is not None:
            pairs.extend((words[0], name) for name in words[1:])
    return pairs


def test_system_hosts_file_matches_stdlib(setup: Setup) -> None:
    resolver.configure(resolv_conf=str(setup.resolv_conf), hosts="/etc/hosts", port=setup.server.port)
    pairs = _system_hosts()
    if not pairs:
        pytest.skip("/etc/hosts names no IPv4 address")
    for address, name in pairs:
        for arguments in [
            (name, 80, socket.AF_INET),
            (name, "https", socket.AF_INET, 0, 0, socket.AI_CANONNAME),
            (name, None, socket.AF_INET, socket.SOCK_DGRAM),
        ]:
            assert resolver.getaddrinfo(*arguments) == socket.getaddrinfo(*arguments), arguments
        assert resolver.gethostbyname(name) == socket.gethostbyname(name)
        assert resolver.gethostbyname_ex(name) == socket.gethostbyname_ex(name)
        assert resolver.gethostbyaddr(address) == socket.gethostbyaddr(address)
        assert resolver.getnameinfo((address, 80), 0) == socket.getnameinfo((address, 80), 0)
    assert setup.asked() == []


# -- the system resolver on an OS thread ---------------------------------------------------------


def test_system_resolver_opt_out(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREEN_RESOLVER", "system")
    assert resolver.getaddrinfo("127.0.0.1", 80) == socket.getaddrinfo("127.0.0.1", 80)
    assert resolver.gethostbyname("127.1") == "127.0.0.1"
    flags = socket.NI_NUMERICHOST
    assert resolver.getnameinfo(("127.0.0.1", 80), flags) == socket.getnameinfo(("127.0.0.1", 80), flags)
    with pytest.raises(socket.gaierror) as caught:
        resolver.getaddrinfo("name", 80, 0, 0, 0, socket.AI_NUMERICHOST)
    assert caught.value.errno == socket.EAI_NONAME
    assert setup.asked() == []


def test_os_thread_keeps_the_hub_running(setup: Setup) -> None:
    sleep = original("time").sleep
    ticks = 0
    done = False

    def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            green.sleep(0.02)

    # Compared with the count before, not with zero: in the patched run pytest-timeout's SIGALRM
    # handler is a green handler, which holds a reference of its own.
    references = green.get_hub().references
    thread = green.spawn(ticker)
    try:
        assert resolver._in_os_thread(lambda: sleep(0.3) or "slept") == "slept"
    finally:
        done = True
    thread.wait()
    assert ticks >= 5
    with pytest.raises(ZeroDivisionError):
        resolver._in_os_thread(lambda: 1 / 0)
    assert green.get_hub().references == references


# -- the C library talking to the same server ----------------------------------------------------


def _can_unshare() -> str | None:
    """None when this process may make private mount and network namespaces, else why not."""
    if os.geteuid() != 0:
        return "needs root for unshare --mount --net"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs the unshare and ip commands"
    probe = subprocess.run(["unshare", "--mount", "--net", "true"], capture_output=True)
    return None if probe.returncode == 0 else "namespaces are not available here"


def test_dns_answers_match_the_c_library() -> None:
    reason = _can_unshare()
    if reason is not None:
        pytest.skip(reason)
    environment = dict(os.environ, GREEN_HUB=green.get_hub().backend.name)
    done = subprocess.run(
        ["unshare", "--mount", "--net", sys.executable, str(Path(__file__).parent / "resolver_vs_glibc.py")],
        capture_output=True,
        text=True,
        timeout=50,
        env=environment,
        cwd=str(Path(__file__).parent),
    )
    assert done.stdout.strip().endswith("pass"), f"{done.stdout}\n{done.stderr}"
