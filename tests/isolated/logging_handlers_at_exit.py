"""Logging handlers still alive at interpreter exit, after monkey_patch(): logging removes them
under its (green) module lock while greenlets are being finalized, and green's get_ident() must
not fail there ("Exception ignored ... greenlet is being finalized" on stderr before the fix)."""

import subprocess
import sys

CHILD = """
import green
green.monkey_patch()
import logging
handlers = [logging.StreamHandler() for _ in range(5)]
def make():
    global kept
    kept = [logging.StreamHandler() for _ in range(3)]
green.spawn(make).wait()
print("child done")
"""

done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=30)
assert done.returncode == 0, done.stderr
assert done.stdout.strip() == "child done", done.stdout
assert done.stderr == "", done.stderr
print("pass")
