/* green._core: the compiled fast paths of a wake-up (optional; see README, "The compiled core").
 *
 * Each part is a drop-in for Python code that stays in the tree and runs when this module is not
 * built or GREEN_PURE=1 is set:
 *
 *   Turn    the hub's slotted turn record (green.hubs.hub._Turn): batch, slice_end, direct.
 *   Park    the callable behind `hub.park()` (green.hubs.hub.Hub._make_park's closure): the same
 *           decisions in the same order, on the hub's ready deque, turn, timer heap and fd table.
 *   Waiter  the base of green._waiter.Waiter: __init__, wait, wake and throw, the four calls
 *           of every hand-off. The rare paths (a wait with a timeout, a wait while other OS threads
 *           exist, a wake-up from another OS thread, a plain OS thread blocking on a real lock)
 *           are the Python methods of the subclass in green/_waiter.py, called by name from here.
 *   Guard   the small real lock of the synchronisation objects (green._waiter.allocate_guard).
 *   sleep   green.greenthread.sleep for sleep()/sleep(0) from a green thread.
 *   run_hub Hub.run's loop, with to_events for the epoll and poll backends' results.
 *   methods the common calls of LightQueue/Queue (get, put), green's lock (acquire, release,
 *           with), Semaphore (acquire, release) and Event (wait, send), as method descriptors the
 *           Python modules install over their own methods, which they keep under `_python_*`
 *           names for every call the C path does not take.
 *
 * Rules this file keeps: every branch mirrors a line of the Python version (the whole test suite
 * runs on both); no reference is kept across a greenlet switch that the Python version would not
 * keep; every exception a Python call raises propagates unchanged.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "greenlet.h"

#include <errno.h>
#include <limits.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__GNUC__) || defined(__clang__)
#define NOT_INLINED __attribute__((noinline))
#else
#define NOT_INLINED
#endif

#ifndef Py_TPFLAGS_HAVE_VECTORCALL
#define Py_TPFLAGS_HAVE_VECTORCALL _Py_TPFLAGS_HAVE_VECTORCALL
#endif

/* greenlet.switch and greenlet.throw, the unbound methods ready-queue entries name. */
static PyObject *switch_into = NULL;
static PyObject *throw_into = NULL;
static PyObject *empty_tuple = NULL;
static PyObject *one = NULL;
static PyObject *zero = NULL;

/* Given by green._waiter through configure(). */
static PyObject *hub_state = NULL;      /* green.hubs._state, the per-OS-thread hub record */
static PyObject *no_hub = NULL;         /* _no_hub(waiter) -> hub or None (a plain OS thread) */
static PyObject *blocking_error = NULL; /* green.hubs.hub.BlockingInHubError */
static PyObject *real_count = NULL;     /* the original _thread._count */
/* green's own OS threads idling right now (green._waiter._quiet_threads of the Python path),
 * counted by quiet(change), which is green._waiter._quiet when the core is built: the calling
 * thread holds the GIL, so the change needs no other lock. */
static Py_ssize_t quiet_threads = 0;

static PyObject *str_hub, *str_schedule, *str_clock, *str_iterations, *str_park, *str_popleft;
static PyObject *str_schedule_method, *str_block, *str_wait_timed, *str_wait_referenced;
static PyObject *str_leave_queue, *str_append;

/* The object slot at `offset` of `object` (an offset from slot_offset(): a `__slots__` entry of
 * the class the compiled methods were made for). The queue, lock, semaphore, event and the hub's
 * fd records keep their state in such slots. */
#define OBJECT_SLOT(object, offset) (*(PyObject **)((char *)(object) + (offset)))

/* -- exceptions: one raised object, on every supported Python -------------------------------- */

static PyObject *
fetch_error(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    if (type == NULL) {
        return NULL;
    }
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL && value != NULL) {
        PyException_SetTraceback(value, traceback);
    }
    Py_XDECREF(type);
    Py_XDECREF(traceback);
    return value;
#endif
}

static void
restore_error(PyObject *error) /* steals `error` */
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(error);
#else
    PyObject *type = (PyObject *)Py_TYPE(error);
    Py_INCREF(type);
    PyErr_Restore(type, error, PyException_GetTraceback(error));
#endif
}

/* The last hub found, with the OS thread it belongs to (a thread state's id, never reused) and a
 * weak reference: a lookup in the thread-local record costs more than the rest of a wake-up's
 * bookkeeping. green.hubs calls forget_hub() whenever a thread's hub changes. */
static uint64_t cached_thread = 0;
static PyObject *cached_hub = NULL; /* a weak reference to it */
/* That hub's `schedule` (its ready queue's append, bound once in Hub.__init__ and never rebound):
 * every wake-up would otherwise look it up in the hub's instance dict. It holds the queue, not the
 * hub, so the cache keeps no hub alive. */
static PyObject *cached_schedule = NULL;

/* green.hubs.hub.Hub and the offset of its `park` slot (given by methods("hub", ...)). */
static PyTypeObject *hub_class = NULL;
static Py_ssize_t hub_park_offset = -1;

/* hub.park as a new reference: read from the slot of a Hub, looked up on anything else. */
static PyObject *
hub_park(PyObject *hub)
{
    if (hub_class != NULL && PyObject_TypeCheck(hub, hub_class)) {
        PyObject *park = OBJECT_SLOT(hub, hub_park_offset);
        if (park != NULL) {
            return Py_NewRef(park);
        }
    }
    return PyObject_GetAttr(hub, str_park);
}

/* Whether `hub` (alive: the caller holds it) is the cached hub. */
static int
is_cached_hub(PyObject *hub)
{
    if (cached_hub == NULL) {
        return 0;
    }
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *alive;
    if (PyWeakref_GetRef(cached_hub, &alive) != 1) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(alive);
    return alive == hub;
#else
    return PyWeakref_GET_OBJECT(cached_hub) == hub;
#endif
}

/* hub.schedule: from the cache when `hub` is the cached hub (new reference). */
static PyObject *
hub_schedule(PyObject *hub)
{
    if (cached_schedule != NULL && is_cached_hub(hub)) {
        return Py_NewRef(cached_schedule);
    }
    return PyObject_GetAttr(hub, str_schedule);
}

/* With an exception set: call `target.name(argument)` (a Python clean-up: leave a queue, pass a
 * hand-off on), then leave the exception set again, the clean-up's own error chained in front of
 * it if it raised. Returns NULL, for `return call_keeping_error(...)`. */
static PyObject *
call_keeping_error(PyObject *target, PyObject *name, PyObject *argument)
{
    PyObject *error = fetch_error();
    PyObject *done = PyObject_CallMethodOneArg(target, name, argument);
    if (done == NULL) {
        PyObject *second = fetch_error();
        if (second != NULL) {
            if (error != NULL) {
                PyException_SetContext(second, error); /* steals error */
            }
            error = second;
        }
    }
    else {
        Py_DECREF(done);
    }
    if (error != NULL) {
        restore_error(error);
    }
    return NULL;
}

/* _hub_state.hub (None in a thread without a hub), as a new reference; NULL on error. */
static PyObject *
existing_hub(void)
{
    uint64_t thread = PyThreadState_GetID(PyThreadState_Get());
    if (cached_hub != NULL && thread == cached_thread) {
#if PY_VERSION_HEX >= 0x030D0000
        PyObject *hub;
        if (PyWeakref_GetRef(cached_hub, &hub) == 1) {
            return hub;
        }
        PyErr_Clear();
#else
        PyObject *hub = PyWeakref_GET_OBJECT(cached_hub);
        if (hub != Py_None) {
            return Py_NewRef(hub);
        }
#endif
    }
    /* None (the class default of green.hubs._HubState) in a thread without a hub. */
    PyObject *hub = PyObject_GetAttr(hub_state, str_hub);
    if (hub == NULL || hub == Py_None) {
        return hub;
    }
    PyObject *reference = PyWeakref_NewRef(hub, NULL);
    if (reference == NULL) {
        PyErr_Clear(); /* not cacheable: looked up each time */
    }
    else {
        Py_XSETREF(cached_hub, reference);
        cached_thread = thread;
        Py_XSETREF(cached_schedule, PyObject_GetAttr(hub, str_schedule));
        if (cached_schedule == NULL) { /* an odd hub: looked up each time */
            PyErr_Clear();
        }
    }
    return hub;
}

static PyObject *
forget_hub(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(unused))
{
    Py_CLEAR(cached_hub);
    Py_CLEAR(cached_schedule);
    cached_thread = 0;
    Py_RETURN_NONE;
}

/* -- Turn ------------------------------------------------------------------------------------- */

/* `batch` is kept as a Python int: Hub.run reads and writes it for every callback it runs, and
 * a C integer would be converted to a new int object at every read (above 256). */
typedef struct {
    PyObject_HEAD
    PyObject *batch;
    double slice_end;
    Py_ssize_t direct;
} TurnObject;

static int
turn_init(TurnObject *self, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"direct", NULL};
    Py_ssize_t direct = 64;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|n:Turn", keywords, &direct)) {
        return -1;
    }
    Py_XSETREF(self->batch, PyLong_FromLong(0));
    if (self->batch == NULL) {
        return -1;
    }
    self->slice_end = 0.0;
    self->direct = direct;
    return 0;
}

static void
turn_dealloc(TurnObject *self)
{
    Py_CLEAR(self->batch);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef turn_members[] = {
    {"batch", T_OBJECT_EX, offsetof(TurnObject, batch), 0,
     "entries at the front of the ready queue that belong to the turn under way"},
    {"slice_end", T_DOUBLE, offsetof(TurnObject, slice_end), 0,
     "when the turn's time slice ends (0.0: not sliced)"},
    {"direct", T_PYSSIZET, offsetof(TurnObject, direct), 0,
     "early hand-offs parking green threads may still take in this turn"},
    {NULL},
};

static PyTypeObject TurnType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "green._core.Turn",
    .tp_doc = "The loop turn under way, shared by Hub.run and Hub.park (green.hubs.hub._Turn).",
    .tp_basicsize = sizeof(TurnObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)turn_init,
    .tp_dealloc = (destructor)turn_dealloc,
    .tp_members = turn_members,
};

/* -- Park ------------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *hub;
    PyObject *ready;
    PyObject *popleft;
    TurnObject *turn;
    PyObject *timers;
    PyObject *fds;
    PyObject *monotonic;
    vectorcallfunc vectorcall;
} ParkObject;

static PyTypeObject ParkType;

/* hub.clock(), a new reference. */
static PyObject *
hub_now(PyObject *hub)
{
    PyObject *clock = PyObject_GetAttr(hub, str_clock);
    if (clock == NULL) {
        return NULL;
    }
    PyObject *now = PyObject_CallNoArgs(clock);
    Py_DECREF(clock);
    return now;
}

/* `timers[0][0]` of a heap that is not empty, a new reference. */
static PyObject *
first_deadline(PyObject *timers)
{
    PyObject *first = Py_NewRef(PyList_GET_ITEM(timers, 0));
    PyObject *when = PySequence_GetItem(first, 0);
    Py_DECREF(first);
    return when;
}

/* `timers and timers[0][0] <= hub.clock()`: 1, 0, or -1 on error. */
static int
timer_due(PyObject *hub, PyObject *timers)
{
    if (PyList_GET_SIZE(timers) == 0) {
        return 0;
    }
    PyObject *when = first_deadline(timers);
    if (when == NULL) {
        return -1;
    }
    PyObject *now = hub_now(hub);
    if (now == NULL) {
        Py_DECREF(when);
        return -1;
    }
    int due = PyObject_RichCompareBool(when, now, Py_LE);
    Py_DECREF(when);
    Py_DECREF(now);
    return due;
}

/* `hub.iterations += 1` */
static int
count_turn(PyObject *hub)
{
    PyObject *iterations = PyObject_GetAttr(hub, str_iterations);
    if (iterations == NULL) {
        return -1;
    }
    PyObject *counted = PyNumber_Add(iterations, one);
    Py_DECREF(iterations);
    if (counted == NULL) {
        return -1;
    }
    int failed = PyObject_SetAttr(hub, str_iterations, counted);
    Py_DECREF(counted);
    return failed;
}

/* `not timers or timers[0][0] > hub.clock()`: 1, 0, or -1 on error. */
static int
no_timer_due(ParkObject *self)
{
    int due = timer_due(self->hub, self->timers);
    return due < 0 ? -1 : !due;
}

/* ready.popleft(), result dropped. */
static int
drop_first(ParkObject *self)
{
    PyObject *entry = PyObject_CallNoArgs(self->popleft);
    if (entry == NULL) {
        return -1;
    }
    Py_DECREF(entry);
    return 0;
}

static PyObject *
park_to_hub(ParkObject *self)
{
    return PyGreenlet_Switch((PyGreenlet *)self->hub, empty_tuple, NULL);
}

/* A ready-queue entry `(callback, args)` taken apart (steals `entry`): new references in
 * `*callback` and `*args`; 0, or -1 (ValueError for an entry of another shape). */
static int
split_entry(PyObject *entry, PyObject **callback, PyObject **args)
{
    PyObject *items = (PyTuple_CheckExact(entry) && PyTuple_GET_SIZE(entry) == 2) ? Py_NewRef(entry)
                                                                                  : PySequence_Tuple(entry);
    Py_DECREF(entry);
    if (items == NULL) {
        return -1;
    }
    if (PyTuple_GET_SIZE(items) != 2) {
        PyErr_Format(PyExc_ValueError, "a ready-queue entry must be (callback, args), not %R", items);
        Py_DECREF(items);
        return -1;
    }
    *callback = Py_NewRef(PyTuple_GET_ITEM(items, 0));
    *args = Py_NewRef(PyTuple_GET_ITEM(items, 1));
    Py_DECREF(items);
    return 0;
}

/* Tuples that nobody else holds any more (by their reference counts) are refilled in place
 * instead of being freed and made again: ready-queue entries (see keep_entry and sleep_entry) and
 * the one-item tuple a wake-up passes to greenlet's switch (call_entry). Not on free-threaded
 * builds (reference counts are not exact there) nor from 3.14 on (tuples cache their hash there). */
#if !defined(Py_GIL_DISABLED) && PY_VERSION_HEX < 0x030E0000
#define REUSE_ENTRIES 1
#endif

static void
set_tuple_item(PyObject *tuple, Py_ssize_t index, PyObject *item)
{
    PyObject *old = PyTuple_GET_ITEM(tuple, index);
    PyTuple_SET_ITEM(tuple, index, Py_NewRef(item));
    Py_XDECREF(old);
}

/* A refilled tuple shown to the garbage collector again (it may have untracked it while it held
   only atomic items). */
static void
track_tuple(PyObject *tuple)
{
    if (!PyObject_GC_IsTracked(tuple)) {
        PyObject_GC_Track(tuple);
    }
}

/* The `(value,)` of the last wake-up that came back to its switch, its item cleared. */
static PyObject *spare_rest = NULL;

/* greenlet.switch(thread, *rest)'s `rest` for the entry arguments `args`: a new reference. */
static PyObject *
switch_rest(PyObject *args)
{
    Py_ssize_t size = PyTuple_GET_SIZE(args);
    if (size == 1) {
        return Py_NewRef(empty_tuple);
    }
#ifdef REUSE_ENTRIES
    PyObject *rest = spare_rest;
    if (size == 2 && rest != NULL && Py_REFCNT(rest) == 1) {
        spare_rest = NULL;
        set_tuple_item(rest, 0, PyTuple_GET_ITEM(args, 1));
        track_tuple(rest);
        return rest;
    }
#endif
    return PyTuple_GetSlice(args, 1, size);
}

/* Let go of `rest` once its switch has come back: kept as the spare if nobody else holds it. */
static void
drop_rest(PyObject *rest)
{
#ifdef REUSE_ENTRIES
    if (spare_rest == NULL && PyTuple_GET_SIZE(rest) == 1 && Py_REFCNT(rest) == 1) {
        set_tuple_item(rest, 0, Py_None);
        if (spare_rest == NULL) { /* still none: letting go of the value ran no code that kept one */
            spare_rest = rest;
            return;
        }
    }
#endif
    Py_DECREF(rest);
}

/* `callback(*args)` of a ready-queue entry (steals `args`). greenlet.switch(thread, *rest) is
 * made without the method call around it, and `args` is let go before the switch, so that the
 * woken thread's Waiter finds its entry held by nobody else (keep_entry). */
static PyObject *
call_entry(PyObject *callback, PyObject *args)
{
    PyObject *result;
    if (callback == switch_into && PyTuple_CheckExact(args) && PyTuple_GET_SIZE(args) >= 1 &&
        PyGreenlet_Check(PyTuple_GET_ITEM(args, 0))) {
        PyObject *thread = Py_NewRef(PyTuple_GET_ITEM(args, 0));
        PyObject *rest = switch_rest(args);
        Py_DECREF(args);
        result = rest == NULL ? NULL : PyGreenlet_Switch((PyGreenlet *)thread, rest, NULL);
        if (rest != NULL) {
            drop_rest(rest);
        }
        Py_DECREF(thread);
        return result;
    }
    if (PyTuple_CheckExact(args)) {
        result = PyObject_Call(callback, args, NULL);
    }
    else {
        PyObject *tuple = PySequence_Tuple(args);
        result = tuple == NULL ? NULL : PyObject_Call(callback, tuple, NULL);
        Py_XDECREF(tuple);
    }
    Py_DECREF(args);
    return result;
}

/* The body of Hub.park; the decisions are documented on the Python version in hub.py. */
static PyObject *
park_run(ParkObject *self)
{
    PyObject *ready = self->ready;
    Py_ssize_t length = PyObject_Size(ready);
    if (length < 0) {
        return NULL;
    }
    if (length == 0) {
        return park_to_hub(self);
    }
    PyObject *entry = PySequence_GetItem(ready, 0);
    if (entry == NULL) {
        return NULL;
    }
    PyObject *callback, *args;
    if (split_entry(entry, &callback, &args) < 0) {
        return NULL;
    }

    if (callback != switch_into && callback != throw_into) {
        goto to_hub;
    }
    PyObject *thread = PySequence_GetItem(args, 0);
    if (thread == NULL) {
        goto error;
    }
    int active = PyObject_IsTrue(thread);
    if (active <= 0) {
        Py_DECREF(thread);
        if (active < 0) {
            goto error;
        }
        goto to_hub;
    }
    TurnObject *turn = self->turn;
    Py_ssize_t batch = 0;
    if (turn->batch != NULL) {
        batch = PyLong_AsSsize_t(turn->batch);
        if (batch == -1 && PyErr_Occurred()) {
            Py_DECREF(thread);
            goto error;
        }
    }
    if (batch) {
        Py_DECREF(thread);
        int take = (batch & 63) || turn->slice_end == 0.0;
        if (!take) {
            PyObject *now = PyObject_CallNoArgs(self->monotonic);
            if (now == NULL) {
                goto error;
            }
            double seconds = PyFloat_AsDouble(now);
            Py_DECREF(now);
            if (seconds == -1.0 && PyErr_Occurred()) {
                goto error;
            }
            take = seconds <= turn->slice_end;
        }
        if (take) {
            PyObject *fewer = PyLong_FromSsize_t(batch - 1);
            if (fewer == NULL) {
                goto error;
            }
            Py_XSETREF(turn->batch, fewer);
            goto take_entry;
        }
        goto to_hub;
    }
    Py_ssize_t size = -1;
    if (turn->direct) {
        size = PyObject_Size(args);
        if (size < 0) {
            Py_DECREF(thread);
            goto error;
        }
    }
    if (turn->direct && size == 2) {
        Py_DECREF(thread);
        int clear = no_timer_due(self);
        if (clear < 0) {
            goto error;
        }
        if (clear) {
            turn->direct -= 1;
            goto take_entry;
        }
        goto to_hub;
    }
    if (length == 1 && PyDict_GET_SIZE(self->fds) == 0) {
        PyGreenlet *current = PyGreenlet_GetCurrent();
        if (current == NULL) {
            Py_DECREF(thread);
            goto error;
        }
        int same = (PyObject *)current == thread;
        Py_DECREF(current);
        Py_DECREF(thread);
        if (!same) {
            goto to_hub;
        }
        int clear = no_timer_due(self);
        if (clear < 0) {
            goto error;
        }
        if (!clear) {
            goto to_hub;
        }
        /* sleep(0) with nothing else to do: count the turn and carry on. */
        Py_DECREF(callback);
        Py_DECREF(args);
        if (drop_first(self) < 0) {
            return NULL;
        }
        if (count_turn(self->hub) < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    Py_DECREF(thread);
    goto to_hub;

take_entry:
    if (drop_first(self) < 0) {
        goto error;
    }
    {
        PyObject *result = call_entry(callback, args);
        Py_DECREF(callback);
        return result;
    }

to_hub:
    Py_DECREF(callback);
    Py_DECREF(args);
    return park_to_hub(self);

error:
    Py_DECREF(callback);
    Py_DECREF(args);
    return NULL;
}

static PyObject *
park_vectorcall(PyObject *callable, PyObject *const *Py_UNUSED(args), size_t nargsf, PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) != 0 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_SetString(PyExc_TypeError, "park() takes no arguments");
        return NULL;
    }
    return park_run((ParkObject *)callable);
}

static PyObject *
park_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"hub", "ready", "turn", "timers", "fds", "monotonic", NULL};
    PyObject *hub, *ready, *turn, *timers, *fds, *monotonic;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OO!O!O!O:Park", keywords, &PyGreenlet_Type, &hub, &ready,
                                     &TurnType, &turn, &PyList_Type, &timers, &PyDict_Type, &fds, &monotonic)) {
        return NULL;
    }
    PyObject *popleft = PyObject_GetAttr(ready, str_popleft);
    if (popleft == NULL) {
        return NULL;
    }
    ParkObject *self = (ParkObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        Py_DECREF(popleft);
        return NULL;
    }
    self->hub = Py_NewRef(hub);
    self->ready = Py_NewRef(ready);
    self->popleft = popleft;
    self->turn = (TurnObject *)Py_NewRef(turn);
    self->timers = Py_NewRef(timers);
    self->fds = Py_NewRef(fds);
    self->monotonic = Py_NewRef(monotonic);
    self->vectorcall = park_vectorcall;
    return (PyObject *)self;
}

static int
park_traverse(ParkObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->hub);
    Py_VISIT(self->ready);
    Py_VISIT(self->popleft);
    Py_VISIT(self->turn);
    Py_VISIT(self->timers);
    Py_VISIT(self->fds);
    Py_VISIT(self->monotonic);
    return 0;
}

static int
park_clear(ParkObject *self)
{
    Py_CLEAR(self->hub);
    Py_CLEAR(self->ready);
    Py_CLEAR(self->popleft);
    Py_CLEAR(self->turn);
    Py_CLEAR(self->timers);
    Py_CLEAR(self->fds);
    Py_CLEAR(self->monotonic);
    return 0;
}

static void
park_dealloc(ParkObject *self)
{
    PyObject_GC_UnTrack(self);
    park_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
park_call(PyObject *self, PyObject *args, PyObject *kwds)
{
    if (PyTuple_GET_SIZE(args) != 0 || (kwds != NULL && PyDict_GET_SIZE(kwds) != 0)) {
        PyErr_SetString(PyExc_TypeError, "park() takes no arguments");
        return NULL;
    }
    return park_run((ParkObject *)self);
}

static PyTypeObject ParkType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "green._core.Park",
    .tp_doc = "hub.park(): leave the calling green thread (see Hub._make_park in green/hubs/hub.py).",
    .tp_basicsize = sizeof(ParkObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = park_new,
    .tp_call = park_call,
    .tp_vectorcall_offset = offsetof(ParkObject, vectorcall),
    .tp_traverse = (traverseproc)park_traverse,
    .tp_clear = (inquiry)park_clear,
    .tp_dealloc = (destructor)park_dealloc,
};

/* -- Waiter ----------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *hub;
    PyObject *greenlet;
    PyObject *value;
    PyObject *exception;
    PyObject *blocker;
    PyObject *entry;
    PyObject *spare_entry; /* see keep_entry */
    char woken;
} WaiterObject;

