"""eventlet.support.greendns under the eventlet alias: eventlet's resolver API (the replaceable
``resolver``, HostsResolver, resolve, udp/tcp) answering from a nameserver on 127.0.0.1 that
each test starts, and temporary hosts and resolv.conf files. Each test runs in a fresh
interpreter, because the alias changes ``sys.meta_path`` for the whole process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import green

ROOT = Path(green.__file__).resolve().parent.parent

# Run first in every child: the alias, a small nameserver on 127.0.0.1 (UDP and TCP on one port,
# answers built with dnspython from ZONE), and green's resolver files pointed at temporary ones.
_PRELUDE = """
import os, sys, tempfile
import green.compat.eventlet
green.compat.eventlet.install(children=False)
import dns.flags, dns.message, dns.rcode, dns.rdatatype, dns.rrset
import green, green.resolver, green.socket

ZONE = {}          # (lower-case name with final dot, type text) -> [values]
TRUNCATE = set()   # names answered over UDP with only the TC bit
SEEN = []          # (transport, name, type) of every question received
SILENT = [False]   # True: the UDP side reads questions and answers nothing


def _answer(wire, transport):
    query = dns.message.from_wire(wire)
    question = query.question[0]
    name = question.name.to_text().lower()
    kind = dns.rdatatype.to_text(question.rdtype)
    SEEN.append((transport, name, kind))
    response = dns.message.make_response(query)
    if transport == "udp" and name in TRUNCATE:
        response.flags |= dns.flags.TC
        return response.to_wire()
    owner = name
    while kind != "CNAME" and (owner, "CNAME") in ZONE:
        target = ZONE[(owner, "CNAME")][0]
        response.answer.append(dns.rrset.from_text(owner, 60, "IN", "CNAME", target))
        owner = target
    values = ZONE.get((owner, kind))
    if values:
        response.answer.append(dns.rrset.from_text_list(owner, 60, "IN", kind, values))
    elif not any(key[0] == owner for key in ZONE):
        response.set_rcode(dns.rcode.NXDOMAIN)
    return response.to_wire()


def _exactly(conn, size):
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _serve():
    for _attempt in range(50):  # a port free for both TCP and UDP
        tcp = green.socket.socket()
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
        udp = green.socket.socket(green.socket.AF_INET, green.socket.SOCK_DGRAM)
        try:
            udp.bind(("127.0.0.1", port))
            break
        except OSError:
            tcp.close()
            udp.close()
    tcp.listen()

    def udp_loop():
        while True:
            data, peer = udp.recvfrom(65535)
            if not SILENT[0]:
                udp.sendto(_answer(data, "udp"), peer)

    def tcp_loop():
        while True:
            conn, _ = tcp.accept()
            with conn:
                size = int.from_bytes(_exactly(conn, 2), "big")
                reply = _answer(_exactly(conn, size), "tcp")
                conn.sendall(len(reply).to_bytes(2, "big") + reply)

    green.spawn(udp_loop)
    green.spawn(tcp_loop)
    return port


PORT = _serve()
FILES = tempfile.mkdtemp()
RESOLV_CONF = os.path.join(FILES, "resolv.conf")
HOSTS = os.path.join(FILES, "hosts")
with open(RESOLV_CONF, "w") as file:
    file.write("nameserver 127.0.0.1\\nsearch example.test\\noptions timeout:1 attempts:1\\n")
with open(HOSTS, "w") as file:
    file.write("127.0.0.1 localhost\\n192.0.2.99 pinned.example.test pinned\\n")
green.resolver.configure(resolv_conf=RESOLV_CONF, hosts=HOSTS, port=PORT)

