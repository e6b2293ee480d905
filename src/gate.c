/* gate.c -- literal prefilters for the pack's patterns (see gate.h).
 *
 * The analysis parses the pattern and gives every node two sets of strings:
 * `exact`, all it can match when that is a few short strings (else
 * unknown), and `req`, strings one of which its every match contains (else
 * none). A concatenation multiplies the exact sets of neighbours while the
 * product stays small, and keeps as its requirement the best set among
 * those runs and its parts' requirements (the longest shortest literal,
 * then the fewest). '^' and '$' are the marker bytes MARK_BEGIN and MARK_END,
 * which gate_scan() puts around the subject, so "^(hi|hello)$" asks for
 * "\1hi\2" or "\1hello\2".
 *
 * A literal is tested by the bits of its n-grams in a bitmap of the
 * subject's 1-, 2- and 3-grams (hashed): one bit for a literal of one or two
 * bytes, its first, middle and last 3-grams for a longer one. All present is
 * necessary for the literal to occur, so a literal with a missing bit
 * cannot be in the subject, and a pattern none of whose literals can be
 * there cannot match.
 */
#include "gate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LITS 128             /* strings a set holds at most */
#define LIT_MAX 64           /* bytes of a string of a set */
#define BITS 4096            /* bits of the subject's n-gram map */
#define MARK_BEGIN '\1'      /* '^' */
#define MARK_END '\2'        /* '$' */
#ifndef PCRE_COST
#define PCRE_COST 200.0      /* a pattern's run against a literal's bit tests
                                (callgrind: about 1,200 instructions to 5) */
#endif

/* A set of strings; n < 0: unknown (exact) or none (req). */
struct lset {
    int n;
    uint8_t len[LITS];
    char s[LITS][LIT_MAX];
};

/* What the analysis knows of a node. */
struct info {
    struct lset exact, req;
};

#define DEPTH_MAX 16         /* nested groups the analysis reads */

/* The work space of one group depth, about 50 KB: parse_concat()'s four
 * sets and parse_alt()'s alternative. */
struct level {
    struct info it, alt;
    struct lset best, tmp, run;
};

struct parser {
    const char *p;           /* next byte of the pattern */
    bool bad;                /* a construct the analysis does not know */
    int depth;               /* nested groups */
    /* work space by depth, allocated when first needed and freed by
     * gate_add() (one run at a time at each depth): a malloc() per group
     * made a large pack's load slow under ASan, whose quarantine keeps
     * every freed block from being reused */
    struct level *lv[DEPTH_MAX + 1];
};

/* The work space of the parser's depth; NULL when out of memory. */
static struct level *level(struct parser *ps)
{
    struct level **l = &ps->lv[ps->depth];
    if (!*l)
        *l = malloc(sizeof **l);
    return *l;
}

struct gate {
    size_t npat, capat;
    uint32_t *first;         /* npat + 1: pattern k's literals are
                                [first[k], first[k + 1]) */
    bool *known;             /* npat: the pattern has literals */
    size_t nlit, caplit;
    uint16_t (*keys)[4];     /* nlit: the bits a literal needs [0..3), and
                                [3]: how many literals after it need the
                                same first bit (a pattern's are sorted so) */
    bool all;                /* the subject lets every pattern through */
    uint64_t map[BITS / 64]; /* the subject's n-grams */
    uint64_t *may;           /* capat bits, GATE_EAGER: the pattern may match
                                the subject */
    /* GATE_EAGER: the literals by their first bit, built at the first scan
     * after an add (npat_indexed != npat: stale); those of bit b are
     * ient[ihead[b] .. ihead[b + 1]) */
    bool eager;
    size_t npat_indexed;
    uint32_t *ihead;         /* BITS + 1 */
    struct ient {
        uint16_t k1, k2;     /* the literal's other two bits */
        uint32_t pat;        /* its pattern */
    } *ient;                 /* nlit */
    uint64_t *always;        /* capat bits: patterns without literals */
};

