/* faultbox.intercept._fastloop: the supervisor's hot path in C, with the GIL released.
 *
 * Python (native.py) keeps the rules and the reference semantics; it compiles, per service
 * and syscall number, a plan (path kind + the ordered rules that can apply, with their
 * probability stream keys) and hands it here. Loop.run() then, without the GIL: waits on the
 * supervisor's epoll, RECVs, names the path (fl_paths.c), checks ID_VALID, decides (globs in
 * fl_glob.c, draws bit-identical to rules.draw), appends a record to a preallocated arena
 * that Python drains, and answers. It returns to Python only for what Python owns: events on
 * other fds (wake-up eventfd, pidfds, listener HUP/ERR), delays (the timer heap), a syscall
 * without a plan yet, a full record arena, and failures.
 *
 * It waits with poll(2) on the listeners and the fds Python watches (its wake-up eventfd,
 * the services' pidfds), not with epoll_wait: only a poll-style waiter receives the kernel's
 * SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP hand-off (wake on the current CPU), which takes ~4 µs
 * off every notification on these machines; epoll turns it into a mere hint. An epoll fd in
 * the poll set would cost another ~0.5 µs per wait (its ready list is scanned under a mutex),
 * so the few other fds are polled directly. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "fl_glob.h"
#include "fl_paths.h"

/* ---- kernel interface (own definitions: Debian 12's headers lack some) ------------------ */
struct fl_notif {
    uint64_t id;
    uint32_t pid;
    uint32_t flags;
    int32_t nr;
    uint32_t arch;
    uint64_t ip;
    uint64_t args[6];
};
struct fl_resp {
    uint64_t id;
    int64_t val;
    int32_t error;
    uint32_t flags;
};
_Static_assert(sizeof(struct fl_notif) == 80, "seccomp_notif layout");
_Static_assert(sizeof(struct fl_resp) == 24, "seccomp_notif_resp layout");
#define NOTIF_RECV 0xC0502100u
#define NOTIF_SEND 0xC0182101u
#define NOTIF_ID_VALID 0x40082102u
#define FLAG_CONTINUE 1u

/* ---- shared constants with decide.py / syscalls.py -------------------------------------- */
enum { ACT_DENY = 1, ACT_DELAY = 2, ACT_TRACE = 3, ACT_ALLOW = 4 };
enum { KIND_NONE = 0, KIND_FD = 1, KIND_PATH0 = 2, KIND_AT = 3, KIND_SOCKADDR = 4, KIND_AT2 = 5 };
/* what run() hands back to Python */
enum { EV_FD = 0, EV_DELAY = 1, EV_MISS = 2, EV_FAIL = 3, EV_FULL = 4 };

#define NR_MAX 1024
#define MAX_FDS 512 /* listeners + watched fds, polled together */
#define MAX_EVENTS (MAX_FDS + 2)
#define ARENA_BYTES (8u << 20)
#define ARENA_RECORDS 65536 /* the Python path's _BUFFER_CAP */

static uint64_t now_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ==== Rule ================================================================================ */

typedef struct {
    int nr;
    uint64_t n;
} stream;

typedef struct {
    PyObject_HEAD
    int id;
    int action;
    int neg_errno;
    long long delay_ns;
    double prob;
    int has_glob;
    fl_glob *glob;   /* the compiled program, or NULL when ... */
    PyObject *match; /* ... Python matches (a regex the compiler did not support) */
    int *ports;
    size_t nports;
    Py_buffer hits; /* array('q') of the rule set: hits[index] += 1 when the rule fires */
    Py_ssize_t index;
    stream *streams; /* per syscall number: draws taken so far (CompiledRule.streams) */
    size_t nstreams, capstreams;
} RuleObject;

