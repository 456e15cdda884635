"""eventlet.db_pool: green.db_pool's database connection pools."""

from green.db_pool import *  # noqa: F403  (green.db_pool's public names, per its __all__)
