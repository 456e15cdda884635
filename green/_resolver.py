"""Cooperative name resolution: getaddrinfo and friends without blocking the hub.

Why this module exists
----------------------
The C library's resolver (``getaddrinfo``, ``gethostbyname``...) blocks its OS thread while it
waits for a nameserver, which for green threads means the whole hub stops: one slow DNS answer
freezes every connection in the process. This module answers the same questions itself: it reads
``/etc/hosts`` and ``/etc/resolv.conf`` the way glibc does, talks DNS (messages built and parsed by
dnspython) over its own non-blocking sockets, and parks only the calling green thread on
`hub.wait_readable` while the answer is on its way. It uses the *real* stdlib socket module for
that tiny bit of I/O, so it does not depend on green.socket (which imports it).

What it does, in the order glibc does it (``hosts: files dns``)
--------------------------------------------------------------
1. Numeric hosts (``inet_aton`` forms such as ``127.1``, IPv6 with ``%scope``) never leave the
   process, nor does the ``None`` host of getaddrinfo.
2. ``/etc/hosts`` is consulted, and re-read whenever its modification time (or size, inode)
   changes. All lines naming the host are merged (glibc's ``multi on``). A name written with a
   trailing dot does not match hosts entries, as in glibc.
3. ``localhost`` and names under ``.localhost`` not found in the hosts file resolve to
   ``127.0.0.1`` / ``::1`` without asking the network (RFC 6761). glibc would ask DNS here; this is
   the one deliberate difference in the answers.
4. DNS: nameservers (at most three), ``search``/``domain``, ``options ndots: timeout: attempts:
   rotate use-vc`` from ``/etc/resolv.conf`` (re-read when it changes; ``LOCALDOMAIN`` and
   ``RES_OPTIONS`` override it like in glibc). Search order and error precedence follow glibc's
   ``res_search``. Each round (``attempts``) asks each server in turn and waits at most
   ``timeout`` seconds for it; an error answer or an ICMP "unreachable" moves on at once.
   A and AAAA are asked in parallel on one connected UDP socket; a truncated
   answer (TC bit) is asked again over TCP; replies that do not parse or do not match a query are
   ignored (so garbage looks like silence, and ends as a timeout). CNAME chains are followed,
   including a chain the server left unfinished (the target is asked for, at most 8 hops).
5. Several addresses are ordered by RFC 3484 destination address selection with glibc's default
   tables: rules 1 to 9, then the received order. The details of the host's own addresses
   come from the kernel over netlink, as glibc gets them: rules 3 (avoid deprecated source
   addresses) and 4 (prefer home addresses) use the address flags; rule 7 (prefer native
   transport) the link type of the source addresses' interfaces when they differ (IP-in-IP,
   IPv6-in-IPv6 and SIT tunnels are not native); rule 9 for IPv4 the subnet of the source
   address (only destinations inside it count a shared prefix). Like glibc, these details are
   used only when IPv6 is configured (otherwise an IPv4 source counts as a /32).
   ``/etc/gai.conf`` is not read: the default precedence and label tables always apply
   (``GREEN_RESOLVER=system`` where a gai.conf matters).

``AI_ADDRCONFIG`` is honoured as glibc does: the interface addresses are read over netlink at
each call; IPv4 counts as configured when some address other than 127.0.0.1 exists, IPv6 when
some address other than ::1 exists (link-local included). Asking for a family that is not
configured fails with EAI_NONAME (numeric hosts included); with AF_UNSPEC and only one family
configured, only that family is returned. If the kernel cannot be asked, both count as
configured.

Errors are the stdlib's: `socket.gaierror` with libc's EAI_* numbers and messages (EAI_NONAME
for a name that does not exist, EAI_NODATA when it exists without an address of the asked family,
EAI_AGAIN when no server answered in time or all answered with an error (SERVFAIL, REFUSED...),
EAI_FAMILY, EAI_SERVICE, EAI_SOCKTYPE, EAI_BADFLAGS, EAI_ADDRFAMILY) and `socket.herror` from
gethostbyaddr.

Configuration (for tests and unusual systems)
---------------------------------------------
`configure(resolv_conf=..., hosts=..., port=...)` points the resolver at other files and another
nameserver port (resolv.conf has no syntax for a port). Without it, the environment variables
``GREEN_RESOLV_CONF``, ``GREEN_HOSTS`` and ``GREEN_DNS_PORT`` are read at each call, then the
system defaults (``/etc/resolv.conf``, ``/etc/hosts``, port 53).

Opting out
----------
With ``GREEN_RESOLVER=system`` in the environment (read at each call), the five functions run the
stdlib's own on a real OS thread instead; the calling green thread waits, the hub keeps running.
Use it where the C library knows more than the files above (NSS modules such as LDAP or mDNS,
nscd, ``/etc/gai.conf``).
"""

from __future__ import annotations

import errno
import functools
import os
import random
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename

from green import tpool as _tpool
from green._stdlib import original
from green.hubs import get_hub
from green.hubs import monotonic as _monotonic
from green.hubs import wait_until as _wait_until

_socket = original("socket")
_time = original("time")

__all__ = [
    "configure",
    "getaddrinfo",
    "gethostbyaddr",
    "gethostbyname",
    "gethostbyname_ex",
    "getnameinfo",
]

AF_INET: int = _socket.AF_INET
AF_INET6: int = _socket.AF_INET6
AF_UNSPEC: int = _socket.AF_UNSPEC

_EAI_MESSAGES = {
    "EAI_BADFLAGS": "Bad value for ai_flags",
    "EAI_NONAME": "Name or service not known",
    "EAI_AGAIN": "Temporary failure in name resolution",
    "EAI_FAIL": "Non-recoverable failure in name resolution",
    "EAI_FAMILY": "ai_family not supported",
    "EAI_SOCKTYPE": "ai_socktype not supported",
    "EAI_SERVICE": "Servname not supported for ai_socktype",
    "EAI_NODATA": "No address associated with hostname",
    "EAI_ADDRFAMILY": "Address family for hostname not supported",
}
# h_errno values and hstrerror texts, as socket.herror carries them.
_HOST_NOT_FOUND = 1
_TRY_AGAIN = 2
_NO_RECOVERY = 3
_NO_DATA = 4
_HERROR_MESSAGES = {
    _HOST_NOT_FOUND: "Unknown host",
    _TRY_AGAIN: "Host name lookup failure",
    _NO_RECOVERY: "Unknown server error",
    _NO_DATA: "No address associated with name",
}

_MAX_CNAME_HOPS = 8


def _gaierror(name: str) -> OSError:
    number = getattr(_socket, name, None)
    if number is None:  # a platform without this EAI_* code
        number = _socket.EAI_NONAME
        name = "EAI_NONAME"
    return _socket.gaierror(number, _EAI_MESSAGES[name])


def _herror(number: int) -> OSError:
    return _socket.herror(number, _HERROR_MESSAGES[number])


