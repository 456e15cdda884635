"""monkey_patch(dns=True) alone: name resolution through `socket` is green, socket objects are
the stdlib's, and the real socket module is left untouched."""

import green

green.monkey_patch(dns=True)

import socket  # noqa: E402

from green import patcher  # noqa: E402

assert green.is_monkey_patched("dns") and not green.is_monkey_patched("socket")
assert socket.getaddrinfo.__module__.startswith("green."), socket.getaddrinfo
assert socket.socket is patcher.original("socket").socket
assert patcher.original("socket").getaddrinfo.__module__ == "socket"
assert socket.gethostbyname("localhost") == "127.0.0.1"
assert socket.getaddrinfo("127.0.0.1", 80, socket.AF_INET, socket.SOCK_STREAM)[0][4] == ("127.0.0.1", 80)
print("pass")