static void Rule_dealloc(RuleObject *self) {
    fl_glob_free(self->glob);
    Py_XDECREF(self->match);
    free(self->ports);
    free(self->streams);
    if (self->hits.obj) PyBuffer_Release(&self->hits);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int parse_u32_tuple(PyObject *seq, uint32_t **out, size_t *n) {
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of ints");
    if (!fast) return -1;
    *n = (size_t)PySequence_Fast_GET_SIZE(fast);
    *out = calloc(*n ? *n : 1, sizeof **out);
    for (size_t i = 0; i < *n; i++) {
        unsigned long v = PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(fast, i));
        (*out)[i] = (uint32_t)v;
    }
    Py_DECREF(fast);
    return PyErr_Occurred() ? -1 : 0;
}

/* glob = (tokens, classes): tokens (type, arg, type, arg, ...); classes ((negate, lo, hi,
 * lo, hi, ...), ...) — built by native.glob_program. */
static fl_glob *parse_glob(PyObject *spec) {
    PyObject *tokens, *classes;
    if (!PyArg_ParseTuple(spec, "OO", &tokens, &classes)) return NULL;
    fl_glob *g = calloc(1, sizeof *g);
    uint32_t *flat = NULL;
    size_t nflat;
    if (parse_u32_tuple(tokens, &flat, &nflat) < 0 || nflat % 2) goto bad;
    g->ntokens = nflat / 2;
    g->tokens = calloc(g->ntokens + 1, sizeof *g->tokens);
    for (size_t i = 0; i < g->ntokens; i++) {
        g->tokens[i].type = (uint8_t)flat[2 * i];
        g->tokens[i].arg = flat[2 * i + 1];
    }
    free(flat);
    flat = NULL;
    Py_ssize_t nc = PySequence_Size(classes);
    if (nc < 0) goto bad;
    g->classes = calloc((size_t)nc + 1, sizeof *g->classes);
    g->nclasses = (size_t)nc;
    for (Py_ssize_t i = 0; i < nc; i++) {
        PyObject *c = PySequence_GetItem(classes, i);
        if (!c) goto bad;
        int rc = parse_u32_tuple(c, &flat, &nflat);
        Py_DECREF(c);
        if (rc < 0 || nflat % 2 != 1) goto bad;
        g->classes[i].negate = flat[0] != 0;
        g->classes[i].nranges = nflat / 2;
        g->classes[i].ranges = calloc(nflat, sizeof(uint32_t));
        memcpy(g->classes[i].ranges, flat + 1, (nflat - 1) * sizeof(uint32_t));
        free(flat);
        flat = NULL;
    }
    for (size_t i = 0; i < g->ntokens; i++) { /* never trust indices blindly */
        fl_token *t = &g->tokens[i];
        int ok = t->type == FL_T_SKIP ? (t->arg >= 1 && i + t->arg <= g->ntokens)
                                       : (t->type == FL_T_CHAR || t->type == FL_T_STAR) &&
                                             t->arg < g->nclasses;
        if (!ok) goto bad;
    }
    return g;
bad:
    free(flat);
    fl_glob_free(g);
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "malformed glob program");
    return NULL;
}

static int Rule_init(RuleObject *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"id",   "action", "neg_errno", "delay_ns", "prob",
                            "glob", "match",  "ports",     "hits",     "index", NULL};
    PyObject *glob, *match, *ports, *hits;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iiiLdOOOOn", names, &self->id, &self->action,
                                     &self->neg_errno, &self->delay_ns, &self->prob, &glob,
                                     &match, &ports, &hits, &self->index))
        return -1;
    if (glob != Py_None && !(self->glob = parse_glob(glob))) return -1;
    if (match != Py_None) {
        Py_INCREF(match);
        self->match = match;
    }
    self->has_glob = self->glob || self->match;
    uint32_t *p = NULL;
    if (parse_u32_tuple(ports, &p, &self->nports) < 0) {
        free(p);
        return -1;
    }
    self->ports = (int *)p;
    if (PyObject_GetBuffer(hits, &self->hits, PyBUF_WRITABLE | PyBUF_FORMAT) < 0) return -1;
    if (self->hits.itemsize != 8 || self->index < 0 ||
        self->index >= self->hits.len / self->hits.itemsize) {
        PyErr_SetString(PyExc_ValueError, "hits must be an array('q') covering index");
        return -1;
    }
    return 0;
}

