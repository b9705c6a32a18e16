/* faultbox.intercept._fastloop: the supervisor's hot path in C, with the GIL released.
 *
 * Python (native.py) keeps the rules and the reference semantics; it compiles, per service
 * and syscall number, a plan (path kind + the ordered rules that can apply, with their
 * probability stream keys) and hands it here. Loop.run() then, without the GIL (loop.c):
 * polls the listeners, RECVs, names the path (loop_paths.c), checks ID_VALID, decides (globs in
 * loop_glob.c, draws bit-identical to rules.draw), appends a record to a
 * preallocated arena that Python drains, and answers. It returns to Python only for what
 * Python owns: events on other fds (wake-up eventfd, pidfds, listener HUP/ERR), delays (the
 * timer heap), a syscall without a plan yet, a full record arena, and failures.
 *
 * This file is the Python face of it: the Loop type's methods (run, set_plans, attach, watch,
 * drain, ...), turning arena records into SyscallRecords, and the module. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "loop_glob.h"
#include "loop.h"
#include "loop_paths.h"
#include "py_rule.h"

int fl_alloc_countdown = -1; /* alloc.h: no failure planned */

static void plan_free(plan *p) { /* needs the GIL */
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) Py_DECREF(p->e[i].rule);
    free(p);
}

static void table_free(table *t) { /* needs the GIL */
    if (!t) return;
    for (int nr = 0; nr < NR_MAX; nr++) plan_free(t->p[nr]);
    free(t);
}

static int Loop_init(LoopObject *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"decode_sockaddr", NULL};
    PyObject *dec;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O", names, &dec)) return -1;
    Py_INCREF(dec);
    self->decode_sockaddr = dec;
    pthread_mutex_init(&self->mu, NULL);
    pthread_mutex_init(&self->rmu, NULL);
    pthread_mutex_init(&self->dmu, NULL);
    for (int i = 0; i < 2; i++) {
        self->arenas[i].buf = fl_malloc(ARENA_BYTES);
        if (!self->arenas[i].buf) {
            PyErr_NoMemory();
            return -1;
        }
    }
    fl_resolver_init(&self->res);
    self->evcap = MAX_EVENTS;
    return 0;
}

static void Loop_dealloc(LoopObject *self) {
    for (size_t i = 0; i < self->ntables; i++) table_free(self->tables[i]);
    free(self->tables);
    for (int i = 0; i < 2; i++) free(self->arenas[i].buf);
    fl_resolver_close(&self->res);
    Py_XDECREF(self->decode_sockaddr);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Loop_run(LoopObject *self, PyObject *args) {
    int timeout_ms;
    if (!PyArg_ParseTuple(args, "i", &timeout_ms)) return NULL;
    self->nev = 0;
    self->ts = PyEval_SaveThread();
    fl_run_loop(self, timeout_ms);
    PyEval_RestoreThread(self->ts);
    self->ts = NULL;
    PyObject *out = PyList_New(self->nev);
    if (!out) return NULL;
    for (int i = 0; i < self->nev; i++) {
        event *e = &self->evs[i];
        PyObject *t = NULL;
        switch (e->kind) {
        case EV_FD:
            t = Py_BuildValue("(iiI)", EV_FD, e->fd, (unsigned)e->a);
            break;
        case EV_DELAY: /* (kind, listener, notification id, due monotonic ns) */
            t = Py_BuildValue("(iiKK)", EV_DELAY, e->fd, (unsigned long long)e->b,
                              (unsigned long long)e->c);
            break;
        case EV_MISS: /* (kind, listener, service, nr) */
            t = Py_BuildValue("(iiiK)", EV_MISS, e->fd, e->a, (unsigned long long)e->b);
            break;
        case EV_FAIL: /* (kind, fd, errno, what) */
            t = Py_BuildValue("(iiis)", EV_FAIL, e->fd, e->a, e->what);
            break;
        case EV_PARTIAL: /* (kind, listener, service, rule id): take_pending() has it */
            t = Py_BuildValue("(iiiK)", EV_PARTIAL, e->fd, e->a, (unsigned long long)e->b);
            break;

        default:
            t = Py_BuildValue("(i)", EV_FULL);
        }
        if (!t) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, t);
    }
    return out;
}

static int ensure_tables(LoopObject *self, size_t svc) {
    if (svc < self->ntables) return 0;
    size_t n = svc + 8;
    table **grown = fl_realloc(self->tables, n * sizeof *grown);
    if (!grown) return -1;
    for (size_t i = self->ntables; i < n; i++) grown[i] = NULL;
    self->tables = grown;
    self->ntables = n;
    return 0;
}

