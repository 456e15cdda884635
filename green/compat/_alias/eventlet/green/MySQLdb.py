"""eventlet.green.MySQLdb: MySQLdb whose connections run in green's thread pool."""

from green.compat._databases import green_mysqldb

from . import _become

_become(__name__, green_mysqldb())