class _LookupFailed(Exception):
    """A name lookup ended without addresses; `kind` is an EAI_* name."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


# -- configuration -------------------------------------------------------------------------------

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


# -- numeric addresses ---------------------------------------------------------------------------


def _parse_ipv4_strict(text: str) -> bytes | None:
    """Dotted quad only (inet_pton)."""
    try:
        return _socket.inet_pton(AF_INET, text)
    except (OSError, ValueError, UnicodeError):
        return None


def _parse_ipv4(text: str) -> bytes | None:
    """Every form inet_aton accepts (``127.1``, ``0x7f.1``, ``2130706433``), nothing trailing."""
    if not text or not text.isascii() or any(character.isspace() for character in text):
        return None
    try:
        return _socket.inet_aton(text)
    except (OSError, ValueError):
        return None


def _parse_ipv6_plain(text: str) -> bytes | None:
    try:
        return _socket.inet_pton(AF_INET6, text)
    except (OSError, ValueError, UnicodeError):
        return None


def _is_link_local(packed: bytes) -> bool:
    """fe80::/10 or a node- or link-local multicast address: the scopes named by interface."""
    return (packed[0] == 0xFE and packed[1] & 0xC0 == 0x80) or (
        packed[0] == 0xFF and packed[1] & 0x0F in (1, 2)
    )


def _parse_ipv6(text: str) -> tuple[bytes, int] | None:
    """An IPv6 address with an optional ``%scope`` (interface name or number) -> (packed, scope)."""
    address, percent, scope_text = text.partition("%")
    packed = _parse_ipv6_plain(address)
    if packed is None:
        return None
    if not percent:
        return packed, 0
    if _is_link_local(packed):
        try:
            return packed, _socket.if_nametoindex(scope_text)
        except (OSError, ValueError):
            pass
    if scope_text.isdigit() and scope_text.isascii() and int(scope_text) <= 0xFFFFFFFF:
        return packed, int(scope_text)
    return None


def _ntop(family: int, packed: bytes) -> str:
    return str(_socket.inet_ntop(family, packed))


_MAPPED_PREFIX = b"\0" * 10 + b"\xff\xff"


def _mapped(packed_ipv4: bytes) -> bytes:
    return _MAPPED_PREFIX + packed_ipv4


# -- services ------------------------------------------------------------------------------------

# (socket type, protocol, protocol name, returned when neither type nor protocol is asked for)
_TYPE_PROTOCOLS: list[tuple[int, int, str, bool]] = [
    (_socket.SOCK_STREAM, _socket.IPPROTO_TCP, "tcp", True),
    (_socket.SOCK_DGRAM, _socket.IPPROTO_UDP, "udp", True),
]
if hasattr(_socket, "IPPROTO_UDPLITE"):
    _TYPE_PROTOCOLS.append((_socket.SOCK_DGRAM, _socket.IPPROTO_UDPLITE, "udplite", False))
if hasattr(_socket, "IPPROTO_SCTP"):
    _TYPE_PROTOCOLS.append((_socket.SOCK_STREAM, _socket.IPPROTO_SCTP, "sctp", False))
    _TYPE_PROTOCOLS.append((_socket.SOCK_SEQPACKET, _socket.IPPROTO_SCTP, "sctp", False))
_RAW = (_socket.SOCK_RAW, 0, "raw", True)  # any protocol, never a service

_NUMBER = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)\Z")


def _strtoul_as_int(text: str) -> int | None:
    """What glibc's ``(int) strtoul(text, &end, 10)`` gives when it consumes all of `text`."""
    match = _NUMBER.match(text)
    if match is None:
        return None
    value = int(match.group(2))
    if value > 0xFFFFFFFFFFFFFFFF:
        value = 0xFFFFFFFFFFFFFFFF
    elif match.group(1) == "-":
        value = -value & 0xFFFFFFFFFFFFFFFF
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value >= 0x80000000 else value


def _matches(entry: tuple[int, int, str, bool], socktype: int, proto: int) -> bool:
    entry_type, entry_proto, name, _default = entry
    if socktype and socktype != entry_type:
        return False
    return not proto or entry is _RAW or proto == entry_proto


def _services(service: str | None, socktype: int, proto: int, flags: int) -> list[tuple[int, int, int]]:
    """The (socket type, protocol, port) triples getaddrinfo returns for each address."""
    number: int | None = None
    if service is not None:
        number = _strtoul_as_int(service)
        if number is None:
            if flags & _socket.AI_NUMERICSERV:
                raise _gaierror("EAI_NONAME")
            number = -1
    table = [*_TYPE_PROTOCOLS, _RAW]
    chosen: tuple[int, int, str, bool] | None = None
    if socktype or proto:
        for entry in table:
            if _matches(entry, socktype, proto):
                chosen = entry
                break
        else:
            raise _gaierror("EAI_SOCKTYPE" if socktype else "EAI_SERVICE")
    if service is not None and chosen is _RAW:
        raise _gaierror("EAI_SERVICE")
    if number is not None and number < 0:
        assert service is not None
        found = []
        candidates = [chosen] if chosen is not None else [entry for entry in table if entry is not _RAW]
        for entry in candidates:
            assert entry is not None
            try:
                port = _socket.getservbyname(service, entry[2])
            except OSError:
                continue
            found.append((entry[0], entry[1], port))
        if not found:
            raise _gaierror("EAI_SERVICE")
        return found
    port = (number or 0) & 0xFFFF
    if chosen is not None:
        return [(chosen[0], proto if chosen is _RAW else chosen[1], port)]
    return [(entry[0], entry[1], port) for entry in table if entry[3]]


# -- interface addresses (netlink) ---------------------------------------------------------------

_RTM_NEWLINK = 16
_RTM_GETLINK = 18
_RTM_NEWADDR = 20
_RTM_GETADDR = 22
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_IFA_ADDRESS = 1
_IFA_LOCAL = 2
_IFA_F_OPTIMISTIC = 0x04
_IFA_F_HOMEADDRESS = 0x10
_IFA_F_DEPRECATED = 0x20
# Link types glibc counts as tunnels for rule 7: ARPHRD_TUNNEL, ARPHRD_TUNNEL6, ARPHRD_SIT.
_TUNNEL_LINK_TYPES = frozenset({768, 769, 776})
_LOOPBACK4 = bytes([127, 0, 0, 1])
_LOOPBACK6 = bytes(15) + b"\1"


@dataclass
class _InterfaceAddress:
    family: int
    packed: bytes
    deprecated: bool  # IFA_F_DEPRECATED or IFA_F_OPTIMISTIC, as glibc counts it for rule 3
    home: bool  # IFA_F_HOMEADDRESS (Mobile IPv6), rule 4
    index: int = 0  # the interface's index
    prefix_length: int = 0  # of the address's subnet (rule 9 for IPv4)


