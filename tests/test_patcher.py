"""The patcher: isolated monkey-patching scripts, declarations, and green `_thread` in-process."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import green
from green import patcher
from green import thread as green_thread
from green._stdlib import original

ISOLATED = Path(__file__).parent / "isolated"
SCRIPTS = sorted(path.name for path in ISOLATED.glob("*.py"))
GREEN_MODULES = sorted({name for names in patcher._GROUPS.values() for name in names})


@pytest.mark.parametrize("script", SCRIPTS)
def test_isolated(script: str) -> None:
    """Each script monkey-patches a fresh interpreter (on this run's hub) and prints "pass"."""
    environment = dict(os.environ)
    environment.setdefault("GREEN_HUB", green.get_hub().backend.name)
    done = subprocess.run(
        [sys.executable, str(ISOLATED / script)],
        capture_output=True,
        text=True,
        timeout=50,
        env=environment,
        cwd=str(ISOLATED),
    )
    assert done.stdout.strip().endswith("pass"), f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, done.stderr


def test_some_isolated_scripts_exist() -> None:
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("green_name", GREEN_MODULES)
def test_declarations_name_real_stdlib_names(green_name: str) -> None:
    """Every name a green module implements or removes exists in the running Python's module."""
    try:
        module = importlib.import_module(green_name)
    except ModuleNotFoundError as problem:
        if problem.name == green_name:
            pytest.skip(f"{green_name} is not written yet")
        raise
    stdlib = original(module.__green__)
    missing = [name for name in [*module.__implements__, *module.__removes__] if not hasattr(stdlib, name)]
    assert not missing, f"{green_name} declares names {module.__green__} does not have: {missing}"
    in_place = getattr(module, "__green_in_place__", False)
    for name in module.__implements__:
        assert hasattr(module, name), f"{green_name} declares {name} but does not define it"
        if not in_place:
            assert getattr(module, name) is not getattr(stdlib, name) or name == "SocketType", name
    assert not set(module.__implements__) & set(module.__removes__)


def test_unknown_keyword_is_rejected() -> None:
    with pytest.raises(TypeError, match="nonsense"):
        green.monkey_patch(nonsense=True)


def test_keyword_semantics() -> None:
    everything = set(patcher._GROUPS) | {"psycopg", "MySQLdb"}
    assert patcher._requested({}) == everything
    assert patcher._requested({"thread": None}) == everything
    assert patcher._requested({"os": True}) == {"os"}
    assert patcher._requested({"os": False, "signal": False}) == everything - {"os", "signal"}
    assert patcher._requested({"os": True, "signal": False}) == {"os"}


# -- green _thread, used directly (no patching) ------------------------------------------------


def test_lock_basics_and_errors() -> None:
    lock = green_thread.allocate_lock()
    assert not lock.locked()
    assert lock.acquire()
    assert lock.locked()
    assert lock.acquire(False) is False
    assert lock.acquire(True, 0.01) is False
    with pytest.raises(ValueError):
        lock.acquire(False, 1)
    with pytest.raises(ValueError):
        lock.acquire(True, -5)
    with pytest.raises(OverflowError):
        lock.acquire(True, green_thread.TIMEOUT_MAX * 2)
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()
    with lock:
        assert lock.locked()
    assert "unlocked" in repr(lock)


def test_lock_hands_over_in_fifo_order() -> None:
    lock = green_thread.allocate_lock()
    lock.acquire()
    order: list[int] = []

    def take(number: int) -> None:
        with lock:
            order.append(number)

    threads = [green.spawn(take, number) for number in range(5)]
    green.sleep(0)
    lock.release()
    for thread in threads:
        thread.wait()
    assert order == [0, 1, 2, 3, 4]
    assert not lock.locked()


def test_lock_released_from_another_os_thread() -> None:
    lock = green_thread.allocate_lock()
    lock.acquire()
    real_thread = threading.Thread(target=lambda: (time.sleep(0.05), lock.release()))
    real_thread.start()
    started = time.monotonic()
    assert lock.acquire(True, 5)
    assert time.monotonic() - started < 2
    lock.release()
    real_thread.join()


def test_waiting_acquire_killed_passes_lock_on() -> None:
    lock = green_thread.allocate_lock()
    lock.acquire()
    victim = green.spawn(lock.acquire)
    green.sleep(0)
    victim.kill()
    lock.release()
    assert lock.acquire(False)
    lock.release()


def test_rlock() -> None:
    rlock = green_thread.RLock()
    assert rlock.acquire() and rlock.acquire()
    assert rlock._recursion_count() == 2 and rlock._is_owned()
    state = rlock._release_save()
    assert not rlock.locked()
    rlock._acquire_restore(state)
    rlock.release()
    rlock.release()
    with pytest.raises(RuntimeError):
        rlock.release()
    rlock.acquire()
    failures: list[BaseException] = []

    def foreign() -> None:
        try:
            rlock.release()
        except RuntimeError as problem:
            failures.append(problem)
        assert rlock.acquire(True, 0.01) is False

    green.spawn(foreign).wait()
    rlock.release()
    assert len(failures) == 1


def test_start_new_thread_and_idents() -> None:
    seen: list[int] = []
    done = green.Event()

    def body(value: int) -> None:
        seen.append(value)
        seen.append(green_thread.get_ident())
        done.send()

    ident = green_thread.start_new_thread(body, (7,))
    assert green_thread._count() == 0  # not started until the hub runs it
    done.wait()
    assert seen == [7, ident]
    assert green_thread.get_ident() == original("_thread").get_ident()  # the root green thread
    with pytest.raises(TypeError):
        green_thread.start_new_thread(42, ())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        green_thread.start_new_thread(body, [1])  # type: ignore[arg-type]
    green.sleep(0)


def test_unhandled_exception_goes_to_unraisablehook(monkeypatch: pytest.MonkeyPatch) -> None:
    reports: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)
    green_thread.start_new_thread(lambda: 1 / 0, ())
    green_thread.start_new_thread(lambda: sys.exit(3), ())
    green.sleep(0)
    green.sleep(0)
    assert len(reports) == 1
    assert reports[0].exc_type is ZeroDivisionError  # type: ignore[attr-defined]