/* *d = *s, copying only the strings in use. */
static void set_copy(struct lset *d, const struct lset *s)
{
    d->n = s->n;
    if (s->n > 0) {
        memcpy(d->len, s->len, (size_t)s->n * sizeof *s->len);
        memcpy(d->s, s->s, (size_t)s->n * sizeof *s->s);
    }
}

static void set_one(struct lset *s, const char *str, size_t n)
{
    s->n = 1;
    s->len[0] = (uint8_t)n;
    memcpy(s->s[0], str, n);
}

/* Appends b to a's string i (markers do not repeat); false when too long. */
static bool join(char *out, uint8_t *olen, const char *a, size_t na, const char *b, size_t nb)
{
    if (na && nb && a[na - 1] == b[0] && (b[0] == MARK_BEGIN || b[0] == MARK_END)) {
        b++;
        nb--;
    }
    if (na + nb > LIT_MAX)
        return false;
    memcpy(out, a, na);
    memcpy(out + na, b, nb);
    *olen = (uint8_t)(na + nb);
    return true;
}

/* *a = a x b (every string of a followed by every string of b); false,
 * a unchanged, when the product is too big. */
static bool product(struct lset *a, const struct lset *b, struct lset *tmp)
{
    if (a->n < 0 || b->n < 0 || a->n * b->n > LITS)
        return false;
    tmp->n = 0;
    for (int i = 0; i < a->n; i++)
        for (int j = 0; j < b->n; j++, tmp->n++)
            if (!join(tmp->s[tmp->n], &tmp->len[tmp->n], a->s[i], a->len[i], b->s[j], b->len[j]))
                return false;
    set_copy(a, tmp);
    return true;
}

/* *a = a u b; a becomes unknown when either is or the union is too big. */
static void unite(struct lset *a, const struct lset *b)
{
    if (a->n < 0 || b->n < 0 || a->n + b->n > LITS) {
        a->n = -1;
        return;
    }
    for (int j = 0; j < b->n; j++) {
        a->len[a->n] = b->len[j];
        memcpy(a->s[a->n++], b->s[j], b->len[j]);
    }
}

static bool marks_only(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != MARK_BEGIN && s[i] != MARK_END)
            return false;
    return true;
}

/* How well a set gates: higher is better (fewer bit tests, and fewer
 * patterns run for nothing: a literal of one more byte is found in about a
 * quarter as many messages, one of a single byte in nearly all); < 0 when
 * it cannot gate (no strings, or the empty one). */
static double score(const struct lset *s)
{
    if (s->n <= 0)
        return -1;
    double cost = 0;
    for (int i = 0; i < s->n; i++) {
        if (marks_only(s->s[i], s->len[i]))
            return -1;      /* empty, or markers only: always there */
        cost += 1 + PCRE_COST / (double)(1u << (s->len[i] < 16 ? s->len[i] - 1 : 15));
    }
    return 1e6 / cost;
}

/* req = exact when exact is known and holds no empty string. */
static void derive_req(struct info *in)
{
    if (score(&in->exact) >= 0)
        set_copy(&in->req, &in->exact);
    else if (in->exact.n >= 0)
        in->req.n = -1;
}

/* best = cand when cand gates better; *best_score is score(best), kept so
 * that each set is scored once. */
static void keep_better(struct lset *best, double *best_score, const struct lset *cand)
{
    double c = score(cand);
    if (c > *best_score) {
        set_copy(best, cand);
        *best_score = c;
    }
}

static int parse_alt(struct parser *ps, struct info *out);

/* A class "[...]" (a leading '^' or ']' read as PCRE2 does, escapes
 * skipped), read past; nested "[:name:]" is left to PCRE2. */
static void skip_class(struct parser *ps)
{
    const char *p = ps->p + 1;
    if (*p == '^')
        p++;
    if (*p == ']')
        p++;
    while (*p && *p != ']') {
        if (*p == '[' || (*p == '\\' && !p[1])) {
            ps->bad = true;
            return;
        }
        p += *p == '\\' ? 2 : 1;
    }
    if (!*p)
        ps->bad = true;
    else
        ps->p = p + 1;
}

