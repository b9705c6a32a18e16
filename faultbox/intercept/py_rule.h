/* The Rule type of the native loop (Python bindings; see py_rule.c). */
#ifndef PY_RULE_H
#define PY_RULE_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#include "loop_glob.h"

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
    long long min_len; /* partial(): the shortest write it cuts (write_sizes.min_length) */
    stream *streams; /* per syscall number: draws taken so far (CompiledRule.streams) */
    size_t nstreams, capstreams;
} RuleObject;

/* faultbox.intercept._fastloop.Rule */
extern PyTypeObject fl_rule_type;

/* glob = (tokens, classes) as native.glob_program builds it → a checked program, or NULL
 * with a Python exception set. Needs the GIL. */
fl_glob *fl_parse_glob(PyObject *spec);

#endif
