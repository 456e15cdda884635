"""Numeric addresses: the address families, and the textual forms libc accepts for IPv4 and IPv6."""

from __future__ import annotations

from green._stdlib import original

_socket = original("socket")

AF_INET: int = _socket.AF_INET
AF_INET6: int = _socket.AF_INET6
AF_UNSPEC: int = _socket.AF_UNSPEC


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