static int
waiter_init(WaiterObject *self, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"hub", NULL};
    PyObject *hub = Py_None;
    /* Waiter(): the common call, without the argument parser's cost. */
    if (PyTuple_GET_SIZE(args) != 0 || (kwds != NULL && PyDict_GET_SIZE(kwds) != 0)) {
        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:Waiter", keywords, &hub)) {
            return -1;
        }
    }
    if (hub_state == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "green._core is not configured (import green._waiter)");
        return -1;
    }
    Py_INCREF(hub);
    if (hub == Py_None) {
        Py_DECREF(hub);
        hub = existing_hub();
        if (hub == NULL) {
            return -1;
        }
        if (hub == Py_None) {
            Py_DECREF(hub);
            /* The main thread gets its hub; a plain OS thread gets a real lock (sets _blocker). */
            hub = PyObject_CallOneArg(no_hub, (PyObject *)self);
            if (hub == NULL) {
                return -1;
            }
        }
    }
    Py_XSETREF(self->hub, hub);
    Py_XSETREF(self->greenlet, Py_NewRef(Py_None));
    Py_XSETREF(self->value, Py_NewRef(Py_None));
    Py_XSETREF(self->exception, Py_NewRef(Py_None));
    self->woken = 0;
    Py_XSETREF(self->entry, Py_NewRef(Py_None));
    return 0;
}

/* hub.park(), straight into Park when it is ours. */
static PyObject *
call_park(PyObject *hub)
{
    PyObject *park = hub_park(hub);
    if (park == NULL) {
        return NULL;
    }
    PyObject *result;
    if (Py_IS_TYPE(park, &ParkType)) {
        result = park_run((ParkObject *)park);
    }
    else {
        result = PyObject_CallNoArgs(park);
    }
    Py_DECREF(park);
    return result;
}

static PyObject *
waiter_wait(WaiterObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *timeout = Py_None;
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if (nargs + nkw > 1) {
        PyErr_SetString(PyExc_TypeError, "wait() takes at most 1 argument (timeout)");
        return NULL;
    }
    if (nargs == 1) {
        timeout = args[0];
    }
    else if (nkw == 1) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, 0);
        if (!PyUnicode_Check(name) || PyUnicode_CompareWithASCIIString(name, "timeout") != 0) {
            PyErr_Format(PyExc_TypeError, "wait() got an unexpected keyword argument %R", name);
            return NULL;
        }
        timeout = args[0];
    }

    PyObject *hub = self->hub;
    if (hub == NULL) {
        PyErr_SetString(PyExc_AttributeError, "hub");
        return NULL;
    }
    if (hub == Py_None) {
        return PyObject_CallMethodOneArg((PyObject *)self, str_block, timeout);
    }
    Py_INCREF(hub);
    PyObject *current = (PyObject *)PyGreenlet_GetCurrent();
    if (current == NULL) {
        Py_DECREF(hub);
        return NULL;
    }
    if (current == hub) {
        Py_DECREF(current);
        Py_DECREF(hub);
        PyErr_SetString(blocking_error, "cannot block inside the hub (a timer or callback)");
        return NULL;
    }
    Py_XSETREF(self->greenlet, current);

    /* Other OS threads exist (more than green's idle ones): the Python path holds a reference. */
    PyObject *count = PyObject_CallNoArgs(real_count);
    if (count == NULL) {
        Py_DECREF(hub);
        return NULL;
    }
    Py_ssize_t threads = PyLong_AsSsize_t(count);
    Py_DECREF(count);
    if (threads == -1 && PyErr_Occurred()) {
        Py_DECREF(hub);
        return NULL;
    }
    int others = threads > quiet_threads;
    if (others) {
        PyObject *result = PyObject_CallMethodObjArgs((PyObject *)self, str_wait_referenced, hub, timeout, NULL);
        Py_DECREF(hub);
        return result;
    }

    PyObject *result;
    if (timeout == Py_None) {
        result = call_park(hub);
    }
    else {
        result = PyObject_CallMethodObjArgs((PyObject *)self, str_wait_timed, hub, timeout, NULL);
    }
    if (result == NULL && self->entry != NULL && self->entry != Py_None) {
        /* Resumed by an exception after a wake-up queued its direct entry: take the entry off
         * (unless the exception is the one that wake-up throws). */
        PyObject *error = fetch_error();
        int thrown = error == self->exception;
        if (error != NULL) {
            restore_error(error);
        }
        if (error != NULL && !thrown) {
            call_keeping_error((PyObject *)self, str_leave_queue, hub);
        }
    }
    Py_DECREF(hub);
    Py_XSETREF(self->greenlet, Py_NewRef(Py_None));
    return result;
}

/* A wake-up's ready-queue entry, `(greenlet.switch or .throw, (green thread, outcome))`, is made
 * per wake-up. A Waiter that the C paths keep between waits (drop_waiter) also keeps its last
 * entry when nobody else holds it or its inner pair any more (the hub let go of both before
 * switching), its items cleared, and fills it in place for its next wake-up: two tuples fewer to
 * allocate and free per hand-off. The reference counts say that nobody can see the change; the
 * garbage collector is told about the new contents (REUSE_ENTRIES, above). */

/* Called by drop_waiter: the Waiter's entry as its spare, if nobody else holds it. */
static void
keep_entry(WaiterObject *self)
{
#ifdef REUSE_ENTRIES
    PyObject *entry = self->entry;
    if (self->spare_entry == NULL && entry != NULL && PyTuple_CheckExact(entry) && PyTuple_GET_SIZE(entry) == 2 &&
        Py_REFCNT(entry) == 1) {
        PyObject *pair = PyTuple_GET_ITEM(entry, 1);
        if (PyTuple_CheckExact(pair) && PyTuple_GET_SIZE(pair) == 2 && Py_REFCNT(pair) == 1) {
            self->entry = Py_NewRef(Py_None);
            self->spare_entry = entry;
            set_tuple_item(pair, 0, Py_None);
            set_tuple_item(pair, 1, Py_None);
            return;
        }
    }
#endif
    Py_XSETREF(self->entry, Py_NewRef(Py_None));
}

/* The spare entry filled for a wake-up (a new reference), or NULL (no spare: make one). */
static PyObject *
reuse_entry(WaiterObject *self, PyObject *into, PyObject *waiting, PyObject *outcome)
{
#ifdef REUSE_ENTRIES
    PyObject *entry = self->spare_entry;
    if (entry == NULL || Py_REFCNT(entry) != 1 || Py_REFCNT(PyTuple_GET_ITEM(entry, 1)) != 1) {
        return NULL;
    }
    self->spare_entry = NULL;
    PyObject *pair = PyTuple_GET_ITEM(entry, 1);
    set_tuple_item(pair, 0, waiting);
    set_tuple_item(pair, 1, outcome);
    set_tuple_item(entry, 0, into);
    track_tuple(pair);
    track_tuple(entry);
    return entry;
#else
    (void)self;
    (void)into;
    (void)waiting;
    (void)outcome;
    return NULL;
#endif
}

/* wake/throw: record the outcome; a green thread parked in this OS thread's hub gets a direct
 * entry (`into` is greenlet.switch or greenlet.throw), anything else goes through _schedule. */
static PyObject *
waiter_resume_with(WaiterObject *self, PyObject *into, PyObject *outcome)
{
    PyObject *waiting = self->greenlet;
    PyObject *hub = self->hub;
    if (waiting != NULL && waiting != Py_None && hub != NULL) {
        PyObject *here = existing_hub();
        if (here == NULL) {
            return NULL;
        }
        Py_DECREF(here); /* compared by identity only */
        if (hub == here) {
            Py_INCREF(hub);
            PyObject *entry = reuse_entry(self, into, waiting, outcome);
            if (entry == NULL) {
                PyObject *pair = PyTuple_Pack(2, waiting, outcome);
                if (pair == NULL) {
                    Py_DECREF(hub);
                    return NULL;
                }
                entry = PyTuple_Pack(2, into, pair);
                Py_DECREF(pair);
                if (entry == NULL) {
                    Py_DECREF(hub);
                    return NULL;
                }
            }
            Py_XSETREF(self->entry, Py_NewRef(entry));
            PyObject *schedule = hub_schedule(hub);
            Py_DECREF(hub);
            if (schedule == NULL) {
                Py_DECREF(entry);
                return NULL;
            }
            PyObject *done = PyObject_CallOneArg(schedule, entry);
            Py_DECREF(schedule);
            Py_DECREF(entry);
            if (done == NULL) {
                return NULL;
            }
            Py_DECREF(done);
            Py_RETURN_NONE;
        }
    }
    return PyObject_CallMethodNoArgs((PyObject *)self, str_schedule_method);
}

/* wake(value) once the argument is known (also the C paths' hand-off). */
static PyObject *
waiter_wake_value(WaiterObject *self, PyObject *value)
{
    if (self->woken) {
        Py_RETURN_NONE;
    }
    self->woken = 1;
    Py_XSETREF(self->value, Py_NewRef(value));
    return waiter_resume_with(self, switch_into, value);
}

static PyObject *
waiter_wake(WaiterObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *value = Py_None;
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if (nargs + nkw > 1) {
        PyErr_SetString(PyExc_TypeError, "wake() takes at most 1 argument (value)");
        return NULL;
    }
    if (nargs == 1) {
        value = args[0];
    }
    else if (nkw == 1) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, 0);
        if (!PyUnicode_Check(name) || PyUnicode_CompareWithASCIIString(name, "value") != 0) {
            PyErr_Format(PyExc_TypeError, "wake() got an unexpected keyword argument %R", name);
            return NULL;
        }
        value = args[0];
    }
    return waiter_wake_value(self, value);
}

static PyObject *
waiter_throw(WaiterObject *self, PyObject *exception)
{
    if (self->woken) {
        Py_RETURN_NONE;
    }
    self->woken = 1;
    Py_XSETREF(self->exception, Py_NewRef(exception));
    return waiter_resume_with(self, throw_into, exception);
}

static int
waiter_traverse(WaiterObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->hub);
    Py_VISIT(self->greenlet);
    Py_VISIT(self->value);
    Py_VISIT(self->exception);
    Py_VISIT(self->blocker);
    Py_VISIT(self->entry);
    Py_VISIT(self->spare_entry);
    return 0;
}

static int
waiter_clear(WaiterObject *self)
{
    Py_CLEAR(self->hub);
    Py_CLEAR(self->greenlet);
    Py_CLEAR(self->value);
    Py_CLEAR(self->exception);
    Py_CLEAR(self->blocker);
    Py_CLEAR(self->entry);
    Py_CLEAR(self->spare_entry);
    return 0;
}

static void
waiter_dealloc(WaiterObject *self)
{
    PyObject_GC_UnTrack(self);
    waiter_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef waiter_methods[] = {
    {"wait", (PyCFunction)(void (*)(void))waiter_wait, METH_FASTCALL | METH_KEYWORDS,
     "wait(timeout=None): park until wake/throw; the value, or TIMED_OUT after `timeout` seconds."},
    {"wake", (PyCFunction)(void (*)(void))waiter_wake, METH_FASTCALL | METH_KEYWORDS,
     "wake(value=None): resume the parked green thread with `value` (from anywhere)."},
    {"throw", (PyCFunction)waiter_throw, METH_O,
     "throw(exception): resume the parked green thread by raising `exception` in it (from anywhere)."},
    {NULL},
};

static PyMemberDef waiter_members[] = {
    {"hub", T_OBJECT_EX, offsetof(WaiterObject, hub), 0, NULL},
    {"greenlet", T_OBJECT_EX, offsetof(WaiterObject, greenlet), 0, NULL},
    {"value", T_OBJECT_EX, offsetof(WaiterObject, value), 0, NULL},
    {"exception", T_OBJECT_EX, offsetof(WaiterObject, exception), 0, NULL},
    {"_blocker", T_OBJECT_EX, offsetof(WaiterObject, blocker), 0, NULL},
    {"_entry", T_OBJECT_EX, offsetof(WaiterObject, entry), 0, NULL},
    {"woken", T_BOOL, offsetof(WaiterObject, woken), 0, NULL},
    {NULL},
};

static PyTypeObject WaiterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "green._core.Waiter",
    .tp_doc = "The compiled half of green._waiter.Waiter (subclass it; see that module).",
    .tp_basicsize = sizeof(WaiterObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)waiter_init,
    .tp_methods = waiter_methods,
    .tp_members = waiter_members,
    .tp_traverse = (traverseproc)waiter_traverse,
    .tp_clear = (inquiry)waiter_clear,
    .tp_dealloc = (destructor)waiter_dealloc,
};

/* -- sleep ------------------------------------------------------------------------------------ */

/* green.greenthread.sleep, for the common call `sleep()` / `sleep(0)` from a green thread of an
 * OS thread that has its hub, and a plain int or float argument; everything else is the Python
 * function (given by configure_sleep), which stays the reference. */
static PyObject *pure_sleep = NULL;
static PyObject *str_unschedule;

/* The ready-queue entry of a sleep(0), `(greenlet.switch, (green thread,))`, is kept after its
 * wake-up when nobody else holds it or its inner tuple (the hub let go of both before switching),
 * the thread cleared out of it, and filled in place for the next sleep(0) of any green thread:
 * two tuples fewer to allocate and free per call (as a Waiter keeps its entry, see keep_entry).
 * One spare for the process: a sleep(0) takes it or makes a new entry. */
static PyObject *spare_sleep_entry = NULL;

/* A sleep(0) entry for `current` (a new reference): the spare refilled, or a new one. */
static PyObject *
sleep_entry(PyObject *current)
{
#ifdef REUSE_ENTRIES
    PyObject *spare = spare_sleep_entry;
    if (spare != NULL && Py_REFCNT(spare) == 1 && Py_REFCNT(PyTuple_GET_ITEM(spare, 1)) == 1) {
        spare_sleep_entry = NULL;
        PyObject *inner = PyTuple_GET_ITEM(spare, 1);
        set_tuple_item(inner, 0, current);
        track_tuple(inner);
        track_tuple(spare);
        return spare;
    }
#endif
    PyObject *single = PyTuple_Pack(1, current);
    PyObject *entry = single == NULL ? NULL : PyTuple_Pack(2, switch_into, single);
    Py_XDECREF(single);
    return entry;
}

/* Let go of a sleep(0) entry after its wake-up: kept as the spare if nobody else holds it. */
static void
drop_sleep_entry(PyObject *entry)
{
#ifdef REUSE_ENTRIES
    if (spare_sleep_entry == NULL && Py_REFCNT(entry) == 1 && Py_REFCNT(PyTuple_GET_ITEM(entry, 1)) == 1) {
        set_tuple_item(PyTuple_GET_ITEM(entry, 1), 0, Py_None);
        if (spare_sleep_entry == NULL) { /* still none: letting go of the thread ran no code that kept one */
            spare_sleep_entry = entry;
            return;
        }
    }
#endif
    Py_DECREF(entry);
}

static PyObject *
sleep_fast(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (pure_sleep == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "green._core is not configured (import green.greenthread)");
        return NULL;
    }
    int zero;
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0) {
        return PyObject_Vectorcall(pure_sleep, args, nargs, kwnames);
    }
    if (nargs == 0) {
        zero = 1;
    }
    else if (nargs == 1 && PyLong_CheckExact(args[0])) {
        int overflow;
        long number = PyLong_AsLongAndOverflow(args[0], &overflow);
        zero = overflow < 0 || (overflow == 0 && number <= 0);
    }
    else if (nargs == 1 && PyFloat_CheckExact(args[0])) {
        zero = PyFloat_AS_DOUBLE(args[0]) <= 0.0;
    }
    else {
        zero = 0;
    }
    if (!zero) {
        return PyObject_Vectorcall(pure_sleep, args, nargs, NULL);
    }
    PyObject *hub = existing_hub();
    if (hub == NULL) {
        return NULL;
    }
    PyObject *park = hub == Py_None ? NULL : hub_park(hub);
    if (park == NULL || !Py_IS_TYPE(park, &ParkType)) {
        PyErr_Clear();
        Py_XDECREF(park);
        Py_DECREF(hub);
        return PyObject_Vectorcall(pure_sleep, args, nargs, NULL);
    }
    PyObject *current = (PyObject *)PyGreenlet_GetCurrent();
    if (current == NULL) {
        Py_DECREF(park);
        Py_DECREF(hub);
        return NULL;
    }
    if (current == hub) { /* inside the hub: nothing to yield to */
        Py_DECREF(current);
        Py_DECREF(park);
        Py_DECREF(hub);
        Py_RETURN_NONE;
    }
    PyObject *entry = sleep_entry(current);
    Py_DECREF(current);
    if (entry == NULL) {
        Py_DECREF(park);
        Py_DECREF(hub);
        return NULL;
    }
    PyObject *schedule = hub_schedule(hub);
    PyObject *done = schedule == NULL ? NULL : PyObject_CallOneArg(schedule, entry);
    Py_XDECREF(schedule);
    if (done == NULL) {
        Py_DECREF(entry);
        Py_DECREF(park);
        Py_DECREF(hub);
        return NULL;
    }
    Py_DECREF(done);
    PyObject *result = park_run((ParkObject *)park);
    Py_DECREF(park);
    if (result == NULL) {
        /* Resumed by an exception (killed, Timeout): our entry must not wake us later. */
        call_keeping_error(hub, str_unschedule, entry);
        Py_DECREF(entry);
        Py_DECREF(hub);
        return NULL;
    }
    Py_DECREF(result);
    drop_sleep_entry(entry);
    Py_DECREF(hub);
    Py_RETURN_NONE;
}

static PyObject *
configure_sleep(PyObject *Py_UNUSED(module), PyObject *function)
{
    Py_XSETREF(pure_sleep, Py_NewRef(function));
    Py_RETURN_NONE;
}

/* -- Guard -------------------------------------------------------------------------------------- */

/* The small real lock green's synchronisation objects keep for their own state (held for a few
 * bytecodes, never across a switch): the same calls as a `_thread` lock (acquire, release,
 * locked, the context manager), at a fraction of the cost of one, and taken directly by the C
 * paths below.
 *
 * With a GIL, the guard is a flag: taking a free guard and giving it back are two stores made
 * while holding the GIL, which no other OS thread can interleave with. A real lock is used only
 * to wait: a thread that finds the guard held counts itself in `waiters` and sleeps on `lock`
 * (kept acquired while nobody is signalled) with the GIL released; whoever gives the guard back
 * while somebody waits releases `lock` once (`signalled` until a waiter takes it back), and the
 * woken thread takes the guard if it is still free or waits again. Without a GIL (a free-threaded build) the guard is the real lock
 * itself. */

typedef struct {
    PyObject_HEAD
    PyThread_type_lock lock;
    char locked;
#ifndef Py_GIL_DISABLED
    char signalled;    /* `lock` released for a waiter, not yet taken back by one */
    Py_ssize_t waiters; /* OS threads sleeping on `lock` for the guard */
#endif
} GuardObject;

static PyTypeObject GuardType;

static PyObject *
guard_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if (PyTuple_GET_SIZE(args) != 0 || (kwds != NULL && PyDict_GET_SIZE(kwds) != 0)) {
        PyErr_SetString(PyExc_TypeError, "Guard() takes no arguments");
        return NULL;
    }
    GuardObject *self = (GuardObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->lock = PyThread_allocate_lock();
    if (self->lock == NULL) {
        Py_DECREF(self);
        PyErr_SetString(PyExc_MemoryError, "cannot allocate a lock");
        return NULL;
    }
    self->locked = 0;
#ifndef Py_GIL_DISABLED
    PyThread_acquire_lock(self->lock, WAIT_LOCK); /* nobody signalled */
    self->signalled = 0;
    self->waiters = 0;
#endif
    return (PyObject *)self;
}

static void
guard_dealloc(GuardObject *self)
{
    if (self->lock != NULL) {
#ifdef Py_GIL_DISABLED
        if (self->locked) {
            PyThread_release_lock(self->lock);
        }
#else
        if (!self->signalled) {
            PyThread_release_lock(self->lock);
        }
#endif
        PyThread_free_lock(self->lock);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

#ifdef Py_GIL_DISABLED

/* Take the guard, waiting (GIL released) as long as `microseconds` says (-1: no limit);
 * 1 taken, 0 not. */
static int
guard_take(GuardObject *self, PY_TIMEOUT_T microseconds)
{
    if (PyThread_acquire_lock_timed(self->lock, 0, 0) != PY_LOCK_ACQUIRED) {
        if (microseconds == 0) {
            return 0;
        }
        PyLockStatus status;
        Py_BEGIN_ALLOW_THREADS
        status = PyThread_acquire_lock_timed(self->lock, microseconds, 0);
        Py_END_ALLOW_THREADS
        if (status != PY_LOCK_ACQUIRED) {
            return 0;
        }
    }
    self->locked = 1;
    return 1;
}

static void
guard_give(GuardObject *self)
{
    self->locked = 0;
    PyThread_release_lock(self->lock);
}

#else

/* Microseconds of the monotonic clock. */
static PY_TIMEOUT_T
guard_clock(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyTime_t now;
    PyTime_MonotonicRaw(&now);
    return (PY_TIMEOUT_T)(now / 1000);
#else
    return (PY_TIMEOUT_T)(_PyTime_GetMonotonicClock() / 1000);
#endif
}

/* Take the guard (the GIL held), waiting with the GIL released as long as `microseconds` says
 * (-1: no limit); 1 taken, 0 not. */
static int
guard_take(GuardObject *self, PY_TIMEOUT_T microseconds)
{
    if (!self->locked) {
        self->locked = 1;
        return 1;
    }
    if (microseconds == 0) {
        return 0;
    }
    PY_TIMEOUT_T deadline = microseconds > 0 ? guard_clock() + microseconds : 0;
    PY_TIMEOUT_T wait = microseconds;
    self->waiters += 1;
    for (;;) {
        PyLockStatus status;
        Py_BEGIN_ALLOW_THREADS
        status = PyThread_acquire_lock_timed(self->lock, wait, 0);
        Py_END_ALLOW_THREADS
        if (status == PY_LOCK_ACQUIRED) {
            self->signalled = 0;
        }
        if (!self->locked) {
            self->waiters -= 1;
            self->locked = 1;
            return 1;
        }
        if (microseconds > 0) {
            wait = deadline - guard_clock();
            if (wait <= 0) {
                self->waiters -= 1;
                return 0;
            }
        }
    }
}

static void
guard_give(GuardObject *self)
{
    self->locked = 0;
    if (self->waiters && !self->signalled) {
        self->signalled = 1;
        PyThread_release_lock(self->lock);
    }
}

#endif

static PyObject *
guard_acquire(GuardObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PY_TIMEOUT_T microseconds = -1;
    if (nargs != 0 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        /* acquire(blocking=True, timeout=-1), as a `_thread` lock takes them. */
        int blocking = 1;
        double timeout = -1.0;
        Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
        if (nargs + nkw > 2) {
            PyErr_SetString(PyExc_TypeError, "acquire() takes at most 2 arguments");
            return NULL;
        }
        for (Py_ssize_t index = 0; index < nargs + nkw; index++) {
            int is_timeout = index == 1;
            if (index >= nargs) {
                PyObject *name = PyTuple_GET_ITEM(kwnames, index - nargs);
                if (PyUnicode_CompareWithASCIIString(name, "timeout") == 0) {
                    is_timeout = 1;
                }
                else if (PyUnicode_CompareWithASCIIString(name, "blocking") == 0) {
                    is_timeout = 0;
                }
                else {
                    PyErr_Format(PyExc_TypeError, "acquire() got an unexpected keyword argument %R", name);
                    return NULL;
                }
            }
            if (is_timeout) {
                timeout = PyFloat_AsDouble(args[index]);
                if (timeout == -1.0 && PyErr_Occurred()) {
                    return NULL;
                }
            }
            else {
                blocking = PyObject_IsTrue(args[index]);
                if (blocking < 0) {
                    return NULL;
                }
            }
        }
        if (!blocking && timeout != -1.0) {
            PyErr_SetString(PyExc_ValueError, "can't specify a timeout for a non-blocking call");
            return NULL;
        }
        if (timeout < 0 && timeout != -1.0) {
            PyErr_SetString(PyExc_ValueError, "timeout value must be a non-negative number");
            return NULL;
        }
        if (!blocking) {
            microseconds = 0;
        }
        else if (timeout >= 0) {
            double limit = timeout * 1e6;
            if (limit >= (double)PY_TIMEOUT_MAX) {
                PyErr_SetString(PyExc_OverflowError, "timeout value is too large");
                return NULL;
            }
            microseconds = (PY_TIMEOUT_T)limit;
        }
    }
    return PyBool_FromLong(guard_take(self, microseconds));
}

static PyObject *
guard_enter(GuardObject *self, PyObject *Py_UNUSED(unused))
{
    guard_take(self, -1);
    Py_RETURN_TRUE;
}

static PyObject *
guard_release_method(GuardObject *self, PyObject *Py_UNUSED(unused))
{
    if (!self->locked) {
        PyErr_SetString(PyExc_RuntimeError, "release unlocked lock");
        return NULL;
    }
    guard_give(self);
    Py_RETURN_NONE;
}

static PyObject *
guard_exit(GuardObject *self, PyObject *const *Py_UNUSED(args), Py_ssize_t Py_UNUSED(nargs))
{
    return guard_release_method(self, NULL);
}

static PyObject *
guard_locked(GuardObject *self, PyObject *Py_UNUSED(unused))
{
    return PyBool_FromLong(self->locked);
}

static PyObject *
guard_repr(GuardObject *self)
{
    return PyUnicode_FromFormat("<%s %s object at %p>", self->locked ? "locked" : "unlocked",
                                Py_TYPE(self)->tp_name, self);
}

static PyMethodDef guard_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))guard_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire(blocking=True, timeout=-1): take the guard; False if not blocking or the timeout passed."},
    {"release", (PyCFunction)guard_release_method, METH_NOARGS, "release(): give the guard back."},
    {"locked", (PyCFunction)guard_locked, METH_NOARGS, "locked(): whether somebody holds the guard."},
    {"__enter__", (PyCFunction)guard_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))guard_exit, METH_FASTCALL, NULL},
    {NULL},
};

