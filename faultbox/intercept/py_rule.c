/* Python bindings: the Rule type of the native loop -- one rule of a service, prepared by
 * native.py (its action, glob program or Python matcher, ports, hit counter and probability
 * streams). The loop side (draws, fl_rule_fires) is in loop.c. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "py_rule.h"

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
    *out = fl_calloc(*n ? *n : 1, sizeof **out);
    if (!*out) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < *n; i++) {
        unsigned long v = PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(fast, i));
        (*out)[i] = (uint32_t)v;
    }
    Py_DECREF(fast);
    return PyErr_Occurred() ? -1 : 0;
}

/* glob = (tokens, classes): tokens (type, arg, type, arg, ...); classes ((negate, lo, hi,
 * lo, hi, ...), ...) — built by native.glob_program. */
fl_glob *fl_parse_glob(PyObject *spec) {
    PyObject *tokens, *classes;
    if (!PyArg_ParseTuple(spec, "OO", &tokens, &classes)) return NULL;
    fl_glob *g = fl_calloc(1, sizeof *g);
    if (!g) return (fl_glob *)PyErr_NoMemory();
    uint32_t *flat = NULL;
    size_t nflat;
    if (parse_u32_tuple(tokens, &flat, &nflat) < 0 || nflat % 2) goto bad;
    g->ntokens = nflat / 2;
    g->tokens = fl_calloc(g->ntokens + 1, sizeof *g->tokens);
    if (!g->tokens) goto nomem;
    for (size_t i = 0; i < g->ntokens; i++) {
        g->tokens[i].type = (uint8_t)flat[2 * i];
        g->tokens[i].arg = flat[2 * i + 1];
    }
    free(flat);
    flat = NULL;
    Py_ssize_t nc = PySequence_Size(classes);
    if (nc < 0) goto bad;
    g->classes = fl_calloc((size_t)nc + 1, sizeof *g->classes);
    if (!g->classes) goto nomem;
    g->nclasses = (size_t)nc;
    for (Py_ssize_t i = 0; i < nc; i++) {
        PyObject *c = PySequence_GetItem(classes, i);
        if (!c) goto bad;
        int rc = parse_u32_tuple(c, &flat, &nflat);
        Py_DECREF(c);
        if (rc < 0 || nflat % 2 != 1) goto bad;
        g->classes[i].negate = flat[0] != 0;
        g->classes[i].nranges = nflat / 2;
        g->classes[i].ranges = fl_calloc(nflat, sizeof(uint32_t));
        if (!g->classes[i].ranges) goto nomem;
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
nomem:
    PyErr_NoMemory();
bad:
    free(flat);
    fl_glob_free(g);
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "malformed glob program");
    return NULL;
}

static int Rule_init(RuleObject *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"id",    "action", "neg_errno", "delay_ns", "prob",    "glob",
                            "match", "ports",  "hits",      "index",    "min_len", NULL};
    PyObject *glob, *match, *ports, *hits;
    self->min_len = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iiiLdOOOOn|L", names, &self->id, &self->action,
                                     &self->neg_errno, &self->delay_ns, &self->prob, &glob,
                                     &match, &ports, &hits, &self->index, &self->min_len))
        return -1;
    if (glob != Py_None && !(self->glob = fl_parse_glob(glob))) return -1;
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

PyTypeObject fl_rule_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "faultbox.intercept._fastloop.Rule",
    .tp_basicsize = sizeof(RuleObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Rule_init,
    .tp_dealloc = (destructor)Rule_dealloc,
    .tp_doc = "A rule prepared for the native loop (see native.py).",
};
