"""eventlet.support.greendns: green's DNS resolver (green.resolver, on dnspython) under
eventlet's names. ``socket.getaddrinfo is greendns.getaddrinfo`` holds after monkey-patching,
as in eventlet."""

from __future__ import annotations

import ipaddress

import dns

from green.socket import getaddrinfo, gethostbyaddr, gethostbyname, gethostbyname_ex, getnameinfo

__all__ = [
    "dns",
    "getaddrinfo",
    "gethostbyaddr",
    "gethostbyname",
    "gethostbyname_ex",
    "getnameinfo",
    "is_ip_addr",
    "is_ipv4_addr",
    "is_ipv6_addr",
]


def is_ipv4_addr(host: object) -> bool:
    """Whether `host` is an IPv4 address in dotted-quad form."""
    if not isinstance(host, str):
        return False
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def is_ipv6_addr(host: object) -> bool:
    """Whether `host` is an IPv6 address (a ``%scope`` suffix allowed)."""
    if not isinstance(host, str):
        return False
    try:
        ipaddress.IPv6Address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def is_ip_addr(host: object) -> bool:
    """Whether `host` is an IPv4 or IPv6 address."""
    return is_ipv4_addr(host) or is_ipv6_addr(host)
