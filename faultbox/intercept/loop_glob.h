/* Path globs for the native supervisor loop (see loop_glob.c). */
#ifndef LOOP_GLOB_H
#define LOOP_GLOB_H

#include <stddef.h>
#include <stdint.h>

/* Token types of a glob program. Python (native.glob_program) builds the program from the
 * glob, token for token as globs.glob_to_regex translates it to the reference regex. */
enum { FL_T_CHAR = 1, FL_T_STAR = 2, FL_T_SKIP = 3 };

typedef struct {
    uint8_t type; /* FL_T_* */
    uint32_t arg; /* CHAR/STAR: class index; SKIP: jump distance (enter at +1 or skip to +arg) */
} fl_token;

typedef struct {
    int negate;     /* matches every code point NOT in the ranges (no ranges + negate = any) */
    size_t nranges; /* ranges are inclusive [lo, hi] pairs */
    uint32_t *ranges;
} fl_class;

typedef struct {
    size_t ntokens;
    fl_token *tokens;
    size_t nclasses;
    fl_class *classes;
} fl_glob;

/* Longest path (in code points) the matcher accepts; longer paths are cut like the text. */
#define FL_MAX_CODEPOINTS 8448

void fl_glob_free(fl_glob *g);

/* Decode UTF-8 the way Python's bytes.decode("utf-8", "surrogateescape") does: every byte
 * that is not part of a valid sequence becomes U+DC80..U+DCFF. Returns the count. */
size_t fl_utf8_decode(const unsigned char *s, size_t n, uint32_t *out, size_t cap);

/* rules.glob_matches: the program fullmatches the path or dirname(path) + "/". */
int fl_glob_matches(const fl_glob *g, const uint32_t *cp, size_t n);

#endif