static PyTypeObject GuardType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "green._core.Guard",
    .tp_doc = "The small real lock of green's synchronisation objects (see green._waiter.allocate_guard).",
    .tp_basicsize = sizeof(GuardObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = guard_new,
    .tp_dealloc = (destructor)guard_dealloc,
    .tp_repr = (reprfunc)guard_repr,
    .tp_methods = guard_methods,
};

/* -- queue get/put ------------------------------------------------------------------------------ */

/* LightQueue.get and .put (green/queue.py) for the queues whose class keeps the storage hooks of
 * LightQueue (a deque, no task counting) or of Queue (a deque, `unfinished_tasks` counted): the
 * class says which in its own `_compiled_path` (1 or 2; green.queue sets it for every subclass).
 * The C path takes what needs no wait beyond a plain park: an item at hand, a hand-off to a
 * waiting getter, room for a put, and a get that parks without a timeout. Everything else (a
 * full queue, putters waiting, a timeout, shutdown, any other class) is the Python method `_python_get` / `_python_put`, which stays the reference; so
 * are the rare ends of a parked get (`_get_abandoned`, `_get_unwoken`). */

static PyObject *queue_waiter_class = NULL; /* green._waiter.Waiter */

/* One Waiter of the C paths kept for the next wait: a wait ends with the waiter referenced by
 * nobody else (taken off the queue's or the lock's list by whoever woke it), so the next wait
 * takes it instead of allocating one (type call, GC link, dealloc: about 800 instructions of a
 * hand-off). It is kept cleared (no hub, green thread or value: nothing stays alive through it)
 * and made again by Waiter.__init__ when taken. */
static PyObject *spare_waiter = NULL;

static int waiter_init(WaiterObject *self, PyObject *args, PyObject *kwds);

/* A new Waiter(), the spare one if there is one. */
static PyObject *
take_waiter(void)
{
    PyObject *waiter = spare_waiter;
    if (waiter == NULL) {
        return PyObject_CallNoArgs(queue_waiter_class);
    }
    spare_waiter = NULL;
    if (waiter_init((WaiterObject *)waiter, empty_tuple, NULL) < 0) {
        Py_DECREF(waiter);
        return NULL;
    }
    return waiter;
}

/* Py_DECREF(waiter) at the end of a wait that took it with take_waiter: kept as the spare when
 * nobody else references it. */
static void
drop_waiter(PyObject *waiter)
{
    if (spare_waiter != NULL || Py_REFCNT(waiter) != 1 || (PyObject *)Py_TYPE(waiter) != queue_waiter_class) {
        Py_DECREF(waiter);
        return;
    }
    WaiterObject *self = (WaiterObject *)waiter;
    Py_XSETREF(self->hub, Py_NewRef(Py_None));
    Py_XSETREF(self->greenlet, Py_NewRef(Py_None));
    Py_XSETREF(self->value, Py_NewRef(Py_None));
    Py_XSETREF(self->exception, Py_NewRef(Py_None));
    keep_entry(self);
    Py_CLEAR(self->blocker);
    self->woken = 0;
    if (spare_waiter == NULL) { /* still none: clearing ran no code that kept one */
        spare_waiter = waiter;
    }
    else {
        Py_DECREF(waiter);
    }
}
static PyObject *str_compiled_path, *str_python_get;
static PyObject *str_python_put, *str_get_abandoned, *str_get_unwoken, *str_wake;

/* The `_compiled_path` of the object's class (1 or 2 for a class a C path serves, else 0), looked
 * up in the class's own dict only; queues and semaphores set it. */
/* Answers remembered per class, keyed by the class and its version tag (a class changed gets a
 * new tag; a tag is never given to another class): a lookup in the class's dict per get, put,
 * acquire and release otherwise. */
#define PATH_CACHE_SIZE 8
static struct {
    PyTypeObject *type;
    unsigned int version;
    int path;
} path_cache[PATH_CACHE_SIZE];

static int class_path_lookup(PyObject *self);

static int
class_path(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    size_t slot = ((uintptr_t)type >> 6) % PATH_CACHE_SIZE;
    int valid = type->tp_version_tag != 0 && PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG);
    if (valid && path_cache[slot].type == type && path_cache[slot].version == type->tp_version_tag) {
        return path_cache[slot].path;
    }
    int path = class_path_lookup(self);
    if (valid) {
        path_cache[slot].type = type;
        path_cache[slot].version = type->tp_version_tag;
        path_cache[slot].path = path;
    }
    return path;
}

static int
class_path_lookup(PyObject *self)
{
    PyObject *dict = Py_TYPE(self)->tp_dict;
    if (dict == NULL) {
        return 0;
    }
    PyObject *flag = PyDict_GetItemWithError(dict, str_compiled_path);
    if (flag == NULL) {
        PyErr_Clear();
        return 0;
    }
    if (!PyLong_CheckExact(flag)) {
        return 0;
    }
    long value = PyLong_AsLong(flag);
    if (value == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return value == 1 || value == 2 ? (int)value : 0;
}

/* The state, in slots read at the offsets found when the methods were made. */
static Py_ssize_t queue_guard_offset = -1, queue_getters_offset = -1, queue_putters_offset = -1,
                  queue_items_offset = -1, queue_maxsize_offset = -1, queue_shutdown_offset = -1,
                  queue_tasks_offset = -1;

typedef struct {
    GuardObject *guard;                   /* new reference */
    PyObject *getters, *putters, *items; /* new references */
} QueueParts;

/* The instance's state; 1 if all of it is there in the expected types, 0 if not (use the
 * Python method). */
static int
queue_parts(PyObject *self, QueueParts *parts)
{
    PyObject *guard = OBJECT_SLOT(self, queue_guard_offset);
    PyObject *getters = OBJECT_SLOT(self, queue_getters_offset);
    PyObject *putters = OBJECT_SLOT(self, queue_putters_offset);
    PyObject *items = OBJECT_SLOT(self, queue_items_offset);
    if (guard == NULL || getters == NULL || putters == NULL || items == NULL || !Py_IS_TYPE(guard, &GuardType) ||
        !PyList_CheckExact(getters) || !PyDict_CheckExact(putters)) {
        return 0;
    }
    parts->guard = (GuardObject *)Py_NewRef(guard);
    parts->getters = Py_NewRef(getters);
    parts->putters = Py_NewRef(putters);
    parts->items = Py_NewRef(items);
    return 1;
}

/* The guard given back and the references dropped. */
static void
queue_parts_done(QueueParts *parts)
{
    guard_give(parts->guard);
    Py_DECREF(parts->guard);
    Py_DECREF(parts->getters);
    Py_DECREF(parts->putters);
    Py_DECREF(parts->items);
}

static PyObject *
call_items(PyObject *name, PyObject *items, PyObject *argument)
{
    PyObject *call[2] = {items, argument};
    return PyObject_VectorcallMethod(name, call, (argument == NULL ? 1 : 2) | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                     NULL);
}

/* `unfinished_tasks += 1` (Queue's _counted). */
static int
queue_counted(PyObject *self)
{
    PyObject *tasks = OBJECT_SLOT(self, queue_tasks_offset);
    if (tasks == NULL) {
        PyErr_SetString(PyExc_AttributeError, "unfinished_tasks");
        return -1;
    }
    PyObject *more = PyNumber_Add(tasks, one);
    if (more == NULL) {
        return -1;
    }
    Py_XSETREF(OBJECT_SLOT(self, queue_tasks_offset), more);
    return 0;
}

/* 1 if the queue is shut down, 0 if not, -1 on error. */
static int
queue_shut(PyObject *self)
{
    PyObject *flag = OBJECT_SLOT(self, queue_shutdown_offset);
    if (flag == NULL || flag == Py_False) {
        return 0;
    }
    Py_INCREF(flag);
    int shut = PyObject_IsTrue(flag);
    Py_DECREF(flag);
    return shut;
}

static PyObject *
queue_python(PyObject *name, PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *method = PyObject_GetAttr(self, name);
    if (method == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_Vectorcall(method, args, nargs, kwnames);
    Py_DECREF(method);
    return result;
}

/* The arguments of get/put beyond the item: (block=True, timeout=None); 1 when they are the
 * defaults (or block=True given, with timeout None), 0 otherwise. */
static int
plain_arguments(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, Py_ssize_t first)
{
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0) {
        return 0;
    }
    if (nargs > first + 2) {
        return 0;
    }
    if (nargs > first && args[first] != Py_True) {
        return 0;
    }
    if (nargs > first + 1 && args[first + 1] != Py_None) {
        return 0;
    }
    return 1;
}

static PyObject *
queue_get(PyObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    int path = class_path(self);
    QueueParts parts;
    if (!path || !queue_parts(self, &parts)) {
        return queue_python(str_python_get, self, args, nargs, kwnames);
    }
    guard_take(parts.guard, -1);
    if (PyDict_GET_SIZE(parts.putters) != 0) {
        goto python;
    }
    Py_ssize_t size = PyObject_Size(parts.items);
    if (size < 0) {
        goto error;
    }
    if (size > 0) {
        PyObject *item = call_items(str_popleft, parts.items, NULL);
        queue_parts_done(&parts);
        return item;
    }
    int shut = queue_shut(self);
    if (shut < 0) {
        goto error;
    }
    if (shut || !plain_arguments(args, nargs, kwnames, 0)) {
        goto python;
    }
    /* Park: a Waiter in the getters, the guard released, then wait() without a timeout. */
    PyObject *waiter = take_waiter();
    if (waiter == NULL) {
        goto error;
    }
    if (PyList_Append(parts.getters, waiter) < 0) {
        Py_DECREF(waiter);
        goto error;
    }
    queue_parts_done(&parts);
    PyObject *result = waiter_wait((WaiterObject *)waiter, NULL, 0, NULL);
    if (result == NULL) {
        call_keeping_error(self, str_get_abandoned, waiter);
        Py_DECREF(waiter);
        return NULL;
    }
    WaiterObject *woken = (WaiterObject *)waiter;
    if (!woken->woken) {
        PyObject *outcome = PyObject_CallMethodObjArgs(self, str_get_unwoken, waiter, result, NULL);
        Py_DECREF(result);
        Py_DECREF(waiter);
        return outcome;
    }
    Py_DECREF(result);
    if (woken->exception != NULL && woken->exception != Py_None) {
        PyObject *exception = Py_NewRef(woken->exception);
        Py_DECREF(waiter);
        PyErr_SetObject((PyObject *)Py_TYPE(exception), exception);
        Py_DECREF(exception);
        return NULL;
    }
    PyObject *value = Py_NewRef(woken->value != NULL ? woken->value : Py_None);
    drop_waiter(waiter);
    return value;

python:
    queue_parts_done(&parts);
    return queue_python(str_python_get, self, args, nargs, kwnames);

error:
    queue_parts_done(&parts);
    return NULL;
}

/* waiter.wake(item), in C for the core's own Waiters. */
static PyObject *
wake_waiter(PyObject *waiter, PyObject *item)
{
    if (PyObject_TypeCheck(waiter, &WaiterType)) {
        return waiter_wake_value((WaiterObject *)waiter, item);
    }
    return PyObject_CallMethodOneArg(waiter, str_wake, item);
}

/* The first item of a non-empty list taken out (a new reference). A list left empty keeps its
 * storage for the next append (deleting the last item with PyList_SetSlice frees it): a waiters
 * list of one hand-off after another then allocates nothing. */
static PyObject *
list_take_first(PyObject *list)
{
    PyObject *first = PyList_GET_ITEM(list, 0);
#ifndef Py_GIL_DISABLED
    if (PyList_GET_SIZE(list) == 1) {
        Py_SET_SIZE((PyVarObject *)list, 0); /* the list's reference is now ours */
        return first;
    }
#endif
    Py_INCREF(first);
    if (PyList_SetSlice(list, 0, 1, NULL) < 0) {
        Py_DECREF(first);
        return NULL;
    }
    return first;
}

/* The longest-waiting Waiter taken out of `waiters` (a list, in arrival order) and woken with
 * `value`: 1 done, 0 nobody waits, -1 error. */
static int
wake_first(PyObject *waiters, PyObject *value)
{
    if (PyList_GET_SIZE(waiters) == 0) {
        return 0;
    }
    PyObject *waiter = list_take_first(waiters);
    if (waiter == NULL) {
        return -1;
    }
    PyObject *done = wake_waiter(waiter, value);
    Py_DECREF(waiter);
    if (done == NULL) {
        return -1;
    }
    Py_DECREF(done);
    return 1;
}

static PyObject *
queue_put(PyObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs < 1) { /* the item by keyword, or missing: the Python method says which */
        return queue_python(str_python_put, self, args, nargs, kwnames);
    }
    PyObject *item = args[0];
    int path = class_path(self);
    QueueParts parts;
    if (!path || !queue_parts(self, &parts)) {
        return queue_python(str_python_put, self, args, nargs, kwnames);
    }
    guard_take(parts.guard, -1);
    int shut = queue_shut(self);
    if (shut < 0) {
        goto error;
    }
    if (shut) {
        goto python;
    }
    Py_ssize_t size = PyObject_Size(parts.items);
    if (size < 0) {
        goto error;
    }
    if (size == 0 && PyList_GET_SIZE(parts.getters) != 0) {
        /* Hand the item to the longest waiting getter. */
        int woken = wake_first(parts.getters, item);
        if (woken < 0) {
            goto error;
        }
        if (woken == 0) {
            goto python;
        }
        goto counted;
    }
    PyObject *maxsize = OBJECT_SLOT(self, queue_maxsize_offset);
    if (maxsize == NULL) {
        goto python;
    }
    int room;
    if (maxsize == Py_None) {
        room = 1;
    }
    else if (PyLong_CheckExact(maxsize)) {
        int overflow;
        long limit = PyLong_AsLongAndOverflow(maxsize, &overflow);
        if (overflow) {
            goto python;
        }
        room = limit <= 0 || size < limit;
    }
    else {
        goto python;
    }
    if (!room) {
        goto python;
    }
    PyObject *done = call_items(str_append, parts.items, item);
    if (done == NULL) {
        goto error;
    }
    Py_DECREF(done);

counted:
    if (path == 2 && queue_counted(self) < 0) {
        goto error;
    }
    queue_parts_done(&parts);
    Py_RETURN_NONE;

python:
    queue_parts_done(&parts);
    return queue_python(str_python_put, self, args, nargs, kwnames);

error:
    queue_parts_done(&parts);
    return NULL;
}

static PyMethodDef queue_get_def = {
    "get", (PyCFunction)(void (*)(void))queue_get, METH_FASTCALL | METH_KEYWORDS,
    "get(block=True, timeout=None)\n--\n\nRemove and return an item; if empty, wait (at most `timeout`) or raise "
    "Empty."};
static PyMethodDef queue_put_def = {
    "put", (PyCFunction)(void (*)(void))queue_put, METH_FASTCALL | METH_KEYWORDS,
    "put(item, block=True, timeout=None)\n--\n\nPut `item`; if the queue is full, wait (at most `timeout`) or "
    "raise Full."};

static PyObject *str_python_acquire, *str_acquire_abandoned, *str_acquire_unwoken;

/* The wait of a lock's or a semaphore's acquire (`waiter` registered, guard released; steals
 * `waiter`): True once handed the lock or unit; on an exception `_acquire_abandoned` runs first. */
static PyObject *
acquire_wait(PyObject *self, PyObject *waiter)
{
    PyObject *result = waiter_wait((WaiterObject *)waiter, NULL, 0, NULL);
    if (result == NULL) {
        call_keeping_error(self, str_acquire_abandoned, waiter);
        Py_DECREF(waiter);
        return NULL;
    }
    Py_DECREF(result);
    if (((WaiterObject *)waiter)->woken) {
        drop_waiter(waiter);
        Py_RETURN_TRUE;
    }
    PyObject *outcome = PyObject_CallMethodOneArg(self, str_acquire_unwoken, waiter);
    Py_DECREF(waiter);
    return outcome;
}

/* -- the green lock ------------------------------------------------------------------------------ */

/* green.thread.LockType's acquire, release and context manager (threading.Lock after patching):
 * a free lock taken, a held one waited for without a timeout, a release handing the lock to the
 * longest waiting green thread. acquire with arguments other than `blocking=True` and the rare
 * ends of a wait are the Python methods (`_python_acquire`, `_acquire_abandoned`,
 * `_acquire_unwoken`). LockType keeps its state in slots, read here at their offsets. */

static Py_ssize_t lock_locked_offset = -1, lock_waiters_offset = -1, lock_guard_offset = -1;

/* The guard of a lock (borrowed), or NULL with an exception set. */
static GuardObject *
lock_guard(PyObject *self)
{
    PyObject *guard = OBJECT_SLOT(self, lock_guard_offset);
    if (guard == NULL || !Py_IS_TYPE(guard, &GuardType)) {
        PyErr_SetString(PyExc_RuntimeError, "a green lock without its guard");
        return NULL;
    }
    return (GuardObject *)guard;
}

static PyObject *
lock_acquire_plain(PyObject *self)
{
    GuardObject *guard = lock_guard(self);
    PyObject *waiters = OBJECT_SLOT(self, lock_waiters_offset);
    if (guard == NULL || waiters == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_AttributeError, "_waiters");
        }
        return NULL;
    }
    guard_take(guard, -1);
    PyObject *locked = OBJECT_SLOT(self, lock_locked_offset);
    if (locked != Py_True) {
        Py_XSETREF(OBJECT_SLOT(self, lock_locked_offset), Py_NewRef(Py_True));
        guard_give(guard);
        Py_RETURN_TRUE;
    }
    PyObject *waiter = take_waiter();
    if (waiter == NULL) {
        guard_give(guard);
        return NULL;
    }
    PyObject *done = call_items(str_append, waiters, waiter);
    guard_give(guard);
    if (done == NULL) {
        Py_DECREF(waiter);
        return NULL;
    }
    Py_DECREF(done);
    return acquire_wait(self, waiter);
}

static PyObject *
lock_acquire(PyObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if ((kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0) && (nargs == 0 || (nargs == 1 && args[0] == Py_True))) {
        return lock_acquire_plain(self);
    }
    return queue_python(str_python_acquire, self, args, nargs, kwnames);
}

static PyObject *
lock_enter(PyObject *self, PyObject *Py_UNUSED(unused))
{
    return lock_acquire_plain(self);
}

static PyObject *
lock_release(PyObject *self, PyObject *Py_UNUSED(unused))
{
    GuardObject *guard = lock_guard(self);
    PyObject *waiters = OBJECT_SLOT(self, lock_waiters_offset);
    if (guard == NULL || waiters == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_AttributeError, "_waiters");
        }
        return NULL;
    }
    guard_take(guard, -1);
    if (OBJECT_SLOT(self, lock_locked_offset) != Py_True) {
        guard_give(guard);
        PyErr_SetString(PyExc_RuntimeError, "release unlocked lock");
        return NULL;
    }
    for (;;) {
        Py_ssize_t size = PyObject_Size(waiters);
        if (size < 0) {
            guard_give(guard);
            return NULL;
        }
        if (size == 0) {
            break;
        }
        PyObject *waiter = call_items(str_popleft, waiters, NULL);
        if (waiter == NULL) {
            guard_give(guard);
            return NULL;
        }
        int woken = PyObject_TypeCheck(waiter, &WaiterType) ? ((WaiterObject *)waiter)->woken : 0;
        if (woken) {
            Py_DECREF(waiter);
            continue;
        }
        /* Still locked: now owned by the woken waiter (from any OS thread: the Waiter picks the
         * way in). */
        PyObject *done = wake_waiter(waiter, Py_True);
        Py_DECREF(waiter);
        guard_give(guard);
        if (done == NULL) {
            return NULL;
        }
        Py_DECREF(done);
        Py_RETURN_NONE;
    }
    Py_XSETREF(OBJECT_SLOT(self, lock_locked_offset), Py_NewRef(Py_False));
    guard_give(guard);
    Py_RETURN_NONE;
}

static PyObject *
lock_exit(PyObject *self, PyObject *const *Py_UNUSED(args), Py_ssize_t Py_UNUSED(nargs))
{
    PyObject *done = lock_release(self, NULL);
    if (done == NULL) {
        return NULL;
    }
    Py_DECREF(done);
    Py_RETURN_NONE;
}

static PyMethodDef lock_acquire_def = {
    "acquire", (PyCFunction)(void (*)(void))lock_acquire, METH_FASTCALL | METH_KEYWORDS,
    "acquire(blocking=True, timeout=-1)\n--\n\nTake the lock; returns False if not `blocking` or `timeout` "
    "seconds pass first."};
static PyMethodDef lock_release_def = {
    "release", (PyCFunction)lock_release, METH_NOARGS,
    "release()\n--\n\nRelease the lock, handing it to the longest waiting green thread if there is one."};
static PyMethodDef lock_enter_def = {"__enter__", (PyCFunction)lock_enter, METH_NOARGS, NULL};
static PyMethodDef lock_exit_def = {"__exit__", (PyCFunction)(void (*)(void))lock_exit, METH_FASTCALL, NULL};

static Py_ssize_t
slot_offset(PyObject *cls, const char *name)
{
    PyObject *descriptor = PyObject_GetAttrString(cls, name);
    if (descriptor == NULL) {
        return -1;
    }
    Py_ssize_t offset = -1;
    if (Py_IS_TYPE(descriptor, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)descriptor)->d_member;
        if (member->type == T_OBJECT_EX) {
            offset = member->offset;
        }
    }
    Py_DECREF(descriptor);
    if (offset < 0) {
        PyErr_Format(PyExc_TypeError, "%s is not an object slot", name);
    }
    return offset;
}

/* -- the semaphore ------------------------------------------------------------------------------- */

/* green.semaphore.Semaphore's acquire and release for classes that keep Semaphore's release check
 * (`_compiled_path` 1 in the class's own dict; BoundedSemaphore's check makes it 0): a unit taken
 * or given back, a wait without a timeout, the hand-off of a released unit to the longest
 * waiting green thread. The rest is the Python methods (`_python_acquire`, `_python_release`,
 * `_acquire_abandoned`, `_acquire_unwoken`). The state is the slots `counter`, `_waiters` and
 * `_guard`, read at the offsets found when the methods were made. */

static PyObject *str_python_release;
static Py_ssize_t semaphore_counter_offset = -1, semaphore_waiters_offset = -1, semaphore_guard_offset = -1;

typedef struct {
    GuardObject *guard; /* new reference */
    PyObject *waiters;  /* new reference */
} SemaphoreParts;

/* 1 with the parts, 0 when the Python method must run. */
static int
semaphore_parts(PyObject *self, SemaphoreParts *parts)
{
    if (class_path(self) != 1) {
        return 0;
    }
    PyObject *guard = OBJECT_SLOT(self, semaphore_guard_offset);
    PyObject *waiters = OBJECT_SLOT(self, semaphore_waiters_offset);
    if (guard == NULL || waiters == NULL || !Py_IS_TYPE(guard, &GuardType) || !PyList_CheckExact(waiters)) {
        return 0;
    }
    parts->guard = (GuardObject *)Py_NewRef(guard);
    parts->waiters = Py_NewRef(waiters);
    return 1;
}

