"""xmlrpc: a SimpleXMLRPCServer (made threading) answers 50 concurrent ServerProxy clients, each
call sleeping 0.2 s on the server, in well under 50 x 0.2 s."""

import green

green.monkey_patch()

import socketserver  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import xmlrpc.client  # noqa: E402
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer  # noqa: E402


class Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True


class Quiet(SimpleXMLRPCRequestHandler):
    def log_message(self, *args):
        pass


def slow_add(a, b):
    time.sleep(0.2)
    return a + b


server = Server(("127.0.0.1", 0), requestHandler=Quiet, allow_none=True)
server.register_function(slow_add)
serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
serving.start()
url = f"http://127.0.0.1:{server.server_address[1]}/"

results = {}


def call(number):
    with xmlrpc.client.ServerProxy(url) as proxy:
        results[number] = proxy.slow_add(number, 1000)


started = time.monotonic()
threads = [threading.Thread(target=call, args=(number,)) for number in range(50)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
elapsed = time.monotonic() - started
server.shutdown()
serving.join()
server.server_close()
assert results == {number: number + 1000 for number in range(50)}, results
assert elapsed < 2.0, elapsed
print("pass")
