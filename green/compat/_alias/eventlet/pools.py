"""eventlet.pools: green.pools' Pool and TokenPool."""

from green.pools import *  # noqa: F403  (green.pools' public names, per its __all__)
from green.pools import Pool, TokenPool

__all__ = ["Pool", "TokenPool"]