static void
semaphore_parts_done(SemaphoreParts *parts)
{
    guard_give(parts->guard);
    Py_DECREF(parts->guard);
    Py_DECREF(parts->waiters);
}

/* counter + change, stored back; -1 on error. */
static int
semaphore_count(PyObject *self, PyObject *counter, long change)
{
    PyObject *amount = PyLong_FromLong(change);
    if (amount == NULL) {
        return -1;
    }
    PyObject *changed = PyNumber_Add(counter, amount);
    Py_DECREF(amount);
    if (changed == NULL) {
        return -1;
    }
    Py_XSETREF(OBJECT_SLOT(self, semaphore_counter_offset), changed);
    return 0;
}

static PyObject *
semaphore_acquire(PyObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    SemaphoreParts parts;
    if (!plain_arguments(args, nargs, kwnames, 0) || !semaphore_parts(self, &parts)) {
        return queue_python(str_python_acquire, self, args, nargs, kwnames);
    }
    guard_take(parts.guard, -1);
    PyObject *counter = OBJECT_SLOT(self, semaphore_counter_offset);
    if (counter == NULL) {
        PyErr_SetString(PyExc_AttributeError, "counter");
        goto error;
    }
    if (PyList_GET_SIZE(parts.waiters) == 0) {
        Py_INCREF(counter); /* the comparison may run Python code */
        int positive = PyObject_RichCompareBool(counter, zero, Py_GT);
        if (positive > 0 && semaphore_count(self, counter, -1) < 0) {
            positive = -1;
        }
        Py_DECREF(counter);
        if (positive < 0) {
            goto error;
        }
        if (positive) {
            semaphore_parts_done(&parts);
            Py_RETURN_TRUE;
        }
    }
    PyObject *waiter = take_waiter();
    if (waiter == NULL) {
        goto error;
    }
    if (PyList_Append(parts.waiters, waiter) < 0) {
        Py_DECREF(waiter);
        goto error;
    }
    semaphore_parts_done(&parts);
    return acquire_wait(self, waiter);

error:
    semaphore_parts_done(&parts);
    return NULL;
}

static PyObject *
semaphore_release(PyObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    SemaphoreParts parts;
    int plain = (kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0) && nargs <= 1;
    if (!plain || !semaphore_parts(self, &parts)) {
        return queue_python(str_python_release, self, args, nargs, kwnames);
    }
    guard_take(parts.guard, -1);
    while (PyList_GET_SIZE(parts.waiters) != 0) {
        PyObject *waiter = list_take_first(parts.waiters);
        if (waiter == NULL) {
            goto error;
        }
        int woken = PyObject_TypeCheck(waiter, &WaiterType) ? ((WaiterObject *)waiter)->woken : 0;
        if (!woken) {
            PyObject *done = wake_waiter(waiter, Py_True);
            Py_DECREF(waiter);
            if (done == NULL) {
                goto error;
            }
            Py_DECREF(done);
            semaphore_parts_done(&parts);
            Py_RETURN_TRUE;
        }
        Py_DECREF(waiter);
    }
    PyObject *counter = OBJECT_SLOT(self, semaphore_counter_offset);
    if (counter == NULL) {
        PyErr_SetString(PyExc_AttributeError, "counter");
        goto error;
    }
    Py_INCREF(counter);
    int failed = semaphore_count(self, counter, 1);
    Py_DECREF(counter);
    if (failed) {
        goto error;
    }
    semaphore_parts_done(&parts);
    Py_RETURN_TRUE;

error:
    semaphore_parts_done(&parts);
    return NULL;
}

static PyMethodDef semaphore_acquire_def = {
    "acquire", (PyCFunction)(void (*)(void))semaphore_acquire, METH_FASTCALL | METH_KEYWORDS,
    "acquire(blocking=True, timeout=None)\n--\n\nTake one unit; returns False if not `blocking` or `timeout` "
    "passes first."};
static PyMethodDef semaphore_release_def = {
    "release", (PyCFunction)(void (*)(void))semaphore_release, METH_FASTCALL | METH_KEYWORDS,
    "release(blocking=True)\n--\n\nGive one unit back, waking the longest waiting green thread if any."};

/* -- the event ----------------------------------------------------------------------------------- */

/* green.event.Event's wait (without a timeout), send (a value, no exception) and reset: the state is
 * the slots `_result` (the module's _NOT_READY until sent), `_exception`, `_waiters` and `_guard`,
 * read at the offsets found when the methods were made (as the lock's). Other calls are the Python
 * methods (`_python_wait`, `_python_send`, `_python_reset`, and `_wait_abandoned` for a wait that
 * ends without its wake-up). */

static PyObject *event_not_ready = NULL;
static PyObject *str_python_wait, *str_python_send, *str_python_reset, *str_wait_abandoned;
static Py_ssize_t event_result_offset = -1, event_exception_offset = -1, event_waiters_offset = -1,
                  event_guard_offset = -1;

/* The sent outcome: the value (new reference), or NULL with the sent exception raised. */
static PyObject *
event_outcome(PyObject *self)
{
    PyObject *exception = OBJECT_SLOT(self, event_exception_offset);
    if (exception != NULL && exception != Py_None) {
        PyErr_SetObject((PyObject *)Py_TYPE(exception), exception);
        return NULL;
    }
    PyObject *result = OBJECT_SLOT(self, event_result_offset);
    if (result == NULL || exception == NULL) {
        PyErr_SetString(PyExc_AttributeError, result == NULL ? "_result" : "_exception");
        return NULL;
    }
    return Py_NewRef(result);
}

/* The guard and waiters of an event, as new references (1), or 0 for the Python method (a slot
 * deleted or of an unexpected type). */
static int
event_parts(PyObject *self, GuardObject **guard, PyObject **waiters)
{
    PyObject *found = OBJECT_SLOT(self, event_guard_offset);
    PyObject *listed = OBJECT_SLOT(self, event_waiters_offset);
    if (found == NULL || listed == NULL || !Py_IS_TYPE(found, &GuardType) || !PyList_CheckExact(listed) ||
        OBJECT_SLOT(self, event_result_offset) == NULL || OBJECT_SLOT(self, event_exception_offset) == NULL) {
        return 0;
    }
    *guard = (GuardObject *)Py_NewRef(found);
    *waiters = Py_NewRef(listed);
    return 1;
}

static PyObject *
event_wait(PyObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    int plain = (kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0) && (nargs == 0 || (nargs == 1 && args[0] == Py_None));
    PyObject *waiters;
    GuardObject *guard;
    if (!plain || !event_parts(self, &guard, &waiters)) {
        return queue_python(str_python_wait, self, args, nargs, kwnames);
    }
    if (OBJECT_SLOT(self, event_result_offset) == event_not_ready) {
        guard_take(guard, -1);
        if (OBJECT_SLOT(self, event_result_offset) == event_not_ready) {
            PyObject *waiter = take_waiter();
            if (waiter == NULL || PyList_Append(waiters, waiter) < 0) {
                Py_XDECREF(waiter);
                guard_give(guard);
                goto error;
            }
            guard_give(guard);
            PyObject *resumed = waiter_wait((WaiterObject *)waiter, NULL, 0, NULL);
            if (resumed == NULL) { /* an exception: leave the list, then raise it */
                call_keeping_error(self, str_wait_abandoned, waiter);
                Py_DECREF(waiter);
                goto error;
            }
            Py_DECREF(resumed);
            if (!((WaiterObject *)waiter)->woken) { /* resumed some other way: leave the list */
                PyObject *left = PyObject_CallMethodOneArg(self, str_wait_abandoned, waiter);
                if (left == NULL) {
                    Py_DECREF(waiter);
                    goto error;
                }
                Py_DECREF(left);
            }
            drop_waiter(waiter);
        }
        else {
            guard_give(guard);
        }
    }
    Py_DECREF(guard);
    Py_DECREF(waiters);
    return event_outcome(self);

error:
    Py_DECREF(guard);
    Py_DECREF(waiters);
    return NULL;
}

static PyObject *
event_send(PyObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    int plain = (kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0) && nargs <= 1;
    PyObject *waiters;
    GuardObject *guard;
    if (!plain || !event_parts(self, &guard, &waiters)) {
        return queue_python(str_python_send, self, args, nargs, kwnames);
    }
    guard_take(guard, -1);
    if (OBJECT_SLOT(self, event_result_offset) != event_not_ready) {
        /* already sent (or odd state): the Python method says so */
        guard_give(guard);
        Py_DECREF(guard);
        Py_DECREF(waiters);
        return queue_python(str_python_send, self, args, nargs, kwnames);
    }
    Py_XSETREF(OBJECT_SLOT(self, event_result_offset), Py_NewRef(nargs ? args[0] : Py_None));
    if (PyList_GET_SIZE(waiters) == 1) {
        /* One waiter (a hand-off): taken out of the list, which stays (and keeps its storage for
         * the next wait), then woken; a wait that starts meanwhile joins the emptied list, as it
         * would join a fresh one. */
        if (wake_first(waiters, Py_None) < 0) {
            goto error;
        }
    }
    else if (PyList_GET_SIZE(waiters) != 0) {
        /* The waiters woken now leave the Event with their list; a wait that starts meanwhile (a
         * woken waiter's callback, another OS thread) joins a fresh one. */
        PyObject *fresh = PyList_New(0);
        if (fresh == NULL) {
            goto error;
        }
        Py_XSETREF(OBJECT_SLOT(self, event_waiters_offset), fresh);
        for (Py_ssize_t index = 0; index < PyList_GET_SIZE(waiters); index++) {
            PyObject *waiter = Py_NewRef(PyList_GET_ITEM(waiters, index));
            PyObject *done = wake_waiter(waiter, Py_None);
            Py_DECREF(waiter);
            if (done == NULL) {
                goto error;
            }
            Py_DECREF(done);
        }
    }
    guard_give(guard);
    Py_DECREF(guard);
    Py_DECREF(waiters);
    Py_RETURN_NONE;

error:
    guard_give(guard);
    Py_DECREF(guard);
    Py_DECREF(waiters);
    return NULL;
}

static PyObject *
event_reset(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *waiters;
    GuardObject *guard;
    if (!event_parts(self, &guard, &waiters)) {
        return queue_python(str_python_reset, self, NULL, 0, NULL);
    }
    Py_DECREF(waiters);
    guard_take(guard, -1);
    if (OBJECT_SLOT(self, event_result_offset) == event_not_ready) {
        /* never sent: the Python method says so */
        guard_give(guard);
        Py_DECREF(guard);
        return queue_python(str_python_reset, self, NULL, 0, NULL);
    }
    Py_XSETREF(OBJECT_SLOT(self, event_result_offset), Py_NewRef(event_not_ready));
    Py_XSETREF(OBJECT_SLOT(self, event_exception_offset), Py_NewRef(Py_None));
    guard_give(guard);
    Py_DECREF(guard);
    Py_RETURN_NONE;
}

static PyMethodDef event_wait_def = {
    "wait", (PyCFunction)(void (*)(void))event_wait, METH_FASTCALL | METH_KEYWORDS,
    "wait(timeout=None)\n--\n\nReturn the sent value (raise the sent exception); None if `timeout` passes first."};
static PyMethodDef event_send_def = {
    "send", (PyCFunction)(void (*)(void))event_send, METH_FASTCALL | METH_KEYWORDS,
    "send(result=None, exc=None)\n--\n\nWake every waiter with `result` (or with `exc`, an exception or exc_info "
    "tuple)."};

/* -- the hub's waits for I/O --------------------------------------------------------------------- */

/* Hub.wait_readable / wait_writable (green/hubs/hub.py) for the steady state of a connection: no
 * timeout, the fd already known to the hub and registered with the backend for that direction,
 * nobody else waiting on it. The calling green thread is recorded in the fd's state (an _FdState:
 * slots `reader`, `writer`, `registered`, read at the offsets found when the methods were made)
 * and parks; the hub's poll loop clears the record and switches back. Everything else (a first
 * wait, a registration to change, a timeout, an error to raise) is the Python method
 * (`_python_wait_readable`, `_python_wait_writable`), which stays the reference. */

static PyObject *fd_state_class = NULL;
static Py_ssize_t fd_reader_offset = -1, fd_writer_offset = -1, fd_registered_offset = -1;
static PyObject *str_python_wait_readable, *str_python_wait_writable;

static PyObject *
hub_wait_io(PyObject *hub, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames, int writing)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *python = writing ? str_python_wait_writable : str_python_wait_readable;
    if (nargs < 1 || nargs > 2 || (nargs == 2 && args[1] != Py_None) ||
        (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        return queue_python(python, hub, args, nargs, kwnames);
    }
    PyObject *park = hub_park(hub);
    if (park == NULL) {
        return NULL;
    }
    if (!Py_IS_TYPE(park, &ParkType) || ((ParkObject *)park)->hub != hub) {
        Py_DECREF(park);
        return queue_python(python, hub, args, nargs, kwnames);
    }
    PyObject *state = PyDict_GetItemWithError(((ParkObject *)park)->fds, args[0]);
    if (state == NULL || !Py_IS_TYPE(state, (PyTypeObject *)fd_state_class)) {
        Py_DECREF(park);
        return PyErr_Occurred() ? NULL : queue_python(python, hub, args, nargs, kwnames);
    }
    Py_ssize_t offset = writing ? fd_writer_offset : fd_reader_offset;
    PyObject *registered = OBJECT_SLOT(state, fd_registered_offset);
    long mask = registered != NULL && PyLong_CheckExact(registered) ? PyLong_AsLong(registered) : 0;
    if (mask == -1 && PyErr_Occurred()) {
        Py_DECREF(park);
        return NULL;
    }
    PyObject *current = (PyObject *)PyGreenlet_GetCurrent();
    if (current == NULL) {
        Py_DECREF(park);
        return NULL;
    }
    if (current == hub || OBJECT_SLOT(state, offset) != Py_None || !(mask & (writing ? 2 : 1))) {
        /* inside the hub, somebody already waiting, or a registration to make: the Python method
         * raises or registers */
        Py_DECREF(current);
        Py_DECREF(park);
        return queue_python(python, hub, args, nargs, kwnames);
    }
    Py_INCREF(state);
    Py_XSETREF(OBJECT_SLOT(state, offset), current); /* the slot takes our reference */
    PyObject *result = park_run((ParkObject *)park);
    /* `current` is the running greenlet: alive whatever the slot holds now. */
    if (OBJECT_SLOT(state, offset) == current) {
        Py_XSETREF(OBJECT_SLOT(state, offset), Py_NewRef(Py_None));
    }
    Py_DECREF(state);
    Py_DECREF(park);
    if (result == NULL) {
        return NULL;
    }
    Py_DECREF(result);
    Py_RETURN_TRUE;
}

static PyObject *
hub_wait_readable(PyObject *hub, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    return hub_wait_io(hub, args, nargsf, kwnames, 0);
}

static PyObject *
hub_wait_writable(PyObject *hub, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    return hub_wait_io(hub, args, nargsf, kwnames, 1);
}

static PyMethodDef hub_wait_readable_def = {
    "wait_readable", (PyCFunction)(void (*)(void))hub_wait_readable, METH_FASTCALL | METH_KEYWORDS,
    "wait_readable(fd, timeout=None)\n--\n\nPark the calling green thread until `fd` may be readable; False if "
    "`timeout` passes first."};
static PyMethodDef hub_wait_writable_def = {
    "wait_writable", (PyCFunction)(void (*)(void))hub_wait_writable, METH_FASTCALL | METH_KEYWORDS,
    "wait_writable(fd, timeout=None)\n--\n\nPark the calling green thread until `fd` may be writable; False if "
    "`timeout` passes first."};

/* -- the loop ---------------------------------------------------------------------------------- */

/* run_hub(...): Hub.run (green/hubs/hub.py), the same steps in the same order on the hub's own
 * objects; the rare paths (a failing callback, the idle exit, due timers) are the hub's Python
 * methods, called by name. Returns only by raising, as the Python loop does. */
static PyObject *str_io_event, *str_io_wake_failed, *str_switch, *str_callback_failed, *str_idle_exit,
    *str_idle_forever, *str_run_timers, *str_raise_in_main, *str_backend, *str_poll, *str_cancelled_timers,
    *str_callback, *str_wakeup_read, *str_wakeup_pending;

/* hub.method(), result dropped: 0, or -1 with the exception set. */
static int
call_hub(PyObject *hub, PyObject *name)
{
    PyObject *result = PyObject_CallMethodNoArgs(hub, name);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

/* turn.batch = count */
static int
set_batch(TurnObject *turn, Py_ssize_t count)
{
    PyObject *batch = PyLong_FromSsize_t(count);
    if (batch == NULL) {
        return -1;
    }
    Py_XSETREF(turn->batch, batch);
    return 0;
}

/* monotonic() as a double: 0, or -1 on error. */
static int
seconds_now(PyObject *monotonic, double *seconds)
{
    PyObject *now = PyObject_CallNoArgs(monotonic);
    if (now == NULL) {
        return -1;
    }
    *seconds = PyFloat_AsDouble(now);
    Py_DECREF(now);
    return (*seconds == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* Run one ready-queue entry, `callback(*args)` (steals `entry`); an exception it raises goes to
 * hub._callback_failed("callback", callback, error). 0, or -1 when that (or unpacking the entry)
 * raised. */
static int
run_entry(PyObject *hub, PyObject *entry)
{
    PyObject *callback, *args;
    if (split_entry(entry, &callback, &args) < 0) {
        return -1;
    }
    PyObject *result = call_entry(callback, args);
    if (result != NULL) {
        Py_DECREF(result);
        Py_DECREF(callback);
        return 0;
    }
    PyObject *error = fetch_error();
    /* the kind, "callback", is the same word as the timer attribute str_callback names */
    PyObject *done = PyObject_CallMethodObjArgs(hub, str_callback_failed, str_callback, callback, error, NULL);
    Py_DECREF(callback);
    Py_XDECREF(error);
    if (done == NULL) {
        return -1;
    }
    Py_DECREF(done);
    return 0;
}

/* Switch to the green thread in `state`'s slot at `offset` (clearing the slot); 0, or -1 with
 * the exception handed to the hub (and -2 if the hub's handler raised). */
static int
dispatch_wake(PyObject *hub, PyObject *fd, PyObject *state, Py_ssize_t offset)
{
    PyObject *waiting = OBJECT_SLOT(state, offset); /* the slot's reference, ours now */
    OBJECT_SLOT(state, offset) = Py_NewRef(Py_None);
    PyObject *result = PyGreenlet_Check(waiting) ? PyGreenlet_Switch((PyGreenlet *)waiting, empty_tuple, NULL)
                                                 : PyObject_CallMethodNoArgs(waiting, str_switch);
    Py_DECREF(waiting);
    if (result != NULL) {
        Py_DECREF(result);
        return 0;
    }
    PyObject *error = fetch_error();
    if (error == NULL) {
        return 0;
    }
    PyObject *done = PyObject_CallMethodObjArgs(hub, str_io_wake_failed, fd, error, NULL);
    Py_DECREF(error);
    if (done == NULL) {
        return -2;
    }
    Py_DECREF(done);
    return -1;
}

/* `fd` has no record: if it is the hub's wake-up pipe, empty it and clear the flag, as
 * Hub._drain_wakeup does (one read; nothing to read is no error); 1 when it was, 0 when it is
 * another fd, -1 on error. Never inlined: its buffer would grow the loop's C frame, and the
 * hub's stack is copied out and back at every switch into and out of the hub. */
NOT_INLINED static int
drain_wakeup(PyObject *hub, PyObject *fd)
{
    PyObject *wakeup = PyObject_GetAttr(hub, str_wakeup_read);
    if (wakeup == NULL) {
        return -1;
    }
    int same = PyObject_RichCompareBool(fd, wakeup, Py_EQ);
    long number = same == 1 ? PyLong_AsLong(wakeup) : -1;
    Py_DECREF(wakeup);
    if (same != 1) {
        return same;
    }
    if (number == -1 && PyErr_Occurred()) {
        return -1;
    }
    char buffer[4096];
    while (read((int)number, buffer, sizeof(buffer)) < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        }
        if (errno != EINTR) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        if (PyErr_CheckSignals() < 0) {
            return -1;
        }
    }
    return PyObject_SetAttr(hub, str_wakeup_pending, Py_False) < 0 ? -1 : 1;
}

/* The hub's loop over what one poll returned, a list of (fd, mask) (mask: READ 1, WRITE 2). An
 * fd whose record (an _FdState in `fds`) has a green thread waiting for each event reported:
 * that green thread is taken off the record and switched to, the reader first, as
 * `Hub._io_event` does; the wake-up pipe is emptied here; any other event (an fd nobody knows, a
 * registration to narrow) is `hub._io_event(fd, mask)`, and an exception a woken green thread
 * raises out of its switch is `hub._io_wake_failed(fd, error)`. 0, or -1 on error. */
static int
dispatch_events(PyObject *hub, PyObject *events, PyObject *fds)
{
    if (!PyList_CheckExact(events)) {
        PyErr_SetString(PyExc_TypeError, "a backend's poll() returns a list of (fd, mask)");
        return -1;
    }
    for (Py_ssize_t index = 0; index < PyList_GET_SIZE(events); index++) {
        PyObject *event = PyList_GET_ITEM(events, index);
        if (!PyTuple_CheckExact(event) || PyTuple_GET_SIZE(event) != 2) {
            PyErr_SetString(PyExc_TypeError, "a poll event is an (fd, mask) tuple");
            return -1;
        }
        Py_INCREF(event);
        PyObject *fd = PyTuple_GET_ITEM(event, 0);
        long mask = PyLong_AsLong(PyTuple_GET_ITEM(event, 1));
        if (mask == -1 && PyErr_Occurred()) {
            Py_DECREF(event);
            return -1;
        }
        PyObject *state = PyDict_GetItemWithError(fds, fd);
        if (state == NULL && PyErr_Occurred()) {
            Py_DECREF(event);
            return -1;
        }
        if (state == NULL) {
            int drained = drain_wakeup(hub, fd);
            if (drained != 0) {
                Py_DECREF(event);
                if (drained < 0) {
                    return -1;
                }
                continue;
            }
        }
        int plain = state != NULL && Py_IS_TYPE(state, (PyTypeObject *)fd_state_class) &&
                    (!(mask & 1) || OBJECT_SLOT(state, fd_reader_offset) != Py_None) &&
                    (!(mask & 2) || OBJECT_SLOT(state, fd_writer_offset) != Py_None) &&
                    OBJECT_SLOT(state, fd_reader_offset) != NULL && OBJECT_SLOT(state, fd_writer_offset) != NULL;
        if (!plain) {
            PyObject *done = PyObject_CallMethodObjArgs(hub, str_io_event, fd, PyTuple_GET_ITEM(event, 1), NULL);
            Py_DECREF(event);
            if (done == NULL) {
                return -1;
            }
            Py_DECREF(done);
            continue;
        }
        Py_INCREF(state);
        /* the writer waiting when the poll reported: woken only if the reader left it there */
        PyObject *writer = (mask & 2) ? Py_NewRef(OBJECT_SLOT(state, fd_writer_offset)) : NULL;
        int woken = 0;
        if (mask & 1) {
            woken = dispatch_wake(hub, fd, state, fd_reader_offset);
        }
        if (woken == 0 && writer != NULL && OBJECT_SLOT(state, fd_writer_offset) == writer) {
            woken = dispatch_wake(hub, fd, state, fd_writer_offset);
        }
        Py_XDECREF(writer);
        Py_DECREF(state);
        Py_DECREF(event);
        if (woken == -2) {
            return -1;
        }
    }
    return 0;
}

/* to_events(kernel_events, read_bits, write_bits): a poll's (fd, kernel mask) pairs as the
 * hub's (fd, READ | WRITE), the loop in green.hubs.epoll and green.hubs.poll. */
static PyObject *
to_events(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "to_events(kernel_events, read_bits, write_bits) takes a list");
        return NULL;
    }
    long read_bits = PyLong_AsLong(args[1]);
    long write_bits = PyLong_AsLong(args[2]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    PyObject *kernel = args[0];
    Py_ssize_t size = PyList_GET_SIZE(kernel);
    PyObject *events = PyList_New(size);
    if (events == NULL) {
        return NULL;
    }
    for (Py_ssize_t index = 0; index < size; index++) {
        PyObject *pair = PyList_GET_ITEM(kernel, index);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "a kernel event is an (fd, mask) tuple");
            Py_DECREF(events);
            return NULL;
        }
        long bits = PyLong_AsLong(PyTuple_GET_ITEM(pair, 1));
        if (bits == -1 && PyErr_Occurred()) {
            Py_DECREF(events);
            return NULL;
        }
        PyObject *event = PyTuple_New(2);
        if (event == NULL) {
            Py_DECREF(events);
            return NULL;
        }
        PyTuple_SET_ITEM(event, 0, Py_NewRef(PyTuple_GET_ITEM(pair, 0)));
        PyTuple_SET_ITEM(event, 1, PyLong_FromLong(((bits & read_bits) ? 1 : 0) | ((bits & write_bits) ? 2 : 0)));
        PyList_SET_ITEM(events, index, event);
    }
    return events;
}

