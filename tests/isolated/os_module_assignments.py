"""After monkey_patch(), `os` is green's module, but assigning a name it re-exports reaches the
real module's own functions (CPython's test_os does this: os.environ = {...}, mock of os.execv),
and os.__all__ is the stdlib's."""

import green

green.monkey_patch()

import os  # noqa: E402
from unittest import mock  # noqa: E402

assert getattr(os, "__green__", None) == "os"
assert "open" in os.__all__ and "walk" in os.__all__

saved = os.environ
try:
    os.environ = {"PATH": "/monty:/python"}  # noqa: B003  (what CPython's test_os does)
    assert os.get_exec_path() == ["/monty", "/python"], os.get_exec_path()
finally:
    os.environ = saved  # noqa: B003
assert os.get_exec_path() == os.get_exec_path(dict(os.environ))

calls = []
with mock.patch("os.execv", side_effect=lambda *arguments: calls.append(arguments)):
    os.execl("/nowhere/program", "program", "argument")  # the real execl calls execv
assert calls == [("/nowhere/program", ("program", "argument"))], calls

# What green implements stays green's own.
os.read = lambda fd, length: b"mine"
assert os.read(0, 1) == b"mine"
assert green.patcher.original("os").read is not os.read
print("pass")
