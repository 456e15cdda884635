"""eventlet.dagpool: green.dagpool's DAGPool, Collision and PropagateError."""

from green.dagpool import *  # noqa: F403  (green.dagpool's public names, per its __all__)