/* Drop the cancelled timers at the top of the heap (`timer.callback is None`), counting them off
 * `hub._cancelled_timers`: 0, or -1 on error. */
static int
drop_cancelled_timers(PyObject *hub, PyObject *timers, PyObject *heappop)
{
    while (PyList_GET_SIZE(timers)) {
        PyObject *first = Py_NewRef(PyList_GET_ITEM(timers, 0));
        PyObject *timer = PySequence_GetItem(first, 2);
        Py_DECREF(first);
        if (timer == NULL) {
            return -1;
        }
        PyObject *callback = PyObject_GetAttr(timer, str_callback);
        Py_DECREF(timer);
        if (callback == NULL) {
            return -1;
        }
        int live = callback != Py_None;
        Py_DECREF(callback);
        if (live) {
            return 0;
        }
        PyObject *dropped = PyObject_CallOneArg(heappop, timers);
        if (dropped == NULL) {
            return -1;
        }
        Py_DECREF(dropped);
        PyObject *cancelled = PyObject_GetAttr(hub, str_cancelled_timers);
        if (cancelled == NULL) {
            return -1;
        }
        PyObject *fewer = PyNumber_Subtract(cancelled, one);
        Py_DECREF(cancelled);
        if (fewer == NULL) {
            return -1;
        }
        int failed = PyObject_SetAttr(hub, str_cancelled_timers, fewer);
        Py_DECREF(fewer);
        if (failed) {
            return -1;
        }
    }
    return 0;
}

/* What the poll should wait for after a turn (Hub.run's choice): a new reference to the timeout
 * (0.0, seconds to the first timer, or None), NULL with `*again` set when the loop should start
 * its next turn without polling, NULL with an exception on error. */
static PyObject *
poll_timeout(PyObject *hub, PyObject *ready, PyObject *timers, PyObject *fds, int *again)
{
    *again = 0;
    Py_ssize_t waiting = PyObject_Size(ready);
    if (waiting < 0) {
        return NULL;
    }
    if (waiting) {
        if (PyDict_GET_SIZE(fds) == 0) {
            /* only callbacks to run: no fd could become ready, so no poll */
            int due = timer_due(hub, timers);
            if (due < 0 || (due && call_hub(hub, str_run_timers) < 0)) {
                return NULL;
            }
            *again = 1;
            return NULL;
        }
        return PyFloat_FromDouble(0.0);
    }
    if (PyList_GET_SIZE(timers)) {
        PyObject *when = first_deadline(timers);
        if (when == NULL) {
            return NULL;
        }
        PyObject *now = hub_now(hub);
        if (now == NULL) {
            Py_DECREF(when);
            return NULL;
        }
        PyObject *timeout = PyNumber_Subtract(when, now);
        Py_DECREF(when);
        Py_DECREF(now);
        if (timeout == NULL) {
            return NULL;
        }
        PyObject *nothing = PyFloat_FromDouble(0.0);
        if (nothing == NULL) {
            Py_DECREF(timeout);
            return NULL;
        }
        int negative = PyObject_RichCompareBool(timeout, nothing, Py_LT);
        if (negative != 0) {
            Py_DECREF(timeout);
            if (negative < 0) {
                Py_DECREF(nothing);
                return NULL;
            }
            return nothing;
        }
        Py_DECREF(nothing);
        return timeout;
    }
    PyObject *idle = PyObject_CallMethodNoArgs(hub, str_idle_forever);
    if (idle == NULL) {
        return NULL;
    }
    int forever = PyObject_IsTrue(idle);
    Py_DECREF(idle);
    if (forever < 0) {
        return NULL;
    }
    if (forever) {
        if (call_hub(hub, str_idle_exit) < 0) {
            return NULL;
        }
        *again = 1;
        return NULL;
    }
    return Py_NewRef(Py_None);
}

/* One poll of hub.backend and the wake-ups it reports: 0, or -1 on error. */
static int
poll_and_dispatch(PyObject *hub, PyObject *timeout, PyObject *fds)
{
    PyObject *backend = PyObject_GetAttr(hub, str_backend);
    if (backend == NULL) {
        return -1;
    }
    PyObject *events = PyObject_CallMethodOneArg(backend, str_poll, timeout);
    Py_DECREF(backend);
    if (events == NULL) {
        if (PyErr_ExceptionMatches(PyExc_InterruptedError)) {
            PyErr_Clear();
            return 0;
        }
        /* a signal handler raised while the hub slept: it belongs to the main green thread */
        PyObject *error = fetch_error();
        PyObject *done = PyObject_CallMethodOneArg(hub, str_raise_in_main, error);
        Py_XDECREF(error);
        if (done == NULL) {
            return -1;
        }
        Py_DECREF(done);
        return 0;
    }
    int failed = dispatch_events(hub, events, fds);
    Py_DECREF(events);
    return failed;
}

static PyObject *
run_hub(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10 || !PyGreenlet_Check(args[0]) || !Py_IS_TYPE(args[2], &TurnType) || !PyList_CheckExact(args[3]) ||
        !PyDict_CheckExact(args[4])) {
        PyErr_SetString(PyExc_TypeError,
                        "run_hub(hub, ready, turn, timers, fds, monotonic, heappop, slice_check, "
                        "batch_seconds, direct) takes a hub, a Turn, a list and a dict");
        return NULL;
    }
    PyObject *hub = args[0], *ready = args[1], *timers = args[3], *fds = args[4];
    PyObject *monotonic = args[5], *heappop = args[6];
    TurnObject *turn = (TurnObject *)args[2];
    Py_ssize_t slice_check = PyLong_AsSsize_t(args[7]);
    double batch_seconds = PyFloat_AsDouble(args[8]);
    Py_ssize_t direct = PyLong_AsSsize_t(args[9]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (slice_check < 1) {
        PyErr_SetString(PyExc_ValueError, "slice_check must be at least 1");
        return NULL;
    }
    PyObject *popleft = PyObject_GetAttr(ready, str_popleft);
    if (popleft == NULL) {
        return NULL;
    }
    for (;;) {
        if (count_turn(hub) < 0) {
            break;
        }
        /* the turn runs the entries queued before it began, in slices (see the Python loop) */
        Py_ssize_t count = PyObject_Size(ready);
        if (count < 0 || set_batch(turn, count) < 0) {
            break;
        }
        turn->direct = direct;
        int sliced = count > slice_check;
        double slice_end = 0.0;
        if (sliced) {
            if (seconds_now(monotonic, &slice_end) < 0) {
                break;
            }
            slice_end += batch_seconds;
        }
        turn->slice_end = slice_end;
        int failed = 0;
        for (;;) {
            Py_ssize_t batch = PyLong_AsSsize_t(turn->batch);
            if (batch == -1 && PyErr_Occurred()) {
                failed = 1;
                break;
            }
            if (batch == 0) {
                break;
            }
            count = batch - 1;
            PyObject *entry;
            if (set_batch(turn, count) < 0 || (entry = PyObject_CallNoArgs(popleft)) == NULL ||
                run_entry(hub, entry) < 0) {
                failed = 1;
                break;
            }
            if (sliced && count % slice_check == 0) {
                double now;
                if (seconds_now(monotonic, &now) < 0) {
                    failed = 1;
                    break;
                }
                if (now > slice_end) {
                    break;
                }
            }
        }
        if (failed || set_batch(turn, 0) < 0 || drop_cancelled_timers(hub, timers, heappop) < 0) {
            break;
        }
        int again;
        PyObject *timeout = poll_timeout(hub, ready, timers, fds, &again);
        if (timeout == NULL) {
            if (again) {
                continue;
            }
            break;
        }
        failed = poll_and_dispatch(hub, timeout, fds);
        Py_DECREF(timeout);
        if (failed) {
            break;
        }
        int due = timer_due(hub, timers);
        if (due < 0 || (due && call_hub(hub, str_run_timers) < 0)) {
            break;
        }
    }
    Py_DECREF(popleft);
    return NULL;
}

/* -- the socket --------------------------------------------------------------------------------- */

/* green.socket.socket's recv, recv_into, send and sendall for a socket without a timeout (a
 * server's connections, most clients) called without flags, from a green thread of an OS thread
 * that has a hub: the call on the non-blocking kernel socket and, when it finds nothing to read
 * (or no room to write), the wait on the hub (`hub_wait_io` above) and the call again. The state
 * is the class's slots `_sock`, `_timeout`, `_expect_wait`, read at the offsets found when the
 * methods were made; a class that redefines one of them, or `_retry`, has `_compiled_path` 0.
 * Everything else (a timeout, flags, keywords, no hub yet) is the Python method
 * (`_python_recv`, ...), which stays the reference; the C path makes the same calls in the same
 * order. */

static Py_ssize_t socket_sock_offset = -1, socket_timeout_offset = -1, socket_expect_offset = -1;
static PyObject *str_python_recv, *str_python_recv_into, *str_python_sendall; /* and str_python_send */
static PyObject *str_recv, *str_recv_into, *str_send, *str_fileno, *str_sendall_rest, *str_end_of_stream,
    *str_errno, *empty_bytes;

/* The kernel calls themselves. The real socket of a green socket is the stdlib's socket class
 * (given to methods("socket", ...) when that class keeps _socket's recv, send and fileno), in
 * non-blocking mode; its recv(size) and send(bytes) without flags are the system calls recv and
 * send with MSG_DONTWAIT (never blocking, whatever the descriptor's mode), made here without the
 * method call, its argument parsing and a release of the GIL around a call that does not block:
 * the same bytes, counts and OSError (errno, and its subclass) as the methods, EINTR retried after
 * the signal handlers as they do. A recv of more than DIRECT_RECV_MAX bytes, other arguments and
 * other socket classes call the method. Not on free-threaded builds (the receive buffer is shared
 * under the GIL). */
#if defined(MSG_DONTWAIT) && !defined(Py_GIL_DISABLED)
#define DIRECT_SOCKET_CALLS 1
#define DIRECT_RECV_MAX 65536
static char direct_recv_buffer[DIRECT_RECV_MAX];
#endif
static PyTypeObject *direct_socket_class = NULL;

/* The descriptor of `sock` (a direct_socket_class instance), or -1 with an exception set. */
static int
direct_fd(PyObject *sock)
{
    PyObject *number = PyObject_CallMethodNoArgs(sock, str_fileno);
    if (number == NULL) {
        return -1;
    }
    long fd = PyLong_AsLong(number);
    Py_DECREF(number);
    if (fd == -1 && !PyErr_Occurred()) {
        errno = EBADF; /* closed: the call fails as the method's does */
        PyErr_SetFromErrno(PyExc_OSError);
    }
    return fd < 0 || fd > INT_MAX ? -1 : (int)fd;
}

/* `sock.name(*args)` by the system call when it is one of those above: returns 1 with `*result`
 * the call's result, or NULL with an exception set, or NULL without one for EAGAIN (the caller
 * waits and tries again); 0 when the method must be called. */
static int
direct_call(PyObject *sock, PyObject *name, PyObject *const *args, Py_ssize_t nargs, PyObject **result)
{
#ifdef DIRECT_SOCKET_CALLS
    if (direct_socket_class == NULL || Py_TYPE(sock) != direct_socket_class || nargs < 1 || nargs > 2 ||
        (nargs == 2 && args[1] != zero)) {
        return 0;
    }
    int receiving = name == str_recv;
    if (!receiving && name != str_send) {
        return 0;
    }
    Py_ssize_t size = 0;
    if (receiving) {
        if (!PyLong_CheckExact(args[0])) {
            return 0;
        }
        size = PyLong_AsSsize_t(args[0]);
        if (size < 0 || size > DIRECT_RECV_MAX) {
            PyErr_Clear();
            return 0;
        }
        if (size == 0) {
            *result = Py_NewRef(empty_bytes);
            return 1;
        }
    }
    else if (!PyBytes_CheckExact(args[0])) {
        return 0;
    }
    int fd = direct_fd(sock);
    if (fd < 0) {
        *result = NULL;
        return 1;
    }
    for (;;) {
        ssize_t done = receiving ? recv(fd, direct_recv_buffer, (size_t)size, MSG_DONTWAIT)
                                 : send(fd, PyBytes_AS_STRING(args[0]), (size_t)PyBytes_GET_SIZE(args[0]),
                                        MSG_DONTWAIT);
        if (done >= 0) {
            *result = receiving ? PyBytes_FromStringAndSize(direct_recv_buffer, done) : PyLong_FromSsize_t(done);
            return 1;
        }
        if (errno == EINTR) {
            if (PyErr_CheckSignals() < 0) {
                *result = NULL;
                return 1;
            }
            continue;
        }
        *result = NULL;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            PyErr_SetFromErrno(PyExc_OSError);
        }
        return 1;
    }
#else
    (void)sock;
    (void)name;
    (void)args;
    (void)nargs;
    (void)result;
    return 0;
#endif
}

/* The real socket (a new reference) when the call is one the C path takes: the class's path,
 * `nargs` positional arguments between `least` and `most`, the one at `flags` (if given) the int
 * 0, no keywords, no timeout. NULL (no error set) otherwise. */
static PyObject *
socket_plain(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, Py_ssize_t least,
             Py_ssize_t most)
{
    if (nargs < least || nargs > most || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        return NULL;
    }
    if (nargs == most && args[most - 1] != zero) { /* flags: the int 0 (a cached small int) only */
        return NULL;
    }
    PyObject *sock = OBJECT_SLOT(self, socket_sock_offset);
    if (sock == NULL || OBJECT_SLOT(self, socket_timeout_offset) != Py_None || class_path(self) != 1) {
        return NULL;
    }
    return Py_NewRef(sock);
}

/* `sock.name(*args)` until it does not raise BlockingIOError, parking on the hub for `fd` between
 * the tries (first, if `wait_first`); `*waited` tells whether it parked. */
static PyObject *
socket_retry(PyObject *hub, PyObject *sock, PyObject *name, PyObject *const *args, Py_ssize_t nargs, int writing,
             int wait_first, int *waited)
{
    PyObject *stack[5] = {NULL, sock, NULL, NULL, NULL};
    for (Py_ssize_t index = 0; index < nargs; index++) {
        stack[2 + index] = args[index];
    }
    PyObject *fd = NULL;
    *waited = 0;
    for (;;) {
        if (wait_first) {
            if (fd == NULL) {
                fd = PyObject_CallMethodNoArgs(sock, str_fileno);
                if (fd == NULL) {
                    return NULL;
                }
            }
            PyObject *ready = hub_wait_io(hub, &fd, 1, NULL, writing);
            if (ready == NULL) {
                Py_DECREF(fd);
                return NULL;
            }
            Py_DECREF(ready);
            *waited = 1;
        }
        wait_first = 1;
        PyObject *result;
        if (!direct_call(sock, name, args, nargs, &result)) {
            result = PyObject_VectorcallMethod(name, stack + 1, (nargs + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        }
        if (result == NULL && !PyErr_Occurred()) {
            continue; /* EAGAIN from the system call: wait */
        }
        if (result != NULL || !PyErr_ExceptionMatches(PyExc_BlockingIOError)) {
            Py_XDECREF(fd);
            return result;
        }
        PyErr_Clear();
    }
}

/* With an exception set: 1 (the exception cleared) if it is an OSError whose errno is in
 * `self._end_of_stream_errnos`, 0 (the exception kept) if not, -1 on a new error. */
static int
socket_end_of_stream(PyObject *self)
{
    if (!PyErr_ExceptionMatches(PyExc_OSError)) {
        return 0;
    }
    PyObject *error = fetch_error();
    PyObject *errnos = PyObject_GetAttr(self, str_end_of_stream);
    if (errnos == NULL) {
        Py_XDECREF(error);
        return -1;
    }
    int found = 0;
    if (!PyAnySet_Check(errnos) || PySet_GET_SIZE(errnos) != 0) {
        PyObject *number = PyObject_GetAttr(error, str_errno);
        found = number == NULL ? -1 : PySequence_Contains(errnos, number);
        Py_XDECREF(number);
    }
    Py_DECREF(errnos);
    if (found == 0) {
        restore_error(error);
    }
    else {
        Py_DECREF(error);
    }
    return found;
}

/* The hub of this OS thread (a new reference), or NULL: on error, or (no error set) in a thread
 * without one, where the Python method makes it. */
static PyObject *
socket_hub(void)
{
    PyObject *hub = existing_hub();
    if (hub == Py_None) {
        Py_DECREF(hub);
        return NULL;
    }
    return hub;
}

/* recv and recv_into: `receive` names the real socket's method; `size_at` is where the size
 * argument is (-1: none, recv_into with nbytes 0); the result is bytes or the count. */
static PyObject *
socket_receive(PyObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames, int into)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *python = into ? str_python_recv_into : str_python_recv;
    PyObject *sock = socket_plain(self, args, nargs, kwnames, 1, into ? 3 : 2);
    if (sock == NULL) {
        return queue_python(python, self, args, nargs, kwnames);
    }
    PyObject *hub = socket_hub();
    if (hub == NULL) {
        Py_DECREF(sock);
        return PyErr_Occurred() ? NULL : queue_python(python, self, args, nargs, kwnames);
    }
    /* recv waits first when the last read had to wait and returned less than asked (a
     * request/response peer): a recv that fails with EAGAIN costs more than the wait. */
    int expect = !into && OBJECT_SLOT(self, socket_expect_offset) == Py_True;
    int waited;
    PyObject *result = socket_retry(hub, sock, into ? str_recv_into : str_recv, args, nargs, 0, expect, &waited);
    Py_DECREF(hub);
    Py_DECREF(sock);
    if (result == NULL) {
        int end = socket_end_of_stream(self);
        if (end <= 0) {
            return NULL;
        }
        return into ? Py_NewRef(zero) : Py_NewRef(empty_bytes);
    }
    if (!into && waited && PyBytes_CheckExact(result)) {
        Py_ssize_t size = PyNumber_AsSsize_t(args[0], NULL);
        if (size == -1 && PyErr_Occurred()) {
            Py_DECREF(result);
            return NULL;
        }
        PyObject *flag = PyBytes_GET_SIZE(result) < size ? Py_True : Py_False;
        Py_XSETREF(OBJECT_SLOT(self, socket_expect_offset), Py_NewRef(flag));
    }
    return result;
}

static PyObject *
socket_recv(PyObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    return socket_receive(self, args, nargsf, kwnames, 0);
}

static PyObject *
socket_recv_into(PyObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    return socket_receive(self, args, nargsf, kwnames, 1);
}

static PyObject *
socket_send(PyObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *sock = socket_plain(self, args, nargs, kwnames, 1, 2);
    if (sock == NULL) {
        return queue_python(str_python_send, self, args, nargs, kwnames);
    }
    PyObject *hub = socket_hub();
    if (hub == NULL) {
        Py_DECREF(sock);
        return PyErr_Occurred() ? NULL : queue_python(str_python_send, self, args, nargs, kwnames);
    }
    int waited;
    PyObject *result = socket_retry(hub, sock, str_send, args, nargs, 1, 0, &waited);
    Py_DECREF(hub);
    Py_DECREF(sock);
    return result;
}

/* sendall: bytes sent whole by one send (the common case) in C; a partial write, or anything but
 * bytes, goes on in `_sendall_rest` (the Python loop over a memoryview). */
static PyObject *
socket_sendall(PyObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *sock = socket_plain(self, args, nargs, kwnames, 1, 2);
    if (sock == NULL) {
        return queue_python(str_python_sendall, self, args, nargs, kwnames);
    }
    PyObject *sent = NULL;
    if (PyBytes_CheckExact(args[0])) {
        PyObject *stack[3] = {sock, args[0], nargs == 2 ? args[1] : NULL};
        if (!direct_call(sock, str_send, args, nargs, &sent)) {
            sent = PyObject_VectorcallMethod(str_send, stack, (size_t)nargs + 1, NULL);
        }
        if (sent == NULL && !PyErr_Occurred()) {
            /* EAGAIN from the system call: the rest waits */
        }
        else if (sent == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_BlockingIOError)) {
                Py_DECREF(sock);
                return NULL;
            }
            PyErr_Clear(); /* no timeout and no flags: the rest waits */
        }
        else if (PyLong_CheckExact(sent)) {
            Py_ssize_t count = PyLong_AsSsize_t(sent);
            if (count == PyBytes_GET_SIZE(args[0])) {
                Py_DECREF(sent);
                Py_DECREF(sock);
                Py_RETURN_NONE;
            }
            if (count == -1 && PyErr_Occurred()) {
                Py_DECREF(sent);
                Py_DECREF(sock);
                return NULL;
            }
        }
    }
    Py_DECREF(sock);
    PyObject *stack[4] = {self, args[0], nargs == 2 ? args[1] : zero, sent != NULL ? sent : zero};
    PyObject *result = PyObject_VectorcallMethod(str_sendall_rest, stack, 4, NULL);
    Py_XDECREF(sent);
    return result;
}

static PyMethodDef socket_recv_def = {
    "recv", (PyCFunction)(void (*)(void))socket_recv, METH_FASTCALL | METH_KEYWORDS,
    "recv(bufsize, flags=0)\n--\n\nReceive up to `bufsize` bytes (b\"\" at end of stream); waits cooperatively."};
static PyMethodDef socket_recv_into_def = {
    "recv_into", (PyCFunction)(void (*)(void))socket_recv_into, METH_FASTCALL | METH_KEYWORDS,
    "recv_into(buffer, nbytes=0, flags=0)\n--\n\nReceive into `buffer`; returns the number of bytes received; "
    "waits cooperatively."};
static PyMethodDef socket_send_def = {
    "send", (PyCFunction)(void (*)(void))socket_send, METH_FASTCALL | METH_KEYWORDS,
    "send(data, flags=0)\n--\n\nSend some of `data`; returns the number of bytes sent; waits cooperatively."};
static PyMethodDef socket_sendall_def = {
    "sendall", (PyCFunction)(void (*)(void))socket_sendall, METH_FASTCALL | METH_KEYWORDS,
    "sendall(data, flags=0)\n--\n\nSend all of `data`, across partial writes; waits cooperatively."};

/* -- spawn -------------------------------------------------------------------------------------- */

/* green.greenthread.spawn from a green thread or the main greenlet of an OS thread with a hub: the
 * GreenThread made without its Python __init__ (its slots filled here with what __init__ stores)
 * and queued on the hub as `(thread.switch, ())`, the entry the Python spawn queues (one the
 * parking shortcut does not take: new green threads start from the hub). Any other call (no hub
 * yet) is the Python function given to configure_spawn. */

static PyObject *pure_spawn = NULL;
static PyTypeObject *spawn_class = NULL; /* GreenThread */
#define SPAWN_SLOTS 13
static const char *const spawn_slot_names[SPAWN_SLOTS] = {
    "_hub",       "_function", "_args",   "_kwargs",       "_result",     "_exc_info", "_finished",
    "_killed_before_start", "_exit_waiters", "_links", "_start_timer", "_name", "_waited"};
static Py_ssize_t spawn_offsets[SPAWN_SLOTS];