static PyTypeObject RuleType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "faultbox.intercept._fastloop.Rule",
    .tp_basicsize = sizeof(RuleObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Rule_init,
    .tp_dealloc = (destructor)Rule_dealloc,
    .tp_doc = "A rule prepared for the native loop (see native.py).",
};

/* rules.draw: splitmix64 of key + (n + 1) * golden; bit-identical double in [0, 1) */
static double draw(uint64_t key, uint64_t n) {
    uint64_t z = key + (n + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* CompiledRule.fires: consume this rule's next draw for syscall nr */
static int rule_fires(RuleObject *r, int nr, uint64_t key) {
    stream *s = NULL;
    for (size_t i = 0; i < r->nstreams; i++)
        if (r->streams[i].nr == nr) s = &r->streams[i];
    if (!s) {
        if (r->nstreams == r->capstreams) {
            size_t cap = r->capstreams ? 2 * r->capstreams : 4;
            stream *grown = realloc(r->streams, cap * sizeof *grown);
            if (!grown) return 0;
            r->streams = grown;
            r->capstreams = cap;
        }
        s = &r->streams[r->nstreams++];
        s->nr = nr;
        s->n = 0;
    }
    return draw(key, s->n++) < r->prob;
}

/* ==== plans, records ====================================================================== */

typedef struct {
    RuleObject *rule;
    uint64_t key;
} entry;

typedef struct {
    int kind;
    size_t n;
    entry e[];
} plan;

typedef struct {
    plan *p[NR_MAX];
} table;

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

typedef struct {
    uint64_t ts;
    int32_t tid;
    int32_t rule; /* Rule.id that fired, 0 = none (allow) */
    uint16_t svc;
    uint16_t nr;
    uint16_t plen;
    uint8_t system;
    uint8_t pad;
} rec;

typedef struct {
    char *buf;
    size_t used, count;
} arena;

#define REC_MAX (sizeof(rec) + FL_PATH_MAX + 8)

/* ==== Loop ================================================================================ */

typedef struct {
    int kind, fd, a;
    uint64_t b, c;
    const char *what;
} event;

typedef struct {
    PyObject_HEAD
    int notify_fd; /* eventfd written when the arena becomes non-empty (-1: never) */
    int buffered;
    pthread_mutex_t mu; /* tables, listeners, rule streams */
    table **tables;
    size_t ntables;
    int pfd[MAX_FDS]; /* polled fds: a listener's service id, or -1 for a watched fd */
    int psvc[MAX_FDS];
    int npfd;
    pthread_mutex_t rmu; /* the arenas */
    pthread_mutex_t dmu; /* one drain at a time */
    arena arenas[2];
    int cur;
    int signalled;
    fl_resolver res;
    PyObject *decode_sockaddr;
    PyThreadState *ts; /* while run() has released the GIL */
    int has_pending;   /* a notification received before its plan existed */
    int pending_fd, pending_svc;
    struct fl_notif pending;
    unsigned long long notifications, dropped;
    event evs[MAX_EVENTS + 1];
    int nev;
    char path[FL_PATH_MAX + 8];
    uint32_t cps[FL_MAX_CODEPOINTS];
} LoopObject;

static int Loop_init(LoopObject *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"notify_fd", "buffered", "decode_sockaddr", NULL};
    PyObject *dec;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "ipO", names, &self->notify_fd, &self->buffered,
                                     &dec))
        return -1;
    Py_INCREF(dec);
    self->decode_sockaddr = dec;
    pthread_mutex_init(&self->mu, NULL);
    pthread_mutex_init(&self->rmu, NULL);
    pthread_mutex_init(&self->dmu, NULL);
    for (int i = 0; i < 2; i++) {
        self->arenas[i].buf = malloc(ARENA_BYTES);
        if (!self->arenas[i].buf) {
            PyErr_NoMemory();
            return -1;
        }
    }
    fl_resolver_init(&self->res);
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