/* set_plans(svc, {nr: (kind, ((rule, key), ...))}, replace): install plans; with replace,
 * every other plan of the service is dropped (rules changed: the rest compile lazily). */
static PyObject *Loop_set_plans(LoopObject *self, PyObject *args) {
    int svc, replace;
    PyObject *mapping;
    if (!PyArg_ParseTuple(args, "iO!p", &svc, &PyDict_Type, &mapping, &replace)) return NULL;
    if (svc < 0 || svc > 65535) return PyErr_Format(PyExc_ValueError, "bad service id");
    table *fresh = fl_calloc(1, sizeof *fresh);
    if (!fresh) return PyErr_NoMemory();
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(mapping, &pos, &key, &value)) {
        long nr = PyLong_AsLong(key);
        int kind;
        PyObject *entries;
        if (nr < 0 || nr >= NR_MAX) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "syscall number range");
            goto bad;
        }
        if (!PyArg_ParseTuple(value, "iO", &kind, &entries)) goto bad;
        Py_ssize_t ne = PySequence_Size(entries);
        if (ne < 0) goto bad;
        plan *p = fl_calloc(1, sizeof *p + (size_t)ne * sizeof(entry));
        if (!p) {
            PyErr_NoMemory();
            goto bad;
        }
        p->kind = kind;
        fresh->p[nr] = p;
        for (Py_ssize_t i = 0; i < ne; i++) {
            PyObject *item = PySequence_GetItem(entries, i);
            PyObject *rule;
            unsigned long long k;
            int ok = item && PyArg_ParseTuple(item, "O!K", &fl_rule_type, &rule, &k);
            Py_XDECREF(item);
            if (!ok) goto bad;
            Py_INCREF(rule);
            p->e[i].rule = (RuleObject *)rule;
            p->e[i].key = k;
            p->n = (size_t)i + 1;
        }
    }
    table *old = NULL;
    int err = 0;
    Py_BEGIN_ALLOW_THREADS /* never wait for mu while holding the GIL */
    pthread_mutex_lock(&self->mu);
    /* every draw counter the plans can need, now (under mu: the loop may be drawing from
     * these rules) -- the hot path then never allocates */
    for (int nr = 0; nr < NR_MAX && !err; nr++)
        for (size_t i = 0; fresh->p[nr] && i < fresh->p[nr]->n && !err; i++)
            if (fresh->p[nr]->e[i].rule->prob < 1.0 && !fl_rule_stream(fresh->p[nr]->e[i].rule, nr))
                err = 1;
    if (err || ensure_tables(self, (size_t)svc) < 0) {
        err = 1;
    } else if (replace || !self->tables[svc]) {
        old = self->tables[svc];
        self->tables[svc] = fresh;
        fresh = NULL;
    } else { /* merge: swap the given numbers in, collect what they replace in fresh */
        for (int nr = 0; nr < NR_MAX; nr++) {
            if (!fresh->p[nr]) continue;
            plan *prev = self->tables[svc]->p[nr];
            self->tables[svc]->p[nr] = fresh->p[nr];
            fresh->p[nr] = prev;
        }
    }
    pthread_mutex_unlock(&self->mu);
    Py_END_ALLOW_THREADS
    table_free(old); /* what was swapped out (outside mu: the loop no longer sees it) */
    table_free(fresh);
    if (err) return PyErr_NoMemory();
    Py_RETURN_NONE;
bad:
    table_free(fresh);
    return NULL;
}

/* Add, update (service >= 0) or remove (service -2) a polled fd; -1 = watched, not a
 * listener. The caller wakes the loop up if it is waiting. */
static PyObject *set_fd(LoopObject *self, int fd, int svc) {
    int full = 0;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&self->mu);
    int at = -1;
    for (int i = 0; i < self->npfd; i++)
        if (self->pfd[i] == fd) at = i;
    if (svc == -2 && at >= 0) { /* keep the order of the others: fairness between services */
        size_t tail = (size_t)(self->npfd - at - 1) * sizeof(int);
        memmove(&self->pfd[at], &self->pfd[at + 1], tail);
        memmove(&self->psvc[at], &self->psvc[at + 1], tail);
        self->npfd--;
    } else if (svc != -2 && at >= 0) {
        self->psvc[at] = svc;
    } else if (svc != -2 && self->npfd < MAX_FDS) {
        self->pfd[self->npfd] = fd;
        self->psvc[self->npfd++] = svc;
    } else if (svc != -2) {
        full = 1;
    }
    __atomic_store_n(&self->pgen, self->pgen + 1, __ATOMIC_RELAXED); /* fl_run_loop re-reads */
    pthread_mutex_unlock(&self->mu);
    Py_END_ALLOW_THREADS
    if (full) return PyErr_Format(PyExc_RuntimeError, "more than %d polled fds", MAX_FDS);
    Py_RETURN_NONE;
}

