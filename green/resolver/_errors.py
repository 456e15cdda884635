"""The resolver's errors: socket.gaierror and socket.herror with libc's numbers and texts."""

from __future__ import annotations

from green._stdlib import original

_socket = original("socket")

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
