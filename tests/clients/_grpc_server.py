"""A gRPC server for grpc_sync.py: /green.Test/Slow sleeps for the seconds in the request, then
echoes it. Prints its port. With --patched it monkey-patches first (which hangs it in start())."""

import sys

if "--patched" in sys.argv:
    import green

    green.monkey_patch()

import time  # noqa: E402
from concurrent import futures  # noqa: E402

import grpc  # noqa: E402


def slow(request, context):
    time.sleep(float(request.decode() or "0"))
    return request


handler = grpc.method_handlers_generic_handler(
    "green.Test", {"Slow": grpc.unary_unary_rpc_method_handler(slow)}
)
server = grpc.server(futures.ThreadPoolExecutor(max_workers=50))
server.add_generic_rpc_handlers((handler,))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(port, flush=True)
sys.stdin.read()  # until the parent closes our stdin
server.stop(0)
