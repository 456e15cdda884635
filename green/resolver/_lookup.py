"""Forward and reverse lookups (hosts file, localhost, DNS) behind getaddrinfo, gethostbyname,
gethostbyname_ex, gethostbyaddr and getnameinfo, with the stdlib's argument checks and errors."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import dns.rdatatype
import dns.reversename

from green._stdlib import original
from green.resolver import _configuration
from green.resolver._errors import (
    _HOST_NOT_FOUND,
    _NO_RECOVERY,
    _TRY_AGAIN,
    _gaierror,
    _herror,
    _LookupFailed,
)
from green.resolver._exchange import _FOUND, _SERVFAIL, _TIMEOUT, _dns_lookup, _query_name, _text
from green.resolver._interfaces import _configured_families
from green.resolver._numeric import (
    _MAPPED_PREFIX,
    AF_INET,
    AF_INET6,
    AF_UNSPEC,
    _is_link_local,
    _mapped,
    _ntop,
    _parse_ipv4,
    _parse_ipv4_strict,
    _parse_ipv6,
    _parse_ipv6_plain,
)
from green.resolver._services import _services, _strtoul_as_int
from green.resolver._sorting import _sort_addresses

_socket = original("socket")


@dataclass
class _HostResult:
    canonical: str
    aliases: list[str]
    addresses: list[tuple[int, bytes, int]]  # (family, packed address, IPv6 scope id)


def _is_localhost(name: str) -> bool:
    lowered = name.lower()
    return lowered == "localhost" or lowered.endswith(".localhost")


def _lookup_hosts_file(name: str, families: tuple[int, ...]) -> _HostResult | None:
    entries = _configuration._hosts().by_name.get(name.lower())
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


# Mirrors the argument handling of CPython's Modules/socketmodule.c socket_getaddrinfo and
# idna_converter (3.10-3.13); checked by behaviour: tests/test_resolver.py compares the errors
# with the running CPython's socket functions.
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


# Mirrors CPython's Modules/socketmodule.c socket_getaddrinfo port handling: 3.10-3.11 through a C
# long, 3.12-3.13 any int (checked by behaviour against the running CPython, as above).
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


# Mirrors CPython's Modules/socketmodule.c setipaddr (3.10-3.13; checked by behaviour against the
# running CPython's gethostbyname, as above).
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


def _reverse(family: int, packed: bytes) -> tuple[str, list[str]]:
    """(name, aliases) for an address from the hosts file or PTR records; raises _LookupFailed.

    Only the first PTR record names the host, as in glibc; an IPv4-mapped IPv6 address is
    looked up in DNS as the IPv4 address (but not in the hosts file).
    """
    entry = _configuration._hosts().by_address.get((family, packed))
    if entry is not None:
        return entry.names[0], entry.names[1:]
    if family == AF_INET6 and packed[:12] == _MAPPED_PREFIX:
        family, packed = AF_INET, packed[12:]
    qname = dns.reversename.from_address(_ntop(family, packed))
    answer = _query_name(qname, [dns.rdatatype.PTR], _configuration._resolv_conf())
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


# Mirrors the argument checks of CPython's Modules/socketmodule.c socket_getnameinfo (3.10-3.13;
# checked by behaviour against the running CPython's getnameinfo, as above).
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