/* A group "(...)", "(?:...)", or a look-around "(?=", "(?!", "(?<=", "(?<!",
 * which matches the empty string as far as literals go (what it asks of
 * the text around is not used). Other "(?" forms are left to PCRE2. */
static void parse_group(struct parser *ps, struct info *out)
{
    const char *p = ps->p + 1;
    bool look = false;
    if (p[0] == '?' && p[1] == ':')
        p += 2;
    else if (p[0] == '?' && (p[1] == '=' || p[1] == '!'))
        p += 2, look = true;
    else if (p[0] == '?' && p[1] == '<' && (p[2] == '=' || p[2] == '!'))
        p += 3, look = true;
    else if (p[0] == '?' || p[0] == '*')
        goto bad;
    ps->p = p;
    if (++ps->depth > DEPTH_MAX || parse_alt(ps, out) < 0 || *ps->p != ')')
        goto bad;
    ps->depth--;
    ps->p++;
    if (look) {
        set_one(&out->exact, "", 0);
        out->req.n = -1;
    }
    return;
bad:
    ps->bad = true;
}

/* A counted repeat "{m}", "{m,}" or "{m,n}" at ps->p: its least count, or
 * -1 when it is no such thing (the pattern is then left to PCRE2). */
static long counted(struct parser *ps)
{
    char *end;
    const char *p = ps->p + 1;
    if (*p < '0' || *p > '9')
        return -1;
    long m = strtol(p, &end, 10);
    p = end;
    if (*p == ',') {
        p++;
        if (*p >= '0' && *p <= '9') {
            long n = strtol(p, &end, 10);
            if (n < m)
                return -1;
            p = end;
        }
    }
    if (*p != '}')
        return -1;
    ps->p = p;          /* on the '}': the caller steps past it */
    return m;
}

