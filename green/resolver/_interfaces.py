"""The host's own interface addresses and link types, asked of the kernel over netlink (as glibc
does), and which address families count as configured for AI_ADDRCONFIG."""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass

from green._stdlib import original
from green.resolver._numeric import AF_INET, AF_INET6, AF_UNSPEC

_socket = original("socket")
_random = random.Random()

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
