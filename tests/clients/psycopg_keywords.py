"""monkey_patch(psycopg=False) leaves both drivers alone; a later psycopg=True patches a driver
imported before it at once."""

from psycopg import waiting

import green

original_wait = waiting.wait
green.monkey_patch(psycopg=False)
import psycopg2.extensions  # noqa: E402

assert psycopg2.extensions.get_wait_callback() is None
assert waiting.wait is original_wait
assert not green.is_monkey_patched("psycopg")

green.monkey_patch(psycopg=True)
assert green.is_monkey_patched("psycopg")
assert psycopg2.extensions.get_wait_callback() is not None
assert waiting.wait is not original_wait
print("pass")
