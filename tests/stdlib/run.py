"""Run CPython's own test modules (the `test` package of the running interpreter) monkey-patched.

    python tests/stdlib/run.py [--patch green] [--patch gevent] [--patch none]
                               [--timeout SECONDS] [--test-timeout SECONDS] [--jobs N]
                               [test_socket test_thread ...]

Each (patcher, module) pair runs in its own fresh interpreter: the patcher is applied first
(``green.monkey_patch()``, gevent's ``monkey.patch_all()``, or nothing for a baseline), then the
module's tests run through unittest. The child reports after every test. A test that makes no
progress for ``--test-timeout`` seconds is counted as *hung*, its interpreter is killed, and a new
one (patched the same way) continues with the tests not run yet, so one hang does not hide the
rest of the module; ``--timeout`` bounds the whole module. The table lists raw counts per module
-- passed, failed, errors, skipped (including expected failures), hung -- and whether the module
finished, timed out or crashed. There is no skip list: what fails or hangs is counted.

Test resources (``test.support.use_resources``) are the same for every patcher: network access and
the slow CPU-bound tests are off (this machine has only loopback), except that test_socketserver,
which asks for "network" but only uses loopback, gets it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

MODULES = [
    "test_socket",
    "test_threading",
    "test_thread",
    "test_queue",
    "test_select",
    "test_selectors",
    "test_subprocess",
    "test_signal",
    "test_httplib",
    "test_ssl",
    "test_socketserver",
    "test_urllib2_localnet",
]

RESOURCES = ["subprocess", "walltime", "decimal", "tzdata"]
# test_socketserver asks for "network" as a whole but only ever talks to loopback.
EXTRA_RESOURCES = {"test_socketserver": ["network"]}

PATCHES = {
    "green": "import green; green.monkey_patch()",
    "gevent": "from gevent import monkey; monkey.patch_all()",
    "none": "pass",
}

# The child: patch, then run one test module, writing its counts to a file after every test.
CHILD = r"""
import sys
{patch}
import json, os, time, unittest
from test import support
support.use_resources = {resources!r}
report_path = {report!r}
with open({skip!r}) as file:
    skip = set(json.load(file))
