"""After monkey_patch(), socket.getaddrinfo is green.resolver's: a lookup waiting for a silent
nameserver parks only its green thread (threading.Thread, time.sleep and socket all patched), and
ends with gaierror(EAI_AGAIN) after the resolv.conf timeout; numeric and hosts-file answers equal
the C library's."""

import os
import tempfile

import green

green.monkey_patch()

import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from green._stdlib import original  # noqa: E402

# A nameserver that reads questions and never answers: a real UDP socket nobody serves.
real_socket = original("socket")
silent = real_socket.socket(real_socket.AF_INET, real_socket.SOCK_DGRAM)
silent.bind(("127.0.0.1", 0))
directory = tempfile.mkdtemp()
resolv_conf = os.path.join(directory, "resolv.conf")
with open(resolv_conf, "w") as file:
    file.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
os.environ["GREEN_RESOLV_CONF"] = resolv_conf
os.environ["GREEN_DNS_PORT"] = str(silent.getsockname()[1])

assert socket.getaddrinfo("127.0.0.1", 80) == real_socket.getaddrinfo("127.0.0.1", 80)
assert socket.gethostbyname("localhost") == "127.0.0.1"

outcome = {}


def lookup():
    started = time.monotonic()
    try:
        socket.getaddrinfo("nobody.answers.test.", 443)
    except socket.gaierror as error:
        outcome["errno"] = error.errno
    outcome["elapsed"] = time.monotonic() - started


ticks = 0
thread = threading.Thread(target=lookup)
thread.start()
while thread.is_alive():
    ticks += 1
    time.sleep(0.02)
thread.join()
silent.close()

assert outcome["errno"] == socket.EAI_AGAIN, outcome
assert 0.9 <= outcome["elapsed"] < 1.8, outcome
assert ticks >= 20, ticks
print("pass")