import eventlet
import eventlet.green.socket
from eventlet.support import greendns
"""


def _run(code: str) -> None:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", _PRELUDE + textwrap.dedent(code) + '\nprint("pass")\n'],
        capture_output=True,
        text=True,
        timeout=50,
        env=environment,
        cwd=str(ROOT.parent),
    )
    assert done.stdout.strip().endswith("pass"), f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, done.stderr


def test_resolve_asks_the_nameserver_and_caches_until_reset() -> None:
    _run(
        """
        import socket
        ZONE[("www.example.test.", "A")] = ["192.0.2.10"]
        ZONE[("www.example.test.", "AAAA")] = ["2001:db8::10"]
        ZONE[("alias.example.test.", "CNAME")] = ["www.example.test."]

        assert greendns.resolve("www.example.test").rrset[0].address == "192.0.2.10"
        asked = len(SEEN)
        assert asked >= 1 and SEEN[-1] == ("udp", "www.example.test.", "A"), SEEN
        assert greendns.resolve("www.example.test")[0].address == "192.0.2.10"
        assert len(SEEN) == asked, "the second answer comes from the resolver's cache"
        greendns.reset()
        greendns.resolve("www.example.test")
        assert len(SEEN) == asked + 1, "reset() forgets the cache"

        # eventlet.green.socket's getaddrinfo goes through greendns (both families).
        infos = eventlet.green.socket.getaddrinfo("www.example.test", 80, 0, socket.SOCK_STREAM)
        assert {info[4] for info in infos} == {("192.0.2.10", 80), ("2001:db8::10", 80, 0, 0)}, infos
        assert eventlet.green.socket.gethostbyname("www.example.test") == "192.0.2.10"

        # The CNAME chain: the addresses of the target, the target among the aliases.
        name, aliases, addresses = greendns.gethostbyname_ex("alias.example.test")
        assert addresses == ["192.0.2.10"] and "www.example.test." in aliases, (name, aliases, addresses)
        assert greendns.resolve_cname("alias.example.test") == "www.example.test."

        # A single label: the search list, and the name asked as a top-level name too.
        assert greendns.resolve("www").rrset[0].address == "192.0.2.10"
        assert ("udp", "www.", "A") in SEEN, SEEN

        # A name that does not exist: gaierror (eventlet's EAI_NODATA_ERROR, EAI_NONAME by default).
        try:
            greendns.resolve("missing.example.test")
        except socket.gaierror as error:
            assert error.errno == socket.EAI_NONAME, error
        else:
            raise AssertionError("no error for a missing name")
        try:
            eventlet.green.socket.getaddrinfo("missing.example.test", 80)
        except socket.gaierror:
            pass
        else:
            raise AssertionError("no error from getaddrinfo for a missing name")
        """
    )


def test_hosts_file_first_reloaded_and_replaceable_resolver() -> None:
    _run(
        """
        import socket
        ZONE[("pinned.example.test.", "A")] = ["192.0.2.1"]

        # The hosts file shadows the nameserver, which is not asked at all.
        assert greendns.resolve("pinned.example.test").rrset[0].address == "192.0.2.99"
        assert greendns.gethostbyname("PINNED") == "192.0.2.99"
        assert not any(seen[1].startswith("pinned") for seen in SEEN), SEEN
        assert greendns.getaliases("pinned") == ["pinned.example.test"]

        # HostsResolver(fname=...) reads its file again when it changes (interval 0: at each look).
        own = os.path.join(FILES, "own-hosts")
        with open(own, "w") as file:
            file.write("127.0.0.1 service.test svc  # a comment\\n")
        hosts = greendns.HostsResolver(fname=own, interval=0)
        assert hosts.query("svc")[0].address == "127.0.0.1"
        assert hosts.query("svc", dns.rdatatype.CNAME)[0].target.to_text() == "service.test."
        with open(own, "w") as file:
            file.write("127.0.0.2 service.test svc\\nfe80::1 service.test\\n::1 service.test\\n")
        assert hosts.query("service.test.")[0].address == "127.0.0.2"
        assert hosts.query("service.test", dns.rdatatype.AAAA)[0].address == "::1"

        # A program replaces the module's resolver: eventlet.green.socket follows it ...
        greendns.resolver = greendns.ResolverProxy(hosts_resolver=hosts)
        infos = eventlet.green.socket.getaddrinfo("svc", 80, socket.AF_INET, socket.SOCK_STREAM)
        assert [info[4] for info in infos] == [("127.0.0.2", 80)], infos
        listener = eventlet.listen(("127.0.0.2", 0))
        port = listener.getsockname()[1]
        connection = eventlet.green.socket.create_connection(("service.test", port))
        accepted, _ = listener.accept()
        assert accepted.getpeername() == connection.getsockname()
        accepted.close(); connection.close(); listener.close()
        # ... green's own resolver does not (its hosts file has no "svc"; the nameserver neither).
        try:
            green.socket.getaddrinfo("svc.nowhere.test", 80)
        except socket.gaierror:
            pass
        else:
            raise AssertionError("green.socket resolved a name only greendns's resolver knows")
        """
    )


def test_truncated_answers_go_over_tcp_and_waiting_is_green() -> None:
    _run(
        """
        import socket
        import dns.exception, dns.message
        ZONE[("big.example.test.", "A")] = ["192.0.2.20", "192.0.2.21"]
        TRUNCATE.add("big.example.test.")

        answer = greendns.resolve("big.example.test")
        assert sorted(record.address for record in answer.rrset) == ["192.0.2.20", "192.0.2.21"]
        assert ("udp", "big.example.test.", "A") in SEEN and ("tcp", "big.example.test.", "A") in SEEN, SEEN

        # resolv.conf's "options use-vc": every question over TCP.
        tcp_only = os.path.join(FILES, "resolv-use-vc.conf")
        with open(tcp_only, "w") as file:
            file.write("nameserver 127.0.0.1\\noptions use-vc timeout:1 attempts:1\\n")
        ZONE[("vc.example.test.", "A")] = ["192.0.2.30"]
        proxy = greendns.ResolverProxy(filename=tcp_only)
        assert greendns.resolve("vc.example.test", _proxy=proxy)[0].address == "192.0.2.30"
        assert [seen[0] for seen in SEEN if seen[1] == "vc.example.test."] == ["tcp"], SEEN

        # udp()/tcp() directly, as eventlet's dns.query replacements.
        query = dns.message.make_query("big.example.test", "A")
        assert greendns.tcp(query, "127.0.0.1", port=PORT, timeout=5).answer
        try:
            greendns.udp(query, "127.0.0.1", port=PORT, timeout=5, raise_on_truncation=True)
        except dns.message.Truncated:
            pass
        else:
            raise AssertionError("truncated answer not reported")

        # A nameserver that never answers: only the asking green thread waits.
        SILENT[0] = True
        ticks = []

        def ticker():
            while True:
                ticks.append(1)
                green.sleep(0.02)

        thread = green.spawn(ticker)
        try:
            greendns.udp(dns.message.make_query("www.example.test", "A"), "127.0.0.1", port=PORT, timeout=0.3)
        except dns.exception.Timeout:
            pass
        else:
            raise AssertionError("no timeout")
        assert len(ticks) >= 3, ticks
        greendns.reset()
        try:
            greendns.resolve("quiet.example.test")
        except socket.gaierror as error:
            assert error.errno == socket.EAI_AGAIN, error
        else:
            raise AssertionError("no error from a silent nameserver")
        thread.kill()
        """
    )


def test_getnameinfo_asks_for_the_ptr_record() -> None:
    _run(
        """
        import socket
        ZONE[("10.2.0.192.in-addr.arpa.", "PTR")] = ["www.example.test."]
        ZONE[("www.example.test.", "A")] = ["192.0.2.10"]

        assert greendns.getnameinfo(("192.0.2.10", 80), 0) == ("www.example.test", "http")
        flags = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
        assert eventlet.green.socket.getnameinfo(("192.0.2.10", 80), flags) == ("192.0.2.10", "80")
        assert greendns.getnameinfo(("192.0.2.11", 80), socket.NI_NUMERICSERV) == ("192.0.2.11", "80")
        try:
            greendns.getnameinfo(("192.0.2.11", 80), socket.NI_NAMEREQD)
        except socket.gaierror as error:
            assert error.errno == socket.EAI_NONAME, error
        else:
            raise AssertionError("NI_NAMEREQD without a name")
        assert greendns.getnameinfo(("www.example.test", 80), socket.NI_NUMERICHOST)[0] == "192.0.2.10"
        """
    )
