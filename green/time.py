"""Green replacement of the stdlib `time` module: `sleep` parks only the calling green thread.

Everything else is the stdlib's.
"""

from __future__ import annotations

import operator as _operator
from typing import TYPE_CHECKING, Any

from green._stdlib import original
from green._stdlib import reexport as _reexport
from green.greenthread import sleep as _green_sleep

_time = original("time")

__green__ = "time"
__implements__ = ["sleep"]
__removes__: list[str] = []

_reexport(globals(), _time, __implements__, __removes__)

if TYPE_CHECKING:
    # The names copied from the stdlib module above are invisible to type checkers.
    def __getattr__(name: str) -> Any: ...


def sleep(secs: float) -> None:
    """Suspend the calling green thread for `secs` seconds; other green threads run meanwhile.

    ``sleep(0)`` lets every other ready green thread run once. Raises ValueError for a negative
    or NaN duration and TypeError for a non-number, like `time.sleep`; BlockingInHubError when
    called inside the hub.
    """
    if not isinstance(secs, float):
        secs = _operator.index(secs)
    if secs < 0:
        raise ValueError("sleep length must be non-negative")
    if secs != secs:
        raise ValueError("Invalid value NaN (not a number)")
    _green_sleep(secs)
