/* green._core: the compiled fast paths of a wake-up (optional; see README, "The compiled core").
 *
 * Three types, each a drop-in for Python code that stays in the tree and runs when this module is
 * not built or GREEN_PURE=1 is set:
 *
 *   Turn    the hub's slotted turn record (green.hubs.hub._Turn): batch, slice_end, direct.
 *   Park    the callable behind `hub.park()` (green.hubs.hub.Hub._make_park's closure): the same
 *           decisions in the same order, on the hub's ready deque, turn, timer heap and fd table.
 *   Waiter  the base of green._waiter.Waiter: __init__, wait, wake and throw, the four calls
 *           of every hand-off. The rare paths (a wait with a timeout, a wait while other OS threads
 *           exist, a wake-up from another OS thread, a plain OS thread blocking on a real lock)
 *           are the Python methods of the subclass in green/_waiter.py, called by name from here.
 *
 * Rules this file keeps: every branch mirrors a line of the Python version (the whole test suite
 * runs on both); no reference is kept across a greenlet switch that the Python version would not
 * keep; every exception a Python call raises propagates unchanged.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "greenlet.h"

#ifndef Py_TPFLAGS_HAVE_VECTORCALL
#define Py_TPFLAGS_HAVE_VECTORCALL _Py_TPFLAGS_HAVE_VECTORCALL
#endif

/* greenlet.switch and greenlet.throw, the unbound methods ready-queue entries name. */
static PyObject *switch_into = NULL;
static PyObject *throw_into = NULL;
static PyObject *empty_tuple = NULL;
static PyObject *one = NULL;

/* Given by green._waiter through configure(). */
static PyObject *hub_state = NULL;      /* green.hubs._state, the per-OS-thread hub record */
static PyObject *no_hub = NULL;         /* _no_hub(waiter) -> hub or None (a plain OS thread) */
static PyObject *blocking_error = NULL; /* green.hubs.hub.BlockingInHubError */
static PyObject *real_count = NULL;     /* the original _thread._count */
static PyObject *waiter_globals = NULL; /* green._waiter's globals, for _quiet_threads */

static PyObject *str_hub, *str_schedule, *str_clock, *str_iterations, *str_park, *str_popleft;
static PyObject *str_schedule_method, *str_block, *str_wait_timed, *str_wait_referenced;
static PyObject *str_leave_queue, *str_quiet_threads, *str_append;

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

/* getattr(_hub_state, "hub", None), as a new reference. */
static PyObject *
existing_hub(void)
{
    PyObject *hub = PyObject_GetAttr(hub_state, str_hub);
    if (hub == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return NULL;
        }
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return hub;
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

/* `not timers or timers[0][0] > hub.clock()`: 1, 0, or -1 on error. */
static int
no_timer_due(ParkObject *self)
{
    PyObject *timers = self->timers;
    if (PyList_GET_SIZE(timers) == 0) {
        return 1;
    }
    PyObject *first = PyList_GET_ITEM(timers, 0);
    Py_INCREF(first);
    PyObject *when = PySequence_GetItem(first, 0);
    Py_DECREF(first);
    if (when == NULL) {
        return -1;
    }
    PyObject *clock = PyObject_GetAttr(self->hub, str_clock);
    if (clock == NULL) {
        Py_DECREF(when);
        return -1;
    }
    PyObject *now = PyObject_CallNoArgs(clock);
    Py_DECREF(clock);
    if (now == NULL) {
        Py_DECREF(when);
        return -1;
    }
    int later = PyObject_RichCompareBool(when, now, Py_GT);
    Py_DECREF(when);
    Py_DECREF(now);
    return later;
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
    if (PyTuple_CheckExact(entry) && PyTuple_GET_SIZE(entry) == 2) {
        callback = PyTuple_GET_ITEM(entry, 0);
        args = PyTuple_GET_ITEM(entry, 1);
        Py_INCREF(callback);
        Py_INCREF(args);
    }
    else {
        PyObject *items = PySequence_Tuple(entry);
        if (items == NULL) {
            Py_DECREF(entry);
            return NULL;
        }
        if (PyTuple_GET_SIZE(items) != 2) {
            PyErr_Format(PyExc_ValueError, "a ready-queue entry must be (callback, args), not %R", entry);
            Py_DECREF(items);
            Py_DECREF(entry);
            return NULL;
        }
        callback = PyTuple_GET_ITEM(items, 0);
        args = PyTuple_GET_ITEM(items, 1);
        Py_INCREF(callback);
        Py_INCREF(args);
        Py_DECREF(items);
    }
    Py_DECREF(entry);

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
        PyObject *iterations = PyObject_GetAttr(self->hub, str_iterations);
        if (iterations == NULL) {
            return NULL;
        }
        PyObject *counted = PyNumber_Add(iterations, one);
        Py_DECREF(iterations);
        if (counted == NULL) {
            return NULL;
        }
        int failed = PyObject_SetAttr(self->hub, str_iterations, counted);
        Py_DECREF(counted);
        if (failed) {
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
        PyObject *result;
        if (PyTuple_CheckExact(args)) {
            result = PyObject_Call(callback, args, NULL);
        }
        else {
            PyObject *tuple = PySequence_Tuple(args);
            result = tuple == NULL ? NULL : PyObject_Call(callback, tuple, NULL);
            Py_XDECREF(tuple);
        }
        Py_DECREF(callback);
        Py_DECREF(args);
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
park_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
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
    PyObject *park = PyObject_GetAttr(hub, str_park);
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
    PyObject *quiet = PyDict_GetItemWithError(waiter_globals, str_quiet_threads);
    if (quiet == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_NameError, "name '_quiet_threads' is not defined");
        }
        Py_DECREF(count);
        Py_DECREF(hub);
        return NULL;
    }
    int others = PyObject_RichCompareBool(count, quiet, Py_GT);
    Py_DECREF(count);
    if (others < 0) {
        Py_DECREF(hub);
        return NULL;
    }
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
    if (result == NULL) {
        /* Resumed by an exception after a wake-up queued its direct entry: take the entry off. */
        PyObject *error = fetch_error();
        if (error != NULL && self->entry != NULL && self->entry != Py_None && error != self->exception) {
            PyObject *left = PyObject_CallMethodOneArg((PyObject *)self, str_leave_queue, hub);
            if (left == NULL) {
                PyObject *second = fetch_error();
                if (second != NULL) {
                    PyException_SetContext(second, error);
                    error = second;
                }
            }
            else {
                Py_DECREF(left);
            }
        }
        if (error != NULL) {
            restore_error(error);
        }
    }
    Py_DECREF(hub);
    Py_XSETREF(self->greenlet, Py_NewRef(Py_None));
    return result;
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
            PyObject *pair = PyTuple_Pack(2, waiting, outcome);
            if (pair == NULL) {
                Py_DECREF(hub);
                return NULL;
            }
            PyObject *entry = PyTuple_Pack(2, into, pair);
            Py_DECREF(pair);
            if (entry == NULL) {
                Py_DECREF(hub);
                return NULL;
            }
            Py_XSETREF(self->entry, Py_NewRef(entry));
            PyObject *schedule = PyObject_GetAttr(hub, str_schedule);
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
    if (self->woken) {
        Py_RETURN_NONE;
    }
    self->woken = 1;
    Py_XSETREF(self->value, Py_NewRef(value));
    return waiter_resume_with(self, switch_into, value);
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

static PyObject *
sleep_fast(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
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
    PyObject *park = hub == Py_None ? NULL : PyObject_GetAttr(hub, str_park);
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
    PyObject *single = PyTuple_Pack(1, current);
    Py_DECREF(current);
    PyObject *entry = single == NULL ? NULL : PyTuple_Pack(2, switch_into, single);
    Py_XDECREF(single);
    if (entry == NULL) {
        Py_DECREF(park);
        Py_DECREF(hub);
        return NULL;
    }
    PyObject *done = PyObject_CallMethodOneArg(((ParkObject *)park)->ready, str_append, entry);
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
        PyObject *error = fetch_error();
        PyObject *left = PyObject_CallMethodOneArg(hub, str_unschedule, entry);
        if (left == NULL) {
            PyObject *second = fetch_error();
            if (second != NULL && error != NULL) {
                PyException_SetContext(second, error);
                error = second;
            }
        }
        else {
            Py_DECREF(left);
        }
        Py_DECREF(entry);
        Py_DECREF(hub);
        if (error != NULL) {
            restore_error(error);
        }
        return NULL;
    }
    Py_DECREF(result);
    Py_DECREF(entry);
    Py_DECREF(hub);
    Py_RETURN_NONE;
}

