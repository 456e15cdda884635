"""requests, urllib3 and httpx (sync) under monkey_patch(), over HTTP and HTTPS (trustme
certificates) against a local keep-alive server: slow requests overlap, and requests cut by
green.Timeout leave no leaked, stuck or poisoned pooled connection (the next request on the pool
gets its own answer, never the late answer of a cut one)."""

import green

green.monkey_patch()

import http.server  # noqa: E402
import os  # noqa: E402
import ssl  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402

import httpx  # noqa: E402
import requests  # noqa: E402
import trustme  # noqa: E402
import urllib3  # noqa: E402
from _common import assert_overlapped, concurrently, open_fds  # noqa: E402


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: pooled connections are reused

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/slow":
            time.sleep(float(query.get("seconds", ["0.5"])[0]))
        body = query.get("id", ["-"])[0].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        pass  # the cut requests' clients hang up before their answer: expected here


def start(context=None):
    server = Server(("127.0.0.1", 0), Handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


authority = trustme.CA()
certificate = authority.issue_cert("127.0.0.1", "localhost")
server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
certificate.configure_cert(server_context)
ca_file = tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False)
ca_file.write(authority.cert_pem.bytes())
ca_file.close()

plain_server = start()
tls_server = start(server_context)
BASES = {
    "http": f"http://127.0.0.1:{plain_server.server_address[1]}",
    "https": f"https://127.0.0.1:{tls_server.server_address[1]}",
}
COUNT = 20

for scheme, base in BASES.items():
    # requests: one Session shared by all green threads (its pool grows past 10 with a warning
    # only; pool_maxsize sized to the concurrency here).
    session = requests.Session()
    session.mount(f"{scheme}://", requests.adapters.HTTPAdapter(pool_maxsize=COUNT))

    def with_requests(number, session=session, base=base):
        # verify per request: a session-level one loses to REQUESTS_CA_BUNDLE in the environment
        return session.get(f"{base}/slow", params={"id": number}, timeout=10, verify=ca_file.name).text

    elapsed, results, ticks = concurrently(COUNT, with_requests)
    assert results == [str(number) for number in range(COUNT)], results
    assert_overlapped(f"requests {scheme}", elapsed, ticks, 0.5, COUNT)
    session.close()

    # urllib3 directly.
    manager = urllib3.PoolManager(maxsize=COUNT, ca_certs=ca_file.name)

    def with_urllib3(number, manager=manager, base=base):
        return manager.request("GET", f"{base}/slow?id={number}").data.decode()

    elapsed, results, ticks = concurrently(COUNT, with_urllib3)
    assert results == [str(number) for number in range(COUNT)], results
    assert_overlapped(f"urllib3 {scheme}", elapsed, ticks, 0.5, COUNT)
    manager.clear()

    # httpx's sync client.
    client = httpx.Client(verify=ssl.create_default_context(cafile=ca_file.name), timeout=10)

    def with_httpx(number, client=client, base=base):
        return client.get(f"{base}/slow", params={"id": number}).text

    elapsed, results, ticks = concurrently(COUNT, with_httpx)
    assert results == [str(number) for number in range(COUNT)], results
    assert_overlapped(f"httpx {scheme}", elapsed, ticks, 0.5, COUNT)
    client.close()


def cut_then_use(label, fetch, connections):
    """Cut 6 requests on a pool of 2 with a Timeout, then 6 requests must each get their own answer."""
    for number in range(6):
        try:
            with green.Timeout(0.1):
                fetch(f"/slow?seconds=0.4&id=cut{number}")
        except green.Timeout:
            pass
        else:
            raise AssertionError(f"{label}: the Timeout did not fire")
    green.sleep(0.5)  # the cut answers arrive now: a poisoned connection would hand them out
    answers = [fetch(f"/fast?id=after{number}") for number in range(6)]
    assert answers == [f"after{number}" for number in range(6)], f"{label}: {answers}"
    assert connections() <= 2, f"{label}: {connections()} connections in a pool of 2"


for scheme, base in BASES.items():
    fds_before = open_fds()
    tls = {"ca_certs": ca_file.name} if scheme == "https" else {}
    pool = urllib3.connection_from_url(base, maxsize=2, block=True, timeout=10, **tls)
    cut_then_use(
        f"urllib3 {scheme}",
        lambda path, pool=pool: pool.request("GET", path, retries=False).data.decode(),
        lambda pool=pool: sum(1 for connection in list(pool.pool.queue) if connection is not None),
    )
    assert pool.pool.qsize() == 2, "a cut request kept its pool slot"
    pool.close()

    client = httpx.Client(
        base_url=base,
        verify=ssl.create_default_context(cafile=ca_file.name),
        limits=httpx.Limits(max_connections=2, max_keepalive_connections=2),
        timeout=10,
    )
    cut_then_use(
        f"httpx {scheme}",
        lambda path, client=client: client.get(path).text,
        lambda client=client: len(client._transport._pool.connections),
    )
    client.close()
    green.sleep(0.05)
    assert open_fds() <= fds_before + 2, f"{scheme}: fds {fds_before} -> {open_fds()}"

plain_server.shutdown()
tls_server.shutdown()
os.unlink(ca_file.name)
print("pass")
