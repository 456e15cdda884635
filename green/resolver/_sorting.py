"""Destination address selection (RFC 3484, as in RFC 6724 section 6) with glibc's default
precedence and label tables: rules 1 to 9, then the received order."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from green._stdlib import original
from green.resolver import _interfaces
from green.resolver._interfaces import _LOOPBACK4, _LOOPBACK6, _TUNNEL_LINK_TYPES, _InterfaceAddress
from green.resolver._numeric import AF_INET, AF_INET6, _mapped, _ntop

_socket = original("socket")

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
    interfaces = _interfaces._interface_addresses() or []
    if not any(entry.family == AF_INET6 and entry.packed != _LOOPBACK6 for entry in interfaces):
        interfaces = []  # glibc keeps the address flags only when IPv6 is configured
    destinations = [_destination(index, *address, interfaces) for index, address in enumerate(addresses)]
    if len({entry.source_index for entry in destinations if entry.source is not None}) > 1:
        types = _interfaces._link_types()
        for entry in destinations:
            link_type = types.get(entry.source_index)
            entry.native = link_type is not None and link_type not in _TUNNEL_LINK_TYPES
    destinations.sort(key=functools.cmp_to_key(_compare))
    return [addresses[destination.index] for destination in destinations]