counts = {{"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "finished": False, "current": "", "done": []}}

def report():
    with open(report_path + ".tmp", "w") as file:
        json.dump(counts, file)
    os.replace(report_path + ".tmp", report_path)

class CountingResult(unittest.TextTestResult):
    def startTest(self, test):
        counts["current"] = test.id()
        report()
        super().startTest(test)
    def stopTest(self, test):
        super().stopTest(test)
        counts["done"].append(test.id())
        report()
    def addSuccess(self, test):
        counts["passed"] += 1; super().addSuccess(test); report()
    def now(self, kind, test, err):
        # At once: a child killed for a later hang never prints its summary.
        self.stream.write("\n" + kind + ": " + test.id() + "\n" + self._exc_info_to_string(err, test) + "\n")
        self.stream.flush()
    def addFailure(self, test, err):
        counts["failed"] += 1; super().addFailure(test, err); self.now("FAIL", test, err); report()
    def addError(self, test, err):
        counts["errors"] += 1; super().addError(test, err); self.now("ERROR", test, err); report()
    def addSkip(self, test, reason):
        counts["skipped"] += 1; super().addSkip(test, reason); report()
    def addExpectedFailure(self, test, err):
        counts["skipped"] += 1; super().addExpectedFailure(test, err); report()
    def addUnexpectedSuccess(self, test):
        counts["failed"] += 1; super().addUnexpectedSuccess(test); report()
    def addSubTest(self, test, subtest, outcome):
        super().addSubTest(test, subtest, outcome)
        if outcome is not None:
            self.now("SUBTEST", subtest, outcome)
            if issubclass(outcome[0], test.failureException):
                counts["failed"] += 1
            else:
                counts["errors"] += 1
            report()

report()
def tests_of(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from tests_of(item)
        elif item.id() not in skip:
            yield item

suite = unittest.TestSuite(tests_of(unittest.defaultTestLoader.loadTestsFromName("test." + {module!r})))
runner = unittest.TextTestRunner(stream=sys.stderr, verbosity={verbosity}, resultclass=CountingResult)
runner.run(suite)
counts["finished"] = True
counts["current"] = ""
report()
os._exit(0)
"""


def _read(report: str) -> dict | None:
    try:
        with open(report) as file:
            return json.load(file)  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def run_one(
    patch: str, module: str, timeout: float, test_timeout: float, verbosity: int, log_directory: str
) -> dict:
    """Run one module; a test that makes no progress for `test_timeout` seconds is counted as hung,
    the child is killed, and a new child continues with the tests not yet run."""
    totals = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "hung": 0}
    finished_ids: list[str] = []
    hung_ids: list[str] = []
    status = "finished"
    log_path = os.path.join(log_directory, f"{patch}-{module}.log")
    started = time.monotonic()
    deadline = started + timeout
    with tempfile.TemporaryDirectory() as scratch, open(log_path, "w") as log:
        while True:
            report = os.path.join(scratch, f"report-{len(hung_ids)}.json")
            skip = os.path.join(scratch, "skip.json")
            with open(skip, "w") as file:
                json.dump(finished_ids + hung_ids, file)
            code = CHILD.format(
                patch=PATCHES[patch],
                resources=RESOURCES + EXTRA_RESOURCES.get(module, []),
                report=report,
                skip=skip,
                module=module,
                verbosity=verbosity,
            )
            log.flush()
            child = subprocess.Popen(
                [sys.executable, "-X", "faulthandler", "-c", code],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=scratch,
                start_new_session=True,
            )
            last_seen: tuple[str, int] | None = None
            last_change = time.monotonic()
            outcome = "exited"
            while child.poll() is None:
                time.sleep(0.25)
                counts = _read(report)
                seen = (counts["current"], len(counts["done"])) if counts else None
                now = time.monotonic()
                if seen != last_seen:
                    last_seen, last_change = seen, now
                if now > deadline:
                    outcome = "timeout"
                elif now - last_change > test_timeout:
                    outcome = "hung"
                else:
                    continue
                os.killpg(child.pid, 9)
                child.wait()
                break
            counts = _read(report) or {
                "passed": 0,
                "failed": 0,
                "errors": 0,
                "skipped": 0,
                "done": [],
                "current": "",
            }
            for key in ("passed", "failed", "errors", "skipped"):
                totals[key] += counts[key]
            finished_ids.extend(counts["done"])
            if outcome == "exited":
                if not counts.get("finished"):
                    status = f"crash({child.returncode})"
                break
            current = counts.get("current", "")
            if outcome == "timeout" or not current or current in counts["done"]:
                status = "timeout" if outcome == "timeout" else "hung"
                break
            hung_ids.append(current)
            totals["hung"] += 1
            log.write(f"\n*** {current} made no progress for {test_timeout:.0f} s: counted as hung ***\n")
    totals.update(
        patch=patch,
        module=module,
        status=status,
        seconds=round(time.monotonic() - started, 1),
        log=log_path,
        hung_tests=hung_ids,
    )
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("modules", nargs="*", default=MODULES)
    parser.add_argument("--patch", action="append", choices=sorted(PATCHES), help="default: green and gevent")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per module (default 600)")
    parser.add_argument(
        "--test-timeout",
        type=float,
        default=60.0,
        help="seconds one test may run before it counts as hung and the module continues (default 60)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="modules run at once (default 2)")
    parser.add_argument("--verbose", action="store_true", help="name every test in the logs")
    parser.add_argument("--logs", default=None, help="directory for per-module logs (default: a temp dir)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    arguments = parser.parse_args()
    patches = arguments.patch or ["green", "gevent"]
    log_directory = arguments.logs or tempfile.mkdtemp(prefix="green-stdlib-")
    os.makedirs(log_directory, exist_ok=True)
    jobs = [(patch, module) for module in arguments.modules for patch in patches]
    verbosity = 2 if arguments.verbose else 1
    with ThreadPoolExecutor(max_workers=max(1, arguments.jobs)) as pool:
        results = list(
            pool.map(
                lambda job: run_one(
                    job[0], job[1], arguments.timeout, arguments.test_timeout, verbosity, log_directory
                ),
                jobs,
            )
        )

    print(f"Python {sys.version.split()[0]}; logs in {log_directory}")
    columns = ("passed", "failed", "errors", "skipped", "hung")
    header = (
        f"{'module':24} {'patch':7} " + " ".join(f"{name:>7}" for name in columns) + f" {'secs':>6}  status"
    )
    print(header)
    print("-" * len(header))
    totals: dict[str, dict[str, int]] = {}
    for result in results:
        numbers = " ".join(f"{result[name]:7}" for name in columns)
        print(
            f"{result['module']:24} {result['patch']:7} {numbers} {result['seconds']:6}  {result['status']}"
        )
        total = totals.setdefault(result["patch"], dict.fromkeys([*columns, "bad"], 0))
        for name in columns:
            total[name] += result[name]
        total["bad"] += result["status"] != "finished"
    for patch, total in totals.items():
        numbers = " ".join(f"{total[name]:7}" for name in columns)
        print(f"{'TOTAL':24} {patch:7} {numbers}         {total['bad']} modules did not finish")
    hung = [(result["patch"], name) for result in results for name in result["hung_tests"]]
    if hung:
        print("hung tests (killed, module continued):")
        for patch, name in hung:
            print(f"  {patch:7} {name}")
    if arguments.json:
        with open(arguments.json, "w") as file:
            json.dump(results, file, indent=1)
    bad = any(result["status"] != "finished" for result in results if result["patch"] == "green")
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
