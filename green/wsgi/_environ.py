"""Building the environ of a request: the path and query, the header keys (cached), the PEP 3333
and green keys."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import httptools

from green._compiled import core as _core
from green._stdlib import original
from green.wsgi._protocol import HTTPError, _Request
from green.wsgi._reading import _EMPTY_INPUT, _EventletInput

_unquote_to_bytes = original("urllib.parse").unquote_to_bytes

if TYPE_CHECKING:
    from green.wsgi._connection import _Connection

# -- the template ----------------------------------------------------------------------------------

# Keys every request sets: the template holds them (with a placeholder), so that a request's
# environ replaces their values instead of adding entries.
_REQUEST_KEYS = ("REQUEST_METHOD", "SERVER_PROTOCOL", "RAW_PATH_INFO", "PATH_INFO", "QUERY_STRING")
_EVENTLET_KEYS = ("eventlet.input", "eventlet.posthooks", "headers_raw")
# Room for so many more keys (a request's headers) in a copy of the template before it grows.
_ROOM = 16


def _room(environ: dict) -> int:
    """How many keys a copy of `environ` takes before its table grows."""
    copy = environ.copy()
    size = sys.getsizeof(copy)
    added = 0
    while sys.getsizeof(copy) == size:
        copy[f"green.wsgi.room{added}"] = None
        added += 1
    return added - 1


def _request_template(base_environ: dict, eventlet_environ: bool) -> dict:
    """The template each connection copies (adding its peer's address) and each request copies
    again: `base_environ`, the keys every request sets, and room for a request's headers.

    A dict's copy keeps the size of its table, and filling a copy past the table's two thirds
    makes it grow (a new table, every entry moved), on every request. So the template's table is
    made larger up front, by adding keys and deleting them, when it has too little room
    (``environ.copy()`` plus adding keys then costs about half as much).
    """
    template = dict(base_environ, REMOTE_ADDR="", REMOTE_PORT="")
    for key in _REQUEST_KEYS:
        template[key] = ""
    template["wsgi.input"] = _EMPTY_INPUT
    if eventlet_environ:
        for key in _EVENTLET_KEYS:
            template[key] = ()
    if _room(template) < _ROOM:
        # A copy keeps deleted entries, and is made the fast way only while at most a third of
        # its entries are deleted ones: add no more than half as many keys as it holds.
        size = sys.getsizeof(template)
        spare: list[str] = []
        while sys.getsizeof(template) == size and len(spare) < len(template) // 2:
            spare.append(f"green.wsgi.spare{len(spare)}")  # str keys: the table stays str-only
            template[spare[-1]] = None
        for key in spare:
            del template[key]
    return template


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


def _header_name(name: bytes) -> str:
    """Header `name` as text, for eventlet's ``headers_raw`` (kept, up to a bound)."""
    text = name.decode("latin-1")
    if len(_header_names) < 2048:
        _header_names[name] = text
    return text


_header_names: dict[bytes, str] = {}


def _python_build_environ(connection: _Connection, request: _Request) -> dict:
    """The PEP 3333 environ of `request`, from the connection's template; with
    `Server.eventlet_environ` also eventlet's keys (``eventlet.input``, ``eventlet.posthooks``,
    ``headers_raw``)."""
    server = connection.server
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
    # bytes.find, not `in`: ``b"#" in path`` first tries b"#" as an integer, and building the
    # TypeError it then discards costs more than the search.
    if query.find(b"#") >= 0:
        query = query.partition(b"#")[0]
    if path.find(b"#") >= 0:
        path = path.partition(b"#")[0]
    if path:
        raw_path = path.decode("latin-1")
        environ["RAW_PATH_INFO"] = raw_path
        environ["PATH_INFO"] = raw_path if path.find(b"%") < 0 else _unquote_to_bytes(path).decode("latin-1")
        environ["QUERY_STRING"] = query.decode("latin-1")
    method = _methods.get(request.method)
    if method is None:
        method = request.method.decode("latin-1")
    environ["REQUEST_METHOD"] = method
    environ["SERVER_PROTOCOL"] = "HTTP/1.1" if request.version == "1.1" else "HTTP/1.0"
    header_keys = _header_keys
    # eventlet's headers_raw: every header line as sent, names in their case, as text.
    raw: list[tuple[str, str]] | None = [] if server.eventlet_environ else None
    for name, value in request.headers:
        key = header_keys.get(name)
        if key is None:
            key = _environ_key(name)
        text = value.decode("latin-1")
        if raw is not None:
            raw.append((_header_names.get(name) or _header_name(name), text))
        if not key:
            continue
        if key in environ:
            text = environ[key] + ("; " if key == "HTTP_COOKIE" else ", ") + text
        environ[key] = text
    if request.version == "1.0" and "HTTP_TRANSFER_ENCODING" in environ:
        # RFC 9112 section 6.1: the framing of such a message cannot be trusted by whoever
        # forwarded it, so the connection closes after it is answered (llhttp reads its body).
        request.keep_alive = connection.keep_alive = False
    limit = server.max_body
    if limit is not None and int(environ.get("CONTENT_LENGTH") or 0) > limit:
        raise HTTPError(413)
    # The template's wsgi.input (and eventlet.input) is the one of a request without a body.
    if not request.complete or request.body:
        environ["wsgi.input"] = body = server.input_class(connection, request)
        if raw is not None:
            environ["eventlet.input"] = body
    elif raw is not None and "HTTP_EXPECT" in environ:  # eventlet's 100 Continue API
        environ["eventlet.input"] = environ["wsgi.input"] = _EventletInput(connection, request)
    if raw is not None:
        environ["eventlet.posthooks"] = []
        environ["headers_raw"] = tuple(raw)
    if connection.upgraded and request is connection.upgrade_request and request.complete:
        environ["green.wsgi.take_over"] = connection.take_over
        environ["RAW_URI"] = url.decode("latin-1")  # the target as sent (hixie-76 echoes it)
    return environ


# The compiled core's version builds the usual request's environ (a target "/path?query" without
# percent escapes, no body limit, no eventlet keys, no upgrade) and gives the others to the Python
# function.
if _core is not None:
    _core.configure_environ(_header_keys, _methods, _environ_key, _python_build_environ)
    _build_environ = _core.build_environ
else:
    _build_environ = _python_build_environ
