"""Building the environ of a request: the path and query, the header keys (cached), the PEP 3333
and green keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httptools

from green._stdlib import original
from green.wsgi._protocol import HTTPError, _Request
from green.wsgi._reading import _EMPTY_INPUT, _Input

_unquote_to_bytes = original("urllib.parse").unquote_to_bytes

if TYPE_CHECKING:
    from green.wsgi._connection import _Connection

# -- environ keys -----------------------------------------------------------------------------------

_header_keys: dict[bytes, str] = {}


def _environ_key(name: bytes) -> str:
    """The environ key of request header `name` ("" for headers that are dropped)."""
    key = _header_keys.get(name)
    if key is not None:
        return key
    text = name.decode("latin-1")
    if "_" in text:
        # "X_User" and "X-User" would both become HTTP_X_USER; a proxy that vets one of them
        # would let the other spoof it. Such headers are dropped.
        key = ""
    else:
        key = text.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
    if len(_header_keys) < 2048:
        _header_keys[name] = key
    return key


_methods: dict[bytes, str] = {
    method: method.decode("ascii")
    for method in (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS")
}


def _build_environ(connection: _Connection, request: _Request) -> dict:
    """The PEP 3333 environ of `request`, from the connection's template."""
    environ = connection.environ_template.copy()
    url = request.url
    if url[:1] == b"/":
        path, _, query = url.partition(b"?")
    elif url == b"*":
        path, query = b"*", b""
    elif request.method == b"CONNECT":
        # authority-form ("host:port"): no path; RAW_PATH_INFO keeps the target.
        environ["RAW_PATH_INFO"] = url.decode("latin-1")
        environ["PATH_INFO"] = environ["QUERY_STRING"] = ""
        path = query = b""
    else:
        try:
            parsed = httptools.parse_url(url)
        except httptools.HttpParserInvalidURLError:
            raise HTTPError(400, "invalid request target") from None
        path = parsed.path or b"/"
        query = parsed.query or b""
    if b"#" in query:
        query = query.partition(b"#")[0]
    if b"#" in path:
        path = path.partition(b"#")[0]
    if path:
        raw_path = path.decode("latin-1")
        environ["RAW_PATH_INFO"] = raw_path
        environ["PATH_INFO"] = raw_path if b"%" not in path else _unquote_to_bytes(path).decode("latin-1")
        environ["QUERY_STRING"] = query.decode("latin-1")
    method = _methods.get(request.method)
    if method is None:
        method = request.method.decode("latin-1")
    environ["REQUEST_METHOD"] = method
    environ["SERVER_PROTOCOL"] = "HTTP/1.1" if request.version == "1.1" else "HTTP/1.0"
    header_keys = _header_keys
    for name, value in request.headers:
        key = header_keys.get(name)
        if key is None:
            key = _environ_key(name)
        if not key:
            continue
        text = value.decode("latin-1")
        if key in environ:
            text = environ[key] + ("; " if key == "HTTP_COOKIE" else ", ") + text
        environ[key] = text
    if request.version == "1.0" and "HTTP_TRANSFER_ENCODING" in environ:
        # RFC 9112 section 6.1: the framing of such a message cannot be trusted by whoever
        # forwarded it, so the connection closes after it is answered (llhttp reads its body).
        request.keep_alive = connection.keep_alive = False
    limit = connection.server.max_body
    if limit is not None and int(environ.get("CONTENT_LENGTH") or 0) > limit:
        raise HTTPError(413)
    if request.complete and not request.body:
        environ["wsgi.input"] = _EMPTY_INPUT
    else:
        environ["wsgi.input"] = _Input(connection, request)
    if connection.upgraded and request is connection.upgrade_request and request.complete:
        environ["green.wsgi.take_over"] = connection.take_over
        environ["RAW_URI"] = url.decode("latin-1")  # the target as sent (hixie-76 echoes it)
    return environ