def test_sentinel_released_when_thread_ends() -> None:
    sentinels: list[green_thread.LockType] = []

    def body() -> None:
        lock = green_thread._set_sentinel()
        lock.acquire()
        sentinels.append(lock)
        green.sleep(0.01)

    green_thread.start_new_thread(body, ())
    green.sleep(0)
    assert sentinels and sentinels[0].locked()
    assert sentinels[0].acquire(True, 5)  # the way threading joins
    sentinels[0].release()


def test_joinable_thread_handle() -> None:
    finished: list[bool] = []
    handle = green_thread.start_joinable_thread(
        lambda: (green.sleep(0.01), finished.append(True)), daemon=False
    )
    assert not handle.is_done()
    assert handle in green_thread._non_daemon_handles
    handle.join(0.001)
    assert not handle.is_done()
    green_thread._shutdown()
    assert handle.is_done() and finished == [True]
    handle.join()
    main = green_thread._make_thread_handle(green_thread.get_ident())
    with pytest.raises(RuntimeError):
        main.join()


def test_stack_size() -> None:
    assert green_thread.stack_size() == 0
    with pytest.raises(ValueError):
        green_thread.stack_size(100)
    assert green_thread.stack_size(65536) == 0
    assert green_thread.stack_size(0) == 65536


def test_local_is_per_green_thread() -> None:
    data = green_thread._local()
    data.value = 1
    seen: list[object] = []
    green.spawn(lambda: seen.append(getattr(data, "value", None))).wait()
    assert seen == [None] and data.value == 1