static PyObject *Loop_attach(LoopObject *self, PyObject *args) {
    int fd, svc;
    if (!PyArg_ParseTuple(args, "ii", &fd, &svc)) return NULL;
    if (fd < 0 || svc < -1) return PyErr_Format(PyExc_ValueError, "bad fd or service");
    return set_fd(self, fd, svc < 0 ? -2 : svc);
}

static PyObject *Loop_watch(LoopObject *self, PyObject *args) {
    int fd, on;
    if (!PyArg_ParseTuple(args, "ip", &fd, &on)) return NULL;
    if (fd < 0) return PyErr_Format(PyExc_ValueError, "bad fd");
    return set_fd(self, fd, on ? -1 : -2);
}

/* The fields of records.SyscallRecord, in its constructor's order. */
static const char *const REC_FIELDS[] = {"service", "syscall",    "pid",          "decision", "path",
                                         "label",   "op",         "latency_ms",   "timestamp_ns",
                                         "allowed"};
#define NFIELDS 10

/* Slot offsets of a __slots__ class, so records are filled in directly instead of through
 * the dataclass __init__ (a third of the drain cost). 0 if the class is not laid out so. */
static int slot_offsets(PyTypeObject *type, Py_ssize_t *offs) {
    for (int i = 0; i < NFIELDS; i++) {
        PyObject *d = PyObject_GetAttrString((PyObject *)type, REC_FIELDS[i]);
        if (!d) {
            PyErr_Clear();
            return 0;
        }
        int ok = Py_IS_TYPE(d, &PyMemberDescr_Type) &&
                 ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX &&
                 !(((PyMemberDescrObject *)d)->d_member->flags & READONLY);
        if (ok) offs[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
        if (!ok) return 0;
    }
    return 1;
}

static PyObject *make_record(PyTypeObject *type, const Py_ssize_t *offs, int direct,
                             PyObject **v) { /* steals the references in v */
    PyObject *o;
    if (direct) {
        o = type->tp_alloc(type, 0);
        if (o)
            for (int i = 0; i < NFIELDS; i++) *(PyObject **)((char *)o + offs[i]) = v[i];
    } else {
        o = PyObject_Vectorcall((PyObject *)type, v, NFIELDS, NULL);
    }
    if (!direct || !o)
        for (int i = 0; i < NFIELDS; i++) Py_DECREF(v[i]);
    return o;
}

/* drain(record_type, services, names, outcomes, allow_texts) -> [record, ...], oldest first.
 * services: list of service names by id; names: syscall names by number (NR_MAX long);
 * outcomes: rule id -> (decision, label, op, latency_ms, allowed); allow_texts: ("allow",
 * "allow (system path)", ""). */
static PyObject *Loop_drain(LoopObject *self, PyObject *args) {
    PyTypeObject *type;
    PyObject *services, *names, *outcomes, *texts;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!", &PyType_Type, &type, &PyList_Type, &services,
                          &PyTuple_Type, &names, &PyDict_Type, &outcomes, &PyTuple_Type, &texts))
        return NULL;
    if (PyTuple_GET_SIZE(names) != NR_MAX || PyTuple_GET_SIZE(texts) != 3)
        return PyErr_Format(PyExc_ValueError, "names must have %d entries, texts 3", NR_MAX);
    Py_ssize_t offs[NFIELDS];
    int direct = slot_offsets(type, offs);
    arena *a;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&self->dmu);
    pthread_mutex_lock(&self->rmu);
    a = &self->arenas[self->cur];
    self->cur ^= 1;
    __atomic_store_n(&self->full, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&self->rmu);
    Py_END_ALLOW_THREADS
    PyObject *out = PyList_New((Py_ssize_t)a->count);
    PyObject *last_path = NULL, *last_tid = NULL; /* consecutive records repeat these */
    const char *last_raw = NULL;
    uint16_t last_len = 0;
    int32_t last_tid_value = 0;
    size_t off = 0;
    for (size_t i = 0; out && i < a->count; i++) {
        rec r;
        memcpy(&r, a->buf + off, sizeof r);
        const char *raw = a->buf + off + sizeof r;
        off += (sizeof r + r.plen + 7) & ~(size_t)7;
        if (!last_path || r.plen != last_len || memcmp(raw, last_raw, r.plen) != 0) {
            Py_XDECREF(last_path);
            last_path = PyUnicode_DecodeUTF8(raw, r.plen, "surrogateescape");
            last_raw = raw, last_len = r.plen;
        }
        if (!last_tid || r.tid != last_tid_value) {
            Py_XDECREF(last_tid);
            last_tid = PyLong_FromLong(r.tid);
            last_tid_value = r.tid;
        }
        PyObject *service = r.svc < PyList_GET_SIZE(services) ? PyList_GET_ITEM(services, r.svc)
                                                               : NULL;
        PyObject *outcome = NULL;
        if (r.rule) {
            PyObject *key = PyLong_FromLong(r.rule);
            outcome = key ? PyDict_GetItemWithError(outcomes, key) : NULL;
            Py_XDECREF(key);
        }
        if (!last_path || !last_tid || !service || (r.rule && !outcome) ||
            (outcome && (!PyTuple_Check(outcome) || PyTuple_GET_SIZE(outcome) != 5))) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "bad record");
            Py_CLEAR(out);
            break;
        }
        PyObject *empty = PyTuple_GET_ITEM(texts, 2);
        PyObject *v[NFIELDS];
        v[0] = service;
        v[1] = PyTuple_GET_ITEM(names, r.nr);
        v[2] = last_tid;
        v[3] = outcome ? PyTuple_GET_ITEM(outcome, 0) : PyTuple_GET_ITEM(texts, r.system ? 1 : 0);
        v[4] = last_path;
        v[5] = outcome ? PyTuple_GET_ITEM(outcome, 1) : empty;
        v[6] = outcome ? PyTuple_GET_ITEM(outcome, 2) : empty;
        v[7] = outcome ? PyTuple_GET_ITEM(outcome, 3) : NULL;
        v[9] = outcome ? PyTuple_GET_ITEM(outcome, 4) : Py_True;
        for (int k = 0; k < NFIELDS; k++)
            if (k != 7 && k != 8) Py_INCREF(v[k]);
        v[7] = v[7] ? Py_NewRef(v[7]) : PyLong_FromLong(0);
        v[8] = PyLong_FromUnsignedLongLong(r.ts);
        if (!v[7] || !v[8]) {
            for (int k = 0; k < NFIELDS; k++) Py_XDECREF(v[k]);
            Py_CLEAR(out);
            break;
        }
        PyObject *o = make_record(type, offs, direct, v);
        if (!o) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)i, o);
    }
    Py_XDECREF(last_path);
    Py_XDECREF(last_tid);
    a->used = a->count = 0;
    pthread_mutex_unlock(&self->dmu);
    return out;
}

