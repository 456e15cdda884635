"""eventlet.greenpool: GreenPool and GreenPile (green's own)."""

from green.greenpool import GreenPile, GreenPool

__all__ = ["GreenPile", "GreenPool"]