def _split_dump(data: bytes, sequence: int, messages: list[tuple[int, bytes]]) -> bool:
    """Add the (type, payload) messages of one netlink reply to `messages`; True at its end."""
    offset = 0
    while offset + 16 <= len(data):
        length = int.from_bytes(data[offset : offset + 4], sys.byteorder)
        kind = int.from_bytes(data[offset + 4 : offset + 6], sys.byteorder)
        number = int.from_bytes(data[offset + 8 : offset + 12], sys.byteorder)
        if length < 16 or offset + length > len(data):
            raise OSError("malformed netlink reply")
        payload = data[offset + 16 : offset + length]
        offset += (length + 3) & ~3
        if number != sequence:
            continue
        if kind == _NLMSG_DONE:
            return True
        if kind == _NLMSG_ERROR:
            raise OSError("netlink refused the dump")
        messages.append((kind, payload))
    return False


def _netlink_dump(request: int) -> list[tuple[int, bytes]] | None:
    """The messages answering one NETLINK_ROUTE dump request (RTM_GETADDR, RTM_GETLINK), or None
    when the kernel cannot be asked. A local request answered at once: no hub wait."""
    netlink = getattr(_socket, "AF_NETLINK", None)
    if netlink is None:
        return None
    try:
        sock = _socket.socket(netlink, _socket.SOCK_RAW | getattr(_socket, "SOCK_CLOEXEC", 0), 0)
    except OSError:
        return None
    messages: list[tuple[int, bytes]] = []
    try:
        sock.settimeout(1.0)
        sock.bind((0, 0))
        sequence = _random.getrandbits(31) or 1
        body = bytes([AF_UNSPEC]) + bytes(15 if request == _RTM_GETLINK else 3)  # ifinfomsg / rtgenmsg
        header = (
            (16 + len(body)).to_bytes(4, sys.byteorder)
            + request.to_bytes(2, sys.byteorder)
            + (_NLM_F_REQUEST | _NLM_F_DUMP).to_bytes(2, sys.byteorder)
            + sequence.to_bytes(4, sys.byteorder)
            + bytes(4)
        )
        sock.sendto(header + body, (0, 0))
        while not _split_dump(sock.recv(65536), sequence, messages):
            pass
    except OSError:  # including the timeout: nothing usable
        return None
    finally:
        sock.close()
    return messages


def _address_entry(message: bytes) -> _InterfaceAddress | None:
    """One RTM_NEWADDR payload (ifaddrmsg and attributes) as an address, if IPv4 or IPv6."""
    if len(message) < 8:
        return None
    family, flags = message[0], message[2]
    if family not in (AF_INET, AF_INET6):
        return None
    address = local = None
    position = 8
    while position + 4 <= len(message):
        attribute_length = int.from_bytes(message[position : position + 2], sys.byteorder)
        attribute = int.from_bytes(message[position + 2 : position + 4], sys.byteorder)
        if attribute_length < 4:
            break
        value = message[position + 4 : position + attribute_length]
        if attribute == _IFA_ADDRESS:
            address = value
        elif attribute == _IFA_LOCAL:
            local = value
        position += (attribute_length + 3) & ~3
    packed = address if address is not None else local
    if packed is None or len(packed) != (4 if family == AF_INET else 16):
        return None
    return _InterfaceAddress(
        family,
        bytes(packed),
        bool(flags & (_IFA_F_DEPRECATED | _IFA_F_OPTIMISTIC)),
        bool(flags & _IFA_F_HOMEADDRESS),
        int.from_bytes(message[4:8], sys.byteorder),
        message[1],
    )


def _interface_addresses() -> list[_InterfaceAddress] | None:
    """Every IPv4 and IPv6 address of this host's interfaces, or None if the kernel cannot say."""
    messages = _netlink_dump(_RTM_GETADDR)
    if messages is None:
        return None
    entries = (_address_entry(payload) for kind, payload in messages if kind == _RTM_NEWADDR)
    return [entry for entry in entries if entry is not None]


def _link_types() -> dict[int, int]:
    """Interface index -> link type (ARPHRD_*), empty if the kernel cannot say."""
    types = {}
    for kind, payload in _netlink_dump(_RTM_GETLINK) or []:
        if kind == _RTM_NEWLINK and len(payload) >= 8:
            index = int.from_bytes(payload[4:8], sys.byteorder, signed=True)
            types[index] = int.from_bytes(payload[2:4], sys.byteorder)
    return types


def _configured_families() -> tuple[bool, bool]:
    """(IPv4 configured, IPv6 configured) in AI_ADDRCONFIG's sense (see the module's essay)."""
    addresses = _interface_addresses()
    if addresses is None:
        return True, True
    ipv4 = any(entry.family == AF_INET and entry.packed != _LOOPBACK4 for entry in addresses)
    ipv6 = any(entry.family == AF_INET6 and entry.packed != _LOOPBACK6 for entry in addresses)
    return ipv4, ipv6


# -- RFC 3484 destination ordering ---------------------------------------------------------------

_PRECEDENCE = [  # (prefix, length, value) of glibc's default table, longest prefixes first
    (_socket.inet_pton(AF_INET6, "::1"), 128, 50),
    (_socket.inet_pton(AF_INET6, "::"), 96, 20),
    (_socket.inet_pton(AF_INET6, "::ffff:0:0"), 96, 10),
    (_socket.inet_pton(AF_INET6, "2002::"), 16, 30),
    (_socket.inet_pton(AF_INET6, "::"), 0, 40),
]
_LABELS = [
    (_socket.inet_pton(AF_INET6, "::1"), 128, 0),
    (_socket.inet_pton(AF_INET6, "::"), 96, 3),
    (_socket.inet_pton(AF_INET6, "::ffff:0:0"), 96, 4),
    (_socket.inet_pton(AF_INET6, "2001::"), 32, 7),
    (_socket.inet_pton(AF_INET6, "2002::"), 16, 2),
    (_socket.inet_pton(AF_INET6, "fec0::"), 10, 5),
    (_socket.inet_pton(AF_INET6, "fc00::"), 7, 6),
    (_socket.inet_pton(AF_INET6, "::"), 0, 1),
]


def _table_lookup(table: list[tuple[bytes, int, int]], packed6: bytes) -> int:
    value = int.from_bytes(packed6, "big")
    for prefix, length, result in table:
        shift = 128 - length
        if value >> shift == int.from_bytes(prefix, "big") >> shift:
            return result
    return 0


def _scope(family: int, packed: bytes) -> int:
    if family == AF_INET:
        if packed[0] == 127 or packed[:2] == b"\xa9\xfe":
            return 2
        return 14
    if packed[0] == 0xFF:
        return packed[1] & 0x0F
    if (packed[0] == 0xFE and packed[1] & 0xC0 == 0x80) or packed == b"\0" * 15 + b"\1":
        return 2
    if packed[0] == 0xFE and packed[1] & 0xC0 == 0xC0:
        return 5
    return 14


def _as_ipv6(family: int, packed: bytes) -> bytes:
    return _mapped(packed) if family == AF_INET else packed


def _source_address(family: int, packed: bytes, scope_id: int) -> bytes | None:
    """The local address the kernel would send from (a UDP connect sends nothing), or None."""
    try:
        probe = _socket.socket(family, _socket.SOCK_DGRAM)
    except OSError:
        return None
    try:
        if family == AF_INET:
            probe.connect((_ntop(family, packed), 9))
        else:
            probe.connect((_ntop(family, packed), 9, 0, scope_id))
        return _socket.inet_pton(family, probe.getsockname()[0].partition("%")[0])
    except OSError:
        return None
    finally:
        probe.close()