/* CONTINUE the notification held for a missing plan (a number no plan can exist for, or
 * shutdown); (svc, nr, tid) or None. */
static PyObject *Loop_release_pending(LoopObject *self, PyObject *Py_UNUSED(ignored)) {
    if (!self->has_pending) Py_RETURN_NONE;
    self->has_pending = 0;
    struct fl_resp r = {self->pending.id, 0, 0, FLAG_CONTINUE};
    int rc = ioctl(self->pending_fd, NOTIF_SEND, &r);
    (void)rc; /* the task may be gone; any other SEND error shows on the next RECV */
    return Py_BuildValue("(iiI)", self->pending_svc, self->pending.nr, self->pending.pid);
}

/* Hand the notification waiting for a plan to Python unanswered (a connect Python decides:
 * it may be redirected to the proxy): (listener, id, tid, nr, args) or None. */
static PyObject *Loop_take_pending(LoopObject *self, PyObject *Py_UNUSED(ignored)) {
    if (!self->has_pending) Py_RETURN_NONE;
    self->has_pending = 0;
    const struct fl_notif *n = &self->pending;
    return Py_BuildValue("(iKIi(KKKKKK))", self->pending_fd, (unsigned long long)n->id, n->pid,
                         n->nr, (unsigned long long)n->args[0], (unsigned long long)n->args[1],
                         (unsigned long long)n->args[2], (unsigned long long)n->args[3],
                         (unsigned long long)n->args[4], (unsigned long long)n->args[5]);
}