static PyObject *
spawn_fast(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (pure_spawn == NULL || spawn_class == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "green._core is not configured (import green.greenthread)");
        return NULL;
    }
    if (nargs < 1) {
        return PyObject_Vectorcall(pure_spawn, args, nargs, kwnames);
    }
    PyObject *hub = existing_hub();
    if (hub == NULL) {
        return NULL;
    }
    if (hub == Py_None) {
        Py_DECREF(hub);
        return PyObject_Vectorcall(pure_spawn, args, nargs, kwnames);
    }
    PyObject *arguments = NULL, *keywords = NULL, *thread = NULL, *entry = NULL;
    if (nargs == 1) {
        arguments = Py_NewRef(empty_tuple);
    }
    else {
        arguments = PyTuple_New(nargs - 1);
        if (arguments == NULL) {
            goto error;
        }
        for (Py_ssize_t index = 1; index < nargs; index++) {
            PyTuple_SET_ITEM(arguments, index - 1, Py_NewRef(args[index]));
        }
    }
    Py_ssize_t named = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    /* None without keywords (GreenThread's own default; run() calls function(*args) then) */
    keywords = named == 0 ? Py_NewRef(Py_None) : PyDict_New();
    if (keywords == NULL) {
        goto error;
    }
    for (Py_ssize_t index = 0; index < named; index++) {
        if (PyDict_SetItem(keywords, PyTuple_GET_ITEM(kwnames, index), args[nargs + index]) < 0) {
            goto error;
        }
    }
    thread = spawn_class->tp_new(spawn_class, empty_tuple, NULL);
    if (thread == NULL) {
        goto error;
    }
    if (PyGreenlet_SetParent((PyGreenlet *)thread, (PyGreenlet *)hub) < 0) {
        goto error;
    }
    PyObject *values[SPAWN_SLOTS] = {hub,     args[0], arguments, keywords, Py_None, Py_None, Py_False,
                                     Py_None, Py_None, Py_None,   Py_None,  Py_None, Py_False};
    for (int index = 0; index < SPAWN_SLOTS; index++) {
        Py_XSETREF(OBJECT_SLOT(thread, spawn_offsets[index]), Py_NewRef(values[index]));
    }
    Py_CLEAR(arguments);
    Py_CLEAR(keywords);
    PyObject *method = PyObject_GetAttr(thread, str_switch);
    if (method == NULL) {
        goto error;
    }
    entry = PyTuple_Pack(2, method, empty_tuple);
    Py_DECREF(method);
    if (entry == NULL) {
        goto error;
    }
    PyObject *schedule = hub_schedule(hub);
    if (schedule == NULL) {
        goto error;
    }
    PyObject *done = PyObject_CallOneArg(schedule, entry);
    Py_DECREF(schedule);
    if (done == NULL) {
        goto error;
    }
    Py_DECREF(done);
    Py_DECREF(entry);
    Py_DECREF(hub);
    return thread;

error:
    Py_XDECREF(entry);
    Py_XDECREF(thread);
    Py_XDECREF(keywords);
    Py_XDECREF(arguments);
    Py_DECREF(hub);
    return NULL;
}

/* configure_spawn(function, GreenThread): the Python spawn, for what the C path does not take,
 * and the class whose slots it fills. */
static PyObject *
configure_spawn(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *function, *cls;
    if (!PyArg_ParseTuple(args, "OO!:configure_spawn", &function, &PyType_Type, &cls)) {
        return NULL;
    }
    if (!PyType_IsSubtype((PyTypeObject *)cls, &PyGreenlet_Type)) {
        PyErr_SetString(PyExc_TypeError, "configure_spawn() needs a greenlet class");
        return NULL;
    }
    Py_ssize_t offsets[SPAWN_SLOTS];
    for (int index = 0; index < SPAWN_SLOTS; index++) {
        offsets[index] = slot_offset(cls, spawn_slot_names[index]);
        if (offsets[index] < 0) {
            return NULL;
        }
    }
    memcpy(spawn_offsets, offsets, sizeof(offsets));
    Py_XSETREF(pure_spawn, Py_NewRef(function));
    Py_XSETREF(spawn_class, (PyTypeObject *)Py_NewRef(cls));
    Py_RETURN_NONE;
}

/* -- installing the compiled methods ------------------------------------------------------------ */

static PyMethodDef *const queue_defs[] = {&queue_get_def, &queue_put_def, NULL};
static PyMethodDef *const lock_defs[] = {&lock_acquire_def, &lock_release_def, &lock_enter_def, &lock_exit_def,
                                         NULL};
static PyMethodDef *const semaphore_defs[] = {&semaphore_acquire_def, &semaphore_release_def, NULL};
static PyMethodDef event_reset_def = {
    "reset", (PyCFunction)event_reset, METH_NOARGS,
    "reset()\n--\n\nMake a sent Event sendable again; raises AssertionError if it was never sent."};

static PyMethodDef *const event_defs[] = {&event_wait_def, &event_send_def, &event_reset_def, NULL};
static PyMethodDef *const hub_defs[] = {&hub_wait_readable_def, &hub_wait_writable_def, NULL};
static PyMethodDef *const socket_defs[] = {&socket_recv_def, &socket_recv_into_def, &socket_send_def,
                                           &socket_sendall_def, NULL};

/* -- green.wsgi's parser callbacks ---------------------------------------------------------------- */

/* Slots of green.wsgi's connection class that the callbacks below read and write. */
static Py_ssize_t wsgi_server_offset = -1, wsgi_url_offset, wsgi_headers_offset, wsgi_in_headers_offset,
                  wsgi_header_bytes_offset, wsgi_trailer_bytes_offset, wsgi_messages_begun_offset,
                  wsgi_parsing_offset, wsgi_parser_offset, wsgi_raw_header_bytes_offset,
                  wsgi_heads_completed_offset, wsgi_requests_offset;
static PyObject *wsgi_http_error;
/* green.wsgi._protocol._Request, its slots, and _reading's Host check (configure_request). */
static PyObject *wsgi_request_class, *wsgi_valid_hosts, *wsgi_valid_host;
static Py_ssize_t request_offsets[8]; /* method, url, headers, version, keep_alive, body, complete, body_size */
static PyObject *str_get_http_version, *str_get_method, *str_should_keep_alive, *str_require_host, *str_append,
    *str_invalid_host, *str_more_than_one_host, *str_missing_host, *str_version_1_0, *str_version_1_1;
static PyObject *str_complete; /* (interned with the environ's names) */
static PyObject *str_server, *str_environ_template, *str_upgraded, *str_url, *str_method, *str_version,
    *str_headers, *str_body, *str_keep_alive, *str_eventlet_environ, *str_max_body,
    *str_input_class, *str_raw_path_info, *str_path_info, *str_query_string, *str_request_method,
    *str_server_protocol, *str_wsgi_input, *str_http_cookie, *str_http_transfer_encoding, *str_http_1_1,
    *str_http_1_0, *str_comma, *str_semicolon;
static PyObject *str_max_request_line, *str_max_header_line, *str_max_header_bytes, *str_max_headers,
    *str_trailers_too_large, *str_header_line_too_long, *str_headers_too_large, *str_too_many_headers;

/* Replace the object in `self`'s slot at `offset` with `value` (a new reference, stolen); -1 if
   `value` is NULL. */
static int
set_slot(PyObject *self, Py_ssize_t offset, PyObject *value)
{
    if (value == NULL) {
        return -1;
    }
    Py_XSETREF(OBJECT_SLOT(self, offset), value);
    return 0;
}

/* The slot at `offset` as a C integer; -1 with an exception set if it is empty or no int. */
static Py_ssize_t
slot_size(PyObject *self, Py_ssize_t offset)
{
    PyObject *value = OBJECT_SLOT(self, offset);
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "a connection slot is empty");
        return -1;
    }
    return PyLong_AsSsize_t(value);
}

/* getattr(self.server, name) as a C integer; -1 with an exception set on an error. */
static Py_ssize_t
server_limit(PyObject *self, PyObject *name)
{
    PyObject *server = OBJECT_SLOT(self, wsgi_server_offset);
    if (server == NULL) {
        PyErr_SetString(PyExc_AttributeError, "server");
        return -1;
    }
    PyObject *limit = PyObject_GetAttr(server, name);
    if (limit == NULL) {
        return -1;
    }
    Py_ssize_t size = PyLong_AsSsize_t(limit);
    Py_DECREF(limit);
    return size;
}

/* raise HTTPError(status[, reason]); returns NULL */
static PyObject *
raise_http_error(int status, PyObject *reason)
{
    PyObject *code = PyLong_FromLong(status);
    if (code == NULL) {
        return NULL;
    }
    PyObject *args[2] = {code, reason};
    PyObject *error = PyObject_Vectorcall(wsgi_http_error, args, reason == NULL ? 1 : 2, NULL);
    Py_DECREF(code);
    if (error != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(error), error);
        Py_DECREF(error);
    }
    return NULL;
}

static PyObject *
wsgi_on_message_begin(PyObject *self, PyObject *Py_UNUSED(unused))
{
    Py_ssize_t begun = slot_size(self, wsgi_messages_begun_offset);
    if (begun == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (set_slot(self, wsgi_messages_begun_offset, PyLong_FromSsize_t(begun + 1)) < 0 ||
        set_slot(self, wsgi_url_offset, PyBytes_FromStringAndSize(NULL, 0)) < 0 ||
        set_slot(self, wsgi_headers_offset, PyList_New(0)) < 0 ||
        set_slot(self, wsgi_in_headers_offset, Py_NewRef(Py_True)) < 0 ||
        set_slot(self, wsgi_header_bytes_offset, PyLong_FromLong(0)) < 0 ||
        set_slot(self, wsgi_trailer_bytes_offset, PyLong_FromLong(0)) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
wsgi_on_url(PyObject *self, PyObject *fragment)
{
    PyObject *url = OBJECT_SLOT(self, wsgi_url_offset);
    if (url == NULL) {
        PyErr_SetString(PyExc_AttributeError, "url");
        return NULL;
    }
    PyObject *longer = PyNumber_Add(url, fragment);
    if (longer == NULL) {
        return NULL;
    }
    Py_ssize_t size = PyObject_Length(longer);
    Py_ssize_t limit = size < 0 ? -1 : server_limit(self, str_max_request_line);
    if (limit == -1 && PyErr_Occurred()) {
        Py_DECREF(longer);
        return NULL;
    }
    if (size > limit) {
        Py_DECREF(longer);
        return raise_http_error(414, NULL);
    }
    set_slot(self, wsgi_url_offset, longer);
    Py_RETURN_NONE;
}

static PyObject *
wsgi_on_header(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "on_header(name, value) takes two bytes");
        return NULL;
    }
    PyObject *name = args[0], *value = args[1];
    Py_ssize_t size = PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value) + 4;
    PyObject *in_headers = OBJECT_SLOT(self, wsgi_in_headers_offset);
    int heading = in_headers == NULL ? -1 : PyObject_IsTrue(in_headers);
    if (heading < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_AttributeError, "in_headers");
        }
        return NULL;
    }
    if (!heading) { /* a trailer: discarded, but bounded */
        Py_ssize_t trailers = slot_size(self, wsgi_trailer_bytes_offset);
        if ((trailers == -1 && PyErr_Occurred()) ||
            set_slot(self, wsgi_trailer_bytes_offset, PyLong_FromSsize_t(trailers + size)) < 0) {
            return NULL;
        }
        Py_ssize_t limit = server_limit(self, str_max_header_bytes);
        if (limit == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (trailers + size > limit) {
            return raise_http_error(431, str_trailers_too_large);
        }
        Py_RETURN_NONE;
    }
    Py_ssize_t limit = server_limit(self, str_max_header_line);
    if (limit == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (size > limit) {
        return raise_http_error(431, str_header_line_too_long);
    }
    Py_ssize_t total = slot_size(self, wsgi_header_bytes_offset);
    if ((total == -1 && PyErr_Occurred()) ||
        set_slot(self, wsgi_header_bytes_offset, PyLong_FromSsize_t(total + size)) < 0) {
        return NULL;
    }
    limit = server_limit(self, str_max_header_bytes);
    if (limit == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (total + size > limit) {
        return raise_http_error(431, str_headers_too_large);
    }
    /* RFC 9112 section 5: whitespace around a field value is not part of it (llhttp drops the
       leading whitespace only). */
    Py_ssize_t end = PyBytes_GET_SIZE(value);
    const char *data = PyBytes_AS_STRING(value);
    while (end > 0 && (data[end - 1] == ' ' || data[end - 1] == '\t')) {
        end--;
    }
    PyObject *field = end == PyBytes_GET_SIZE(value) ? Py_NewRef(value) : PyBytes_FromStringAndSize(data, end);
    PyObject *header = field == NULL ? NULL : PyTuple_Pack(2, name, field);
    Py_XDECREF(field);
    if (header == NULL) {
        return NULL;
    }
    PyObject *headers = OBJECT_SLOT(self, wsgi_headers_offset);
    int appended = headers == NULL || !PyList_Check(headers) ? -1 : PyList_Append(headers, header);
    Py_DECREF(header);
    if (appended < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "headers is not a list");
        }
        return NULL;
    }
    limit = server_limit(self, str_max_headers);
    if (limit == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (PyList_GET_SIZE(headers) > limit) {
        return raise_http_error(431, str_too_many_headers);
    }
    Py_RETURN_NONE;
}

static PyObject *
wsgi_on_message_complete(PyObject *self, PyObject *Py_UNUSED(unused))
{
    PyObject *request = OBJECT_SLOT(self, wsgi_parsing_offset);
    if (request == NULL || request == Py_None) {
        PyErr_SetString(PyExc_AssertionError, "a message completed without a request");
        return NULL;
    }
    if (PyObject_SetAttr(request, str_complete, Py_True) < 0) {
        return NULL;
    }
    set_slot(self, wsgi_in_headers_offset, Py_NewRef(Py_False));
    Py_RETURN_NONE;
}

/* configure_request(Request, valid_hosts, valid_host): green.wsgi's request class (a class with
   __slots__ method, url, headers, version, keep_alive, body, complete, body_size), the set of Host
   values seen valid and the function that checks one (a match: None when it is not valid). */
static PyObject *
configure_request(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *cls, *valid_hosts, *valid_host;
    if (!PyArg_ParseTuple(args, "O!O!O:configure_request", &PyType_Type, &cls, &PySet_Type, &valid_hosts,
                          &valid_host)) {
        return NULL;
    }
    const char *names[] = {"method", "url", "headers", "version", "keep_alive", "body", "complete", "body_size"};
    for (size_t index = 0; index < 8; index++) {
        if ((request_offsets[index] = slot_offset(cls, names[index])) < 0) {
            Py_CLEAR(wsgi_request_class);
            return NULL;
        }
    }
    Py_XSETREF(wsgi_request_class, Py_NewRef(cls));
    Py_XSETREF(wsgi_valid_hosts, Py_NewRef(valid_hosts));
    Py_XSETREF(wsgi_valid_host, Py_NewRef(valid_host));
    Py_RETURN_NONE;
}

/* The number of Host headers in `headers` (a list of (name, value) bytes pairs), each value checked
   (and remembered) as _reading.on_headers_complete does; -1 with HTTPError(400) set for an invalid one. */
static Py_ssize_t
count_hosts(PyObject *headers)
{
    Py_ssize_t hosts = 0;
    for (Py_ssize_t index = 0; index < PyList_GET_SIZE(headers); index++) {
        PyObject *header = PyList_GET_ITEM(headers, index);
        if (!PyTuple_Check(header) || PyTuple_GET_SIZE(header) != 2) {
            PyErr_SetString(PyExc_TypeError, "a header is not a (name, value) pair");
            return -1;
        }
        PyObject *name = PyTuple_GET_ITEM(header, 0), *value = PyTuple_GET_ITEM(header, 1);
        if (!PyBytes_Check(name) || PyBytes_GET_SIZE(name) != 4 ||
            PyOS_strnicmp(PyBytes_AS_STRING(name), "host", 4) != 0) {
            continue;
        }
        hosts++;
        int known = PySet_Contains(wsgi_valid_hosts, value);
        if (known < 0) {
            return -1;
        }
        if (known) {
            continue;
        }
        PyObject *match = PyObject_CallOneArg(wsgi_valid_host, value);
        if (match == NULL) {
            return -1;
        }
        Py_DECREF(match);
        if (match == Py_None) {
            raise_http_error(400, str_invalid_host);
            return -1;
        }
        if ((PySet_GET_SIZE(wsgi_valid_hosts) >= 256 && PySet_Clear(wsgi_valid_hosts) < 0) ||
            PySet_Add(wsgi_valid_hosts, value) < 0) {
            return -1;
        }
    }
    return hosts;
}

static PyObject *
wsgi_on_headers_complete(PyObject *self, PyObject *Py_UNUSED(unused))
{
    if (wsgi_request_class == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "green._core.configure_request was not called");
        return NULL;
    }
    PyObject *parser = OBJECT_SLOT(self, wsgi_parser_offset), *url = OBJECT_SLOT(self, wsgi_url_offset),
             *headers = OBJECT_SLOT(self, wsgi_headers_offset), *requests = OBJECT_SLOT(self, wsgi_requests_offset);
    if (parser == NULL || url == NULL || headers == NULL || requests == NULL || !PyList_Check(headers)) {
        PyErr_SetString(PyExc_AttributeError, "a connection slot is empty");
        return NULL;
    }
    PyObject *version = PyObject_CallMethodNoArgs(parser, str_get_http_version);
    if (version == NULL) {
        return NULL;
    }
    int is_1_1 = PyUnicode_Check(version) && PyUnicode_Compare(version, str_version_1_1) == 0;
    if (!is_1_1 && !(PyUnicode_Check(version) && PyUnicode_Compare(version, str_version_1_0) == 0)) {
        Py_DECREF(version);
        return PyErr_Occurred() ? NULL : raise_http_error(505, NULL);
    }
    Py_ssize_t hosts = count_hosts(headers);
    if (hosts < 0) {
        Py_DECREF(version);
        return NULL;
    }
    /* RFC 9112 section 3.2: an HTTP/1.1 request without Host, or any request with more than one, is
       answered 400 (a proxy and this server could disagree about the target). */
    if (hosts > 1) {
        Py_DECREF(version);
        return raise_http_error(400, str_more_than_one_host);
    }
    if (hosts == 0 && is_1_1) {
        PyObject *server = OBJECT_SLOT(self, wsgi_server_offset);
        PyObject *require = server == NULL ? NULL : PyObject_GetAttr(server, str_require_host);
        int required = require == NULL ? -1 : PyObject_IsTrue(require);
        Py_XDECREF(require);
        if (required != 0) {
            Py_DECREF(version);
            if (required > 0) {
                return raise_http_error(400, str_missing_host);
            }
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_AttributeError, "server");
            }
            return NULL;
        }
    }
    PyObject *method = PyObject_CallMethodNoArgs(parser, str_get_method);
    PyObject *keep_alive = method == NULL ? NULL : PyObject_CallMethodNoArgs(parser, str_should_keep_alive);
    PyObject *body = keep_alive == NULL ? NULL : PyByteArray_FromStringAndSize(NULL, 0);
    PyTypeObject *cls = (PyTypeObject *)wsgi_request_class;
    PyObject *request = body == NULL ? NULL : cls->tp_alloc(cls, 0);
    if (request == NULL) {
        Py_DECREF(version);
        Py_XDECREF(method);
        Py_XDECREF(keep_alive);
        Py_XDECREF(body);
        return NULL;
    }
    PyObject *values[8] = {method, Py_NewRef(url), Py_NewRef(headers), version, keep_alive, body,
                           Py_NewRef(Py_False), Py_NewRef(zero)};
    for (size_t index = 0; index < 8; index++) {
        OBJECT_SLOT(request, request_offsets[index]) = values[index];
    }
    Py_ssize_t completed = slot_size(self, wsgi_heads_completed_offset);
    if ((completed == -1 && PyErr_Occurred()) ||
        set_slot(self, wsgi_heads_completed_offset, PyLong_FromSsize_t(completed + 1)) < 0) {
        Py_DECREF(request);
        return NULL;
    }
    set_slot(self, wsgi_in_headers_offset, Py_NewRef(Py_False));
    set_slot(self, wsgi_raw_header_bytes_offset, Py_NewRef(zero));
    set_slot(self, wsgi_parsing_offset, Py_NewRef(request));
    PyObject *done = PyObject_CallMethodOneArg(requests, str_append, request);
    Py_DECREF(request);
    if (done == NULL) {
        return NULL;
    }
    Py_DECREF(done);
    Py_RETURN_NONE;
}

static PyMethodDef wsgi_on_message_begin_def = {"on_message_begin", wsgi_on_message_begin, METH_NOARGS, NULL};
static PyMethodDef wsgi_on_url_def = {"on_url", wsgi_on_url, METH_O, NULL};
static PyMethodDef wsgi_on_header_def = {"on_header", (PyCFunction)(void (*)(void))wsgi_on_header, METH_FASTCALL,
                                         NULL};
static PyMethodDef wsgi_on_message_complete_def = {"on_message_complete", wsgi_on_message_complete, METH_NOARGS,
                                                   NULL};
static PyMethodDef wsgi_on_headers_complete_def = {"on_headers_complete", wsgi_on_headers_complete, METH_NOARGS,
                                                   NULL};
static PyMethodDef *const wsgi_defs[] = {&wsgi_on_message_begin_def, &wsgi_on_url_def, &wsgi_on_header_def,
                                         &wsgi_on_headers_complete_def, &wsgi_on_message_complete_def, NULL};

/* A tuple of `cls`'s method descriptors for `defs` (NULL-terminated). */
static PyObject *
method_descriptors(PyObject *cls, PyMethodDef *const *defs)
{
    Py_ssize_t count = 0;
    while (defs[count] != NULL) {
        count++;
    }
    PyObject *descriptors = PyTuple_New(count);
    if (descriptors == NULL) {
        return NULL;
    }
    for (Py_ssize_t index = 0; index < count; index++) {
        PyObject *descriptor = PyDescr_NewMethod((PyTypeObject *)cls, defs[index]);
        if (descriptor == NULL) {
            Py_DECREF(descriptors);
            return NULL;
        }
        PyTuple_SET_ITEM(descriptors, index, descriptor);
    }
    return descriptors;
}

static PyObject *wsgi_response_methods(PyObject *cls);

/* methods(kind, cls, Waiter, not_ready=None) -> the method descriptors of `cls` that the module
 * of `kind` installs: "queue" (get, put), "lock" (acquire, release, __enter__, __exit__),
 * "semaphore" (acquire, release), "event" (wait, send, reset; `not_ready` is green.event's marker),
 * "hub" (wait_readable, wait_writable; the third argument is the hub's _FdState, not a Waiter),
 * "socket" (recv, recv_into, send, sendall; the third argument, optional, is the real socket class whose
 * recv and send may be made as system calls), "wsgi" (green.wsgi's parser callbacks
 * on_message_begin, on_url, on_header, on_headers_complete, on_message_complete; the third argument is its
 * HTTPError; configure_request first), "wsgi_response" (green.wsgi's _Writing._start; no third argument). */
