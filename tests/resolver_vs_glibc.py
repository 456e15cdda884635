"""Run green.resolver and the C library side by side against the same DNS server and hosts file.

Not collected by pytest: test_resolver.py runs it inside ``unshare --mount --net`` (root only),
where it may bind port 53 on a private loopback and bind-mount its own /etc/resolv.conf and
/etc/hosts, so glibc's getaddrinfo talks to the test server too. Prints "pass" or the mismatches.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from dnsserver import DNSServer

from green import resolver

RECORDS = {
    "www.test.": [("A", "192.0.2.1"), ("AAAA", "2001:db8::1")],
    "alias.test.": [("CNAME", "middle.test.")],
    "middle.test.": [("CNAME", "www.test.")],
    "multi.test.": [("A", "192.0.2.1"), ("A", "127.0.0.5"), ("AAAA", "::1"), ("AAAA", "2001:db8::5")],
    "loopback6.test.": [("A", "192.0.2.1"), ("AAAA", "::1")],
    "v4only.test.": [("A", "192.0.2.9")],
    "truncated.test.": [("A", "192.0.2.7")],
    "text-only.test.": [("TXT", "hello")],
    "dangling.test.": [("CNAME", "nowhere.test.")],
    "1.2.0.192.in-addr.arpa.": [("PTR", "www.test.")],
}
HOSTS = (
    "127.0.0.1 localhost\n10.0.0.1 filehost fh\n10.0.0.2 twice t2\nfd00::1 twice six\n10.0.0.3 twice\n"
    "198.51.100.200 four\n198.51.100.9 four\n198.51.100.7 four\n"
)
RESOLV_CONF = "nameserver 127.0.0.1\nsearch test\noptions timeout:1 attempts:1\n"

CANON = socket.AI_CANONNAME
CASES: list[tuple[str, tuple[Any, ...]]] = [
    ("getaddrinfo", ("www.test", 80)),
    ("getaddrinfo", ("www", 80, 0, socket.SOCK_STREAM)),
    ("getaddrinfo", ("alias", 80, socket.AF_INET, socket.SOCK_STREAM, 0, CANON)),
    ("getaddrinfo", ("multi", 80, 0, socket.SOCK_STREAM)),
    ("getaddrinfo", ("loopback6", 80, 0, socket.SOCK_STREAM)),
    ("getaddrinfo", ("multi", 80, socket.AF_INET6, socket.SOCK_STREAM, 0, CANON)),
    ("getaddrinfo", ("v4only", 80, socket.AF_INET6)),
    ("getaddrinfo", ("v4only", 80, socket.AF_INET6, socket.SOCK_STREAM, 0, socket.AI_V4MAPPED)),
    ("getaddrinfo", ("www", 80, socket.AF_INET6, socket.SOCK_STREAM, 0, socket.AI_V4MAPPED | socket.AI_ALL)),
    ("getaddrinfo", ("nothere", 80)),
    ("getaddrinfo", ("truncated", 80, socket.AF_INET, socket.SOCK_STREAM)),
    ("getaddrinfo", ("text-only", 80)),
    ("getaddrinfo", ("text-only", 80, socket.AF_INET)),
    ("getaddrinfo", ("dangling", 80, socket.AF_INET)),
    ("getaddrinfo", ("servfail.test.", 80)),
    ("getaddrinfo", ("refused", 80)),
    ("getaddrinfo", ("filehost", 80, 0, socket.SOCK_STREAM, 0, CANON)),
    ("getaddrinfo", ("fh", 80, 0, socket.SOCK_STREAM, 0, CANON)),
    ("getaddrinfo", ("FileHost", 80, 0, socket.SOCK_STREAM)),
    ("getaddrinfo", ("filehost.", 80, 0, socket.SOCK_STREAM)),
    ("getaddrinfo", ("twice", 80, 0, socket.SOCK_STREAM, 0, CANON)),
    ("getaddrinfo", ("twice", 80, socket.AF_INET, socket.SOCK_STREAM, 0, CANON)),
    ("getaddrinfo", ("twice", 80, socket.AF_INET6, socket.SOCK_STREAM, 0, CANON)),
    ("getaddrinfo", ("filehost", 80, socket.AF_INET6, socket.SOCK_STREAM, 0, socket.AI_V4MAPPED)),
    ("getaddrinfo", ("localhost", 80, 0, socket.SOCK_STREAM)),
    ("getaddrinfo", (None, 80)),
    ("getaddrinfo", (None, 80, 0, 0, 0, socket.AI_PASSIVE)),
    ("gethostbyname", ("alias",)),
    ("gethostbyname_ex", ("alias",)),
    ("gethostbyname_ex", ("twice",)),
    ("gethostbyname_ex", ("fh",)),
    ("gethostbyname_ex", ("nothere",)),
    ("gethostbyname_ex", ("text-only",)),
    ("gethostbyaddr", ("192.0.2.1",)),
    ("gethostbyaddr", ("192.0.2.2",)),
    ("gethostbyaddr", ("10.0.0.1",)),
    ("gethostbyaddr", ("fd00::1",)),
    ("gethostbyaddr", ("servfail.test.",)),
    ("getnameinfo", (("192.0.2.1", 80), 0)),
    ("getnameinfo", (("192.0.2.2", 80), 0)),
    ("getnameinfo", (("192.0.2.2", 80), socket.NI_NAMEREQD)),
    ("getnameinfo", (("10.0.0.1", 53), socket.NI_DGRAM)),
    ("getnameinfo", (("fd00::1", 80, 0, 0), 0)),
    ("getnameinfo", (("fe80::1", 80, 0, 1), 0)),
    # AI_ADDRCONFIG with only loopback addresses: no family counts as configured.
    ("getaddrinfo", ("www.test", 80, 0, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)),
    ("getaddrinfo", ("www.test", 80, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)),
    ("getaddrinfo", ("127.0.0.1", 80, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)),
    ("getaddrinfo", ("www.test", 80, socket.AF_INET6, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)),
]
# Run after an IPv4 address is added to the loopback interface: IPv4 is configured, IPv6 not.
CASES_WITH_IPV4 = [
    ("getaddrinfo", ("www.test", 80, 0, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)),
    ("getaddrinfo", ("www.test", 80, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)),
    ("getaddrinfo", ("www.test", 80, socket.AF_INET6, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)),
    ("getaddrinfo", ("::1", 80, 0, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)),
    ("getaddrinfo", (None, 80, 0, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG | socket.AI_PASSIVE)),
    # RFC 3484 rule 9 for IPv4 without interface details (no IPv6 configured): only an exact match.
    ("getaddrinfo", ("four", 80, socket.AF_INET, socket.SOCK_STREAM)),
]
# Run after an IPv6 address is added too: glibc then uses the interface details (the subnet of
# the source address for rule 9, flags for rules 3 and 4, interfaces for rule 7).
CASES_WITH_IPV6 = [
    ("getaddrinfo", ("four", 80, socket.AF_INET, socket.SOCK_STREAM)),
    ("getaddrinfo", ("four", 80, 0, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)),
    ("getaddrinfo", ("multi", 80, 0, socket.SOCK_STREAM)),
    ("getaddrinfo", ("www.test", 80, 0, socket.SOCK_STREAM)),
]


def outcome(function: Any, *arguments: Any) -> Any:
    try:
        return function(*arguments)
    except OSError as error:
        return type(error).__name__, error.args


def main() -> None:
    directory = Path(tempfile.mkdtemp())
    (directory / "resolv.conf").write_text(RESOLV_CONF)
    (directory / "hosts").write_text(HOSTS)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for name in ("resolv.conf", "hosts"):
        subprocess.run(["mount", "--bind", str(directory / name), f"/etc/{name}"], check=True)
    # The DNS server runs in a child process: some CPythons (3.10) hold the GIL inside the C
    # library's getnameinfo, which would starve a server thread in this process.
    ready_read, ready_write = os.pipe()
    stop_read, stop_write = os.pipe()
    server = os.fork()
    if server == 0:
        os.close(ready_read)
        os.close(stop_write)
        try:
            with DNSServer(RECORDS, port=53):
                os.write(ready_write, b"r")
                os.read(stop_read, 1)  # EOF when the parent is done
        finally:
            os._exit(0)
    os.close(ready_write)
    os.close(stop_read)
    if os.read(ready_read, 1) != b"r":
        sys.exit("the DNS server did not start")
    mismatches = []
    try:
        resolver.configure(resolv_conf="/etc/resolv.conf", hosts="/etc/hosts", port=53)
        for cases in (CASES, CASES_WITH_IPV4, CASES_WITH_IPV6):
            if cases is CASES_WITH_IPV4:
                subprocess.run(["ip", "address", "add", "198.51.100.7/24", "dev", "lo"], check=True)
            if cases is CASES_WITH_IPV6:
                subprocess.run(["ip", "address", "add", "2001:db8:ffff::7/64", "dev", "lo"], check=True)
            for name, arguments in cases:
                expected = outcome(getattr(socket, name), *arguments)
                found = outcome(getattr(resolver, name), *arguments)
                if expected != found:
                    mismatches.append(f"{name}{arguments}:\n  libc:  {expected}\n  green: {found}")
    finally:
        os.close(stop_write)
        os.waitpid(server, 0)
    print("\n".join(mismatches) if mismatches else "pass")
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
