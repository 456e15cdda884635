"""`python -m green script.py args` and `python -m green -m module args`: the script runs patched,
as __main__, with its argv, sys.path[0], exit code and traceback; non-daemon threads are waited
for at exit."""

import os
import subprocess
import sys
import tempfile

SCRIPT = """
import socket, sys, threading, time
assert socket.socket.__module__ == "green.socket", socket.socket
starter = getattr(threading, "_start_joinable_thread", None) or threading._start_new_thread
assert starter.__module__ == "green.thread", starter
assert __name__ == "__main__"
def late():
    time.sleep(0.2)
    print("late thread done", flush=True)
threading.Thread(target=late).start()
print("argv", sys.argv[1:], "path0", sys.path[0] == {directory!r}, flush=True)
if sys.argv[1:] == ["fail"]:
    raise ValueError("boom")
sys.exit(int(sys.argv[1]) if sys.argv[1:] else 0)
"""

with tempfile.TemporaryDirectory() as directory:
    script = os.path.join(directory, "script.py")
    with open(script, "w") as file:
        file.write(SCRIPT.format(directory=directory))
    green_python = [sys.executable, "-m", "green"]
    done = subprocess.run([*green_python, script, "5", "-x"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 5, (done.returncode, done.stderr)
    assert "argv ['5', '-x'] path0 True" in done.stdout, done.stdout
    assert done.stdout.rstrip().endswith("late thread done"), done.stdout
    done = subprocess.run([*green_python, script, "fail"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "ValueError: boom" in done.stderr, done.stderr
    done = subprocess.run(
        [*green_python, "--hub", "poll", script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    module = os.path.join(directory, "as_module.py")
    with open(module, "w") as file:
        file.write("import sys, socket\nprint(__name__, sys.argv, socket.socket.__module__)\n")
    done = subprocess.run(
        [*green_python, "-m", "as_module", "-v", "x"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=directory,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"__main__ {[module, '-v', 'x']} green.socket\n", done.stdout
    done = subprocess.run([*green_python], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "usage" in done.stderr, done.stderr
print("pass")
