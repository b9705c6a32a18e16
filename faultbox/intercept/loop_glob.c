/* Glob matching for the native loop: a Thompson NFA over code points.
 *
 * The dialect is faultbox's one path-glob dialect (globs.py, docs/spec-language.md "Path
 * globs"): "*" and "**" match any run of characters, "/" included; "**" + "/" matches zero
 * or more whole directories; "?" one character; everything else, brackets too, itself; and a
 * glob also matches a path when it matches dirname(path) + "/". Python (native.glob_program)
 * compiles a glob into tokens (one-character classes, STAR, SKIP) and this file runs them.
 *
 * Why code points and not fnmatch(3): the Python reference matches a regex against a str
 * (bytes decoded with surrogateescape), so "?" consumes one character, not one byte. Decoding
 * the same way and running the same translation decides identically. */
#include "loop_glob.h"

#include <stdlib.h>

void fl_glob_free(fl_glob *g) {
    if (!g) return;
    for (size_t i = 0; i < g->nclasses; i++) free(g->classes[i].ranges);
    free(g->classes);
    free(g->tokens);
    free(g);
}

static int cont(unsigned char c) { return c >= 0x80 && c <= 0xBF; }

size_t fl_utf8_decode(const unsigned char *s, size_t n, uint32_t *out, size_t cap) {
    size_t i = 0, k = 0;
    while (i < n && k < cap) {
        unsigned char b = s[i];
        if (b < 0x80) {
            out[k++] = b;
            i++;
            continue;
        }
        /* The valid ranges of the second byte follow the UTF-8 spec (no overlongs, no
         * surrogates, nothing above U+10FFFF), as CPython's strict decoder checks them. */
        size_t len = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) {
            len = 2;
        } else if (b >= 0xE0 && b <= 0xEF) {
            len = 3;
            if (b == 0xE0) lo = 0xA0;
            if (b == 0xED) hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4;
            if (b == 0xF0) lo = 0x90;
            if (b == 0xF4) hi = 0x8F;
        }
        int ok = len > 0 && i + len <= n && s[i + 1] >= lo && s[i + 1] <= hi;
        for (size_t j = 2; ok && j < len; j++) ok = cont(s[i + j]);
        if (!ok) { /* surrogateescape: this byte alone; a continuation byte never starts a
                    * valid sequence, so re-scanning from i + 1 equals CPython's maximal
                    * invalid subpart rule */
            out[k++] = 0xDC00 + b;
            i++;
            continue;
        }
        uint32_t cp = b & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
        for (size_t j = 1; j < len; j++) cp = (cp << 6) | (s[i + j] & 0x3F);
        out[k++] = cp;
        i += len;
    }
    return k;
}

static int in_class(const fl_class *c, uint32_t cp) {
    int hit = 0;
    for (size_t i = 0; i < c->nranges && !hit; i++)
        hit = cp >= c->ranges[2 * i] && cp <= c->ranges[2 * i + 1];
    return c->negate ? !hit : hit;
}

#define FL_MAX_TOKENS 1024 /* Python refuses longer programs (they use the regex instead) */

typedef struct {
    uint32_t mark[FL_MAX_TOKENS + 1];
    uint16_t list[FL_MAX_TOKENS + 1];
    size_t count;
} stateset;

/* Add state s and everything reachable from it without consuming a character. */
static void add_state(const fl_glob *g, stateset *set, uint32_t gen, size_t s) {
    uint16_t stack[2 * (FL_MAX_TOKENS + 1)];
    size_t top = 0;
    stack[top++] = (uint16_t)s;
    while (top) {
        size_t t = stack[--top];
        if (set->mark[t] == gen) continue;
        set->mark[t] = gen;
        set->list[set->count++] = (uint16_t)t;
        if (t >= g->ntokens) continue;
        const fl_token *tok = &g->tokens[t];
        if (tok->type == FL_T_STAR) {
            stack[top++] = (uint16_t)(t + 1);
        } else if (tok->type == FL_T_SKIP) {
            stack[top++] = (uint16_t)(t + 1);
            stack[top++] = (uint16_t)(t + tok->arg);
        }
    }
}

static int fullmatch(const fl_glob *g, const uint32_t *cp, size_t n) {
    static __thread stateset sets[2];
    static __thread uint32_t gen;
    size_t end = g->ntokens;
    stateset *cur = &sets[0], *nxt = &sets[1];
    if (gen > 0xF0000000u) { /* before the generation counter can wrap: clear the marks */
        for (int i = 0; i < 2; i++)
            for (size_t j = 0; j <= FL_MAX_TOKENS; j++) sets[i].mark[j] = 0;
        gen = 0;
    }
    ++gen;
    cur->count = 0;
    add_state(g, cur, gen, 0);
    for (size_t i = 0; i < n; i++) {
        ++gen;
        nxt->count = 0;
        for (size_t k = 0; k < cur->count; k++) {
            size_t s = cur->list[k];
            if (s >= end) continue;
            const fl_token *tok = &g->tokens[s];
            if (tok->type == FL_T_SKIP || !in_class(&g->classes[tok->arg], cp[i])) continue;
            add_state(g, nxt, gen, tok->type == FL_T_CHAR ? s + 1 : s);
        }
        if (nxt->count == 0) return 0;
        stateset *tmp = cur;
        cur = nxt;
        nxt = tmp;
    }
    for (size_t k = 0; k < cur->count; k++)
        if (cur->list[k] == end) return 1;
    return 0;
}

int fl_glob_matches(const fl_glob *g, const uint32_t *cp, size_t n) {
    if (g->ntokens > FL_MAX_TOKENS) return 0;
    if (fullmatch(g, cp, n)) return 1;
    size_t cut = n;
    while (cut > 0 && cp[cut - 1] != '/') cut--;
    /* cut is one past the last "/"; Python's rule is rfind("/") > 0, i.e. cut - 1 > 0 */
    return cut > 1 && fullmatch(g, cp, cut);
}
