/* The native loop proper, run with the GIL released: poll the listeners and watched fds,
 * RECV, name the path (loop_paths.c), check ID_VALID, decide (globs in loop_glob.c, draws
 * below), append a record to the arena Python drains, and answer. What Python owns goes
 * back to it as events (see loop.h).
 *
 * It waits with poll(2) on the listeners and the fds Python watches (its wake-up eventfd,
 * the services' pidfds), not with epoll_wait: only a poll-style waiter receives the kernel's
 * SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP hand-off (wake on the current CPU), which takes ~4 µs
 * off every notification on these machines; epoll turns it into a mere hint. An epoll fd in
 * the poll set would cost another ~0.5 µs per wait (its ready list is scanned under a mutex),
 * so the few other fds are polled directly. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

static uint64_t now_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Queue an event for Python. The loop stops receiving while the ring has no room for one
 * more (ring_full), so this never runs out of slots; should it ever, the event is not
 * dropped silently (a dropped delay would leave its notification unanswered and the target
 * hung): the spare slot becomes a failure, and the failure policy kills the services. */
static void push(LoopObject *self, int kind, int fd, int a, uint64_t b, uint64_t c,
                 const char *what) {
    if (self->nev >= self->evcap) {
        event *e = &self->evs[self->evcap]; /* evs has one slot more than evcap */
        e->kind = EV_FAIL, e->fd = fd, e->a = ENOBUFS, e->b = 0, e->c = 0;
        e->what = "event ring overflow";
        self->nev = self->evcap + 1;
        return;
    }
    event *e = &self->evs[self->nev++];
    e->kind = kind, e->fd = fd, e->a = a, e->b = b, e->c = c, e->what = what;
}

/* No room for the one event handling a notification may produce: leave the rest for the
 * next run() (poll is level-triggered, nothing is lost by waiting). */
static int ring_full(LoopObject *self) { return self->nev >= self->evcap; }

/* No lock: only record() (this thread) sets the flag, only a drain's swap clears it; a stale
 * 1 just makes Python drain once more. */
static int arena_full(LoopObject *self) { return __atomic_load_n(&self->full, __ATOMIC_RELAXED); }

static void record(LoopObject *self, int svc, const struct fl_notif *n, int rule, int system,
                   size_t plen) {
    rec r = {now_ns(CLOCK_REALTIME), (int32_t)n->pid, rule, (uint16_t)svc, (uint16_t)n->nr,
             (uint16_t)plen, (uint8_t)system, 0};
    pthread_mutex_lock(&self->rmu);
    arena *a = &self->arenas[self->cur];
    memcpy(a->buf + a->used, &r, sizeof r);
    memcpy(a->buf + a->used + sizeof r, self->path, plen);
    a->used += (sizeof r + plen + 7) & ~(size_t)7;
    a->count++;
    if (a->count >= ARENA_RECORDS || a->used + REC_MAX > ARENA_BYTES)
        __atomic_store_n(&self->full, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&self->rmu);
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

/* write_sizes.write_length: bytes a write asks for (the count, or the sum of its iovecs);
 * -1 if unknown (not a write, an unreadable or oversized iovec array) */
static long long write_length(const struct fl_notif *n) {
    switch (n->nr) {
    case SYS_write:
    case SYS_pwrite64:
        return n->args[2] <= (uint64_t)INT64_MAX ? (long long)n->args[2] : -1;
    case SYS_writev:
    case SYS_pwritev:
    case SYS_pwritev2: {
        uint64_t count = n->args[2];
        if (count > 1024) return -1; /* UIO_MAXIOV */
        if (count == 0) return 0;
        struct iovec vec[1024];
        struct iovec local = {vec, count * sizeof vec[0]};
        struct iovec remote = {(void *)(uintptr_t)n->args[1], count * sizeof vec[0]};
        ssize_t got = process_vm_readv((pid_t)n->pid, &local, 1, &remote, 1, 0);
        if (got != (ssize_t)(count * sizeof vec[0])) return -1;
        uint64_t total = 0;
        for (uint64_t i = 0; i < count; i++) {
            total += vec[i].iov_len;
            if (total > (uint64_t)INT64_MAX || vec[i].iov_len > (uint64_t)INT64_MAX) return -1;
        }
        return (long long)total;
    }
    }
    return -1;
}

/* decide.evaluate: the first rule that applies and fires, or NULL (allow). */
static RuleObject *evaluate(LoopObject *self, const plan *p, const struct fl_notif *n,
                            size_t plen, int port) {
    int nr = n->nr;
    long long length = -2; /* not read yet: only a partial rule needs it */
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
        if (r->min_len) { /* partial(): a write on a file that it can shorten */
            if (!plen || self->path[0] != '/') continue;
            if (length == -2) length = write_length(n);
            if (length < r->min_len) continue;
        }
        if (r->prob < 1.0) {
            int fires = fl_rule_fires(r, nr, p->e[i].key);
            if (fires < 0) { /* out of memory: no decision is better than a wrong one */
                self->oom = 1;
                return NULL;
            }
            if (!fires) continue;
        }
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
    RuleObject *r = p->n ? evaluate(self, p, n, plen, port) : NULL;
    if (self->oom) { /* a supervisor failure; the target must not hang meanwhile */
        self->oom = 0;
        push(self, EV_FAIL, fd, ENOMEM, 0, 0, "allocation");
        answer(self, fd, n->id, 0);
        return;
    }
    if (r && r->action == ACT_PARTIAL) { /* Python writes the prefix, records and answers */
        self->has_pending = 1;
        self->pending_fd = fd;
        self->pending_svc = svc;
        self->pending = *n;
        push(self, EV_PARTIAL, fd, svc, (uint64_t)r->id, 0, NULL);
        return;
    }
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
        if (k == EV_MISS || k == EV_FAIL || k == EV_FULL || k == EV_PARTIAL) return 1;
    }
    return 0;
}

