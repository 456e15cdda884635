"""A WSGI server on green threads: strict HTTP/1.x parsing, one green thread per connection.

Why it looks the way it does
----------------------------
*Parsing is not ours.* Request framing (where a request ends, how long a body is) is where
request-smuggling bugs live, and they lived in hand-written parsers of other green servers. Every
byte that arrives is fed to httptools (llhttp, the parser of Node.js), which rejects on its own: both
Content-Length and Transfer-Encoding, duplicate Content-Lengths, bad or overflowing chunk sizes,
obs-folded header lines, whitespace before a colon, bare CR or LF, NUL and other control bytes,
unknown methods and malformed versions. The server adds only what llhttp leaves to the caller: size
limits (414, 431, 413), HTTP versions other than 1.0/1.1 (505), and timeouts. Any framing error
answers with its status and closes the connection, because after a framing error nobody knows where
the next request would start. An HTTP/1.0 request with Transfer-Encoding is answered, then the
connection closes (RFC 9112 section 6.1: whoever forwarded it may have framed it otherwise).

*The application runs once the head is parsed.* A body that turns out malformed, or that the client
stops sending (it closes the connection), raises `BodyError` from the application's ``wsgi.input``
reads -- an HTTPError that is also a ValueError and an OSError -- so the application can catch it
and answer (or clean up); the connection closes after the response, and the server serves on.

*Pull, don't push.* The parser is fed only when someone needs more: the connection waiting for its
next request, or the application reading ``wsgi.input``. A client therefore cannot make the server
buffer more than one receive (64 KiB) beyond what the application asked for, pipelined requests
are queued as their headers complete and answered strictly in order, and ``Expect: 100-continue``
is answered at the moment the application first reads the body.

*One timer for all connections.* Idle keep-alive, slow headers and stalled reads or writes are all
deadlines. Instead of arming and cancelling a hub timer around every wait, each connection stores
the deadline of the wait it is in, and one sweeper timer per server (a few times a second) closes
the waits that are overdue through ``hub.notify_closing``; the waiting green thread wakes with
EBADF, sees its deadline passed, answers 408 where that makes sense and closes. The same
sweeper refreshes the cached ``Date`` header, so a request costs no clock formatting.

*The hot path.* For a keep-alive request the server makes two system calls: one ``recv`` and one
``send`` carrying the status line, headers and body together (small responses are never split,
and TCP_NODELAY is set, so a client never waits for Nagle's algorithm). After a response the
connection waits for readability before calling ``recv`` -- the next request is rarely already
there, and the hub keeps the fd registered, so the wait costs no system call of its own. The
environ is a copy of a per-connection template; header names map to environ keys through a cache.

*Full.* Each connection costs a green thread and some memory, so at most ``max_connections``
are served at once. A full server that just stopped accepting would let clients that trickle
their headers (slowloris) hold every slot until the header timeout while fast clients wait in the
kernel's backlog. So when it is full and a new client knocks, the server sheds connections that
wait for a request -- idle kept-alive ones first, then those that sent the least of a request for
the longest (seconds waited per byte received), sparing any younger than a grace period -- and
accepts the newcomer in their place. Connections running the application or moving a body are
never shed; if nothing can be shed, newcomers wait in the backlog as before. Out of file
descriptors, accept fails with the client still queued; see green._accept for the backoff.

*Other servers' habits, as options.* What eventlet's server did differently and programs may rely
on -- gathering an iterable's pieces into writes of a minimum size (so an error before the first
write is still a 500), str pieces, capitalised header names, an explicit keep-alive answer, its
own error responses, connections served by a GreenPool -- are `Server` options, off by default;
off, they cost at most an attribute test on the paths they touch (header capitalisation is
chosen once per connection). The eventlet alias turns them on.

*Graceful stop.* ``Server.stop`` closes the listener, wakes idle keep-alive connections so they
close, lets requests in flight finish (their connections then close instead of waiting for
another request) and after the deadline kills whatever is left.

Where the parts live
--------------------
- ``_protocol.py``: the limits and their defaults, `HTTPError`, a parsed request, the phases;
- ``_state.py``: a connection's attributes and its one way to wait on the socket;
- ``_writing.py``: the response side (``start_response``, ``write``, framing, sendfile,
  100 Continue, error responses), `FileWrapper`, `ALREADY_HANDLED`;
- ``_reading.py``: the request side (the parser's callbacks, feeding it, waiting for the next
  request, the body) and ``wsgi.input``;
- ``_environ.py``: a request's environ;
- ``_connection.py``: the connection's loop (request, application, response), its logs and
  ``take_over``;
- ``_server.py``: `Server` and `server()`: accepting, shedding, the sweeper, TLS, stop;
- ``_command.py`` and ``__main__.py``: ``python -m green.wsgi``.
"""

from __future__ import annotations

from green.wsgi._command import main
from green.wsgi._protocol import (  # the documented limits and defaults (see `Server`)
    DEFAULT_HEADER_TIMEOUT,  # noqa: F401
    DEFAULT_IO_TIMEOUT,  # noqa: F401
    DEFAULT_KEEPALIVE_TIMEOUT,  # noqa: F401
    DEFAULT_MAX_CONNECTIONS,  # noqa: F401
    DEFAULT_MAX_HEADER_BYTES,  # noqa: F401
    DEFAULT_MAX_HEADER_LINE,  # noqa: F401
    DEFAULT_MAX_HEADERS,  # noqa: F401
    DEFAULT_MAX_REQUEST_LINE,  # noqa: F401
    MAX_DRAIN,  # noqa: F401
    RECEIVE_SIZE,  # noqa: F401
    SERVER_SOFTWARE,  # noqa: F401
    SHED_BATCH,  # noqa: F401
    BodyError,
    HTTPError,
)
from green.wsgi._server import Server, server
from green.wsgi._writing import ALREADY_HANDLED, FileWrapper

__all__ = ["ALREADY_HANDLED", "BodyError", "FileWrapper", "HTTPError", "Server", "server", "main"]
