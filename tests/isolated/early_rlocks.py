"""RLocks created before monkey_patch() become green wherever every reference to them can be
rewritten (module globals, class attributes, dict values, list items, instance attributes and
slots, closure cells; logging's module and handler locks); one the patching thread holds is handed
over held, with its count. Locks referenced from somewhere the patcher cannot rewrite (a tuple, a
frame inside ``with lock:``) and locks another OS thread holds stay real -- whole, never split."""

import _thread
import logging
import threading
import warnings

RealRLock = _thread.RLock  # (the patcher rebinds the module name `_thread` to green's)
handler = logging.Handler()
logging.getLogger("early").addHandler(handler)


class Holder:
    lock = threading.RLock()

    class Inner:
        lock = threading.RLock()

    mapping = {12: threading.RLock()}
    items = [0, threading.RLock()]


class Slotted:
    __slots__ = ("__lock",)  # a private (name-mangled) slot

    def __init__(self):
        self.__lock = threading.RLock()

    @property
    def lock(self):
        return self.__lock


class Base:
    def __init__(self):
        self.lock = threading.RLock()


class Plain(Base):
    def __getattribute__(self, name):  # as a proxy does: the patcher must not ask the object
        if name == "__dict__":
            raise AssertionError("the patcher looked up __dict__ through the object")
        return super().__getattribute__(name)


def enclose():
    lock = threading.RLock()
    return lambda: lock


slotted, plain, enclosed = Slotted(), Plain(), enclose()
in_tuple = (threading.RLock(),)
shared = threading.RLock()
shared_with_tuple = (shared,)
held = threading.RLock()
held.acquire()
held.acquire()
busy = threading.RLock()  # held by another OS thread while patching
busy_taken, busy_release = _thread.allocate_lock(), _thread.allocate_lock()
busy_taken.acquire()
busy_release.acquire()


def occupy():
    with busy:
        busy_taken.release()
        busy_release.acquire()


_thread.start_new_thread(occupy, ())
busy_taken.acquire()
in_use = threading.RLock()


def patch_inside_with():
    with in_use, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the warning about the OS thread already running
        import green

        green.monkey_patch()
    return in_use


assert patch_inside_with() is in_use

from green.thread import RLock  # noqa: E402

replaced = {
    "class attribute": Holder.lock,
    "nested class attribute": Holder.Inner.lock,
    "dict value": Holder.mapping[12],
    "list item": Holder.items[1],
    "slot": slotted.lock,
    "instance attribute": plain.lock,
    "closure cell": enclosed(),
    "logging module lock": logging._lock,
    "logging handler lock": handler.lock,
    "held by the patching thread": held,
}
for where, lock in replaced.items():
    assert isinstance(lock, RLock), (where, lock)
left_real = {
    "in a tuple": in_tuple[0],
    "also in a tuple": shared,
    "held in a with block": in_use,
    "held by another OS thread": busy,
}
for where, lock in left_real.items():
    assert type(lock) is RealRLock, (where, lock)
assert shared_with_tuple[0] is shared

# The held lock keeps its owner and count.
assert held._is_owned() and held._recursion_count() == 2
held.release()
held.release()
try:
    held.release()
except RuntimeError:
    pass
else:
    raise AssertionError("released a third time")

# The busy lock is still the other thread's.
assert not busy.acquire(False)
busy_release.release()
assert busy.acquire(timeout=5)
busy.release()

# A replaced lock excludes other green threads.
import green  # noqa: E402

entered = []


def contend():
    with Holder.lock:
        entered.append("other")


with Holder.lock:
    thread = green.spawn(contend)
    green.sleep(0.01)
    assert entered == [], entered
thread.wait()
assert entered == ["other"], entered
print("pass")