static PyObject *
configure_sleep(PyObject *module, PyObject *function)
{
    Py_XSETREF(pure_sleep, Py_NewRef(function));
    Py_RETURN_NONE;
}

/* -- the module ------------------------------------------------------------------------------- */

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyObject *state, *fallback, *error, *counter, *globals;
    if (!PyArg_ParseTuple(args, "OOOOO!:configure", &state, &fallback, &error, &counter, &PyDict_Type,
                          &globals)) {
        return NULL;
    }
    Py_XSETREF(hub_state, Py_NewRef(state));
    Py_XSETREF(no_hub, Py_NewRef(fallback));
    Py_XSETREF(blocking_error, Py_NewRef(error));
    Py_XSETREF(real_count, Py_NewRef(counter));
    Py_XSETREF(waiter_globals, Py_NewRef(globals));
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"sleep", (PyCFunction)(void (*)(void))sleep_fast, METH_FASTCALL | METH_KEYWORDS,
     "sleep(seconds=0)\n--\n\n"
     "green.greenthread.sleep: sleep(0) in C; other calls go to the Python function."},
    {"configure_sleep", configure_sleep, METH_O,
     "configure_sleep(function): the Python sleep, called for what the C path does not take."},
    {"configure", configure, METH_VARARGS,
     "configure(hub_state, no_hub, BlockingInHubError, real_count, waiter_globals): called once by "
     "green._waiter."},
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
    if (one == NULL) {
        return NULL;
    }
    INTERN(str_hub, "hub");
    INTERN(str_schedule, "schedule");
    INTERN(str_clock, "clock");
    INTERN(str_iterations, "iterations");
    INTERN(str_park, "park");
    INTERN(str_popleft, "popleft");
    INTERN(str_schedule_method, "_schedule");
    INTERN(str_block, "_block");
    INTERN(str_wait_timed, "_wait_timed");
    INTERN(str_wait_referenced, "_wait_referenced");
    INTERN(str_leave_queue, "_leave_queue");
    INTERN(str_quiet_threads, "_quiet_threads");
    INTERN(str_unschedule, "unschedule");
    INTERN(str_append, "append");

    if (PyType_Ready(&TurnType) < 0 || PyType_Ready(&ParkType) < 0 || PyType_Ready(&WaiterType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&core_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObject(module, "Turn", Py_NewRef((PyObject *)&TurnType)) < 0 ||
        PyModule_AddObject(module, "Park", Py_NewRef((PyObject *)&ParkType)) < 0 ||
        PyModule_AddObject(module, "Waiter", Py_NewRef((PyObject *)&WaiterType)) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
