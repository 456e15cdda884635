"""eventlet.green.MySQLdb: MySQLdb (mysqlclient) with its server round trips in green's thread pool.

It is the real MySQLdb module, made cooperative in place as ``green.monkey_patch(MySQLdb=True)``
does (green.patcher._libraries).
"""

import importlib

from green.patcher import _libraries

from . import _become

_libraries.patch_library("MySQLdb")
_become(__name__, importlib.import_module("MySQLdb"))
