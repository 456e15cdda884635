"""monkey_patch keyword semantics (eventlet's), idempotence, is_monkey_patched, get_original,
original, import_patched, and the warning about modules that captured originals."""

import socket as early_socket_module
import warnings
from socket import socket as early_socket_class

import green
from green import patcher

real_socket = early_socket_module.socket

try:
    green.monkey_patch(sockets=True)
except TypeError as problem:
    assert "sockets" in str(problem)
else:
    raise AssertionError("unknown keyword accepted")

everything = set(patcher._GROUPS) | set(patcher._libraries.LIBRARIES)  # stdlib groups and C drivers
assert patcher._requested({}) == everything
assert patcher._requested({"socket": True, "time": True}) == {"socket", "time"}
assert patcher._requested({"socket": False}) == everything - {"socket"}
assert patcher._requested({"socket": True, "time": False}) == {"socket"}

# A private copy that sees green dependencies; nothing patched process-wide.
private_client = green.import_patched("http.client")
import http.client  # noqa: E402
import sys  # noqa: E402

assert private_client is not http.client
assert private_client.socket.socket.__module__ == "green.socket"
assert http.client.socket.socket is real_socket
assert sys.modules["socket"] is early_socket_module
# A package whose submodule imports socket: the private copy's submodule is private too.
import os  # noqa: E402
import tempfile  # noqa: E402

package_root = tempfile.mkdtemp()
os.mkdir(os.path.join(package_root, "sample_package"))
with open(os.path.join(package_root, "sample_package", "__init__.py"), "w") as file:
    file.write("from .sub import used\n")
with open(os.path.join(package_root, "sample_package", "sub.py"), "w") as file:
    file.write("import socket\n\ndef used():\n    return socket\n")
sys.path.insert(0, package_root)
import sample_package  # noqa: E402

import green.socket  # noqa: E402

early_sub = sys.modules["sample_package.sub"]
assert green.import_patched("sample_package").used() is green.socket
assert sample_package.used() is early_socket_module and sys.modules["sample_package.sub"] is early_sub

import email.mime.text  # noqa: E402  (an already imported submodule)

early_mime_text = email.mime.text
assert green.import_patched("email.mime.text") is not early_mime_text
assert email.mime.text is early_mime_text  # the package's attribute is not the private copy

# Only time first: socket untouched.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    green.monkey_patch(time=True)
import time  # noqa: E402

assert time.sleep.__module__ == "green.time"
assert green.is_monkey_patched("time") and not green.is_monkey_patched("socket")
assert sys.modules["socket"] is early_socket_module

# Everything but thread: socket now; the early `import socket` is rebound; the early
# `from socket import socket` is reported.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    green.monkey_patch(thread=False)
assert green.is_monkey_patched("socket") and not green.is_monkey_patched("thread")
assert patcher.original("socket").socket is real_socket  # the real module itself is untouched
assert early_socket_module.socket.__module__ == "green.socket"  # this module's global was rebound
messages = [str(warning.message) for warning in caught if issubclass(warning.category, RuntimeWarning)]
assert len(messages) == 1 and "socket.socket in __main__" in messages[0], messages
assert early_socket_class is real_socket

# Idempotent; and the originals stay reachable.
modules_before = dict(sys.modules)
green.monkey_patch(thread=False)
assert sys.modules == modules_before
assert patcher.original("socket") is not early_socket_module is sys.modules["socket"]
assert patcher.get_original("socket", "socket") is real_socket
import select  # noqa: E402

assert not hasattr(select, "epoll") and hasattr(patcher.original("select"), "epoll")

# Then thread: threading gets green in place, get_original still knows the real one.
import threading  # noqa: E402

starter = "_start_joinable_thread" if hasattr(threading, "_start_joinable_thread") else "_start_new_thread"
real_start = getattr(threading, starter)
green.monkey_patch(thread=True)
assert getattr(threading, starter).__module__ == "green.thread"
assert patcher.get_original("threading", starter) is real_start
assert green.is_monkey_patched("thread") and green.is_monkey_patched("_thread")
import queue  # noqa: E402

assert queue.SimpleQueue.__module__ == "green.queue"
assert green.is_monkey_patched("os") and green.is_monkey_patched("dns")
import os  # noqa: E402

assert os.waitpid.__module__ == "green._process"
print("pass")