/* Test hook: at most n events per run() (1..MAX_EVENTS), to check the loop never drops one. */
static PyObject *Loop_set_event_cap(LoopObject *self, PyObject *args) {
    int n;
    if (!PyArg_ParseTuple(args, "i", &n)) return NULL;
    if (n < 1 || n > MAX_EVENTS) return PyErr_Format(PyExc_ValueError, "1..%d", MAX_EVENTS);
    self->evcap = n;
    Py_RETURN_NONE;
}

static PyObject *Loop_stats(LoopObject *self, PyObject *Py_UNUSED(ignored)) {
    return Py_BuildValue("(KK)", self->notifications, self->dropped);
}

static PyMethodDef Loop_methods[] = {
    {"run", (PyCFunction)Loop_run, METH_VARARGS,
     "run(timeout_ms) -> events for Python (GIL released while waiting and answering)"},
    {"set_plans", (PyCFunction)Loop_set_plans, METH_VARARGS,
     "set_plans(service, {nr: (kind, ((rule, key), ...))}, replace)"},
    {"attach", (PyCFunction)Loop_attach, METH_VARARGS,
     "attach(listener_fd, service): answer its notifications (service -1: forget it)"},
    {"watch", (PyCFunction)Loop_watch, METH_VARARGS,
     "watch(fd, on): report readiness of fd to Python as (EV_FD, fd, revents)"},
    {"drain", (PyCFunction)Loop_drain, METH_VARARGS,
     "drain(record_type, services, names, outcomes, allow_texts) -> records, oldest first"},
    {"release_pending", (PyCFunction)Loop_release_pending, METH_NOARGS,
     "CONTINUE the notification waiting for a plan; (service, nr, tid) or None"},
    {"take_pending", (PyCFunction)Loop_take_pending, METH_NOARGS,
     "the notification waiting for a plan, unanswered: (listener, id, tid, nr, args) or None"},
    {"stats", (PyCFunction)Loop_stats, METH_NOARGS, "(notifications, dropped)"},
    {"set_event_cap", (PyCFunction)Loop_set_event_cap, METH_VARARGS,
     "set_event_cap(n): at most n events per run() (tests)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LoopType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "faultbox.intercept._fastloop.Loop",
    .tp_basicsize = sizeof(LoopObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Loop_init,
    .tp_dealloc = (destructor)Loop_dealloc,
    .tp_methods = Loop_methods,
    .tp_doc = "The native notification loop of one Supervisor (see native.py).",
};

/* ==== module-level helpers for the equivalence tests ===================================== */

static PyObject *mod_glob_match(PyObject *Py_UNUSED(m), PyObject *args) {
    PyObject *spec;
    const char *path;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "Oy#", &spec, &path, &n)) return NULL;
    fl_glob *g = fl_parse_glob(spec);
    if (!g) return NULL;
    uint32_t *cps = fl_calloc(FL_MAX_CODEPOINTS, sizeof *cps);
    if (!cps) {
        fl_glob_free(g);
        return PyErr_NoMemory();
    }
    size_t ncp = fl_utf8_decode((const unsigned char *)path, (size_t)n, cps, FL_MAX_CODEPOINTS);
    int hit = fl_glob_matches(g, cps, ncp);
    free(cps);
    fl_glob_free(g);
    return PyBool_FromLong(hit);
}

static PyObject *mod_decode(PyObject *Py_UNUSED(m), PyObject *args) {
    const char *s;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y#", &s, &n)) return NULL;
    uint32_t *cps = fl_calloc((size_t)n + 1, sizeof *cps);
    if (!cps) return PyErr_NoMemory();
    size_t k = fl_utf8_decode((const unsigned char *)s, (size_t)n, cps, (size_t)n + 1);
    PyObject *out = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, cps, (Py_ssize_t)k);
    free(cps);
    return out;
}

static PyObject *mod_normpath(PyObject *Py_UNUSED(m), PyObject *args) {
    const char *s;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y#", &s, &n)) return NULL;
    if (n > FL_PATH_MAX) return PyErr_Format(PyExc_ValueError, "path too long");
    char out[FL_PATH_MAX + 8];
    size_t k = fl_normpath(s, (size_t)n, out);
    return PyBytes_FromStringAndSize(out, (Py_ssize_t)k);
}

static PyObject *mod_draw(PyObject *Py_UNUSED(m), PyObject *args) {
    unsigned long long key, n;
    if (!PyArg_ParseTuple(args, "KK", &key, &n)) return NULL;
    return PyFloat_FromDouble(fl_draw(key, n));
}

