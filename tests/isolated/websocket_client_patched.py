"""After monkey_patch(): green.websocket.WebSocket as a client (client=True, permessage-deflate)
over stdlib sockets made in threading.Threads, against green's own server; and a hixie-76 client
written out by hand against the server with support_legacy_versions."""

import green

green.monkey_patch()

import socket  # noqa: E402
import threading  # noqa: E402

from green import websocket, wsgi  # noqa: E402

CLIENTS = 20


def echo(ws):
    for message in ws:
        ws.send(message)


listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(128)
port = listener.getsockname()[1]
server = wsgi.Server(listener, websocket.WebSocketWSGI(echo, support_legacy_versions=True))
listener.close()
serving = threading.Thread(target=server.serve_forever)
serving.start()

results = {}


def read_head(sock):
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)
    return head


def client(number):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    )
    assert b"permessage-deflate" in read_head(sock)
    ws = websocket.WebSocket(sock, {}, client=True, extensions={"permessage-deflate": {}})
    replies = []
    for index in range(5):
        ws.send(f"{number}:{index}" * 10)
        replies.append(ws.wait())
    ws.close()
    assert sock.fileno() == -1 and ws.close_code == 1000
    results[number] = replies


threads = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert results == {n: [f"{n}:{i}" * 10 for i in range(5)] for n in range(CLIENTS)}, results

with socket.create_connection(("127.0.0.1", port)) as sock:
    key1, key2, key3 = "4 @1  46546xW%0l 1 5", "12998 5 Y3 1  .P00", b"^n:ds[4U"
    sock.sendall(
        f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nOrigin: http://x\r\n"
        f"Sec-WebSocket-Key1: {key1}\r\nSec-WebSocket-Key2: {key2}\r\n\r\n".encode()
        + key3
        + b"\x00hixie\xff"
    )
    read_head(sock)
    answer = b""
    while len(answer) < 16 + 7:
        answer += sock.recv(64)
    assert answer == b"8jKS'y:G*Co,Wxa-" + b"\x00hixie\xff", answer  # the draft's own example

server.stop(timeout=5)
serving.join()
print("pass")