/* One atom into *out (exact and req). */
static void parse_atom(struct parser *ps, struct info *out)
{
    char c = *ps->p;
    out->exact.n = -1;
    out->req.n = -1;
    if (c == '(') {
        parse_group(ps, out);
        return;
    }
    if (c == '[') {
        skip_class(ps);
        return;                 /* one character of a class: nothing known */
    }
    ps->p++;
    if ((unsigned char)c >= 0x80) {     /* a character not ASCII, its bytes read past */
        while (((unsigned char)*ps->p & 0xc0) == 0x80)
            ps->p++;
        return;                 /* caseless, it may match an ASCII one: nothing known */
    }
    if (c == '\\') {
        if (!*ps->p)
            goto bad;
        c = *ps->p++;
        if (c == 'b' || c == 'B') {
            set_one(&out->exact, "", 0);
            return;
        }
        if (strchr("dDwWsS", c))
            return;             /* one character of a class: nothing known */
        if (!(c > ' ' && c < 0x7f) || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
            goto bad;
    } else if (c == '^') {
        c = MARK_BEGIN;
    } else if (c == '$') {
        c = MARK_END;
    } else if (c == '.') {
        return;                 /* any character: nothing known */
    } else if (c == '[' || c == '{' || c == '*' || c == '+' || c == '?' || c < ' ' || c >= 0x7f) {
        goto bad;
    } else if (c >= 'A' && c <= 'Z') {
        c = (char)(c + 32);     /* PCRE2_CASELESS */
    }
    set_one(&out->exact, &c, 1);
    derive_req(out);
    return;
bad:
    ps->bad = true;
}

/* A quantifier after an atom, applied to *in. */
static void parse_quant(struct parser *ps, struct info *in)
{
    char q = *ps->p;
    if (q == '{') {
        long m = counted(ps);
        if (m < 0) {
            ps->bad = true;
            return;
        }
        q = m == 0 ? '*' : '+'; /* as far as literals go */
    }
    if (q != '?' && q != '*' && q != '+')
        return;
    ps->p++;
    if (*ps->p == '?' || *ps->p == '+')
        ps->p++;                /* lazy or possessive: the same strings */
    if (q == '?') {
        struct lset empty;
        set_one(&empty, "", 0);
        unite(&in->exact, &empty);
        in->req.n = -1;
    } else {
        in->exact.n = -1;
        if (q == '*')
            in->req.n = -1;
    }
}

/* A run of atoms up to '|', ')' or the end. */
static int parse_concat(struct parser *ps, struct info *out)
{
    struct level *w = level(ps);
    bool whole = true;
    double best_score = -1;
    if (!w)
        return -1;
    struct info *it = &w->it;
    set_one(&out->exact, "", 0);    /* the run so far */
    set_one(&w->run, "", 0);        /* the atoms of one string each since the last other */
    w->best.n = -1;
    while (*ps->p && *ps->p != '|' && *ps->p != ')' && !ps->bad) {
        parse_atom(ps, it);
        parse_quant(ps, it);
        keep_better(&w->best, &best_score, &it->req);
        if (it->exact.n != 1)
            set_one(&w->run, "", 0);            /* starts again after this atom */
        else if (!product(&w->run, &it->exact, &w->tmp))
            set_copy(&w->run, &it->exact);      /* too long: starts again with it */
        keep_better(&w->best, &best_score, &w->run);
        if (product(&out->exact, &it->exact, &w->tmp)) {
            keep_better(&w->best, &best_score, &out->exact); /* the run so far */
            continue;
        }
        keep_better(&w->best, &best_score, &out->exact);
        whole = false;
        if (it->exact.n >= 0)
            set_copy(&out->exact, &it->exact);
        else
            set_one(&out->exact, "", 0);
    }
    keep_better(&w->best, &best_score, &out->exact);
    set_copy(&out->req, &w->best);
    if (!whole)
        out->exact.n = -1;   /* else parse_alt() keeps req, the best part */
    return 0;
}

/* Alternatives apart by '|' up to ')' or the end. */
static int parse_alt(struct parser *ps, struct info *out)
{
    if (parse_concat(ps, out) < 0)
        return -1;
    while (*ps->p == '|' && !ps->bad) {
        ps->p++;
        struct level *l = level(ps);
        if (!l || parse_concat(ps, &l->alt) < 0)
            return -1;
        unite(&out->exact, &l->alt.exact);
        unite(&out->req, &l->alt.req);
    }
    return 0;
}

/* The bit of an n-gram (n <= 3) packed as its bytes, the last lowest. */
static inline uint16_t key_packed(uint32_t packed, size_t n)
{
    uint32_t h = (packed | (uint32_t)n << 24) * 0x9e3779b1u;
    return (uint16_t)(h >> (32 - 12));
}

/* The bit of the n-gram s[0..n) (n <= 3). */
static uint16_t key(const char *s, size_t n)
{
    uint32_t packed = 0;
    for (size_t i = 0; i < n; i++)
        packed = packed << 8 | (unsigned char)s[i];
    return key_packed(packed, n);
}

/* The bits literal s[0..n) (n >= 1) needs, into k[3]. */
static void lit_keys(const char *s, size_t n, uint16_t k[4])
{
    if (n < 3) {
        k[0] = k[1] = k[2] = key(s, n);
        return;
    }
    k[0] = key(s, 3);
    k[1] = key(s + (n - 3) / 2, 3);
    k[2] = key(s + n - 3, 3);
}

gate *gate_new(enum gate_mode mode)
{
    gate *g = calloc(1, sizeof *g);
    if (g && !(g->first = calloc(1, sizeof *g->first))) {
        free(g);
        return NULL;
    }
    if (g)
        g->eager = mode == GATE_EAGER;
    return g;
}

void gate_free(gate *g)
{
    if (!g)
        return;
    free(g->first);
    free(g->known);
    free(g->keys);
    free(g->may);
    free(g->ihead);
    free(g->ient);
    free(g->always);
    free(g);
}

/* Room for one more pattern and n more literals. */
static bool grow(gate *g, size_t n)
{
    if (g->npat + 1 >= g->capat) {
        size_t c = g->capat ? g->capat * 2 : 64;   /* a multiple of 64: the bits of may */
        uint32_t *f = realloc(g->first, (c + 1) * sizeof *f);
        if (f)
            g->first = f;
        bool *k = f ? realloc(g->known, c * sizeof *k) : NULL;
        if (k)
            g->known = k;
        uint64_t *may = k ? realloc(g->may, c / 64 * sizeof *may) : NULL;
        if (!may)
            return false;
        g->may = may;
        g->capat = c;
    }
    if (g->nlit + n > g->caplit) {
        size_t c = g->caplit ? g->caplit * 2 : 64;
        while (c < g->nlit + n)
            c *= 2;
        uint16_t (*k)[4] = realloc(g->keys, c * sizeof *k);
        if (!k)
            return false;
        g->keys = k;
        g->caplit = c;
    }
    return true;
}

static int by_first(const void *a, const void *b)
{
    const uint16_t *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

int gate_add(gate *g, const char *re)
{
    struct parser ps = { .p = re };
    struct info *in = malloc(sizeof *in);
    int k = -1;
    if (!in)
        return -1;
    if (parse_alt(&ps, in) < 0)
        goto out;
    bool known = !ps.bad && *ps.p == '\0' && score(&in->req) >= 0;
    if (!grow(g, known ? (size_t)in->req.n : 0))
        goto out;
    for (int i = 0; known && i < in->req.n; i++)
        lit_keys(in->req.s[i], in->req.len[i], g->keys[g->nlit++]);
    /* by first bit, so that a missing one rules out all its literals at once */
    if (g->nlit > g->first[g->npat])
        qsort(g->keys + g->first[g->npat], g->nlit - g->first[g->npat], sizeof *g->keys, by_first);
    for (size_t i = g->nlit; i-- > g->first[g->npat];)
        g->keys[i][3] = i + 1 < g->nlit && g->keys[i + 1][0] == g->keys[i][0]
                        ? (uint16_t)(g->keys[i + 1][3] + 1) : 0;
    g->known[g->npat] = known;
    k = (int)g->npat++;
    g->first[g->npat] = (uint32_t)g->nlit;
out:
    for (int d = 0; d <= DEPTH_MAX; d++)
        free(ps.lv[d]);
    free(in);
    return k;
}

bool gate_has_literals(const gate *g, int k)
{
    return k >= 0 && (size_t)k < g->npat && g->known[k];
}

static bool pattern_may(const gate *g, size_t k);
static bool bit(const gate *g, uint16_t b);

/* GATE_EAGER: builds the literals' index by first bit (and the set of the
 * patterns that always may match); false when out of memory. */
static bool build_index(gate *g)
{
    uint32_t *head = calloc(BITS + 1, sizeof *head);
    struct ient *ent = malloc((g->nlit ? g->nlit : 1) * sizeof *ent);
    uint64_t *always = calloc(g->capat / 64 + 1, sizeof *always);
    if (!head || !ent || !always) {
        free(head);
        free(ent);
        free(always);
        return false;
    }
    for (size_t i = 0; i < g->nlit; i++)
        head[g->keys[i][0] + 1]++;
    for (size_t b = 0; b < BITS; b++)
        head[b + 1] += head[b];
    for (size_t k = 0; k < g->npat; k++) {
        if (!g->known[k])
            always[k / 64] |= 1ULL << (k % 64);
        for (uint32_t i = g->first[k]; i < g->first[k + 1]; i++)
            ent[head[g->keys[i][0]]++] = (struct ient){ g->keys[i][1], g->keys[i][2], (uint32_t)k };
    }
    for (size_t b = BITS; b > 0; b--)   /* the fill moved each start to the next's */
        head[b] = head[b - 1];
    head[0] = 0;
    free(g->ihead);
    free(g->ient);
    free(g->always);
    g->ihead = head;
    g->ient = ent;
    g->always = always;
    g->npat_indexed = g->npat;
    return true;
}

/* GATE_EAGER: may[] for every pattern at once from the
 * subject's n-grams in g->map: a pattern may match when it has no literals
 * or one of its literals has all three of its bits there. */
static void mark_patterns(gate *g)
{
    size_t words = (g->npat + 63) / 64;
    memcpy(g->may, g->always, words * sizeof *g->may);
    for (size_t w = 0; w < BITS / 64; w++)
        for (uint64_t m = g->map[w]; m; m &= m - 1) {
            size_t b = w * 64 + (size_t)__builtin_ctzll(m);
            for (uint32_t i = g->ihead[b], e = g->ihead[b + 1]; i < e; i++) {
                const struct ient *t = &g->ient[i];
                if (bit(g, t->k1) && bit(g, t->k2))
                    g->may[t->pat / 64] |= 1ULL << (t->pat % 64);
            }
        }
}

void gate_scan(gate *g, const char *s, size_t len)
{
    memset(g->map, 0, sizeof g->map);
    g->all = len == 0 || (g->eager && g->npat_indexed != g->npat && !build_index(g));
    for (size_t i = 0; i < len && !g->all; i++)
        g->all = (unsigned char)s[i] < ' ' || (unsigned char)s[i] >= 0x7f;
    if (g->all)
        return;
    /* the subject, lower-cased, between the markers; w holds the last
     * three bytes */
    uint32_t w = 0;
    for (size_t i = 0; i < len + 2; i++) {
        unsigned char c = i == 0 ? MARK_BEGIN : i == len + 1 ? MARK_END : (unsigned char)s[i - 1];
        w = (w << 8 | (c >= 'A' && c <= 'Z' ? c + 32u : c)) & 0xffffff;
        uint16_t b1 = key_packed(w & 0xff, 1), b2 = key_packed(w & 0xffff, 2), b3 = key_packed(w, 3);
        g->map[b1 >> 6] |= 1ULL << (b1 & 63);
        if (i >= 1)
            g->map[b2 >> 6] |= 1ULL << (b2 & 63);
        if (i >= 2)
            g->map[b3 >> 6] |= 1ULL << (b3 & 63);
    }
    if (g->npat && g->eager)
        mark_patterns(g);
}

static bool bit(const gate *g, uint16_t b)
{
    return g->map[b >> 6] >> (b & 63) & 1;
}

/* Whether pattern k may match the subject noted in g->map. */
static bool pattern_may(const gate *g, size_t k)
{
    if (!g->known[k])
        return true;
    for (uint32_t i = g->first[k], e = g->first[k + 1]; i < e; i++) {
        if (!bit(g, g->keys[i][0])) {
            i += g->keys[i][3];   /* the literals that need it too */
            continue;
        }
        if (bit(g, g->keys[i][1]) && bit(g, g->keys[i][2]))
            return true;
    }
    return false;
}

bool gate_may_match(gate *g, int k)
{
    if (g->all || k < 0 || (size_t)k >= g->npat)
        return true;
    if (!g->eager)                      /* worked out each time asked */
        return pattern_may(g, (size_t)k);
    return g->may[k / 64] >> (k % 64) & 1;
}

bool gate_may_any(gate *g, int k, size_t n)
{
    if (g->all || k < 0 || (size_t)k + n > g->npat || !g->eager) {
        for (size_t i = 0; i < n; i++)
            if (gate_may_match(g, k + (int)i))
                return true;
        return false;
    }
    for (size_t i = (size_t)k, end = (size_t)k + n; i < end;) {
        size_t w = i / 64, lo = i % 64, hi = end - w * 64 < 64 ? end - w * 64 : 64;
        uint64_t mask = (hi == 64 ? ~0ULL : (1ULL << hi) - 1) & ~((1ULL << lo) - 1);
        if (g->may[w] & mask)
            return true;
        i = (w + 1) * 64;
    }
    return false;
}
