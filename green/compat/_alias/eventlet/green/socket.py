"""eventlet.green.socket: green.socket's sockets, with names resolved by eventlet's greendns.

As in eventlet, this module is the green socket module (here: ``green.socket``'s names, the same
socket class and functions) except for its resolver functions: ``getaddrinfo``,
``gethostbyname``, ``gethostbyname_ex`` and ``getnameinfo`` are ``eventlet.support.greendns``'s,
which ask the replaceable ``greendns.resolver`` (hosts file first, then the nameservers), and
``create_connection`` resolves with that getaddrinfo. ``green.socket`` itself keeps green's own
resolver, and so does this module under ``EVENTLET_NO_GREENDNS=yes`` (eventlet then used the C
library's). Its socket class (and that of socketpair, fromfd, create_connection) is eventlet's
``GreenSocket``, green's socket with eventlet's constructor, a ``__dict__`` and a reset read as
the end of the stream; green.socket's sockets also answer eventlet's ``fd``: the real
non-blocking socket underneath.
"""

from __future__ import annotations

import builtins
import os
from typing import Any

import green.socket as _green_socket
from green._stdlib import original as _original

from . import _socket_names

globals().update(_socket_names())
__all__ = list(_green_socket.__all__)

from ..greenio.base import GreenSocket as _GreenSocket  # noqa: E402

# EVENTLET_NO_GREENDNS=yes turned greendns off in eventlet (its sockets then resolved with the
# C library); here it leaves green's own resolver in place, which is cooperative as well.
_GREENDNS_NAMES = ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "getnameinfo")
_with_greendns = os.environ.get("EVENTLET_NO_GREENDNS", "").lower() != "yes"
if _with_greendns:
    # greendns's functions are taken at the first use of one of them rather than with this
    # module: greendns brings dnspython, a hundred modules that a program resolving no names
    # would keep for nothing (and that each full collection of the garbage collector walks).
    for _name in _GREENDNS_NAMES:
        del globals()[_name]


def __getattr__(name: str) -> Any:
    if _with_greendns and name in _GREENDNS_NAMES:
        from ..support import greendns

        for each in _GREENDNS_NAMES:
            globals().setdefault(each, getattr(greendns, each))
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _real_socket(sock: Any) -> object:
    return sock._sock


if not hasattr(_green_socket.socket, "fd"):
    _green_socket.socket.fd = property(_real_socket)  # type: ignore[attr-defined]

# The socket class is eventlet's GreenSocket: green's socket with eventlet's constructor, a
# __dict__ and a reset read as the end of the stream (see eventlet.greenio.base).
socket = SocketType = _GreenSocket


def socketpair(family: Any = None, type: int = _green_socket.SOCK_STREAM, proto: int = 0) -> tuple[Any, Any]:
    """Two connected GreenSockets (AF_UNIX by default, as the stdlib)."""
    first, second = _original("socket").socketpair(family, type, proto)
    return _GreenSocket._from_real(first), _GreenSocket._from_real(second)


def fromfd(fd: int, family: int, type: int, proto: int = 0) -> Any:
    """A GreenSocket on a duplicate of `fd` (the original fd stays open)."""
    return _GreenSocket(family, type, proto, os.dup(fd))


def create_connection(
    address: tuple[Any, Any],
    timeout: Any = _green_socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
    source_address: Any = None,
    *,
    all_errors: bool = False,
) -> Any:
    """socket.create_connection with this module's getaddrinfo: try each address in turn and
    return the first connected green socket; else the first error, or an ExceptionGroup of all
    of them with `all_errors` (Python 3.11+), as the stdlib does."""
    host, port = address
    errors: list[OSError] = []
    lookup = globals().get("getaddrinfo") or __getattr__("getaddrinfo")
    for family, kind, proto, _, target in lookup(host, port, 0, _green_socket.SOCK_STREAM):
        sock = _GreenSocket(family, kind, proto)
        try:
            if timeout is not _green_socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(target)
        except OSError as error:
            sock.close()
            errors.append(error)
            continue
        return sock
    if not errors:
        raise OSError("getaddrinfo returns an empty list")
    try:
        if all_errors:
            raise builtins.ExceptionGroup("create_connection failed", errors)  # type: ignore[attr-defined]
        raise errors[0]
    finally:
        errors = []  # no cycle through the traceback
