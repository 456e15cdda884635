"""concurrent.futures.ThreadPoolExecutor.map over green threads: 40 tasks sleeping 0.1 s on 20
workers finish in about 0.2 s, in order, and exceptions propagate."""

import green

green.monkey_patch()

import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor, wait  # noqa: E402


def task(number):
    time.sleep(0.1)
    if number == -1:
        raise ValueError("bad task")
    return number * number


started = time.monotonic()
with ThreadPoolExecutor(max_workers=20) as pool:
    results = list(pool.map(task, range(40)))
    failing = pool.submit(task, -1)
    done, _ = wait([failing], timeout=5)
elapsed = time.monotonic() - started
assert results == [number * number for number in range(40)]
assert failing in done and isinstance(failing.exception(), ValueError)
assert elapsed < 0.6, elapsed
print("pass")
