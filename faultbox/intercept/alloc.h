/* Every allocation of the _fastloop extension goes through these, so that a test can make
 * the n-th one fail (_fastloop._fail_alloc_after(n)) and check that the failure surfaces as a
 * MemoryError or a supervisor failure, never as a crash or a silently wrong decision. */
#ifndef ALLOC_H
#define ALLOC_H

#include <stdlib.h>

/* < 0: no failure planned; n >= 0: the allocation after n more succeeds fails (once) */
extern int fl_alloc_countdown;

static inline int fl_alloc_fails(void) {
    int left = __atomic_load_n(&fl_alloc_countdown, __ATOMIC_RELAXED);
    if (left < 0) return 0;
    __atomic_store_n(&fl_alloc_countdown, left - 1, __ATOMIC_RELAXED);
    return left == 0;
}

static inline void *fl_malloc(size_t n) { return fl_alloc_fails() ? NULL : malloc(n); }
static inline void *fl_calloc(size_t k, size_t n) { return fl_alloc_fails() ? NULL : calloc(k, n); }
static inline void *fl_realloc(void *p, size_t n) { return fl_alloc_fails() ? NULL : realloc(p, n); }

#endif
