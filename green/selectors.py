"""Green replacement of the stdlib `selectors` module.

The stdlib selector classes bind ``select.select``/``select.poll`` when the module is imported,
so they keep blocking the whole OS thread after patching. The green classes are the stdlib's own
`SelectSelector` and `PollSelector` with the waiting call swapped for green `select.select` and
`select.poll`; registration and key bookkeeping stay the stdlib's. The epoll, kqueue and devpoll
selectors are removed, so `DefaultSelector` is the green `PollSelector` (or `SelectSelector` where
poll does not exist).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from green import select as _green_select
from green._stdlib import original
from green._stdlib import reexport as _reexport

_selectors = original("selectors")

__green__ = "selectors"
__implements__ = ["SelectSelector", "PollSelector", "DefaultSelector"]
__removes__ = [
    name for name in ("EpollSelector", "KqueueSelector", "DevpollSelector") if hasattr(_selectors, name)
]

_reexport(globals(), _selectors, __implements__, __removes__)

if TYPE_CHECKING:
    # The names copied from the stdlib module above are invisible to type checkers.
    def __getattr__(name: str) -> Any: ...


_StdlibSelectSelector: Any = _selectors.SelectSelector
_StdlibPollSelector: Any = getattr(_selectors, "PollSelector", None)


class SelectSelector(_StdlibSelectSelector):
    """The stdlib select-based selector, waiting with green `select.select` (parks only the
    calling green thread)."""

    _select = staticmethod(_green_select.select)


DefaultSelector: Any = SelectSelector

if _StdlibPollSelector is not None:

    class PollSelector(_StdlibPollSelector):
        """The stdlib poll-based selector over a green `select.poll` (parks only the calling
        green thread). `close()` also releases the poll object's doorbell fd."""

        _selector_cls = _green_select.poll

        def close(self) -> None:
            selector = getattr(self, "_selector", None)
            super().close()
            if selector is not None:
                selector.close()

    DefaultSelector = PollSelector
else:
    __implements__.remove("PollSelector")
