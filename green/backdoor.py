"""A Python console inside a running green program, over TCP (``nc``/``telnet`` as the client).

Why it looks like this
----------------------
Every connection gets a `code.InteractiveConsole` in its own green thread, so a console that
waits for its user's next line parks like any other green thread and the program keeps serving.
The console's own prompts, echoes and tracebacks go to the connection directly. Code typed into
it, though, prints through ``sys.stdout`` (``print``, the ``repr`` of an expression statement) and
may read ``sys.stdin``; those are process-wide objects shared by every green thread. So while a
console exists, ``sys.stdin``, ``sys.stdout`` and ``sys.stderr`` are replaced by
`_PerGreenThreadStream` objects that look up the calling green thread: a console's green thread
reads and writes its connection, every other green thread the stream that was there before. The
originals come back when the last console closes. (A green thread *spawned* from the console
prints to the process's stdout: the redirection follows the console's green thread only.)

The protocol is lines: ``\\r\\n`` and ``\\n`` both end a line, telnet's option negotiation bytes
are dropped, and output lines end with ``\\r\\n`` so that telnet shows them properly. End the
session with ``exit()``, ``quit()`` or end-of-file (Ctrl-D); the process keeps running.

A backdoor executes arbitrary code as the process, so `serve` binds to loopback unless the
caller passes another address explicitly.
"""

from __future__ import annotations

import code
import sys
from typing import Any

from greenlet import GreenletExit, getcurrent, greenlet

import green.socket as green_socket
from green.greenthread import GreenThread, spawn

__all__ = ["BackdoorServer", "console", "serve"]

_IAC = 255
_SB = 250
_SE = 240
_NEGOTIATION = (251, 252, 253, 254)  # WILL, WONT, DO, DONT: one option byte follows


def _strip_telnet(data: bytes) -> bytes:
    """Remove telnet commands (IAC sequences) and the NUL telnet may send after a carriage return."""
    if _IAC not in data and b"\0" not in data:
        return data
    out = bytearray()
    index = 0
    length = len(data)
    while index < length:
        byte = data[index]
        if byte == _IAC and index + 1 < length:
            command = data[index + 1]
            if command == _IAC:  # an escaped 255 data byte
                out.append(_IAC)
                index += 2
            elif command in _NEGOTIATION:
                index += 3
            elif command == _SB:
                end = data.find(bytes((_IAC, _SE)), index + 2)
                index = length if end < 0 else end + 2
            else:
                index += 2
        elif byte == 0:
            index += 1
        else:
            out.append(byte)
            index += 1
    return bytes(out)


class _Connection:
    """Line input and text output over one client socket."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.buffer = b""
        self.closed = False

    def readline(self, size: int = -1) -> str:
        """One line without its end of line marker, '' at end of file ('\\n'-ended, as file.readline)."""
        line = self._next_line()
        return "" if line is None else line + "\n"

    def _next_line(self) -> str | None:
        while b"\n" not in self.buffer:
            if self.closed:
                return None
            data = self.sock.recv(4096)
            if not data:
                self.closed = True
                if not self.buffer:
                    return None
                break
            self.buffer += _strip_telnet(data)
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r").decode(self.encoding, self.errors)

    def write(self, text: str) -> int:
        if text:
            self.sock.sendall(
                text.replace("\r\n", "\n").replace("\n", "\r\n").encode(self.encoding, self.errors)
            )
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.sock.fileno()


class _PerGreenThreadStream:
    """Stands in for sys.stdin/stdout/stderr: each console's green thread gets its connection."""

    def __init__(self, fallback: Any) -> None:
        self.fallback = fallback
        self.targets: dict[greenlet, _Connection] = {}

    def _target(self) -> Any:
        return self.targets.get(getcurrent(), self.fallback)

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def readline(self, size: int = -1) -> str:
        return self._target().readline(size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)


_STREAMS = ("stdin", "stdout", "stderr")
_consoles: dict[greenlet, _Connection] = {}


def _redirect(thread: greenlet, connection: _Connection) -> None:
    """Make sure the sys streams are per-green-thread proxies and point `thread`'s at `connection`."""
    _consoles[thread] = connection
    for name in _STREAMS:
        stream = getattr(sys, name)
        if not isinstance(stream, _PerGreenThreadStream):
            stream = _PerGreenThreadStream(stream)
            stream.targets.update(_consoles)
            setattr(sys, name, stream)
        stream.targets[thread] = connection