static void push(LoopObject *self, int kind, int fd, int a, uint64_t b, uint64_t c,
                 const char *what) {
    if (self->nev >= MAX_EVENTS) return; /* cannot happen: at most one event per polled fd */
    event *e = &self->evs[self->nev++];
    e->kind = kind, e->fd = fd, e->a = a, e->b = b, e->c = c, e->what = what;
}

static int arena_full(LoopObject *self) {
    pthread_mutex_lock(&self->rmu);
    arena *a = &self->arenas[self->cur];
    int full = a->count >= ARENA_RECORDS || a->used + REC_MAX > ARENA_BYTES;
    pthread_mutex_unlock(&self->rmu);
    return full;
}

static void record(LoopObject *self, int svc, const struct fl_notif *n, int rule, int system,
                   size_t plen) {
    rec r = {now_ns(CLOCK_REALTIME), (int32_t)n->pid, rule, (uint16_t)svc, (uint16_t)n->nr,
             (uint16_t)plen, (uint8_t)system, 0};
    int wake = 0;
    pthread_mutex_lock(&self->rmu);
    arena *a = &self->arenas[self->cur];
    memcpy(a->buf + a->used, &r, sizeof r);
    memcpy(a->buf + a->used + sizeof r, self->path, plen);
    a->used += (sizeof r + plen + 7) & ~(size_t)7;
    a->count++;
    if (!self->buffered && self->notify_fd >= 0 && !self->signalled) wake = self->signalled = 1;
    pthread_mutex_unlock(&self->rmu);
    if (wake) {
        uint64_t one = 1;
        ssize_t w = write(self->notify_fd, &one, sizeof one);
        (void)w; /* an eventfd write only fails on overflow, and then a wake-up is pending */
    }
}

/* Answer; 0 = done (or the task is gone), -1 = SEND failed (event pushed). */
static int answer(LoopObject *self, int fd, uint64_t id, int neg_errno) {
    struct fl_resp r = {id, 0, neg_errno, neg_errno ? 0 : FLAG_CONTINUE};
    if (ioctl(fd, NOTIF_SEND, &r) == 0) return 0;
    if (errno == ENOENT) { /* the task died meanwhile: nothing to answer */
        self->dropped++;
        return 0;
    }
    push(self, EV_FAIL, fd, errno, 0, 0, "SEND");
    return -1;
}

/* Call back into Python (GIL re-acquired) for what C does not decode itself. */
static size_t python_sockaddr(LoopObject *self, const unsigned char *raw, size_t n, int *port) {
    size_t out = 0;
    PyEval_RestoreThread(self->ts);
    PyObject *res = PyObject_CallFunction(self->decode_sockaddr, "y#", raw, (Py_ssize_t)n);
    PyObject *text;
    if (res && PyArg_ParseTuple(res, "Ui", &text, port)) {
        PyObject *b = PyUnicode_AsEncodedString(text, "utf-8", "surrogateescape");
        if (b) {
            out = (size_t)PyBytes_GET_SIZE(b);
            if (out > FL_PATH_MAX) out = FL_PATH_MAX;
            memcpy(self->path, PyBytes_AS_STRING(b), out);
            Py_DECREF(b);
        }
    }
    Py_XDECREF(res);
    PyErr_Clear(); /* decode_sockaddr does not raise; if it did, the name is just "" */
    self->ts = PyEval_SaveThread();
    return out;
}

