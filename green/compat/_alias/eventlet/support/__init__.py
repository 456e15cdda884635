"""eventlet.support: the helpers of eventlet's support package that programs import."""

from __future__ import annotations

from typing import Any

from . import greenlets

__all__ = ["bytes_to_str", "get_errno", "greenlets"]


def get_errno(error: BaseException) -> Any:
    """The errno of an OSError (or of a (errno, message) args tuple); None if there is none."""
    number = getattr(error, "errno", None)
    if number is not None:
        return number
    args = getattr(error, "args", ())
    return args[0] if args else None


def bytes_to_str(data: Any, encoding: str = "ascii") -> str:
    """`data` decoded if it is bytes, else unchanged."""
    return data.decode(encoding) if isinstance(data, bytes) else data