def _unredirect(thread: greenlet) -> None:
    _consoles.pop(thread, None)
    for name in _STREAMS:
        stream = getattr(sys, name)
        if isinstance(stream, _PerGreenThreadStream):
            stream.targets.pop(thread, None)
            if not _consoles:
                setattr(sys, name, stream.fallback)


class _Console(code.InteractiveConsole):
    def __init__(self, connection: _Connection, namespace: dict[str, Any]) -> None:
        super().__init__(namespace, filename="<backdoor>")
        self.connection = connection

    def raw_input(self, prompt: str = "") -> str:
        self.connection.write(prompt)
        line = self.connection._next_line()
        if line is None:
            raise EOFError
        return line

    def write(self, data: str) -> None:
        self.connection.write(data)

    def runcode(self, code_object: Any) -> None:
        # sys.stdout may have been replaced since the last line (by a test runner, a logger).
        _redirect(getcurrent(), self.connection)
        super().runcode(code_object)


def _quit() -> None:
    raise SystemExit


class BackdoorServer:
    """A running backdoor: `address` is where it listens; `close()` stops it and ends every
    session; `wait()` blocks the calling green thread until it is closed."""

    def __init__(self, listener: Any, namespace: dict[str, Any] | None, banner: str | None) -> None:
        self.listener = listener
        self.address = listener.getsockname()
        self.namespace = namespace
        self.banner = banner
        self.sessions: set[GreenThread] = set()
        self.closed = False
        self.thread = spawn(self._accept_loop)
        self.thread.name = f"backdoor-{self.address[1]}"

    def __repr__(self) -> str:
        return f"<BackdoorServer {self.address!r} {len(self.sessions)} sessions>"

    def _accept_loop(self) -> None:
        try:
            while True:
                client, address = self.listener.accept()
                session = spawn(self._session, client, address)
                session.name = f"backdoor-session-{address[0]}:{address[1]}"
                self.sessions.add(session)
                session.link(self.sessions.discard)
        except GreenletExit:
            pass
        except OSError:
            if not self.closed:
                raise

    def _session(self, client: Any, address: Any) -> None:
        console(client, self.namespace, banner=self.banner)

    def close(self) -> None:
        """Stop listening and end every session (their green threads are killed)."""
        if self.closed:
            return
        self.closed = True
        self.thread.kill()
        for session in list(self.sessions):
            session.kill()
        self.listener.close()

    def wait(self) -> None:
        """Block the calling green thread until the server is closed."""
        self.thread.wait()

    def __enter__(self) -> BackdoorServer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def console(client: Any, locals: dict[str, Any] | None = None, *, banner: str | None = None) -> None:
    """Run one console on the connected socket `client` in the calling green thread, until the
    peer ends it (exit(), Ctrl-D, closing the connection); `client` is closed afterwards.

    `locals` is the console's namespace (default: a fresh one); `banner` its first line(s).
    """
    connection = _Connection(client)
    if locals is None:
        namespace: dict[str, Any] = {"__name__": "__console__", "__doc__": None}
    else:
        namespace = locals
    namespace.setdefault("exit", _quit)
    namespace.setdefault("quit", _quit)
    interactive = _Console(connection, namespace)
    current = getcurrent()
    if banner is None:
        banner = f"green backdoor: Python {sys.version.split()[0]}; exit() or Ctrl-D ends the session"
    try:
        _redirect(current, connection)
        interactive.interact(banner=banner, exitmsg="")
    except SystemExit:
        pass
    except (GreenletExit, OSError):
        pass
    finally:
        _unredirect(current)
        client.close()


def serve(
    addr: Any = ("127.0.0.1", 0),
    locals: dict[str, Any] | None = None,
    *,
    banner: str | None = None,
) -> BackdoorServer:
    """Start a backdoor: a Python console per TCP connection, each in its own green thread.

    `addr` is a ``(host, port)`` address (default: loopback, a free port; read it back from
    ``server.address``) or an already listening green socket. Only an address you pass
    explicitly can be anything but loopback: anyone who can connect runs code as this process.
    `locals` is the namespace the consoles share (default: a fresh one per session). Returns at
    once with a `BackdoorServer`; the accepting runs in a green thread. Raises OSError if the
    address cannot be bound.
    """
    if isinstance(addr, tuple):
        family = green_socket.AF_INET6 if ":" in str(addr[0]) else green_socket.AF_INET
        listener = green_socket.create_server(addr, family=family)
    else:
        listener = addr
    return BackdoorServer(listener, locals, banner)