static PyObject *
compiled_methods(PyObject *Py_UNUSED(module), PyObject *args)
{
    const char *kind;
    PyObject *cls, *waiter_class = NULL, *not_ready = Py_None;
    if (!PyArg_ParseTuple(args, "sO!|O!O:methods", &kind, &PyType_Type, &cls, &PyType_Type, &waiter_class,
                          &not_ready)) {
        return NULL;
    }
    if (strcmp(kind, "socket") == 0) { /* the third argument, if given, is the real socket class */
        Py_XSETREF(direct_socket_class, (PyTypeObject *)Py_XNewRef(waiter_class));
        socket_sock_offset = slot_offset(cls, "_sock");
        socket_timeout_offset = socket_sock_offset < 0 ? -1 : slot_offset(cls, "_timeout");
        socket_expect_offset = socket_timeout_offset < 0 ? -1 : slot_offset(cls, "_expect_wait");
        if (socket_expect_offset < 0) {
            return NULL;
        }
        return method_descriptors(cls, socket_defs);
    }
    if (strcmp(kind, "wsgi_response") == 0) {
        return wsgi_response_methods(cls);
    }
    if (strcmp(kind, "wsgi") == 0) { /* the third argument is green.wsgi's HTTPError here */
        const char *names[] = {"server", "url", "headers", "in_headers", "header_bytes", "trailer_bytes", "parsing",
                               "parser", "raw_header_bytes", "heads_completed", "requests", "messages_begun"};
        Py_ssize_t *offsets[] = {&wsgi_server_offset, &wsgi_url_offset, &wsgi_headers_offset, &wsgi_in_headers_offset,
                                 &wsgi_header_bytes_offset, &wsgi_trailer_bytes_offset, &wsgi_parsing_offset,
                                 &wsgi_parser_offset, &wsgi_raw_header_bytes_offset, &wsgi_heads_completed_offset,
                                 &wsgi_requests_offset, &wsgi_messages_begun_offset};
        if (waiter_class == NULL) {
            PyErr_SetString(PyExc_TypeError, "methods(): wsgi needs the HTTPError class");
            return NULL;
        }
        for (size_t index = 0; index < sizeof(names) / sizeof(names[0]); index++) {
            if ((*offsets[index] = slot_offset(cls, names[index])) < 0) {
                wsgi_server_offset = -1;
                return NULL;
            }
        }
        Py_XSETREF(wsgi_http_error, Py_NewRef(waiter_class));
        return method_descriptors(cls, wsgi_defs);
    }
    if (waiter_class == NULL) {
        PyErr_Format(PyExc_TypeError, "methods(): %s needs its third argument", kind);
        return NULL;
    }
    if (strcmp(kind, "hub") == 0) { /* `waiter_class` is the hub's _FdState here */
        fd_reader_offset = slot_offset(waiter_class, "reader");
        fd_writer_offset = fd_reader_offset < 0 ? -1 : slot_offset(waiter_class, "writer");
        fd_registered_offset = fd_writer_offset < 0 ? -1 : slot_offset(waiter_class, "registered");
        if (fd_registered_offset < 0) {
            return NULL;
        }
        Py_XSETREF(fd_state_class, Py_NewRef(waiter_class));
        hub_park_offset = slot_offset(cls, "park");
        if (hub_park_offset < 0) {
            return NULL;
        }
        Py_XSETREF(hub_class, (PyTypeObject *)Py_NewRef(cls));
        return method_descriptors(cls, hub_defs);
    }
    if (!PyType_IsSubtype((PyTypeObject *)waiter_class, &WaiterType)) {
        PyErr_SetString(PyExc_TypeError, "methods() needs a subclass of green._core.Waiter");
        return NULL;
    }
    PyMethodDef *const *defs;
    if (strcmp(kind, "queue") == 0) {
        queue_guard_offset = slot_offset(cls, "_guard");
        queue_getters_offset = queue_guard_offset < 0 ? -1 : slot_offset(cls, "_getters");
        queue_putters_offset = queue_getters_offset < 0 ? -1 : slot_offset(cls, "_putters");
        queue_items_offset = queue_putters_offset < 0 ? -1 : slot_offset(cls, "queue");
        queue_maxsize_offset = queue_items_offset < 0 ? -1 : slot_offset(cls, "maxsize");
        queue_shutdown_offset = queue_maxsize_offset < 0 ? -1 : slot_offset(cls, "is_shutdown");
        queue_tasks_offset = queue_shutdown_offset < 0 ? -1 : slot_offset(cls, "unfinished_tasks");
        if (queue_tasks_offset < 0) {
            return NULL;
        }
        defs = queue_defs;
    }
    else if (strcmp(kind, "lock") == 0) {
        lock_locked_offset = slot_offset(cls, "_locked");
        lock_waiters_offset = lock_locked_offset < 0 ? -1 : slot_offset(cls, "_waiters");
        lock_guard_offset = lock_waiters_offset < 0 ? -1 : slot_offset(cls, "_guard");
        if (lock_guard_offset < 0) {
            return NULL;
        }
        defs = lock_defs;
    }
    else if (strcmp(kind, "semaphore") == 0) {
        semaphore_counter_offset = slot_offset(cls, "counter");
        semaphore_waiters_offset = semaphore_counter_offset < 0 ? -1 : slot_offset(cls, "_waiters");
        semaphore_guard_offset = semaphore_waiters_offset < 0 ? -1 : slot_offset(cls, "_guard");
        if (semaphore_guard_offset < 0) {
            return NULL;
        }
        defs = semaphore_defs;
    }
    else if (strcmp(kind, "event") == 0) {
        event_result_offset = slot_offset(cls, "_result");
        event_exception_offset = event_result_offset < 0 ? -1 : slot_offset(cls, "_exception");
        event_waiters_offset = event_exception_offset < 0 ? -1 : slot_offset(cls, "_waiters");
        event_guard_offset = event_waiters_offset < 0 ? -1 : slot_offset(cls, "_guard");
        if (event_guard_offset < 0) {
            return NULL;
        }
        Py_XSETREF(event_not_ready, Py_NewRef(not_ready));
        defs = event_defs;
    }
    else {
        PyErr_Format(PyExc_ValueError, "methods(): unknown kind %s", kind);
        return NULL;
    }
    Py_XSETREF(queue_waiter_class, Py_NewRef(waiter_class));
    return method_descriptors(cls, defs);
}

/* -- frame stacks of finished green threads ------------------------------------------------------ */

/* From CPython 3.11 on, each greenlet's Python frames live in data-stack chunks of their own (16 KB
 * at first) that CPython maps with mmap when the greenlet first runs Python code and unmaps when
 * it ends: a mmap, a munmap and a page fault for every green thread, more time than the rest of
 * a spawn and join. The core puts itself in front of CPython's arena allocator and keeps up to
 * CHUNK_CACHE freed blocks of at most CHUNK_LIMIT bytes (frame-stack chunks; pymalloc's arenas
 * are larger and pass through) for the next request of the same size. CPython initialises what
 * it uses of such a block, as it does when it reuses a chunk of the same thread. The calls come
 * with the GIL held; a spin flag keeps the list consistent even if one did not. Free-threaded
 * builds, which allocate differently, are left alone. */

#if PY_VERSION_HEX >= 0x030B0000 && !defined(Py_GIL_DISABLED) && (defined(__GNUC__) || defined(__clang__))
#define KEEP_CHUNKS 1
#define CHUNK_CACHE 64
#define CHUNK_LIMIT (64 * 1024)

static PyObjectArenaAllocator cpython_arena;
static void *chunk_blocks[CHUNK_CACHE];
static size_t chunk_sizes[CHUNK_CACHE];
static int chunk_count = 0;
static char chunk_busy = 0;
static unsigned long long chunk_reuses = 0;

static void *
chunk_alloc(void *Py_UNUSED(context), size_t size)
{
    if (size <= CHUNK_LIMIT && !__atomic_test_and_set(&chunk_busy, __ATOMIC_ACQUIRE)) {
        void *block = NULL;
        for (int index = chunk_count - 1; index >= 0; index--) {
            if (chunk_sizes[index] == size) {
                block = chunk_blocks[index];
                chunk_count -= 1;
                chunk_blocks[index] = chunk_blocks[chunk_count];
                chunk_sizes[index] = chunk_sizes[chunk_count];
                chunk_reuses += 1;
                break;
            }
        }
        __atomic_clear(&chunk_busy, __ATOMIC_RELEASE);
        if (block != NULL) {
            return block;
        }
    }
    return cpython_arena.alloc(cpython_arena.ctx, size);
}

static void
chunk_free(void *Py_UNUSED(context), void *block, size_t size)
{
    if (block != NULL && size <= CHUNK_LIMIT && !__atomic_test_and_set(&chunk_busy, __ATOMIC_ACQUIRE)) {
        int kept = chunk_count < CHUNK_CACHE;
        if (kept) {
            chunk_blocks[chunk_count] = block;
            chunk_sizes[chunk_count] = size;
            chunk_count += 1;
        }
        __atomic_clear(&chunk_busy, __ATOMIC_RELEASE);
        if (kept) {
            return;
        }
    }
    cpython_arena.free(cpython_arena.ctx, block, size);
}

static void
keep_chunks(void)
{
    PyObjectArenaAllocator current;
    PyObject_GetArenaAllocator(&current);
    if (current.alloc == chunk_alloc) {
        return;
    }
    cpython_arena = current;
    PyObjectArenaAllocator ours = {NULL, chunk_alloc, chunk_free};
    PyObject_SetArenaAllocator(&ours);
}
#endif

static PyObject *
frame_chunks(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(unused))
{
#ifdef KEEP_CHUNKS
    return Py_BuildValue("(iiK)", chunk_count, CHUNK_CACHE, chunk_reuses);
#else
    Py_RETURN_NONE;
#endif
}

/* -- green.wsgi's response head ------------------------------------------------------------------ */

/* Kinds of response header names, as green.wsgi._writing numbers them. */
enum { HEAD_ORDINARY = 0, HEAD_LENGTH = 1, HEAD_CONNECTION = 2, HEAD_DATE = 3 };

static PyObject *str_close, *str_lower;

static PyObject *head_make_entry, *head_python;

static PyObject *
configure_head(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *make_entry, *python;
    if (!PyArg_ParseTuple(args, "OO:configure_head", &make_entry, &python)) {
        return NULL;
    }
    Py_XSETREF(head_make_entry, Py_NewRef(make_entry));
    Py_XSETREF(head_python, Py_NewRef(python));
    Py_RETURN_NONE;
}

/* A str that is its own latin-1 encoding (one byte per character) without CR or LF. */
static int
plain_latin1(PyObject *text)
{
    if (!PyUnicode_CheckExact(text) || PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND) {
        return 0;
    }
    const char *data = (const char *)PyUnicode_1BYTE_DATA(text);
    Py_ssize_t size = PyUnicode_GET_LENGTH(text);
    return memchr(data, '\r', size) == NULL && memchr(data, '\n', size) == NULL;
}

#define HEAD_MAX_LINES 32

/* green.wsgi._writing._response_head for the usual headers: at most HEAD_MAX_LINES of them, in a
   list of (str, str) tuples, in latin-1 without CR or LF, no hop-by-hop name. Anything else goes
   to the Python function given to configure_head (which raises the errors, or takes a longer
   list). */
static PyObject *
response_head(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || head_python == NULL) {
        PyErr_SetString(PyExc_TypeError, "response_head(status, headers, table) after configure_head");
        return NULL;
    }
    PyObject *status = args[0], *headers = args[1], *table = args[2];
    PyObject *make_entry = head_make_entry, *python = head_python;
    if (!plain_latin1(status) || !PyList_CheckExact(headers) || !PyDict_CheckExact(table) ||
        PyList_GET_SIZE(headers) > HEAD_MAX_LINES) {
        return PyObject_Vectorcall(python, args, 3, NULL);
    }
    /* The kept lines' two halves ("Name: ", value), held until copied. */
    PyObject *halves[2 * HEAD_MAX_LINES];
    Py_ssize_t kept = 0;
    PyObject *length = NULL, *result = NULL;
    int has_date = 0, close = 0, python_path = 0;
    /* "HTTP/1.1 " status CR LF, each kept line CR LF. */
    Py_ssize_t size = 9 + PyUnicode_GET_LENGTH(status) + 2;
    for (Py_ssize_t index = 0; index < PyList_GET_SIZE(headers) && index < HEAD_MAX_LINES; index++) {
        PyObject *header = PyList_GET_ITEM(headers, index);
        if (!PyTuple_CheckExact(header) || PyTuple_GET_SIZE(header) != 2) {
            python_path = 1;
            break;
        }
        PyObject *name = PyTuple_GET_ITEM(header, 0), *value = PyTuple_GET_ITEM(header, 1);
        if (!PyUnicode_CheckExact(name) || !plain_latin1(value)) {
            python_path = 1;
            break;
        }
        PyObject *entry = PyDict_GetItemWithError(table, name);
        if (entry != NULL) {
            Py_INCREF(entry);
        } else if (!PyErr_Occurred()) {
            PyObject *call_args[2] = {table, name};
            entry = PyObject_Vectorcall(make_entry, call_args, 2, NULL);
        }
        if (entry == NULL) {
            goto done;
        }
        long kind = -1;
        PyObject *start = NULL;
        if (PyTuple_CheckExact(entry) && PyTuple_GET_SIZE(entry) == 2) {
            kind = PyLong_AsLong(PyTuple_GET_ITEM(entry, 0));
            start = PyTuple_GET_ITEM(entry, 1);
        }
        if (kind == -1 && PyErr_Occurred()) {
            Py_DECREF(entry);
            goto done;
        }
        if (kind < HEAD_ORDINARY || kind > HEAD_DATE || !plain_latin1(start)) {
            Py_DECREF(entry);
            python_path = 1; /* a hop-by-hop name (or a name with CR or LF): Python raises */
            break;
        }
        if (kind == HEAD_CONNECTION) {
            PyObject *lowered = PyObject_CallMethodNoArgs(value, str_lower);
            int is_close = lowered == NULL ? -1 : PyObject_RichCompareBool(lowered, str_close, Py_EQ);
            Py_XDECREF(lowered);
            Py_DECREF(entry);
            if (is_close < 0) {
                goto done;
            }
            close |= is_close;
            continue;
        }
        if (kind == HEAD_LENGTH) {
            Py_XSETREF(length, PyNumber_Long(value));
            if (length == NULL) {
                Py_DECREF(entry);
                goto done;
            }
        } else if (kind == HEAD_DATE) {
            has_date = 1;
        }
        halves[2 * kept] = Py_NewRef(start);
        halves[2 * kept + 1] = Py_NewRef(value);
        kept++;
        size += PyUnicode_GET_LENGTH(start) + PyUnicode_GET_LENGTH(value) + 2;
        Py_DECREF(entry);
    }
    if (python_path) {
        result = PyObject_Vectorcall(python, args, 3, NULL);
        goto done;
    }
    PyObject *head = PyBytes_FromStringAndSize(NULL, size);
    if (head == NULL) {
        goto done;
    }
    char *out = PyBytes_AS_STRING(head);
    memcpy(out, "HTTP/1.1 ", 9);
    out += 9;
    memcpy(out, PyUnicode_1BYTE_DATA(status), PyUnicode_GET_LENGTH(status));
    out += PyUnicode_GET_LENGTH(status);
    *out++ = '\r';
    *out++ = '\n';
    for (Py_ssize_t index = 0; index < 2 * kept; index += 2) {
        memcpy(out, PyUnicode_1BYTE_DATA(halves[index]), PyUnicode_GET_LENGTH(halves[index]));
        out += PyUnicode_GET_LENGTH(halves[index]);
        memcpy(out, PyUnicode_1BYTE_DATA(halves[index + 1]), PyUnicode_GET_LENGTH(halves[index + 1]));
        out += PyUnicode_GET_LENGTH(halves[index + 1]);
        *out++ = '\r';
        *out++ = '\n';
    }
    if (length == NULL && (length = PyLong_FromLong(-1)) == NULL) {
        Py_DECREF(head);
        goto done;
    }
    result = PyTuple_Pack(4, head, length, has_date ? Py_True : Py_False, close ? Py_True : Py_False);
    Py_DECREF(head);
done:
    for (Py_ssize_t index = 0; index < 2 * kept; index++) {
        Py_DECREF(halves[index]);
    }
    Py_XDECREF(length);
    return result;
}

/* -- green.wsgi's response framing --------------------------------------------------------------- */

/* _Writing._start(body, final): the status line and headers with the framing the response needs
   (Content-Length, chunked, Connection), sent with the first piece of `body` in one _sendall. The
   Python method (`_python_start`) takes a body that is not bytes and a missing request; the state
   is the connection's slots, read at the offsets found when the method was made. */
static Py_ssize_t start_status_offset = -1, start_request_offset, start_server_offset, start_headers_offset,
                  start_keep_alive_offset, start_status_code_offset, start_no_body_offset, start_chunked_offset,
                  start_remaining_offset, start_headers_sent_offset, start_sent_bytes_offset;
static PyObject *str_python_start, *str_sendall, *str_expect_pending, *str_asks_keep_alive, *str_head_table,
    *str_date_header, *str_stopping, *str_keepalive_line, *str_announce_keepalive, *minus_one;

/* getattr(owner, name) is true; -1 on an error */
static int
attribute_true(PyObject *owner, PyObject *name)
{
    PyObject *value = PyObject_GetAttr(owner, name);
    if (value == NULL) {
        return -1;
    }
    int result = PyObject_IsTrue(value);
    Py_DECREF(value);
    return result;
}

/* Append `text` (a str of latin-1 characters) and CR LF to `out` at `*used`, growing it. */
static int
append_line(PyObject **out, Py_ssize_t *used, const char *data, Py_ssize_t size)
{
    if (*used + size + 2 > PyBytes_GET_SIZE(*out) && _PyBytes_Resize(out, (*used + size + 2) * 2) < 0) {
        return -1;
    }
    memcpy(PyBytes_AS_STRING(*out) + *used, data, size);
    *used += size;
    memcpy(PyBytes_AS_STRING(*out) + *used, "\r\n", 2);
    *used += 2;
    return 0;
}

static int
append_text_line(PyObject **out, Py_ssize_t *used, PyObject *text)
{
    PyObject *encoded = PyUnicode_Check(text) ? PyUnicode_AsLatin1String(text) : NULL;
    if (encoded == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "a response line is not a str");
        }
        return -1;
    }
    int done = append_line(out, used, PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded));
    Py_DECREF(encoded);
    return done;
}

static PyObject *
wsgi_start(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "_start(body, final) takes two arguments");
        return NULL;
    }
    PyObject *body = args[0];
    PyObject *status = OBJECT_SLOT(self, start_status_offset), *request = OBJECT_SLOT(self, start_request_offset),
             *server = OBJECT_SLOT(self, start_server_offset), *headers = OBJECT_SLOT(self, start_headers_offset);
    if (status == Py_None) {
        PyErr_SetString(PyExc_AssertionError, "the application did not call start_response");
        return NULL;
    }
    if (!PyBytes_CheckExact(body) || status == NULL || !PyUnicode_CheckExact(status) ||
        PyUnicode_GET_LENGTH(status) < 3 || request == NULL || request == Py_None || server == NULL ||
        headers == NULL) {
        PyObject *call_args[3] = {self, args[0], args[1]};
        return PyObject_VectorcallMethod(str_python_start, call_args, 3, NULL);
    }
    int final = PyObject_IsTrue(args[1]);
    if (final < 0) {
        return NULL;
    }
    PyObject *table = PyObject_GetAttr(server, str_head_table);
    if (table == NULL) {
        return NULL;
    }
    PyObject *head_args[3] = {status, headers, table};
    PyObject *head = response_head(NULL, head_args, 3);
    Py_DECREF(table);
    if (head == NULL) {
        return NULL;
    }
    PyObject *code = NULL, *method = NULL, *version = NULL, *out = NULL, *result = NULL;
    if (!PyTuple_Check(head) || PyTuple_GET_SIZE(head) != 4 || !PyBytes_Check(PyTuple_GET_ITEM(head, 0))) {
        PyErr_SetString(PyExc_TypeError, "the response head is not (bytes, length, has_date, close)");
        goto done;
    }
    PyObject *head_start = PyTuple_GET_ITEM(head, 0), *length = PyTuple_GET_ITEM(head, 1);
    int overflow;
    long long length_value = PyLong_AsLongLongAndOverflow(length, &overflow);
    if (length_value == -1 && PyErr_Occurred()) {
        goto done;
    }
    int has_length = overflow > 0 || (overflow == 0 && length_value >= 0);
    int has_date = PyObject_IsTrue(PyTuple_GET_ITEM(head, 2)), close = PyObject_IsTrue(PyTuple_GET_ITEM(head, 3));
    if (has_date < 0 || close < 0) {
        goto done;
    }
    code = PyUnicode_Substring(status, 0, 3);
    if (code == NULL) {
        goto done;
    }
    Py_XSETREF(OBJECT_SLOT(self, start_status_code_offset), Py_NewRef(code));
    PyObject *keep_alive_value = OBJECT_SLOT(self, start_keep_alive_offset);
    int keep_alive = keep_alive_value == NULL ? -1 : PyObject_IsTrue(keep_alive_value);
    if (keep_alive < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_AttributeError, "keep_alive");
        }
        goto done;
    }
    keep_alive = keep_alive && !close;
    method = PyObject_GetAttr(request, str_method);
    version = method == NULL ? NULL : PyObject_GetAttr(request, str_version);
    if (version == NULL) {
        goto done;
    }
    int head_request = PyBytes_Check(method) && PyBytes_GET_SIZE(method) == 4 &&
                       memcmp(PyBytes_AS_STRING(method), "HEAD", 4) == 0;
    Py_UCS4 first = PyUnicode_READ_CHAR(code, 0);
    int code_204_304 = PyUnicode_CompareWithASCIIString(code, "204") == 0 ||
                       PyUnicode_CompareWithASCIIString(code, "304") == 0;
    int no_body = head_request || code_204_304 || first == '1';
    int is_1_1 = PyUnicode_Check(version) && PyUnicode_CompareWithASCIIString(version, "1.1") == 0;
    int is_1_0 = PyUnicode_Check(version) && PyUnicode_CompareWithASCIIString(version, "1.0") == 0;
    Py_ssize_t body_size = PyBytes_GET_SIZE(body);
    Py_ssize_t used = PyBytes_GET_SIZE(head_start);
    out = PyBytes_FromStringAndSize(NULL, used + 160 + (final ? body_size : 0));
    if (out == NULL) {
        goto done;
    }
    memcpy(PyBytes_AS_STRING(out), PyBytes_AS_STRING(head_start), used);
    if (!has_date) {
        PyObject *date = PyObject_GetAttr(server, str_date_header);
        int appended = date == NULL ? -1 : append_text_line(&out, &used, date);
        Py_XDECREF(date);
        if (appended < 0) {
            goto done;
        }
    }
    int chunked = 0;
    PyObject *remaining = NULL; /* a new reference */
    char number[32];
    if (has_length) {
        remaining = Py_NewRef(length);
    }
    else if (no_body) {
        if (final && body_size && head_request && first != '1' && !code_204_304) {
            int size = snprintf(number, sizeof(number), "Content-Length: %zd", body_size);
            if (append_line(&out, &used, number, size) < 0) {
                goto done;
            }
        }
        remaining = Py_NewRef(minus_one);
    }
    else if (final) {
        int size = snprintf(number, sizeof(number), "Content-Length: %zd", body_size);
        if (append_line(&out, &used, number, size) < 0 || (remaining = PyLong_FromSsize_t(body_size)) == NULL) {
            goto done;
        }
    }
    else if (is_1_1) {
        if (append_line(&out, &used, "Transfer-Encoding: chunked", 26) < 0) {
            goto done;
        }
        chunked = 1;
        remaining = Py_NewRef(minus_one);
    }
    else {
        keep_alive = 0;
        remaining = Py_NewRef(minus_one);
    }
    Py_XSETREF(OBJECT_SLOT(self, start_no_body_offset), Py_NewRef(no_body ? Py_True : Py_False));
    Py_XSETREF(OBJECT_SLOT(self, start_chunked_offset), Py_NewRef(chunked ? Py_True : Py_False));
    Py_XSETREF(OBJECT_SLOT(self, start_remaining_offset), remaining);
    if (keep_alive) {
        int stopping = attribute_true(server, str_stopping);
        if (stopping < 0) {
            goto done;
        }
        if (stopping) {
            keep_alive = 0;
        }
        else {
            int complete = attribute_true(request, str_complete);
            if (complete < 0) {
                goto done;
            }
            if (!complete) {
                PyObject *pending = PyObject_CallMethodOneArg(self, str_expect_pending, request);
                int waiting = pending == NULL ? -1 : PyObject_IsTrue(pending);
                Py_XDECREF(pending);
                if (waiting < 0) {
                    goto done;
                }
                keep_alive = !waiting;
            }
        }
    }
    int announce = 0;
    if (!keep_alive) {
        if (append_line(&out, &used, "Connection: close", 17) < 0) {
            goto done;
        }
    }
    else if (is_1_0) {
        announce = 1;
    }
    else {
        announce = attribute_true(server, str_announce_keepalive);
        if (announce > 0) {
            PyObject *asks = PyObject_CallMethodOneArg(self, str_asks_keep_alive, request);
            announce = asks == NULL ? -1 : PyObject_IsTrue(asks);
            Py_XDECREF(asks);
        }
        if (announce < 0) {
            goto done;
        }
    }
    if (announce) {
        if (append_line(&out, &used, "Connection: keep-alive", 22) < 0) {
            goto done;
        }
        PyObject *line = PyObject_GetAttr(server, str_keepalive_line);
        int wanted = line == NULL ? -1 : PyObject_IsTrue(line);
        if (wanted > 0) {
            wanted = append_text_line(&out, &used, line) < 0 ? -1 : 1;
        }
        Py_XDECREF(line);
        if (wanted < 0) {
            goto done;
        }
    }
    Py_XSETREF(OBJECT_SLOT(self, start_keep_alive_offset), Py_NewRef(keep_alive ? Py_True : Py_False));
    if (append_line(&out, &used, "", 0) < 0) {
        goto done;
    }
    Py_XSETREF(OBJECT_SLOT(self, start_headers_sent_offset), Py_NewRef(Py_True));
    Py_ssize_t sent = -1; /* the body bytes sent, when there are any */
    if (!no_body && body_size) {
        Py_ssize_t size = body_size;
        if (chunked) {
            int hex = snprintf(number, sizeof(number), "%zx", size);
            if (append_line(&out, &used, number, hex) < 0) {
                goto done;
            }
        }
        else if (final && !has_length) { /* remaining was the body's size */
            Py_XSETREF(OBJECT_SLOT(self, start_remaining_offset), Py_NewRef(zero));
        }
        else if (has_length) {
            /* remaining = the promised length: a longer body is cut there, and the connection closes. */
            if (overflow == 0 && size > length_value) {
                size = (Py_ssize_t)length_value;
                Py_XSETREF(OBJECT_SLOT(self, start_keep_alive_offset), Py_NewRef(Py_False));
            }
            PyObject *taken = PyLong_FromSsize_t(size);
            PyObject *left = taken == NULL ? NULL : PyNumber_Subtract(length, taken);
            Py_XDECREF(taken);
            if (left == NULL) {
                goto done;
            }
            Py_XSETREF(OBJECT_SLOT(self, start_remaining_offset), left);
        }
        if (used + size + 2 > PyBytes_GET_SIZE(out) && _PyBytes_Resize(&out, used + size + 2) < 0) {
            goto done;
        }
        memcpy(PyBytes_AS_STRING(out) + used, PyBytes_AS_STRING(body), size);
        used += size;
        if (chunked) {
            memcpy(PyBytes_AS_STRING(out) + used, "\r\n", 2);
            used += 2;
        }
        sent = size;
    }
    if (used != PyBytes_GET_SIZE(out) && _PyBytes_Resize(&out, used) < 0) {
        goto done;
    }
    PyObject *count = sent < 0 ? NULL : PyLong_FromSsize_t(sent);
    if (sent >= 0 && count == NULL) {
        goto done;
    }
    if (count != NULL && !chunked) {
        Py_XSETREF(OBJECT_SLOT(self, start_sent_bytes_offset), Py_NewRef(count));
    }
    result = PyObject_CallMethodOneArg(self, str_sendall, out);
    if (count != NULL && chunked && result != NULL) { /* counted once sent, as in the Python method */
        Py_XSETREF(OBJECT_SLOT(self, start_sent_bytes_offset), Py_NewRef(count));
    }
    Py_XDECREF(count);
