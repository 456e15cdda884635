"""Services: the port and the (socket type, protocol) pairs a service name or number stands for."""

from __future__ import annotations

import re

from green._stdlib import original
from green.resolver._errors import _gaierror

_socket = original("socket")

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
