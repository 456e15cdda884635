"""Run CPython's own test modules (the `test` package of the running interpreter) monkey-patched.

    python tests/stdlib/run.py [--patch green] [--patch gevent] [--patch none]
                               [--timeout SECONDS] [--test-timeout SECONDS] [--jobs N]
                               [--baseline FILE] [--write-baseline] [test_socket test_thread ...]

Each (patcher, module) pair runs in its own fresh interpreter: the patcher is applied first
(``green.monkey_patch()``, gevent's ``monkey.patch_all()``, or nothing for a baseline), then the
module's tests run through unittest. The child reports after every test. A test that makes no
progress for ``--test-timeout`` seconds is counted as *hung*, its interpreter is killed, and a new
one (patched the same way) continues with the tests not run yet, so one hang does not hide the
rest of the module; ``--timeout`` bounds the whole module. The table lists raw counts per module
-- passed, failed, errors, skipped (including expected failures), hung, excluded -- and whether the
module finished, timed out, crashed or is absent from this interpreter's `test` package.

By default only green runs; gevent's counts come from ``gevent-baseline.json`` next to this file,
measured on the project's machine (``--patch gevent --write-baseline`` re-measures them; see
README.md here). ``--patch green --patch gevent`` runs both live.

The exit status (the CI verdict) is about green only: 1 if a module hung, timed out or crashed,
if a test hung, or if a test failed that is not listed in KNOWN_FAILURES with its reason. Tests
listed in KNOWN_HANGS (they cannot end under cooperative scheduling) are not started; they are
the "excluded" column.

Test resources (``test.support.use_resources``) are the same for every patcher: network access and
the slow CPU-bound tests are off (this machine has only loopback), except that test_socketserver,
which asks for "network" but only uses loopback, gets it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

MODULES = [
    # sockets, select loops, TLS
    "test_socket",
    "test_select",
    "test_selectors",
    "test_poll",
    "test_ssl",
    "test_asyncore",
    "test_asynchat",
    # threads, queues, signals
    "test_threading",
    "test_thread",
    "test_threading_local",
    "test_threadsignals",
    "test_threadedtempfile",
    "test_queue",
    "test_sched",
    "test_signal",
    "test_concurrent_futures",
    # processes and os-level I/O
    "test_subprocess",
    "test_os",
    "test_io",
    "test_fcntl",
    "test_pty",
    "test_openpty",
    "test_fork1",
    "test_wait3",
    "test_wait4",
    # clients and servers built on them
    "test_socketserver",
    "test_httplib",
    "test_httpservers",
    "test_urllib",
    "test_urllib2",
    "test_urllib2_localnet",
    "test_xmlrpc",
    "test_docxmlrpc",
    "test_wsgiref",
    "test_ftplib",
    "test_poplib",
    "test_smtplib",
    "test_smtpd",
    "test_imaplib",
    "test_telnetlib",
    "test_logging",
]

# Failures of green's run that are understood: test id -> why. Any other failure or error fails
# the run (as does any hang or crash).
KNOWN_FAILURES: dict[str, str] = {
    "test.test_fork1.ForkTest.test_threaded_import_lock_fork": (
        "the import lock belongs to the OS thread: fork() in the main green thread takes it at "
        "once while another green thread of the same OS thread holds it mid-import, so the child "
        "sees the half-imported module (gevent fails it too)"
    ),
    "test.test_io.CBufferedWriterTest.test_slow_close_from_thread": (
        "C io's buffered objects guard re-entry by OS thread ident: a second green thread of the "
        "same OS thread entering while close() is parked in flush() is a 'reentrant call' "
        "(gevent fails it too)"
    ),
    "test.test_io.CBufferedRandomTest.test_slow_close_from_thread": (
        "as CBufferedWriterTest.test_slow_close_from_thread (gevent fails it too)"
    ),
    # test_socket, test_select, test_ssl: green's socket is a Python class over a real socket it
    # keeps non-blocking; the stdlib tests look at the C type and at the fd's flags.
    "test.test_socket.GeneralModuleTests.test_SocketType_is_socketobject": (
        "socket.SocketType is _socket.socket, which green's socket class wraps instead of "
        "subclassing (gevent fails it too)"
    ),
    "test.test_socket.NonBlockingTCPTests.testSetBlocking": (
        "reads O_NONBLOCK on the fd: green keeps every socket's fd non-blocking and applies the "
        "timeout itself (gevent fails it too)"
    ),
    "test.test_socket.NonBlockingTCPTests.testSetBlocking_overflow": (
        "as NonBlockingTCPTests.testSetBlocking (gevent fails it too)"
    ),
    "test.test_socket.NonblockConstantTest.test_SOCK_NONBLOCK": (
        "as NonBlockingTCPTests.testSetBlocking: the fd of a blocking green socket has O_NONBLOCK"
    ),
    "test.test_select.SelectTestCase.test_disallow_instantiation": (
        "green's select.poll is a Python class, which type(select.poll())() can instantiate "
        "(gevent fails it too)"
    ),
    "test.test_subprocess.POSIXProcessTestCase.test_communicate_BrokenPipeError_stdin_write": (
        "mocks proc.stdin.write, but green's communicate() writes the input through the fd "
        "cooperatively, not through the file object"
    ),
    # test_threading: green threads are not OS threads.
    "test.test_threading.MiscTestCase.test__all__": (
        "threading is patched in place, and green's added names show up in its namespace "
        "(gevent fails it too)"
    ),
    "test.test_threading.ThreadTests.test_disallow_instantiation": (
        "green's _thread lock type is a Python class that can be instantiated (gevent fails it too)"
    ),
    "test.test_threading.ThreadTests.test_various_ops": (
        "compares get_native_id() between threads: every green thread has its OS thread's "
        "native id (gevent fails it too)"
    ),
    "test.test_threading.ThreadTests.test_various_ops_small_stack": (
        "as ThreadTests.test_various_ops (gevent fails it too)"
    ),
    "test.test_threading.ThreadTests.test_various_ops_large_stack": (
        "as ThreadTests.test_various_ops (gevent fails it too)"
    ),
    "test.test_threading.ThreadTests.test_PyThreadState_SetAsyncExc": (
        "PyThreadState_SetAsyncExc targets OS thread states; a green thread has none of its own "
        "(gevent hangs in it)"
    ),
    "test.test_threading.ThreadTests.test_foreign_thread": (
        "a green thread started through _thread.start_new_thread is not found in "
        "threading._active under the ident the test reads (failed before issue 9's changes; "
        "cause not investigated)"
    ),
    "test.test_threading.ThreadTests.test_ident_of_no_threading_threads": (
        "as ThreadTests.test_foreign_thread (failed before issue 9's changes)"
    ),
    "test.test_threading.InterruptMainTests.test_can_interrupt_tight_loops": (
        "interrupt_main() from another thread while the main thread spins without yielding: the "
        "other green thread never runs to call it"
    ),
    "test.test_io.PySignalsTest.test_interrupted_write_unbuffered": (
        "green's os.write to a blocking pipe writes at most PIPE_BUF bytes when the pipe has room "
        "(a short write) instead of blocking the OS thread until a signal interrupts it, so the "
        "alarm the test waits for never interrupts the write"
    ),
}

# Tests green's run does not start, because they cannot end under cooperative scheduling on one
# OS thread: test id -> why. They are counted in the "excluded" column; a hang of any other
# test fails the run.
KNOWN_HANGS: dict[str, str] = {
    "test.test_io.CSignalsTest.test_interrupted_write_retry_buffered": (
        "C io writes to a full pipe with write(2) in C, blocking the OS thread; the reader that "
        "would drain it is a green thread of that same OS thread (started by a signal handler) "
        "and never runs (gevent hangs too)"
    ),
    "test.test_io.CSignalsTest.test_interrupted_write_retry_text": (
        "as CSignalsTest.test_interrupted_write_retry_buffered (gevent hangs too)"
    ),
    "test.test_queue.CSimpleQueueTest.test_many_threads": (
        "the C _queue.SimpleQueue, imported fresh by the test, blocks the OS thread in get(); "
        "the producers are green threads of it (gevent hangs too)"
    ),
    "test.test_queue.CSimpleQueueTest.test_many_threads_timeout": (
        "as CSimpleQueueTest.test_many_threads (gevent hangs too)"
    ),
    "test.test_queue.CSimpleQueueTest.test_order": (
        "as CSimpleQueueTest.test_many_threads (gevent hangs too)"
    ),
    "test.test_socket.ThreadedVSOCKSocketStreamTest.testStream": (
        "AF_VSOCK loopback: never makes progress under green (already before issue 9's changes; "
        "gevent hangs too); cause not investigated"
    ),
    "test.test_signal.StressTest.test_stress_modifying_handlers": (
        "two threads that never block: the main one loops until the other has sent 100 signals, "
        "which needs preemption (gevent hangs too)"
    ),
}

# gevent's counts measured on this machine (see tests/stdlib/README.md), shown next to green's
# when gevent is not run live.
BASELINE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gevent-baseline.json")

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
import signal, sys
# A runner started in the background by a shell inherits SIGINT ignored; the tests expect
# Python's default handler (KeyboardInterrupt), as in a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
{patch}
import json, os, time, unittest
from test import support
support.use_resources = {resources!r}
report_path = {report!r}
with open({skip!r}) as file:
    skip = set(json.load(file))
counts = {{"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "finished": False, "current": "", "done": [], "problems": [], "passes": []}}

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
        counts["passed"] += 1; counts["passes"].append(test.id()); super().addSuccess(test); report()
    def now(self, kind, test, err):
        # At once: a child killed for a later hang never prints its summary.
        self.stream.write("\n" + kind + ": " + test.id() + "\n" + self._exc_info_to_string(err, test) + "\n")
        self.stream.flush()
    def addFailure(self, test, err):
        counts["failed"] += 1; counts["problems"].append(test.id())
        super().addFailure(test, err); self.now("FAIL", test, err); report()
    def addError(self, test, err):
        counts["errors"] += 1; counts["problems"].append(test.id())
        super().addError(test, err); self.now("ERROR", test, err); report()
    def addSkip(self, test, reason):
        counts["skipped"] += 1; super().addSkip(test, reason); report()
    def addExpectedFailure(self, test, err):
        counts["skipped"] += 1; super().addExpectedFailure(test, err); report()
    def addUnexpectedSuccess(self, test):
        counts["failed"] += 1; counts["problems"].append(test.id())
        super().addUnexpectedSuccess(test); report()
    def addSubTest(self, test, subtest, outcome):
        super().addSubTest(test, subtest, outcome)
        if outcome is not None:
            counts["problems"].append(test.id())
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
    totals: dict = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "hung": 0}
    prefix = f"test.{module}."
    excluded = [name for name in KNOWN_HANGS if name.startswith(prefix)] if patch == "green" else []
    problems: list[str] = []
    passes: list[str] = []
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
                json.dump(finished_ids + hung_ids + excluded, file)
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
            problems.extend(name for name in counts.get("problems", ()) if name not in problems)
            passes.extend(counts.get("passes", ()))
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
        problems=problems,
        passes=passes,
        excluded=len(excluded),
    )
    return totals


def absent(patch: str, module: str) -> dict:
    """The result for a module this interpreter's `test` package does not have."""
    return {
        "passed": 0,
        "failed": 0,
        "errors": 0,
        "skipped": 0,
        "hung": 0,
        "patch": patch,
        "module": module,
        "status": "absent",
        "seconds": 0.0,
        "log": "",
        "hung_tests": [],
        "problems": [],
        "passes": [],
        "excluded": 0,
    }