done:
    Py_DECREF(head);
    Py_XDECREF(code);
    Py_XDECREF(method);
    Py_XDECREF(version);
    Py_XDECREF(out);
    return result;
}

static PyMethodDef wsgi_start_def = {"_start", (PyCFunction)(void (*)(void))wsgi_start, METH_FASTCALL, NULL};
static PyMethodDef *const wsgi_response_defs[] = {&wsgi_start_def, NULL};

/* methods("wsgi_response", _Writing): the descriptor of the compiled _start, its slots found. */
static PyObject *
wsgi_response_methods(PyObject *cls)
{
    const char *names[] = {"status",  "request", "server",    "response_headers", "keep_alive", "status_code",
                           "no_body", "chunked", "remaining", "headers_sent",     "sent_bytes"};
    Py_ssize_t *offsets[] = {&start_status_offset, &start_request_offset, &start_server_offset, &start_headers_offset,
                             &start_keep_alive_offset, &start_status_code_offset, &start_no_body_offset,
                             &start_chunked_offset, &start_remaining_offset, &start_headers_sent_offset,
                             &start_sent_bytes_offset};
    for (size_t index = 0; index < sizeof(names) / sizeof(names[0]); index++) {
        if ((*offsets[index] = slot_offset(cls, names[index])) < 0) {
            start_status_offset = -1;
            return NULL;
        }
    }
    return method_descriptors(cls, wsgi_response_defs);
}

/* -- green.wsgi's environ ------------------------------------------------------------------------ */

static PyObject *environ_header_keys, *environ_methods, *environ_key, *environ_python;

static PyObject *
configure_environ(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *header_keys, *methods, *key, *python;
    if (!PyArg_ParseTuple(args, "O!O!OO:configure_environ", &PyDict_Type, &header_keys, &PyDict_Type, &methods,
                          &key, &python)) {
        return NULL;
    }
    Py_XSETREF(environ_header_keys, Py_NewRef(header_keys));
    Py_XSETREF(environ_methods, Py_NewRef(methods));
    Py_XSETREF(environ_key, Py_NewRef(key));
    Py_XSETREF(environ_python, Py_NewRef(python));
    Py_RETURN_NONE;
}

/* The environ's headers, merged as the Python function merges them; 1 when a header is not a
   pair of bytes (the Python function takes the request), -1 on an error. */
static int
environ_add_headers(PyObject *environ, PyObject *headers)
{
    for (Py_ssize_t index = 0; index < PyList_GET_SIZE(headers); index++) {
        PyObject *header = PyList_GET_ITEM(headers, index);
        if (!PyTuple_CheckExact(header) || PyTuple_GET_SIZE(header) != 2 ||
            !PyBytes_CheckExact(PyTuple_GET_ITEM(header, 0)) || !PyBytes_CheckExact(PyTuple_GET_ITEM(header, 1))) {
            return 1;
        }
        PyObject *name = PyTuple_GET_ITEM(header, 0), *value = PyTuple_GET_ITEM(header, 1);
        PyObject *key = PyDict_GetItemWithError(environ_header_keys, name);
        if (key != NULL) {
            Py_INCREF(key);
        } else if (PyErr_Occurred() || (key = PyObject_CallOneArg(environ_key, name)) == NULL) {
            return -1;
        }
        if (!PyUnicode_Check(key) || PyUnicode_GET_LENGTH(key) == 0) {
            Py_DECREF(key);
            continue; /* a header that is dropped */
        }
        PyObject *text = PyUnicode_DecodeLatin1(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value), NULL);
        if (text == NULL) {
            Py_DECREF(key);
            return -1;
        }
        PyObject *earlier = PyDict_GetItemWithError(environ, key);
        if (earlier != NULL) {
            PyObject *separator = PyUnicode_Compare(key, str_http_cookie) == 0 ? str_semicolon : str_comma;
            PyObject *joined = PyUnicode_Concat(earlier, separator);
            Py_SETREF(text, joined == NULL ? NULL : PyUnicode_Concat(joined, text));
            Py_XDECREF(joined);
        }
        int failed = text == NULL || PyErr_Occurred() || PyDict_SetItem(environ, key, text) < 0;
        Py_XDECREF(text);
        Py_DECREF(key);
        if (failed) {
            return -1;
        }
    }
    return 0;
}

/* green.wsgi._environ._build_environ for the usual request: a target in origin form ("/path?query")
   without percent escapes, no body limit, no eventlet keys, no upgrade. The Python function
   takes every other request. */
static PyObject *
build_environ(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || environ_python == NULL) {
        PyErr_SetString(PyExc_TypeError, "build_environ(connection, request) before configure_environ");
        return NULL;
    }
    PyObject *connection = args[0], *request = args[1];
    PyObject *server = NULL, *max_body = NULL, *url = NULL, *method = NULL, *version = NULL, *headers = NULL;
    PyObject *template = NULL, *environ = NULL, *text = NULL, *body = NULL;
    int usual = 0;
    if ((server = PyObject_GetAttr(connection, str_server)) == NULL ||
        (max_body = PyObject_GetAttr(server, str_max_body)) == NULL ||
        (url = PyObject_GetAttr(request, str_url)) == NULL ||
        (method = PyObject_GetAttr(request, str_method)) == NULL ||
        (version = PyObject_GetAttr(request, str_version)) == NULL ||
        (headers = PyObject_GetAttr(request, str_headers)) == NULL) {
        goto done;
    }
    int eventlet = attribute_true(server, str_eventlet_environ);
    int upgraded = eventlet < 0 ? -1 : attribute_true(connection, str_upgraded);
    if (upgraded < 0) {
        goto done;
    }
    const char *target = PyBytes_CheckExact(url) ? PyBytes_AS_STRING(url) : NULL;
    Py_ssize_t target_size = target != NULL ? PyBytes_GET_SIZE(url) : 0;
    const char *question = target != NULL ? memchr(target, '?', target_size) : NULL;
    Py_ssize_t path_size = question != NULL ? question - target : target_size;
    const char *query = question != NULL ? question + 1 : target + target_size;
    Py_ssize_t query_size = question != NULL ? target_size - path_size - 1 : 0;
    /* What follows a '#' is dropped, in the path and the query each (as the Python function does). */
    const char *hash = target != NULL ? memchr(target, '#', path_size) : NULL;
    if (hash != NULL) {
        path_size = hash - target;
    }
    hash = query_size ? memchr(query, '#', query_size) : NULL;
    if (hash != NULL) {
        query_size = hash - query;
    }
    usual = !eventlet && !upgraded && max_body == Py_None && target_size > 0 && target[0] == '/' &&
            memchr(target, '%', path_size) == NULL && PyBytes_CheckExact(method) && PyUnicode_CheckExact(version) &&
            PyList_CheckExact(headers);
    if (!usual) {
        goto done;
    }
    if ((template = PyObject_GetAttr(connection, str_environ_template)) == NULL ||
        (environ = PyDict_Copy(template)) == NULL) {
        goto done;
    }
    if ((text = PyUnicode_DecodeLatin1(target, path_size, NULL)) == NULL ||
        PyDict_SetItem(environ, str_raw_path_info, text) < 0 || PyDict_SetItem(environ, str_path_info, text) < 0) {
        goto failed;
    }
    Py_CLEAR(text);
    if ((text = PyUnicode_DecodeLatin1(query, query_size, NULL)) == NULL ||
        PyDict_SetItem(environ, str_query_string, text) < 0) {
        goto failed;
    }
    Py_CLEAR(text);
    text = PyDict_GetItemWithError(environ_methods, method);
    if (text != NULL) {
        Py_INCREF(text);
    } else if (PyErr_Occurred() ||
               (text = PyUnicode_DecodeLatin1(PyBytes_AS_STRING(method), PyBytes_GET_SIZE(method), NULL)) == NULL) {
        goto failed;
    }
    if (PyDict_SetItem(environ, str_request_method, text) < 0) {
        goto failed;
    }
    Py_CLEAR(text);
    int is_1_1 = PyUnicode_Compare(version, str_version_1_1) == 0;
    if (PyErr_Occurred() ||
        PyDict_SetItem(environ, str_server_protocol, is_1_1 ? str_http_1_1 : str_http_1_0) < 0) {
        goto failed;
    }
    if (environ_add_headers(environ, headers) != 0) {
        goto failed; /* an error, or a header that is not a pair of bytes (the Python function) */
    }
    if (!is_1_1) {
        int framed = PyDict_Contains(environ, str_http_transfer_encoding);
        if (framed < 0) {
            goto failed;
        }
        /* RFC 9112 section 6.1: the framing of such a message cannot be trusted. */
        if (framed && (PyObject_SetAttr(request, str_keep_alive, Py_False) < 0 ||
                       PyObject_SetAttr(connection, str_keep_alive, Py_False) < 0)) {
            goto failed;
        }
    }
    int complete = attribute_true(request, str_complete);
    if (complete < 0 || (body = PyObject_GetAttr(request, str_body)) == NULL) {
        goto failed;
    }
    Py_ssize_t body_size = PyObject_Length(body);
    if (body_size < 0) {
        goto failed;
    }
    if (!complete || body_size) {
        PyObject *input_class = PyObject_GetAttr(server, str_input_class);
        PyObject *call_args[2] = {connection, request};
        text = input_class == NULL ? NULL : PyObject_Vectorcall(input_class, call_args, 2, NULL);
        Py_XDECREF(input_class);
        if (text == NULL || PyDict_SetItem(environ, str_wsgi_input, text) < 0) {
            goto failed;
        }
        Py_CLEAR(text);
    }
    goto done;
failed:
    Py_CLEAR(environ);
    Py_CLEAR(text);
done:
    Py_XDECREF(server);
    Py_XDECREF(max_body);
    Py_XDECREF(url);
    Py_XDECREF(method);
    Py_XDECREF(version);
    Py_XDECREF(headers);
    Py_XDECREF(template);
    Py_XDECREF(body);
    /* No environ and no error: not the usual request, the Python function builds it. */
    if (environ == NULL && !PyErr_Occurred()) {
        return PyObject_Vectorcall(environ_python, args, 2, NULL);
    }
    return environ;
}

/* -- the module ------------------------------------------------------------------------------- */

static PyObject *
configure(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *state, *fallback, *error, *counter;
    if (!PyArg_ParseTuple(args, "OOOO:configure", &state, &fallback, &error, &counter)) {
        return NULL;
    }
    Py_XSETREF(hub_state, Py_NewRef(state));
    Py_XSETREF(no_hub, Py_NewRef(fallback));
    Py_XSETREF(blocking_error, Py_NewRef(error));
    Py_XSETREF(real_count, Py_NewRef(counter));
    Py_RETURN_NONE;
}

static PyObject *
quiet(PyObject *Py_UNUSED(module), PyObject *number)
{
    Py_ssize_t change = PyLong_AsSsize_t(number);
    if (change == -1 && PyErr_Occurred()) {
        return NULL;
    }
    quiet_threads += change;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"sleep", (PyCFunction)(void (*)(void))sleep_fast, METH_FASTCALL | METH_KEYWORDS,
     "sleep(seconds=0)\n--\n\n"
     "green.greenthread.sleep: sleep(0) in C; other calls go to the Python function."},
    {"methods", compiled_methods, METH_VARARGS,
     "methods(kind, cls, Waiter, not_ready=None): the compiled methods green.queue, green.thread, "
     "green.semaphore, green.event and green.hubs.hub install."},
    {"run_hub", (PyCFunction)(void (*)(void))run_hub, METH_FASTCALL,
     "run_hub(hub, ready, turn, timers, fds, monotonic, heappop, slice_check, batch_seconds, direct): "
     "green.hubs.hub.Hub.run's loop; returns only by raising."},
    {"forget_hub", forget_hub, METH_NOARGS,
     "forget_hub(): a thread's hub changed (green.hubs calls it; the core looks the hub up again)."},
    {"spawn", (PyCFunction)(void (*)(void))spawn_fast, METH_FASTCALL | METH_KEYWORDS,
     "spawn(function, *args, **kwargs)\n--\n\n"
     "green.greenthread.spawn: the GreenThread made and queued in C when the thread has a hub."},
    {"configure_spawn", configure_spawn, METH_VARARGS,
     "configure_spawn(function, GreenThread): the Python spawn, called for what the C path does not take."},
    {"configure_sleep", configure_sleep, METH_O,
     "configure_sleep(function): the Python sleep, called for what the C path does not take."},
    {"configure", configure, METH_VARARGS,
     "configure(hub_state, no_hub, BlockingInHubError, real_count): called once by green._waiter."},
    {"frame_chunks", frame_chunks, METH_NOARGS,
     "frame_chunks(): (kept, limit, reuses) of the frame-stack chunks kept for new green threads, or "
     "None where the core does not keep them."},
    {"to_events", (PyCFunction)(void (*)(void))to_events, METH_FASTCALL,
     "to_events(kernel_events, read_bits, write_bits): a poll's (fd, kernel mask) pairs as the hub's "
     "(fd, READ | WRITE) (green.hubs.epoll and green.hubs.poll)."},
    {"response_head", (PyCFunction)(void (*)(void))response_head, METH_FASTCALL,
     "response_head(status, headers, table): green.wsgi's status line and headers checked and encoded "
     "(green.wsgi._writing._python_response_head takes what the C path does not)."},
    {"configure_request", configure_request, METH_VARARGS,
     "configure_request(Request, valid_hosts, valid_host): green.wsgi's request class, the Host values seen "
     "valid and the Host check, for the compiled on_headers_complete."},
    {"configure_head", configure_head, METH_VARARGS,
     "configure_head(make_entry, python): green.wsgi._writing's header-table function and Python "
     "response_head, given once."},
    {"build_environ", (PyCFunction)(void (*)(void))build_environ, METH_FASTCALL,
     "build_environ(connection, request): green.wsgi's environ of a request "
     "(green.wsgi._environ._build_environ; the Python function takes what the C path does not)."},
    {"configure_environ", configure_environ, METH_VARARGS,
     "configure_environ(header_keys, methods, environ_key, python): green.wsgi._environ's tables and "
     "functions, given once."},
    {"quiet", quiet, METH_O,
     "quiet(change): count the calling OS thread in (+1) or out (-1) of green's idle threads "
     "(green._waiter._quiet)."},
    {NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "green._core",
    .m_doc = "The compiled fast paths of a wake-up: Turn, Park and the base of Waiter (optional).",
    .m_size = -1,
    .m_methods = module_methods,
};

#define INTERN(variable, text)                                                                        \
    do {                                                                                              \
        variable = PyUnicode_InternFromString(text);                                                  \
        if (variable == NULL) {                                                                       \
            return NULL;                                                                              \
        }                                                                                             \
    } while (0)

PyMODINIT_FUNC
PyInit__core(void)
{
    PyGreenlet_Import();
    if (_PyGreenlet_API == NULL) {
        return NULL;
    }
    switch_into = PyObject_GetAttrString((PyObject *)&PyGreenlet_Type, "switch");
    if (switch_into == NULL) {
        return NULL;
    }
    throw_into = PyObject_GetAttrString((PyObject *)&PyGreenlet_Type, "throw");
    if (throw_into == NULL) {
        return NULL;
    }
    empty_tuple = PyTuple_New(0);
    if (empty_tuple == NULL) {
        return NULL;
    }
    one = PyLong_FromLong(1);
    zero = PyLong_FromLong(0);
    if (one == NULL || zero == NULL) {
        return NULL;
    }
    INTERN(str_hub, "hub");
    INTERN(str_server, "server");
    INTERN(str_environ_template, "environ_template");
    INTERN(str_upgraded, "upgraded");
    INTERN(str_url, "url");
    INTERN(str_method, "method");
    INTERN(str_version, "version");
    INTERN(str_headers, "headers");
    INTERN(str_complete, "complete");
    INTERN(str_body, "body");
    INTERN(str_keep_alive, "keep_alive");
    INTERN(str_eventlet_environ, "eventlet_environ");
    INTERN(str_max_body, "max_body");
    INTERN(str_input_class, "input_class");
    INTERN(str_raw_path_info, "RAW_PATH_INFO");
    INTERN(str_path_info, "PATH_INFO");
    INTERN(str_query_string, "QUERY_STRING");
    INTERN(str_request_method, "REQUEST_METHOD");
    INTERN(str_server_protocol, "SERVER_PROTOCOL");
    INTERN(str_wsgi_input, "wsgi.input");
    INTERN(str_http_cookie, "HTTP_COOKIE");
    INTERN(str_http_transfer_encoding, "HTTP_TRANSFER_ENCODING");
    INTERN(str_http_1_1, "HTTP/1.1");
    INTERN(str_http_1_0, "HTTP/1.0");
    INTERN(str_version_1_1, "1.1");
    INTERN(str_comma, ", ");
    INTERN(str_semicolon, "; ");
    INTERN(str_max_request_line, "max_request_line");
    INTERN(str_max_header_line, "max_header_line");
    INTERN(str_max_header_bytes, "max_header_bytes");
    INTERN(str_max_headers, "max_headers");
    INTERN(str_trailers_too_large, "trailers too large");
    INTERN(str_header_line_too_long, "header line too long");
    INTERN(str_headers_too_large, "headers too large");
    INTERN(str_too_many_headers, "too many headers");
    INTERN(str_get_http_version, "get_http_version");
    INTERN(str_get_method, "get_method");
    INTERN(str_should_keep_alive, "should_keep_alive");
    INTERN(str_require_host, "require_host");
    INTERN(str_append, "append");
    INTERN(str_invalid_host, "invalid Host header");
    INTERN(str_more_than_one_host, "more than one Host header");
    INTERN(str_missing_host, "missing Host header");
    INTERN(str_version_1_0, "1.0");
    INTERN(str_python_start, "_python_start");
    INTERN(str_sendall, "_sendall");
    INTERN(str_expect_pending, "_expect_pending");
    INTERN(str_asks_keep_alive, "_asks_keep_alive");
    INTERN(str_head_table, "head_table");
    INTERN(str_date_header, "date_header");
    INTERN(str_stopping, "stopping");
    INTERN(str_keepalive_line, "keepalive_line");
    INTERN(str_announce_keepalive, "announce_keepalive");
    minus_one = PyLong_FromLong(-1);
    if (minus_one == NULL) {
        return NULL;
    }
    INTERN(str_close, "close");
    INTERN(str_lower, "lower");
    INTERN(str_schedule, "schedule");
    INTERN(str_clock, "clock");
    INTERN(str_iterations, "iterations");
    INTERN(str_park, "park");
    INTERN(str_python_wait_readable, "_python_wait_readable");
    INTERN(str_python_wait_writable, "_python_wait_writable");
    INTERN(str_popleft, "popleft");
    INTERN(str_schedule_method, "_schedule");
    INTERN(str_block, "_block");
    INTERN(str_wait_timed, "_wait_timed");
    INTERN(str_wait_referenced, "_wait_referenced");
    INTERN(str_leave_queue, "_leave_queue");
    INTERN(str_unschedule, "unschedule");
    INTERN(str_append, "append");
    INTERN(str_compiled_path, "_compiled_path");
    INTERN(str_python_get, "_python_get");
    INTERN(str_python_put, "_python_put");
    INTERN(str_get_abandoned, "_get_abandoned");
    INTERN(str_get_unwoken, "_get_unwoken");
    INTERN(str_wake, "wake");
    INTERN(str_python_acquire, "_python_acquire");
    INTERN(str_python_release, "_python_release");
    INTERN(str_python_wait, "_python_wait");
    INTERN(str_python_reset, "_python_reset");
    INTERN(str_python_send, "_python_send");
    INTERN(str_wait_abandoned, "_wait_abandoned");
    INTERN(str_acquire_abandoned, "_acquire_abandoned");
    INTERN(str_acquire_unwoken, "_acquire_unwoken");
    INTERN(str_python_recv, "_python_recv");
    INTERN(str_python_recv_into, "_python_recv_into");
    INTERN(str_python_sendall, "_python_sendall");
    INTERN(str_recv, "recv");
    INTERN(str_recv_into, "recv_into");
    INTERN(str_send, "send");
    INTERN(str_fileno, "fileno");
    INTERN(str_sendall_rest, "_sendall_rest");
    INTERN(str_end_of_stream, "_end_of_stream_errnos");
    INTERN(str_errno, "errno");
    INTERN(str_io_event, "_io_event");
    INTERN(str_switch, "switch");
    INTERN(str_io_wake_failed, "_io_wake_failed");
    INTERN(str_callback_failed, "_callback_failed");
    INTERN(str_idle_exit, "_idle_exit");
    INTERN(str_idle_forever, "idle_forever");
    INTERN(str_run_timers, "_run_timers");
    INTERN(str_raise_in_main, "_raise_in_main");
    INTERN(str_backend, "backend");
    INTERN(str_poll, "poll");
    INTERN(str_cancelled_timers, "_cancelled_timers");
    INTERN(str_callback, "callback");
    INTERN(str_wakeup_read, "_wakeup_read");
    INTERN(str_wakeup_pending, "_wakeup_pending");
    empty_bytes = PyBytes_FromStringAndSize(NULL, 0);
    if (empty_bytes == NULL) {
        return NULL;
    }

    if (PyType_Ready(&TurnType) < 0 || PyType_Ready(&ParkType) < 0 || PyType_Ready(&WaiterType) < 0 ||
        PyType_Ready(&GuardType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&core_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObject(module, "Turn", Py_NewRef((PyObject *)&TurnType)) < 0 ||
        PyModule_AddObject(module, "Park", Py_NewRef((PyObject *)&ParkType)) < 0 ||
        PyModule_AddObject(module, "Waiter", Py_NewRef((PyObject *)&WaiterType)) < 0 ||
        PyModule_AddObject(module, "Guard", Py_NewRef((PyObject *)&GuardType)) < 0) {
        Py_DECREF(module);
        return NULL;
    }
#ifdef KEEP_CHUNKS
    keep_chunks();
#endif
    return module;
}