static int python_match(LoopObject *self, PyObject *match, size_t plen) {
    PyEval_RestoreThread(self->ts);
    PyObject *res = PyObject_CallFunction(match, "y#", self->path, (Py_ssize_t)plen);
    int hit = res ? PyObject_IsTrue(res) : 0;
    Py_XDECREF(res);
    PyErr_Clear();
    self->ts = PyEval_SaveThread();
    return hit > 0;
}

static int resolve(LoopObject *self, int kind, const struct fl_notif *n, int *port) {
    const uint64_t *a = n->args;
    int tid = (int)n->pid;
    switch (kind) {
    case KIND_FD:
        return (int)fl_fd_target(&self->res, tid, fl_fd_arg(a[0]), self->path);
    case KIND_AT:
        return (int)fl_at_path(&self->res, tid, a[0], a[1], self->path);
    case KIND_PATH0:
        return (int)fl_at_path(&self->res, tid, 0xFFFFFF9Cu, a[0], self->path);
    case KIND_AT2:
        return (int)fl_at_path(&self->res, tid, a[1], a[2], self->path);
    case KIND_SOCKADDR: {
        unsigned char raw[128];
        size_t rawlen, outlen;
        if (fl_sockaddr(tid, a[1], a[2], raw, &rawlen, self->path, &outlen, port))
            return (int)outlen;
        return (int)python_sockaddr(self, raw, rawlen, port);
    }
    }
    return 0;
}

/* decide.evaluate: the first rule that applies and fires, or NULL (allow). */
static RuleObject *evaluate(LoopObject *self, const plan *p, int nr, size_t plen, int port) {
    int system = -1;
    size_t ncp = 0;
    int decoded = 0;
    for (size_t i = 0; i < p->n; i++) {
        RuleObject *r = p->e[i].rule;
        if (r->has_glob) {
            if (!plen) continue;
            if (r->glob) {
                if (!decoded) {
                    ncp = fl_utf8_decode((const unsigned char *)self->path, plen, self->cps,
                                         FL_MAX_CODEPOINTS);
                    decoded = 1;
                }
                if (!fl_glob_matches(r->glob, self->cps, ncp)) continue;
            } else if (!python_match(self, r->match, plen)) {
                continue;
            }
        } else if (plen) {
            if (system < 0) system = fl_is_system_path(self->path, plen);
            if (system) continue;
        }
        if (r->nports) {
            int in = 0;
            for (size_t k = 0; k < r->nports && !in; k++) in = r->ports[k] == port;
            if (!in) continue;
        }
        if (r->prob < 1.0 && !rule_fires(r, nr, p->e[i].key)) continue;
        ((long long *)r->hits.buf)[r->index] += 1;
        return r;
    }
    return NULL;
}

/* With mu held: everything after RECV for a notification whose plan exists. */
static void process(LoopObject *self, int fd, int svc, const struct fl_notif *n, const plan *p) {
    int port = -1;
    size_t plen = 0;
    if (p->kind) {
        plen = (size_t)resolve(self, p->kind, n, &port);
        /* the data is only trustworthy if the task was still waiting meanwhile */
        if (ioctl(fd, NOTIF_ID_VALID, &n->id) != 0) {
            if (errno == ENOENT)
                self->dropped++;
            else
                push(self, EV_FAIL, fd, errno, 0, 0, "ID_VALID");
            return;
        }
    }
    RuleObject *r = p->n ? evaluate(self, p, n->nr, plen, port) : NULL;
    int system = !r && plen && fl_is_system_path(self->path, plen);
    /* the record goes in before the answer: once the target sees the result, a flush()
     * delivers it */
    record(self, svc, n, r ? r->id : 0, system, plen);
    if (!r)
        answer(self, fd, n->id, 0);
    else if (r->action == ACT_DELAY)
        push(self, EV_DELAY, fd, 0, n->id, now_ns(CLOCK_MONOTONIC) + (uint64_t)r->delay_ns,
             NULL);
    else
        answer(self, fd, n->id, r->action == ACT_DENY ? r->neg_errno : 0);
}