@dataclass
class _Destination:
    index: int
    family: int
    packed: bytes
    source: bytes | None  # None: no route, the destination is unusable (rule 1)
    scope: int
    source_scope: int
    label: int
    source_label: int
    precedence: int
    source_deprecated: bool = False
    source_home: bool = False
    source_index: int = -1  # interface of the source address, -1 if unknown
    source_prefix_length: int = 0  # of the source address's subnet, 0 if unknown
    native: bool = False  # that interface is not a tunnel (rule 7; filled in only when it matters)


def _destination(
    index: int, family: int, packed: bytes, scope_id: int, interfaces: list[_InterfaceAddress]
) -> _Destination:
    source = _source_address(family, packed, scope_id)
    destination6 = _as_ipv6(family, packed)
    source6 = _as_ipv6(family, source) if source is not None else None
    # Any 127/8 source is found as 127.0.0.1, the loopback interface's address (as glibc does).
    key = _LOOPBACK4 if family == AF_INET and source is not None and source[0] == 127 else source
    flags = next((entry for entry in interfaces if entry.family == family and entry.packed == key), None)
    return _Destination(
        index,
        family,
        packed,
        source,
        _scope(family, packed),
        _scope(family, source) if source is not None else 15,
        _table_lookup(_LABELS, destination6),
        _table_lookup(_LABELS, source6) if source6 is not None else -1,
        _table_lookup(_PRECEDENCE, destination6),
        flags is not None and flags.deprecated,
        flags is not None and flags.home,
        flags.index if flags is not None else -1,
        flags.prefix_length if flags is not None else 0,
    )


def _common_prefix(destination: _Destination, other: _Destination) -> tuple[int, int]:
    """Rule 9 for two IPv6 destinations: leading equal bits in the first 32-bit word where
    either differs from its source."""
    assert destination.source is not None and other.source is not None
    for start in range(0, 16, 4):
        first = destination.packed[start : start + 4], destination.source[start : start + 4]
        second = other.packed[start : start + 4], other.source[start : start + 4]
        if first[0] != first[1] or second[0] != second[1]:
            return (
                32 - (int.from_bytes(first[0], "big") ^ int.from_bytes(first[1], "big")).bit_length(),
                32 - (int.from_bytes(second[0], "big") ^ int.from_bytes(second[1], "big")).bit_length(),
            )
    return 0, 0


def _ipv4_prefix(destination: _Destination) -> int:
    """Rule 9 for an IPv4 destination, as glibc has it: the leading bits it shares with its source
    when both lie in the source's subnet, else 0. A source of unknown subnet counts as a /32
    (what glibc's shift by 32 gives on the machines it runs on)."""
    assert destination.source is not None
    length = destination.source_prefix_length
    mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF if length else 0xFFFFFFFF
    target = int.from_bytes(destination.packed, "big")
    source = int.from_bytes(destination.source, "big")
    if target & mask != source & mask:
        return 0
    return 32 - (target ^ source).bit_length()


def _compare(first: _Destination, second: _Destination) -> int:
    """-1 when `first` should be tried before `second` (RFC 3484 as glibc applies it)."""
    if (first.source is None) != (second.source is None):  # rule 1: usable first
        return 1 if first.source is None else -1
    usable = first.source is not None
    if usable:
        first_match = first.scope == first.source_scope  # rule 2: matching scope
        second_match = second.scope == second.source_scope
        if first_match != second_match:
            return -1 if first_match else 1
        if first.source_deprecated != second.source_deprecated:  # rule 3: avoid deprecated
            return 1 if first.source_deprecated else -1
        if first.source_home != second.source_home:  # rule 4: prefer home addresses
            return -1 if first.source_home else 1
        first_match = first.label == first.source_label  # rule 5: matching label
        second_match = second.label == second.source_label
        if first_match != second_match:
            return -1 if first_match else 1
    if first.precedence != second.precedence:  # rule 6: higher precedence
        return -1 if first.precedence > second.precedence else 1
    # Rule 7: native transport (not a tunnel interface) first, between different interfaces.
    if usable and first.source_index != second.source_index and first.native != second.native:
        return -1 if first.native else 1
    if first.scope != second.scope:  # rule 8: smaller scope
        return -1 if first.scope < second.scope else 1
    if usable and first.family == second.family:  # rule 9: longest matching prefix
        if first.family == AF_INET6:
            first_bits, second_bits = _common_prefix(first, second)
        else:
            first_bits, second_bits = _ipv4_prefix(first), _ipv4_prefix(second)
        if first_bits != second_bits:
            return -1 if first_bits > second_bits else 1
    return -1 if first.index < second.index else 1  # rule 10: as received


def _sort_addresses(addresses: list[tuple[int, bytes, int]]) -> list[tuple[int, bytes, int]]:
    if len(addresses) < 2:
        return addresses
    interfaces = _interface_addresses() or []
    if not any(entry.family == AF_INET6 and entry.packed != _LOOPBACK6 for entry in interfaces):
        interfaces = []  # glibc keeps the address flags only when IPv6 is configured
    destinations = [_destination(index, *address, interfaces) for index, address in enumerate(addresses)]
    if len({entry.source_index for entry in destinations if entry.source is not None}) > 1:
        types = _link_types()
        for entry in destinations:
            link_type = types.get(entry.source_index)
            entry.native = link_type is not None and link_type not in _TUNNEL_LINK_TYPES
    destinations.sort(key=functools.cmp_to_key(_compare))
    return [addresses[destination.index] for destination in destinations]


# -- DNS exchange --------------------------------------------------------------------------------

_random = random.Random()
_TC = 0x0200


def _new_id(taken: set[int]) -> int:
    while True:
        query_id = _random.getrandbits(16)
        if query_id not in taken:
            taken.add(query_id)
            return query_id


def _socket_address(server: str, port: int) -> tuple[int, tuple[Any, ...]]:
    if ":" in server:
        parsed = _parse_ipv6(server)
        scope = parsed[1] if parsed else 0
        return AF_INET6, (server.partition("%")[0], port, 0, scope)
    return AF_INET, (server, port)


def _close(sock: Any) -> None:
    get_hub().notify_closing(sock.fileno())
    sock.close()


