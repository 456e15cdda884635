"""A WebSocket chat room: every message a client sends is broadcast to everyone connected.

    python examples/websocket_chat.py [port]

Open http://127.0.0.1:8080/ in two browser tabs and type. The page is served by the same
green.wsgi server; ``/chat`` is the WebSocket. Each connection is one green thread waiting in
``ws.wait()``; broadcasting is a loop of ``ws.send`` calls (green.websocket lets any green thread
send on any WebSocket, frames never interleave).
"""

from __future__ import annotations

import sys

import green
from green import websocket, wsgi

PAGE = b"""<!doctype html>
<title>green chat</title>
<pre id="log"></pre>
<form id="form"><input id="text" autofocus autocomplete="off"><button>send</button></form>
<script>
const log = document.getElementById("log");
const socket = new WebSocket(`ws://${location.host}/chat`);
socket.onmessage = (event) => { log.textContent += event.data + "\\n"; };
socket.onclose = (event) => { log.textContent += `(closed: ${event.code})\\n`; };
document.getElementById("form").onsubmit = (event) => {
  event.preventDefault();
  const text = document.getElementById("text");
  socket.send(text.value);
  text.value = "";
};
</script>
"""

members: set[websocket.WebSocket] = set()


def broadcast(text: str) -> None:
    for member in list(members):
        try:
            member.send(text)
        except (OSError, websocket.WebSocketError):
            members.discard(member)


@websocket.WebSocketWSGI
def chat(ws: websocket.WebSocket) -> None:
    name = f"{ws.environ['REMOTE_ADDR']}:{ws.environ['REMOTE_PORT']}"
    members.add(ws)
    broadcast(f"* {name} joined ({len(members)} here)")
    try:
        for message in ws:  # until the client closes
            if isinstance(message, str):
                broadcast(f"{name}: {message[:1000]}")
    finally:
        members.discard(ws)
        broadcast(f"* {name} left")


def application(environ: dict, start_response) -> list[bytes]:
    if environ["PATH_INFO"] == "/chat":
        return chat(environ, start_response)
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [PAGE]


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    listener = green.listen(("127.0.0.1", port))
    print(f"chat on http://127.0.0.1:{port}/ (Ctrl-C to stop)")
    try:
        wsgi.server(listener, application)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
