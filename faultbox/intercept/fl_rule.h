/* The Rule type of the native supervisor loop (see fl_rule.c). */
#ifndef FL_RULE_H
#define FL_RULE_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#include "fl_glob.h"

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

/* faultbox.intercept._fastloop.Rule */
extern PyTypeObject fl_rule_type;

/* glob = (tokens, classes) as native.glob_program builds it → a checked program, or NULL
 * with a Python exception set. Needs the GIL. */
fl_glob *fl_parse_glob(PyObject *spec);

/* rules.draw: splitmix64 of key + (n + 1) * golden; bit-identical double in [0, 1) */
static inline double fl_draw(uint64_t key, uint64_t n) {
    uint64_t z = key + (n + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* CompiledRule.fires: consume this rule's next draw for syscall nr. No GIL needed; the
 * caller serialises calls for one rule (the Loop's mu). */
int fl_rule_fires(RuleObject *r, int nr, uint64_t key);

#endif
