/* The native loop's shared state: the kernel interface, the plans Python installs, the record
 * arenas Python drains, and the Loop object itself (loop.c runs it, py_module.c exposes it). */
#ifndef LOOP_H
#define LOOP_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "loop_glob.h"
#include "loop_paths.h"
#include "py_rule.h"

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
enum { ACT_DENY = 1, ACT_DELAY = 2, ACT_TRACE = 3, ACT_ALLOW = 4, ACT_PARTIAL = 5 };
enum { KIND_NONE = 0, KIND_FD = 1, KIND_PATH0 = 2, KIND_AT = 3, KIND_SOCKADDR = 4, KIND_AT2 = 5 };
/* what run() hands back to Python; EV_PARTIAL: a partial() rule fired, the notification is
 * held as pending for Python (take_pending), which writes the prefix and answers */
enum { EV_FD = 0, EV_DELAY = 1, EV_MISS = 2, EV_FAIL = 3, EV_FULL = 4, EV_PARTIAL = 5 };

#define NR_MAX 1024
#define MAX_FDS 512 /* listeners + watched fds, polled together */
#define MAX_EVENTS (MAX_FDS + 2)
#define ARENA_BYTES (8u << 20)
#define ARENA_RECORDS 65536 /* the Python path's _BUFFER_CAP */

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
    pthread_mutex_t mu; /* tables, listeners, rule streams */
    table **tables;
    size_t ntables;
    int pfd[MAX_FDS]; /* polled fds: a listener's service id, or -1 for a watched fd */
    int psvc[MAX_FDS];
    int npfd;
    unsigned pgen, seen_gen; /* pgen: bumped (under mu) on every change of the set */
    pthread_mutex_t rmu; /* the arenas */
    pthread_mutex_t dmu; /* one drain at a time */
    arena arenas[2];
    int cur;
    int full; /* the current arena is full (set by record(), cleared by a drain's swap) */
    fl_resolver res;
    PyObject *decode_sockaddr;
    PyThreadState *ts; /* while run() has released the GIL */
    int hot;           /* notifications keep coming: poll the listeners alone (loop.c) */
    uint64_t last_full; /* CLOCK_MONOTONIC ns of the last poll of the full set */
    int has_pending;   /* a notification received before its plan existed, or a partial */
    int pending_fd, pending_svc;
    struct fl_notif pending;
    unsigned long long notifications, dropped;
    event evs[MAX_EVENTS + 1]; /* the ring's spare slot reports an overflow (loop.c: push) */
    int nev;
    int evcap; /* events per run() before the loop stops receiving (MAX_EVENTS; tests lower it) */
    int oom;   /* an allocation failed while deciding: report it as a failure */
    char path[FL_PATH_MAX + 8];
    uint32_t cps[FL_MAX_CODEPOINTS];
} LoopObject;

/* The loop proper, GIL released (self->ts holds the thread state): returns when self->evs
 * holds something for Python or timeout_ms passed (-1: no timeout). */
void fl_run_loop(LoopObject *self, int timeout_ms);

/* rules.draw: splitmix64 of key + (n + 1) * golden; bit-identical double in [0, 1) */
static inline double fl_draw(uint64_t key, uint64_t n) {
    uint64_t z = key + (n + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* CompiledRule.fires: consume this rule's next draw for syscall nr (1 fires, 0 not, -1 out
 * of memory). No GIL needed; the caller serialises calls for one rule (the Loop's mu). */
int fl_rule_fires(RuleObject *r, int nr, uint64_t key);

/* The draw counter of (r, nr), made if missing; NULL if out of memory. Caller holds mu. */
stream *fl_rule_stream(RuleObject *r, int nr);

#endif