/* Copy the polled set, listeners first: pfds[0..nlst) are the listeners, the rest the
 * watched fds. Returns the total. */
static int snapshot(LoopObject *self, struct pollfd *pfds, int *svcs, int *nlst) {
    pthread_mutex_lock(&self->mu);
    self->seen_gen = self->pgen;
    int npfd = self->npfd, n = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < npfd; i++) {
            if ((self->psvc[i] >= 0) != (pass == 0)) continue;
            pfds[n].fd = self->pfd[i], pfds[n].events = POLLIN, pfds[n].revents = 0;
            svcs[n++] = self->psvc[i];
        }
        if (pass == 0) *nlst = n;
    }
    pthread_mutex_unlock(&self->mu);
    return n;
}

/* The loop proper (GIL released). Returns when self->evs holds something for Python or the
 * timeout passed.
 *
 * Two tiers of waiting. Idle, it polls everything (listeners, wake-up eventfd, pidfds).
 * While notifications keep coming (self->hot) it polls the listeners alone -- every polled
 * fd costs a wait-queue entry and two ->poll calls per notification -- with a HOT_IDLE_MS
 * timeout, and polls the full set again at least every HOT_CHECK_NS, so a wake-up or an
 * exit is seen within ~1-2 ms under load and at once when idle. */
#define HOT_CHECK_NS 1000000ull
#define HOT_IDLE_MS 1
void fl_run_loop(LoopObject *self, int timeout_ms) {
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
    int npfd = -1, nlst = 0;
    for (;;) {
        /* the set changes while Python holds the loop, or before it wakes the loop up */
        if (npfd < 0 || __atomic_load_n(&self->pgen, __ATOMIC_RELAXED) != self->seen_gen)
            npfd = snapshot(self, pfds, svcs, &nlst);
        uint64_t now = now_ns(CLOCK_MONOTONIC);
        int wait = -1;
        if (timeout_ms >= 0)
            wait = now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
        int n = npfd;
        if (self->hot && nlst > 0 && nlst < npfd && now - self->last_full < HOT_CHECK_NS) {
            n = nlst;
            if (wait < 0 || wait > HOT_IDLE_MS) wait = HOT_IDLE_MS;
        } else {
            self->last_full = now;
        }
        int k = poll(pfds, (nfds_t)n, wait);
        if (k < 0) {
            if (errno == EINTR) continue;
            push(self, EV_FAIL, -1, errno, 0, 0, "poll");
            return;
        }
        if (k == 0) {
            if (n == npfd) return;
            self->hot = 0; /* quiet: wait on everything again */
            continue;
        }
        for (int i = 0; i < n && !stop_batch(self) && !ring_full(self); i++) {
            short re = pfds[i].revents;
            if (!re) continue;
            if (svcs[i] < 0 || !(re & POLLIN)) { /* watched fd; or a listener's HUP/ERR/NVAL */
                push(self, EV_FD, pfds[i].fd, (int)(unsigned short)re, 0, 0, NULL);
            } else if (arena_full(self)) { /* level-triggered: it comes back after a drain */
                push(self, EV_FULL, -1, 0, 0, 0, NULL);
            } else {
                self->hot = 1;
                handle(self, pfds[i].fd, svcs[i]);
            }
        }
        if (self->nev) return;
    }
}

/* The draw counter of rule r for syscall nr, made on first use; NULL if out of memory.
 * set_plans reserves every (rule, nr) of a plan up front, so the hot path never allocates. */
stream *fl_rule_stream(RuleObject *r, int nr) {
    for (size_t i = 0; i < r->nstreams; i++)
        if (r->streams[i].nr == nr) return &r->streams[i];
    if (r->nstreams == r->capstreams) {
        size_t cap = r->capstreams ? 2 * r->capstreams : 4;
        stream *grown = fl_realloc(r->streams, cap * sizeof *grown);
        if (!grown) return NULL;
        r->streams = grown;
        r->capstreams = cap;
    }
    stream *s = &r->streams[r->nstreams++];
    s->nr = nr;
    s->n = 0;
    return s;
}

/* CompiledRule.fires: consume this rule's next draw for syscall nr; -1 if out of memory */
int fl_rule_fires(RuleObject *r, int nr, uint64_t key) {
    stream *s = fl_rule_stream(r, nr);
    if (!s) return -1;
    return fl_draw(key, s->n++) < r->prob;
}