/* Test hook: make the allocation after n more fail (n < 0: none). */
static PyObject *mod_fail_alloc_after(PyObject *Py_UNUSED(m), PyObject *args) {
    int n;
    if (!PyArg_ParseTuple(args, "i", &n)) return NULL;
    __atomic_store_n(&fl_alloc_countdown, n < 0 ? -1 : n, __ATOMIC_RELAXED);
    Py_RETURN_NONE;
}

/* The constants C shares with Python; native.py compares them with its own when it loads the
 * module, so a mismatch disables the native loop instead of deciding wrongly. */
static PyObject *shared_constants(void) {
    return Py_BuildValue(
        "{si si si si si  si si si si si si  si si si si si si  si si si  si sk sk sk sk  si si}",
        "ACT_DENY", ACT_DENY, "ACT_DELAY", ACT_DELAY, "ACT_TRACE", ACT_TRACE, "ACT_ALLOW",
        ACT_ALLOW, "ACT_PARTIAL", ACT_PARTIAL, "KIND_NONE", KIND_NONE, "KIND_FD", KIND_FD, "KIND_PATH0", KIND_PATH0,
        "KIND_AT", KIND_AT, "KIND_SOCKADDR", KIND_SOCKADDR, "KIND_AT2", KIND_AT2, "EV_FD", EV_FD,
        "EV_DELAY", EV_DELAY, "EV_MISS", EV_MISS, "EV_FAIL", EV_FAIL, "EV_FULL", EV_FULL,
        "EV_PARTIAL", EV_PARTIAL, "FL_T_CHAR", FL_T_CHAR, "FL_T_STAR", FL_T_STAR, "FL_T_SKIP", FL_T_SKIP, "FLAG_CONTINUE",
        (int)FLAG_CONTINUE, "NOTIF_RECV", (unsigned long)NOTIF_RECV, "NOTIF_SEND",
        (unsigned long)NOTIF_SEND, "NOTIF_ID_VALID", (unsigned long)NOTIF_ID_VALID, "NOTIF_SIZE",
        (unsigned long)sizeof(struct fl_notif), "RESP_SIZE", (int)sizeof(struct fl_resp),
        "ARENA_RECORDS", ARENA_RECORDS);
}

static PyMethodDef mod_methods[] = {
    {"glob_match", mod_glob_match, METH_VARARGS, "glob_match(program, path bytes) -> bool"},
    {"decode", mod_decode, METH_VARARGS, "UTF-8 decode with surrogateescape semantics"},
    {"normpath", mod_normpath, METH_VARARGS, "posixpath.normpath on bytes"},
    {"draw", mod_draw, METH_VARARGS, "rules.draw(key, n)"},
    {"_fail_alloc_after", mod_fail_alloc_after, METH_VARARGS,
     "_fail_alloc_after(n): the allocation after n more fails, once (tests; -1: off)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_fastloop", "The native supervisor loop.", -1, mod_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastloop(void) {
    if (PyType_Ready(&fl_rule_type) < 0 || PyType_Ready(&LoopType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    PyObject *constants = shared_constants();
    if (!constants || PyModule_AddObject(m, "CONSTANTS", constants) < 0) {
        Py_XDECREF(constants);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&fl_rule_type);
    Py_INCREF(&LoopType);
    if (PyModule_AddObject(m, "Rule", (PyObject *)&fl_rule_type) < 0 ||
        PyModule_AddObject(m, "Loop", (PyObject *)&LoopType) < 0 ||
        PyModule_AddIntConstant(m, "NR_MAX", NR_MAX) < 0 ||
        PyModule_AddIntConstant(m, "EV_FD", EV_FD) < 0 ||
        PyModule_AddIntConstant(m, "EV_DELAY", EV_DELAY) < 0 ||
        PyModule_AddIntConstant(m, "EV_MISS", EV_MISS) < 0 ||
        PyModule_AddIntConstant(m, "EV_FAIL", EV_FAIL) < 0 ||
        PyModule_AddIntConstant(m, "EV_FULL", EV_FULL) < 0 ||
        PyModule_AddIntConstant(m, "EV_PARTIAL", EV_PARTIAL) < 0 ||
        PyModule_AddIntConstant(m, "FL_T_CHAR", FL_T_CHAR) < 0 ||
        PyModule_AddIntConstant(m, "FL_T_STAR", FL_T_STAR) < 0 ||
        PyModule_AddIntConstant(m, "FL_T_SKIP", FL_T_SKIP) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