static const plan *lookup(LoopObject *self, int svc, int nr) {
    if (svc < 0 || (size_t)svc >= self->ntables || !self->tables[svc]) return NULL;
    if (nr < 0 || nr >= NR_MAX) return NULL;
    return self->tables[svc]->p[nr];
}

/* Process (or park as pending) one received notification. */
static void dispatch(LoopObject *self, int fd, int svc, const struct fl_notif *n) {
    pthread_mutex_lock(&self->mu);
    const plan *p = lookup(self, svc, n->nr);
    if (p) {
        process(self, fd, svc, n, p);
    } else { /* Python compiles the plan; the next run() processes it */
        self->has_pending = 1;
        self->pending_fd = fd;
        self->pending_svc = svc;
        self->pending = *n;
        push(self, EV_MISS, fd, svc, (uint64_t)n->nr, 0, NULL);
    }
    pthread_mutex_unlock(&self->mu);
}

static void handle(LoopObject *self, int fd, int svc) {
    struct fl_notif n;
    memset(&n, 0, sizeof n); /* RECV needs a zeroed buffer */
    if (ioctl(fd, NOTIF_RECV, &n) != 0) {
        if (errno == ENOENT || errno == EINTR) /* the task died / was interrupted */
            self->dropped++;
        else
            push(self, EV_FAIL, fd, errno, 0, 0, "RECV");
        return;
    }
    self->notifications++;
    dispatch(self, fd, svc, &n);
}

static int stop_batch(LoopObject *self) {
    for (int i = 0; i < self->nev; i++) {
        int k = self->evs[i].kind;
        if (k == EV_MISS || k == EV_FAIL || k == EV_FULL) return 1;
    }
    return 0;
}

/* The loop proper (GIL released). Returns when self->evs holds something for Python or the
 * timeout passed. */
static void run_loop(LoopObject *self, int timeout_ms) {
    struct pollfd pfds[MAX_FDS];
    int svcs[MAX_FDS];
    uint64_t deadline = timeout_ms >= 0 ? now_ns(CLOCK_MONOTONIC) + timeout_ms * 1000000ull : 0;
    if (self->has_pending) {
        if (arena_full(self)) {
            push(self, EV_FULL, -1, 0, 0, 0, NULL);
            return;
        }
        self->has_pending = 0;
        struct fl_notif n = self->pending;
        dispatch(self, self->pending_fd, self->pending_svc, &n);
        if (self->nev) return;
    }
    for (;;) {
        /* the set changes while Python holds the loop, or before it wakes the loop up */
        pthread_mutex_lock(&self->mu);
        int npfd = self->npfd;
        for (int i = 0; i < npfd; i++) {
            pfds[i].fd = self->pfd[i], pfds[i].events = POLLIN;
            svcs[i] = self->psvc[i];
        }
        pthread_mutex_unlock(&self->mu);
        int wait = -1;
        if (timeout_ms >= 0) {
            uint64_t now = now_ns(CLOCK_MONOTONIC);
            wait = now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
        }
        int k = poll(pfds, (nfds_t)npfd, wait);
        if (k < 0) {
            if (errno == EINTR) continue;
            push(self, EV_FAIL, -1, errno, 0, 0, "poll");
            return;
        }
        if (k == 0) return;
        for (int i = 0; i < npfd && !stop_batch(self); i++) {
            short re = pfds[i].revents;
            if (!re) continue;
            if (svcs[i] < 0 || !(re & POLLIN)) { /* watched fd; or a listener's HUP/ERR/NVAL */
                push(self, EV_FD, pfds[i].fd, (int)(unsigned short)re, 0, 0, NULL);
            } else if (arena_full(self)) { /* level-triggered: it comes back after a drain */
                push(self, EV_FULL, -1, 0, 0, 0, NULL);
            } else {
                handle(self, pfds[i].fd, svcs[i]);
            }
        }
        if (self->nev) return;
    }
}