def _udp_exchange(
    server: str, port: int, queries: dict[int, dns.message.Message], timeout: float
) -> tuple[dict[int, dns.message.Message], set[int]]:
    """Send every query to `server` at once; collect answers until all came or `timeout` passed.

    Returns (answers by query key, keys whose answer was truncated). Replies that do not parse
    or match no query are ignored. An unreachable server (ICMP) ends the exchange early.
    """
    family, address = _socket_address(server, port)
    answers: dict[int, dns.message.Message] = {}
    truncated: set[int] = set()
    by_id = {query.id: key for key, query in queries.items()}
    sock = _socket.socket(family, _socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect(address)
        for query in queries.values():
            sock.send(query.to_wire())
        deadline = _monotonic() + timeout
        while len(answers) + len(truncated) < len(queries):
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                if not _wait_until(sock.fileno(), False, deadline):
                    break
                continue
            except OSError:  # ICMP port/host unreachable: this server is not there
                break
            if len(data) < 12:
                continue
            key = by_id.get(int.from_bytes(data[:2], "big"))
            if key is None or key in answers or key in truncated:
                continue
            if data[2] & 0x80 and int.from_bytes(data[2:4], "big") & _TC:
                truncated.add(key)
                continue
            try:
                response = dns.message.from_wire(data, ignore_trailing=True)
            except Exception:  # dnspython raises many types for malformed input
                continue
            if queries[key].is_response(response):
                answers[key] = response
    except OSError:
        pass
    finally:
        _close(sock)
    return answers, truncated


def _receive_exactly(sock: Any, size: int, deadline: float) -> bytes | None:
    chunks = []
    while size:
        try:
            chunk = sock.recv(size)
        except BlockingIOError:
            if not _wait_until(sock.fileno(), False, deadline):
                return None
            continue
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _tcp_exchange(
    server: str, port: int, query: dns.message.Message, timeout: float
) -> dns.message.Message | None:
    """One query over TCP (two-byte length prefix); None on any failure or timeout."""
    family, address = _socket_address(server, port)
    deadline = _monotonic() + timeout
    sock = _socket.socket(family, _socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        error = sock.connect_ex(address)
        if error:
            if error not in (errno.EINPROGRESS, errno.EAGAIN):
                return None
            if not _wait_until(sock.fileno(), True, deadline):
                return None
            if sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR):
                return None
        wire = query.to_wire()
        data = len(wire).to_bytes(2, "big") + wire
        while data:
            try:
                data = data[sock.send(data) :]
            except BlockingIOError:
                if not _wait_until(sock.fileno(), True, deadline):
                    return None
        header = _receive_exactly(sock, 2, deadline)
        if header is None:
            return None
        body = _receive_exactly(sock, int.from_bytes(header, "big"), deadline)
        if body is None:
            return None
        try:
            response = dns.message.from_wire(body)
        except Exception:  # malformed answer
            return None
        return response if query.is_response(response) else None
    except OSError:
        return None
    finally:
        _close(sock)


# Outcome of one question, also used as the precedence of outcomes within one search candidate.
_FOUND = "found"
_TIMEOUT = "timeout"
_NODATA = "nodata"
_SERVFAIL = "servfail"
_NXDOMAIN = "nxdomain"

_RETRY_NEXT_SERVER = {dns.rcode.SERVFAIL, dns.rcode.REFUSED, dns.rcode.NOTIMP}


def _ask(
    qname: dns.name.Name, rdtypes: list[int], config: _ResolvConf
) -> dict[int, dns.message.Message | None]:
    """Ask every server, round by round, until each rdtype has a usable answer.

    A SERVFAIL/REFUSED/NOTIMP answer moves on to the next server but is kept in case no better
    one comes. None for an rdtype means no server answered in time.
    """
    port = _nameserver_port()
    taken: set[int] = set()
    pending: dict[int, dns.message.Message] = {
        rdtype: dns.message.make_query(qname, dns.rdatatype.RdataType.make(rdtype), id=_new_id(taken))
        for rdtype in rdtypes
    }
    results: dict[int, dns.message.Message | None] = dict.fromkeys(rdtypes)
    servers = list(config.nameservers)
    if config.rotate and len(servers) > 1:
        shift = _random.randrange(len(servers))
        servers = servers[shift:] + servers[:shift]
    for _attempt in range(config.attempts):
        for server in servers:
            if not pending:
                return results
            if config.use_tcp:
                answers: dict[int, dns.message.Message] = {}
                truncated = set(pending)
            else:
                answers, truncated = _udp_exchange(server, port, pending, config.timeout)
            for rdtype in truncated:
                response = _tcp_exchange(server, port, pending[rdtype], config.timeout)
                if response is not None:
                    answers[rdtype] = response
            for rdtype, response in answers.items():
                results[rdtype] = response
                if response.rcode() not in _RETRY_NEXT_SERVER:
                    del pending[rdtype]
    return results


def _follow_chain(
    response: dns.message.Message, qname: dns.name.Name, rdtype: int
) -> tuple[dns.name.Name, list[dns.name.Name], list[Any]]:
    """(canonical name, alias names passed on the way, records of `rdtype` at the end)."""
    name = qname
    aliases: list[dns.name.Name] = []
    for _hop in range(_MAX_CNAME_HOPS * 2):
        records = [
            rrset
            for rrset in response.answer
            if rrset.name == name and rrset.rdtype == rdtype and rrset.rdclass == dns.rdataclass.IN
        ]
        if records:
            return name, aliases, [record for rrset in records for record in rrset]
        cnames = [
            rrset for rrset in response.answer if rrset.name == name and rrset.rdtype == dns.rdatatype.CNAME
        ]
        if not cnames:
            break
        aliases.append(name)
        name = cnames[0][0].target
    return name, aliases, []


@dataclass
class _Answer:
    outcome: str
    canonical: dns.name.Name | None = None
    aliases: list[dns.name.Name] = field(default_factory=list)
    records: dict[int, list[Any]] = field(default_factory=dict)


def _classify(response: dns.message.Message | None) -> str:
    if response is None:
        return _TIMEOUT
    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return _NXDOMAIN
    if rcode == dns.rcode.NOERROR:
        return _NODATA
    return _SERVFAIL  # SERVFAIL, REFUSED, NOTIMP, FORMERR...: glibc says "try again" for all


def _resolve_rdtype(
    qname: dns.name.Name, rdtype: int, response: dns.message.Message | None, config: _ResolvConf
) -> tuple[str, dns.name.Name | None, list[dns.name.Name], list[Any]]:
    """(outcome, canonical name, aliases, records) for one rdtype, finishing a CNAME chain.

    A recursive server answers with the whole chain; when it stops in the middle (the target
    lies elsewhere), the target is asked for here, at most _MAX_CNAME_HOPS times.
    """
    outcome = _classify(response)
    if response is None or outcome != _NODATA:
        return outcome, None, [], []
    canonical, aliases, records = _follow_chain(response, qname, rdtype)
    start = qname
    hops = 0
    while not records and canonical != start and hops < _MAX_CNAME_HOPS:
        hops += 1
        start = canonical
        response = _ask(canonical, [rdtype], config)[rdtype]
        outcome = _classify(response)
        if response is None or outcome != _NODATA:
            # The alias exists; a missing target makes it a name without data.
            return (_NODATA if outcome == _NXDOMAIN else outcome), canonical, aliases, []
        canonical, more_aliases, records = _follow_chain(response, start, rdtype)
        aliases = aliases + more_aliases
    return (_FOUND if records else _NODATA), canonical, aliases, records


def _query_name(qname: dns.name.Name, rdtypes: list[int], config: _ResolvConf) -> _Answer:
    """Ask for `rdtypes` of one fully qualified name; the outcome is the best of theirs."""
    answer = _Answer(_NXDOMAIN)
    outcomes = []
    responses = _ask(qname, rdtypes, config)
    for rdtype in rdtypes:
        outcome, canonical, aliases, records = _resolve_rdtype(qname, rdtype, responses[rdtype], config)
        outcomes.append(outcome)
        if records:
            answer.records[rdtype] = records
        # The canonical name comes from the first rdtype that found records, else the first chain.
        if canonical is not None and (answer.canonical is None or (records and len(answer.records) == 1)):
            answer.canonical, answer.aliases = canonical, aliases
    for outcome in (_FOUND, _TIMEOUT, _NODATA, _SERVFAIL):
        if outcome in outcomes:
            answer.outcome = outcome
            break
    return answer


def _search_names(name: str, config: _ResolvConf) -> list[dns.name.Name]:
    """The fully qualified names res_search tries for `name`, in order."""
    try:
        if name.endswith("."):
            return [dns.name.from_text(name)]
        dots = name.count(".")
        candidates = []
        if dots >= config.ndots:
            candidates.append(name)
        candidates.extend(f"{name}.{domain}" for domain in config.search)
        if dots < config.ndots:
            candidates.append(name)
        return [dns.name.from_text(candidate) for candidate in dict.fromkeys(candidates)]
    except (dns.exception.DNSException, ValueError):
        return []


def _dns_lookup(name: str, rdtypes: list[int]) -> _Answer:
    """Search for `name` like res_search; raises _LookupFailed with the EAI_* name on failure."""
    config = _resolv_conf()
    got_nodata = got_servfail = False
    for qname in _search_names(name, config):
        answer = _query_name(qname, rdtypes, config)
        if answer.outcome == _FOUND:
            return answer
        if answer.outcome == _TIMEOUT:
            raise _LookupFailed("EAI_AGAIN")
        if answer.outcome == _NODATA:
            got_nodata = True
        elif answer.outcome == _SERVFAIL:
            got_servfail = True
    if got_nodata:
        raise _LookupFailed("EAI_NODATA")
    if got_servfail:
        raise _LookupFailed("EAI_AGAIN")
    raise _LookupFailed("EAI_NONAME")


def _text(name: dns.name.Name) -> str:
    return str(name.to_text(omit_final_dot=True))


# -- forward lookups -----------------------------------------------------------------------------


@dataclass
class _HostResult:
    canonical: str
    aliases: list[str]
    addresses: list[tuple[int, bytes, int]]  # (family, packed address, IPv6 scope id)


def _is_localhost(name: str) -> bool:
    lowered = name.lower()
    return lowered == "localhost" or lowered.endswith(".localhost")


def _lookup_hosts_file(name: str, families: tuple[int, ...]) -> _HostResult | None:
    entries = _hosts().by_name.get(name.lower())
    if not entries:
        return None
    addresses = [(entry.family, entry.packed, 0) for entry in entries if entry.family in families]
    if not addresses:
        return None
    first = next(entry for entry in entries if entry.family in families)
    aliases: list[str] = []
    for entry in entries:
        if entry.family in families:
            aliases.extend(alias for alias in entry.names if alias != first.names[0] and alias not in aliases)
    return _HostResult(first.names[0], aliases, addresses)


def _lookup_name(name: str, family: int, flags: int) -> _HostResult:
    """Addresses for a host name (not numeric): hosts file, localhost, then DNS."""
    wanted = (AF_INET, AF_INET6) if family == AF_UNSPEC else (family,)
    v4_mapped = family == AF_INET6 and bool(flags & _socket.AI_V4MAPPED)
    also_all = v4_mapped and bool(flags & _socket.AI_ALL)
    found = _lookup_hosts_file(name, wanted)
    if v4_mapped and (found is None or also_all):
        mapped = _lookup_hosts_file(name, (AF_INET,))
        if mapped is not None:
            mapped.addresses = [(AF_INET6, _mapped(packed), 0) for _, packed, _ in mapped.addresses]
            if found is None:
                found = mapped
            else:
                found.addresses.extend(mapped.addresses)
    if found is not None:
        return found
    if _is_localhost(name):
        addresses = []
        if AF_INET6 in wanted:
            addresses.append((AF_INET6, _socket.inet_pton(AF_INET6, "::1"), 0))
        if AF_INET in wanted:
            addresses.append((AF_INET, _socket.inet_pton(AF_INET, "127.0.0.1"), 0))
        return _HostResult(name, [], addresses)
    rdtypes: list[int] = []
    if AF_INET in wanted or v4_mapped:
        rdtypes.append(dns.rdatatype.A)
    if AF_INET6 in wanted:
        rdtypes.append(dns.rdatatype.AAAA)
    answer = _dns_lookup(name, rdtypes)
    addresses = []
    for rdtype in rdtypes:
        for record in answer.records.get(rdtype, []):
            if rdtype == dns.rdatatype.AAAA:
                addresses.append((AF_INET6, _socket.inet_pton(AF_INET6, record.address), 0))
            elif family != AF_INET6:
                addresses.append((AF_INET, _socket.inet_pton(AF_INET, record.address), 0))
    if v4_mapped and (also_all or not addresses):
        for record in answer.records.get(dns.rdatatype.A, []):
            addresses.append((AF_INET6, _mapped(_socket.inet_pton(AF_INET, record.address)), 0))
    if not addresses:
        raise _LookupFailed("EAI_NODATA")
    canonical = _text(answer.canonical) if answer.canonical is not None else name
    return _HostResult(canonical, [_text(alias) for alias in answer.aliases], addresses)


def _numeric(host: str, family: int, flags: int) -> tuple[int, bytes, int] | None:
    """A numeric host as (family, packed, scope id); None if `host` is not numeric.

    Raises gaierror(EAI_ADDRFAMILY) when it is numeric but of the other family.
    """
    packed = _parse_ipv4(host)
    if packed is not None:
        if family == AF_INET6:
            if flags & _socket.AI_V4MAPPED:
                return AF_INET6, _mapped(packed), 0
            raise _gaierror("EAI_ADDRFAMILY")
        return AF_INET, packed, 0
    packed = _parse_ipv6_plain(host.partition("%")[0])
    if packed is None:
        return None
    if family == AF_INET:
        if packed[:12] == _MAPPED_PREFIX:  # an IPv4-mapped address asked for as IPv4
            return AF_INET, packed[12:], 0
        raise _gaierror("EAI_ADDRFAMILY")
    parsed = _parse_ipv6(host)  # None when the scope names no interface
    return None if parsed is None else (AF_INET6, parsed[0], parsed[1])


# glibc accepts the eleven low bits: AI_PASSIVE, AI_CANONNAME, AI_NUMERICHOST, AI_V4MAPPED, AI_ALL,
# AI_ADDRCONFIG, the four IDN flags and AI_NUMERICSERV; anything else is EAI_BADFLAGS.
_ALLOWED_FLAGS = 0x7FF


def _host_text(host: Any, function: str) -> str | None:
    """The host argument as CPython hands it to libc: IDNA-encoded str, or bytes as they are."""
    if host is None and function == "getaddrinfo":
        return None
    if isinstance(host, str):
        host = host.encode("idna")
    elif isinstance(host, (bytes, bytearray)):
        host = bytes(host)
    elif function == "getaddrinfo":
        raise TypeError("getaddrinfo() argument 1 must be string or None")
    else:
        kind = "None" if host is None else type(host).__name__
        raise TypeError(f"{function}() argument 1 must be str, bytes or bytearray, not {kind}")
    if b"\0" in host:
        raise ValueError("embedded null character")
    return str(host.decode("latin-1"))


def _name_text(host: Any, function: str) -> str:
    name = _host_text(host, function)
    assert name is not None
    return name


def _port_text(port: Any) -> str | None:
    if port is None:
        return None
    if isinstance(port, int):
        # Up to 3.11 the port went through a C long; 3.12 formats any int as a service string.
        if sys.version_info < (3, 12) and not -(2**63) <= port < 2**63:
            raise OverflowError("Python int too large to convert to C long")
        text = str(int(port))
    elif isinstance(port, str):
        text = port
    elif isinstance(port, bytes):
        text = port.decode("latin-1")
    else:
        raise OSError("Int or String expected")
    return text


def _getaddrinfo(
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list[tuple[Any, Any, int, str, tuple[Any, ...]]]:
    hostname = _host_text(host, "getaddrinfo")
    service = _port_text(port)
    family, type, proto, flags = int(family), int(type), int(proto), int(flags)
    if hostname is None and service is None:
        raise _gaierror("EAI_NONAME")
    if flags & ~_ALLOWED_FLAGS or (flags & _socket.AI_CANONNAME and hostname is None):
        raise _gaierror("EAI_BADFLAGS")
    if family not in (AF_UNSPEC, AF_INET, AF_INET6):
        raise _gaierror("EAI_FAMILY")
    if flags & _socket.AI_ADDRCONFIG:
        ipv4, ipv6 = _configured_families()
        if family == AF_UNSPEC:
            if ipv4 != ipv6 and (ipv4 or ipv6):
                family = AF_INET if ipv4 else AF_INET6
        elif (family == AF_INET and not ipv4) or (family == AF_INET6 and not ipv6):
            raise _gaierror("EAI_NONAME")
    service = service or None  # an empty service counts as none after the check above
    if service is not None and _strtoul_as_int(service) is None and flags & _socket.AI_NUMERICSERV:
        raise _gaierror("EAI_NONAME")
    services = _services(service, type, proto, flags)
    canonical = ""
    if hostname is None:
        if flags & _socket.AI_PASSIVE:
            candidates = [(AF_INET6, bytes(16), 0), (AF_INET, bytes(4), 0)]
        else:
            candidates = [
                (AF_INET6, _socket.inet_pton(AF_INET6, "::1"), 0),
                (AF_INET, _socket.inet_pton(AF_INET, "127.0.0.1"), 0),
            ]
        addresses = [candidate for candidate in candidates if family in (AF_UNSPEC, candidate[0])]
    else:
        numeric = _numeric(hostname, family, flags)
        if numeric is not None:
            addresses = [numeric]
            canonical = hostname
        elif flags & _socket.AI_NUMERICHOST or not hostname:
            raise _gaierror("EAI_NONAME")
        else:
            try:
                found = _lookup_name(hostname, family, flags)
            except _LookupFailed as failure:
                raise _gaierror(failure.kind) from None
            addresses = found.addresses
            canonical = found.canonical
    results = []
    for address_family, packed, scope_id in _sort_addresses(addresses):
        text = _ntop(address_family, packed)
        for socktype, protocol, number in services:
            sockaddr: tuple[Any, ...]
            if address_family == AF_INET:
                sockaddr = (text, number)
            else:
                sockaddr = (text, number, 0, scope_id)
            results.append(
                (
                    _socket.AddressFamily(address_family),
                    _kind(socktype),
                    protocol,
                    "",
                    sockaddr,
                )
            )
    if flags & _socket.AI_CANONNAME and results:
        first = results[0]
        results[0] = (first[0], first[1], first[2], canonical, first[4])
    return results


def _kind(socktype: int) -> Any:
    try:
        return _socket.SocketKind(socktype)
    except ValueError:
        return socktype


def _address_of(name: str, family: int) -> tuple[int, bytes]:
    """CPython's setipaddr: the one address `name` stands for, as (family, packed)."""
    if not name:
        return (AF_INET6, bytes(16)) if family == AF_INET6 else (AF_INET, bytes(4))
    if name == "<broadcast>" or name == "255.255.255.255":
        if family not in (AF_INET, AF_UNSPEC):
            raise OSError("address family mismatched")
        return AF_INET, b"\xff" * 4
    if family in (AF_INET, AF_UNSPEC):
        packed = _parse_ipv4_strict(name)
        if packed is not None:
            return AF_INET, packed
    if family in (AF_INET6, AF_UNSPEC) and "%" not in name:
        packed = _parse_ipv6_plain(name)
        if packed is not None:
            return AF_INET6, packed
    result = _getaddrinfo(name, None, family)
    address_family = int(result[0][0])
    return address_family, _socket.inet_pton(address_family, result[0][4][0])


def _gethostbyname(hostname: Any) -> str:
    name = _name_text(hostname, "gethostbyname")
    family, packed = _address_of(name, AF_INET)
    return _ntop(family, packed)


def _gethostbyname_ex(hostname: Any) -> tuple[str, list[str], list[str]]:
    name = _name_text(hostname, "gethostbyname_ex")
    family, packed = _address_of(name, AF_INET)
    if not name or name == "<broadcast>":  # special to setipaddr only: no host has this name
        raise _herror(_NO_RECOVERY)
    if _parse_ipv4(name) is not None and not name.strip("0123456789."):  # glibc: digits and dots
        return name, [], [_ntop(family, packed)]
    try:
        found = _lookup_name(name, AF_INET, 0)
    except _LookupFailed as failure:
        raise _herror(_TRY_AGAIN if failure.kind == "EAI_AGAIN" else _HOST_NOT_FOUND) from None
    return found.canonical, found.aliases, [_ntop(AF_INET, packed) for _, packed, _ in found.addresses]


# -- reverse lookups -----------------------------------------------------------------------------


def _reverse(family: int, packed: bytes) -> tuple[str, list[str]]:
    """(name, aliases) for an address from the hosts file or PTR records; raises _LookupFailed.

    Only the first PTR record names the host, as in glibc; an IPv4-mapped IPv6 address is
    looked up in DNS as the IPv4 address (but not in the hosts file).
    """
    entry = _hosts().by_address.get((family, packed))
    if entry is not None:
        return entry.names[0], entry.names[1:]
    if family == AF_INET6 and packed[:12] == _MAPPED_PREFIX:
        family, packed = AF_INET, packed[12:]
    qname = dns.reversename.from_address(_ntop(family, packed))
    answer = _query_name(qname, [dns.rdatatype.PTR], _resolv_conf())
    if answer.outcome == _FOUND:
        return _text(answer.records[dns.rdatatype.PTR][0].target), []
    if answer.outcome in (_TIMEOUT, _SERVFAIL):
        raise _LookupFailed("EAI_AGAIN")
    raise _LookupFailed("EAI_NONAME")


def _gethostbyaddr(ip_address: Any) -> tuple[str, list[str], list[str]]:
    name = _name_text(ip_address, "gethostbyaddr")
    family, packed = _address_of(name, AF_UNSPEC)
    try:
        hostname, aliases = _reverse(family, packed)
    except _LookupFailed as failure:
        raise _herror(_TRY_AGAIN if failure.kind == "EAI_AGAIN" else _HOST_NOT_FOUND) from None
    return hostname, aliases, [_ntop(family, packed)]


# NI_NUMERICHOST, NI_NUMERICSERV, NI_NOFQDN, NI_NAMEREQD, NI_DGRAM and the three IDN flags.
_NI_ALLOWED = 0xFF


def _local_domain() -> str:
    return _socket.gethostname().partition(".")[2]


def _getnameinfo(sockaddr: Any, flags: int) -> tuple[str, str]:
    if not isinstance(sockaddr, tuple):
        raise TypeError("getnameinfo() argument 1 must be a tuple")
    if not 2 <= len(sockaddr) <= 4 or not isinstance(sockaddr[0], str):
        raise TypeError("getnameinfo(): illegal sockaddr argument")
    for number in (*sockaddr[1:], flags):
        if not isinstance(number, int):
            raise TypeError(f"'{type(number).__name__}' object cannot be interpreted as an integer")
    host, port = sockaddr[0], sockaddr[1]
    flowinfo = sockaddr[2] if len(sockaddr) > 2 else 0
    scope_id = sockaddr[3] if len(sockaddr) > 3 else 0
    flags = int(flags)
    if not 0 <= flowinfo <= 0xFFFFF:
        raise OverflowError("getnameinfo(): flowinfo must be 0-1048575.")
    resolved = _getaddrinfo(host, str(int(port)), AF_UNSPEC, _socket.SOCK_DGRAM, 0, _socket.AI_NUMERICHOST)
    if len(resolved) > 1:
        raise OSError("sockaddr resolved to multiple addresses")
    family = int(resolved[0][0])
    number = resolved[0][4][1]
    if family == AF_INET and len(sockaddr) != 2:
        raise OSError("IPv4 sockaddr must be 2 tuple")
    if flags & ~_NI_ALLOWED:
        raise _gaierror("EAI_BADFLAGS")
    packed = _socket.inet_pton(family, resolved[0][4][0])
    hostname: str | None = None
    if not flags & _socket.NI_NUMERICHOST:
        try:
            hostname, _aliases = _reverse(family, packed)
        except _LookupFailed as failure:
            if failure.kind == "EAI_AGAIN":
                raise _gaierror("EAI_AGAIN") from None
        if hostname is not None and flags & _socket.NI_NOFQDN:
            domain = _local_domain()
            if domain and hostname.endswith("." + domain):
                hostname = hostname[: -len(domain) - 1]
    if hostname is None:
        if flags & _socket.NI_NAMEREQD:
            raise _gaierror("EAI_NONAME")
        hostname = _ntop(family, packed)
        if family == AF_INET6 and scope_id:
            scope_text = str(scope_id)
            if _is_link_local(packed):
                try:
                    scope_text = _socket.if_indextoname(scope_id)
                except OSError:
                    pass
            hostname = f"{hostname}%{scope_text}"
    service = str(number)
    if not flags & _socket.NI_NUMERICSERV:
        try:
            service = _socket.getservbyport(number, "udp" if flags & _socket.NI_DGRAM else "tcp")
        except OSError:
            pass
    return hostname, service


# -- the system resolver on an OS thread ---------------------------------------------------------


def _use_system() -> bool:
    return os.environ.get("GREEN_RESOLVER", "").lower() == "system"


def _in_os_thread(function: Callable[..., Any], *args: Any) -> Any:
    """Run `function(*args)` on an OS thread of `green.tpool`; park this green thread until it
    returns."""
    return _tpool.execute(function, *args)


# -- the public functions ------------------------------------------------------------------------


def getaddrinfo(
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list[tuple[Any, Any, int, str, tuple[Any, ...]]]:
    """Resolve `host` and `port` into (family, type, proto, canonname, sockaddr) tuples.

    Same arguments, results and errors (`socket.gaierror` with libc's EAI_* codes) as
    `socket.getaddrinfo`, but only the calling green thread waits for the nameserver. Differs
    from glibc in answering ``localhost`` without DNS and in not reading /etc/gai.conf (see the
    module's essay).
    """
    if _use_system():
        return list(_in_os_thread(_socket.getaddrinfo, host, port, family, type, proto, flags))
    return _getaddrinfo(host, port, family, type, proto, flags)


def gethostbyname(hostname: Any) -> str:
    """The IPv4 address of `hostname` as a string, like `socket.gethostbyname` (gaierror)."""
    if _use_system():
        return str(_in_os_thread(_socket.gethostbyname, hostname))
    return _gethostbyname(hostname)


def gethostbyname_ex(hostname: Any) -> tuple[str, list[str], list[str]]:
    """(canonical name, aliases, IPv4 addresses) of `hostname`, like `socket.gethostbyname_ex`.

    Raises gaierror when the name does not resolve, herror when it stops resolving in between.
    """
    if _use_system():
        return tuple(_in_os_thread(_socket.gethostbyname_ex, hostname))  # type: ignore[return-value]
    return _gethostbyname_ex(hostname)


def gethostbyaddr(ip_address: Any) -> tuple[str, list[str], list[str]]:
    """(name, aliases, [address]) for an address (or a name), like `socket.gethostbyaddr`.

    Consults the hosts file, then PTR records. Raises herror(1, 'Unknown host') when there is no
    name, herror(2, ...) when the nameservers did not answer, gaierror when a name given
    instead of an address does not resolve.
    """
    if _use_system():
        return tuple(_in_os_thread(_socket.gethostbyaddr, ip_address))  # type: ignore[return-value]
    return _gethostbyaddr(ip_address)


def getnameinfo(sockaddr: Any, flags: int) -> tuple[str, str]:
    """(host, service) for a (host, port[, flowinfo, scope_id]) tuple, like `socket.getnameinfo`.

    The host must be numeric (gaierror EAI_NONAME otherwise). Without NI_NUMERICHOST the name
    comes from the hosts file or PTR records, falling back to the numeric form unless
    NI_NAMEREQD is set (gaierror EAI_NONAME); a nameserver timeout raises gaierror EAI_AGAIN.
    """
    if _use_system():
        return tuple(_in_os_thread(_socket.getnameinfo, sockaddr, flags))  # type: ignore[return-value]
    return _getnameinfo(sockaddr, flags)
