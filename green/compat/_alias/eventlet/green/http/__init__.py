"""eventlet.green.http: http.client, http.server, http.cookiejar and http.cookies on green sockets."""

from http import HTTPStatus

__all__ = ["HTTPStatus"]