static PyObject *Loop_run(LoopObject *self, PyObject *args) {
    int timeout_ms;
    if (!PyArg_ParseTuple(args, "i", &timeout_ms)) return NULL;
    self->nev = 0;
    self->ts = PyEval_SaveThread();
    run_loop(self, timeout_ms);
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
    table **grown = realloc(self->tables, n * sizeof *grown);
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
    table *fresh = calloc(1, sizeof *fresh);
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
        plan *p = calloc(1, sizeof *p + (size_t)ne * sizeof(entry));
        p->kind = kind;
        fresh->p[nr] = p;
        for (Py_ssize_t i = 0; i < ne; i++) {
            PyObject *item = PySequence_GetItem(entries, i);
            PyObject *rule;
            unsigned long long k;
            int ok = item && PyArg_ParseTuple(item, "O!K", &RuleType, &rule, &k);
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
    if (ensure_tables(self, (size_t)svc) < 0) {
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
    self->signalled = 0;
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

/* Answer the notification held for a missing plan (shutdown); (svc, nr, tid) or None. */
static PyObject *Loop_release_pending(LoopObject *self, PyObject *Py_UNUSED(ignored)) {
    if (!self->has_pending) Py_RETURN_NONE;
    self->has_pending = 0;
    struct fl_resp r = {self->pending.id, 0, 0, FLAG_CONTINUE};
    int rc = ioctl(self->pending_fd, NOTIF_SEND, &r);
    (void)rc; /* shutdown: the task may be gone */
    return Py_BuildValue("(iiI)", self->pending_svc, self->pending.nr, self->pending.pid);
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
    {"stats", (PyCFunction)Loop_stats, METH_NOARGS, "(notifications, dropped)"},
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
    fl_glob *g = parse_glob(spec);
    if (!g) return NULL;
    uint32_t *cps = calloc(FL_MAX_CODEPOINTS, sizeof *cps);
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
    uint32_t *cps = calloc((size_t)n + 1, sizeof *cps);
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
    return PyFloat_FromDouble(draw(key, n));
}

static PyMethodDef mod_methods[] = {
    {"glob_match", mod_glob_match, METH_VARARGS, "glob_match(program, path bytes) -> bool"},
    {"decode", mod_decode, METH_VARARGS, "UTF-8 decode with surrogateescape semantics"},
    {"normpath", mod_normpath, METH_VARARGS, "posixpath.normpath on bytes"},
    {"draw", mod_draw, METH_VARARGS, "rules.draw(key, n)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_fastloop", "The native supervisor loop.", -1, mod_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastloop(void) {
    if (PyType_Ready(&RuleType) < 0 || PyType_Ready(&LoopType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    Py_INCREF(&RuleType);
    Py_INCREF(&LoopType);
    if (PyModule_AddObject(m, "Rule", (PyObject *)&RuleType) < 0 ||
        PyModule_AddObject(m, "Loop", (PyObject *)&LoopType) < 0 ||
        PyModule_AddIntConstant(m, "NR_MAX", NR_MAX) < 0 ||
        PyModule_AddIntConstant(m, "EV_FD", EV_FD) < 0 ||
        PyModule_AddIntConstant(m, "EV_DELAY", EV_DELAY) < 0 ||
        PyModule_AddIntConstant(m, "EV_MISS", EV_MISS) < 0 ||
        PyModule_AddIntConstant(m, "EV_FAIL", EV_FAIL) < 0 ||
        PyModule_AddIntConstant(m, "EV_FULL", EV_FULL) < 0 ||
        PyModule_AddIntConstant(m, "FL_T_CHAR", FL_T_CHAR) < 0 ||
        PyModule_AddIntConstant(m, "FL_T_STAR", FL_T_STAR) < 0 ||
        PyModule_AddIntConstant(m, "FL_T_SKIP", FL_T_SKIP) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
