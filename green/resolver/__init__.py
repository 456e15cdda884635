"""Cooperative name resolution: getaddrinfo and friends without blocking the hub.

Why this module exists
----------------------
The C library's resolver (``getaddrinfo``, ``gethostbyname``...) blocks its OS thread while it
waits for a nameserver, which for green threads means the whole hub stops: one slow DNS answer
freezes every connection in the process. This package answers the same questions itself: it reads
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

Where the parts live
--------------------
- ``_configuration.py``: resolv.conf and the hosts file, `configure()`;
- ``_numeric.py``: address families and the numeric forms of addresses;
- ``_services.py``: service names and numbers, socket types and protocols;
- ``_interfaces.py``: the host's own addresses and link types (netlink), AI_ADDRCONFIG;
- ``_sorting.py``: RFC 3484 / RFC 6724 destination ordering;
- ``_exchange.py``: the DNS messages over UDP and TCP, res_send's rotation, res_search's order;
- ``_lookup.py``: the lookups behind the five functions, with the stdlib's argument checks;
- ``_errors.py``: gaierror and herror with libc's numbers and texts;
- this file: the public functions and the ``GREEN_RESOLVER=system`` opt-out.

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

import os
from typing import Any, Callable

from green import tpool as _tpool
from green._stdlib import original
from green.resolver._configuration import configure
from green.resolver._lookup import (
    _getaddrinfo,
    _gethostbyaddr,
    _gethostbyname,
    _gethostbyname_ex,
    _getnameinfo,
)

_socket = original("socket")

__all__ = [
    "configure",
    "getaddrinfo",
    "gethostbyaddr",
    "gethostbyname",
    "gethostbyname_ex",
    "getnameinfo",
]


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
