"""eventlet.green.http.cookies: the stdlib's http.cookies (it does no I/O)."""

import http.cookies

from .. import _become

_become(__name__, http.cookies)