def _load_baseline(path: str) -> dict:
    try:
        with open(path) as file:
            return json.load(file)  # type: ignore[no-any-return]
    except FileNotFoundError:
        return {}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("modules", nargs="*", default=MODULES)
    parser.add_argument(
        "--patch", action="append", choices=sorted(PATCHES), help="default: green (gevent from the baseline)"
    )
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
    parser.add_argument(
        "--baseline",
        default=BASELINE,
        help="gevent's committed counts, shown next to green's when gevent does not run live "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--write-baseline",
        action="store_true",
        help="store this run's gevent counts in --baseline (with --patch gevent)",
    )
    arguments = parser.parse_args()
    patches = arguments.patch or ["green"]
    log_directory = arguments.logs or tempfile.mkdtemp(prefix="green-stdlib-")
    os.makedirs(log_directory, exist_ok=True)
    jobs = [(patch, module) for module in arguments.modules for patch in patches]
    verbosity = 2 if arguments.verbose else 1

    def run(job: tuple[str, str]) -> dict:
        patch, module = job
        if importlib.util.find_spec(f"test.{module}") is None:
            return absent(patch, module)
        return run_one(patch, module, arguments.timeout, arguments.test_timeout, verbosity, log_directory)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, arguments.jobs)) as pool:
        results = list(pool.map(run, jobs))
    wall = time.monotonic() - started

    # gevent's counts: from this run if it ran gevent, else from the committed baseline.
    baseline = _load_baseline(arguments.baseline)
    gevent_live = {result["module"]: result for result in results if result["patch"] == "gevent"}
    gevent_counts = gevent_live or baseline.get("modules", {})
    gevent_source = "this run" if gevent_live else f"{arguments.baseline} ({baseline.get('measured', '?')})"

    print(f"Python {sys.version.split()[0]}; logs in {log_directory}; {wall:.0f} s wall")
    print(f"gevent's counts: {gevent_source}")
    columns = ("passed", "failed", "errors", "skipped", "hung", "excluded")
    header = (
        f"{'module':28} {'patch':7} " + " ".join(f"{name:>7}" for name in columns) + f" {'secs':>6}  status"
    )
    print(header)
    print("-" * len(header))
    totals: dict[str, dict[str, int]] = {}
    behind: list[str] = []
    for module in arguments.modules:
        rows = [result for result in results if result["module"] == module]
        if "gevent" not in patches and module in gevent_counts:
            rows.append({**gevent_counts[module], "patch": "gevent*"})
        for result in rows:
            numbers = " ".join(f"{result.get(name, 0):7}" for name in columns)
            print(f"{module:28} {result['patch']:7} {numbers} {result['seconds']:6}  {result['status']}")
            total = totals.setdefault(result["patch"], dict.fromkeys([*columns, "bad"], 0))
            for name in columns:
                total[name] += result.get(name, 0)
            total["bad"] += result["status"] not in ("finished", "absent")
        green = next((result for result in rows if result["patch"] == "green"), None)
        gevent = gevent_counts.get(module)
        if green is not None and gevent is not None and gevent["passed"] > green["passed"]:
            behind.append(f"{module}: green passed {green['passed']}, gevent {gevent['passed']}")
    for patch, total in totals.items():
        numbers = " ".join(f"{total[name]:7}" for name in columns)
        print(f"{'TOTAL':28} {patch:7} {numbers}         {total['bad']} modules did not finish")
    if "gevent" not in patches:
        print("gevent*: committed counts, not run now (re-measure: see tests/stdlib/README.md)")
    hung = [(result["patch"], name) for result in results for name in result["hung_tests"]]
    if hung:
        print("hung tests (killed, module continued):")
        for patch, name in hung:
            print(f"  {patch:7} {name}")
    if behind:
        print("modules where gevent passes more:")
        for line in behind:
            print("  " + line)

    # The verdict (green only): a hang, a crash or a module timeout fails; so does a failing
    # test that is not listed in KNOWN_FAILURES with its reason.
    green_results = [result for result in results if result["patch"] == "green"]
    unfinished = [
        f"{result['module']}: {result['status']}"
        for result in green_results
        if result["status"] not in ("finished", "absent")
    ]
    unfinished += [f"{name}: hung" for result in green_results for name in result["hung_tests"]]
    unknown = [name for result in green_results for name in result["problems"] if name not in KNOWN_FAILURES]
    passed_now = {name for result in green_results for name in result["passes"]}
    fixed = [name for name in KNOWN_FAILURES if name in passed_now]
    if unknown:
        print("green: failures not listed in KNOWN_FAILURES:")
        for name in unknown:
            print(f"  {name}")
    if fixed:
        print("green: listed as known failures but passed now (remove them from KNOWN_FAILURES):")
        for name in fixed:
            print(f"  {name}")
    if unfinished:
        print("green: hangs, crashes, timeouts:")
        for line in unfinished:
            print(f"  {line}")

    if arguments.json:
        with open(arguments.json, "w") as file:
            json.dump(results, file, indent=1)
    if arguments.write_baseline:
        if not gevent_live:
            parser.error("--write-baseline needs --patch gevent")
        modules = dict(baseline.get("modules", {}))
        for module, result in gevent_live.items():
            modules[module] = {key: result[key] for key in (*columns, "seconds", "status")}
        import gevent  # noqa: PLC0415  (only when re-measuring)

        stored = {
            "measured": f"Python {sys.version.split()[0]}, gevent {gevent.__version__}, "
            f"{time.strftime('%Y-%m-%d')}",
            "command": "python tests/stdlib/run.py " + " ".join(sys.argv[1:]),
            "modules": dict(sorted(modules.items())),
        }
        with open(arguments.baseline, "w") as file:
            json.dump(stored, file, indent=1)
            file.write("\n")
        print(f"gevent's counts written to {arguments.baseline}")
    raise SystemExit(1 if unfinished or unknown else 0)


if __name__ == "__main__":
    main()
