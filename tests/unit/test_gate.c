/* test_gate.c -- the literal gate before the patterns (gate.h): it says no
 * only where PCRE2 finds no match (checked on the pack's patterns against
 * every example and held-out message, and on patterns written to probe
 * the analysis), it does say no to most subjects, and what it cannot read
 * always runs; each in both modes (GATE_LAZY, GATE_EAGER). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "gate.h"
#include "pack.h"
#include "text.h"
#include "tree.h"

static const char *intents(void)
{
    return getenv("PROVBOT_INTENTS") ? getenv("PROVBOT_INTENTS") : "intents";
}

static pcre2_code *compile(const char *re)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                                  PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS | PCRE2_MATCH_INVALID_UTF,
                                  &code, &off, NULL);
    if (!c)
        fail_msg("pattern %s does not compile", re);
    return c;
}

struct probe {
    gate *g;
    pcre2_code **re;
    const char **src;
    size_t n;
    pcre2_match_data *md;
    long runs, subjects, matches;
};

/* Every stride-th subject is checked (1, or $PROVBOT_TEST_STRIDE: under
 * valgrind, where PCRE2 runs without its JIT, the memory checks need the
 * code paths, not every text). */
static long stride(void)
{
    const char *v = getenv("PROVBOT_TEST_STRIDE");
    return v && atol(v) > 1 ? atol(v) : 1;
}

/* Checks every pattern of pr on subject s: a match is never gated away. */
static void check_subject(struct probe *pr, const char *s, size_t len)
{
    static long seen;
    if (seen++ % stride())
        return;
    gate_scan(pr->g, s, len);
    pr->subjects++;
    for (size_t k = 0; k < pr->n; k++) {
        bool match = pcre2_match(pr->re[k], (PCRE2_SPTR)s, len, 0, 0, pr->md, NULL) >= 0;
        bool may = gate_may_match(pr->g, (int)k);
        if (match && !may)
            fail_msg("the gate of /%s/ says no to \"%.*s\", which it matches", pr->src[k],
                     (int)len, s);
        pr->matches += match;
        pr->runs += may;
    }
    /* gate_may_any() of ranges of up to 130 patterns is the "or" of their
     * gate_may_match() (on one subject in 16) */
    for (size_t k = 0; pr->subjects % 16 == 1 && k < pr->n; k += 7)
        for (size_t n = 0; n <= 130 && k + n <= pr->n; n += 1 + n / 3) {
            bool any = false;
            for (size_t i = 0; i < n; i++)
                any = any || gate_may_match(pr->g, (int)(k + i));
            if (gate_may_any(pr->g, (int)k, n) != any)
                fail_msg("gate_may_any(%zu, %zu) is %d, its patterns' %d", k, n, !any, any);
        }
}

static void probe_add(struct probe *pr, const char *re)
{
    pr->re = realloc(pr->re, (pr->n + 1) * sizeof *pr->re);
    pr->src = realloc(pr->src, (pr->n + 1) * sizeof *pr->src);
    assert_non_null(pr->re);
    assert_non_null(pr->src);
    assert_int_equal(gate_add(pr->g, re), (int)pr->n);
    pr->re[pr->n] = compile(re);
    pr->src[pr->n++] = re;
}

/* probe_add() of each pattern of r; how many of them the gate reads. */
static size_t probe_rules(struct probe *pr, const struct pack_rules *r)
{
    size_t read = 0;
    for (size_t i = 0; i < r->n; i++) {
        probe_add(pr, r->src[i]);
        read += gate_has_literals(pr->g, (int)pr->n - 1);
    }
    return read;
}

static void probe_free(struct probe *pr)
{
    for (size_t k = 0; k < pr->n; k++)
        pcre2_code_free(pr->re[k]);
    free(pr->re);
    free(pr->src);
    pcre2_match_data_free(pr->md);
    gate_free(pr->g);
}

/* Every example of the pack, folded as the classifier folds them. */
static void check_examples(struct probe *pr, const pack *p)
{
    char fold[8192];
    for (size_t c = 0; c < pack_intent_count(p); c++)
        for (int l = 0; l < PACK_NLANG; l++) {
            const cJSON *x;
            cJSON_ArrayForEach(x, pack_intent_at(p, c)->examples[l]) {
                size_t n = text_normalize(x->valuestring, strlen(x->valuestring), TEXT_FOLD,
                                          fold, sizeof fold);
                check_subject(pr, fold, n);
            }
        }
}

/* Every message of a held-out file, folded as the classifier folds them,
 * whole and by sentence. */
static void check_texts(struct probe *pr, const char *heldout)
{
    char fold[8192], line[8192];
    FILE *f = fopen(heldout, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        char *t = strchr(line, '\t');
        if (line[0] == '#' || !t)
            continue;
        t++;
        t[strcspn(t, "\n")] = '\0';
        struct text_span sp[8];
        size_t ns = text_sentences(t, strlen(t), sp, 8);
        check_subject(pr, fold, text_normalize(t, strlen(t), TEXT_FOLD, fold, sizeof fold));
        for (size_t i = 0; ns > 1 && i < ns; i++)
            check_subject(pr, fold, text_normalize(t + sp[i].off, sp[i].len, TEXT_FOLD, fold,
                                                   sizeof fold));
    }
    fclose(f);
}

static void test_pack_patterns_never_gated_away(void **state)
{
    char err[512];
    pack *p = pack_load(intents(), err, sizeof err);
    if (!p)
        fail_msg("pack: %s", err);
    struct probe pr = { gate_new(*(enum gate_mode *)*state), NULL, NULL, 0, pcre2_match_data_create(1, NULL), 0, 0, 0 };
    assert_non_null(pr.g);
    size_t gated = 0;
    for (size_t c = 0; c < pack_intent_count(p); c++)
        gated += probe_rules(&pr, &pack_intent_at(p, c)->rules);
    assert_true(pr.n >= 10);
    assert_int_equal(gated, pr.n);     /* every pattern of the intents is read */
    /* and the values' and the answers' (pack_rules_match()'s gate) */
    size_t more = pr.n, read = 0;
    for (size_t v = 0; v < pack_value_count(p); v++)
        read += probe_rules(&pr, &pack_value_at(p, v)->rules);
    for (size_t f = 0; f < tree_faq_count(pack_tree(p)); f++)
        read += probe_rules(&pr, &tree_faq_at(pack_tree(p), f)->rules);
    assert_true(pr.n - more >= 100);
    assert_true(read * 10 >= (pr.n - more) * 9);   /* nine in ten at least */
    check_examples(&pr, p);
    check_texts(&pr, "tests/heldout.tsv");
    check_texts(&pr, "tests/heldout2.tsv");
    check_texts(&pr, "tests/heldout3.tsv");
    /* the point: few patterns run, and every match still does */
    assert_true(pr.matches > 100 / stride());
    assert_true(pr.runs < (long)(pr.subjects * pr.n) / 10);
    probe_free(&pr);
    pack_free(p);
}

static void test_probing_patterns(void **state)
{
    static const char *res[] = {
        "\\bstatus (of|on) (my|the) case\\b", "^(hi|hello)( there)?$", "^^ab", "ab$$",
        "a?b?c?", "x*", "(foo)+bar", "foo.*bar", "(?:ab|cd)ef", "^$", "(a|)b", "\\.com\\b",
        "ABC", "(x|y|z)(x|y|z)(x|y|z)(x|y|z)(x|y|z)", "a\\Bb", "colou?r", "(re)?send",
        "\\d+", "(?i)abc", "é", "a{x", "[[:alpha:]]b", "(?<name>ab)",
        "[ab]c", "a{2}", "(?=ab)a", "a.{0,30}b\\W*$", "^(?!.*saas).*\\ball lines\\b", "[]x]y",
        "x{0,2}yz",
        /* the pack's shapes: gated by their longest words, not by a space */
        "\\b(raden|det) (ar )?vantar\\b", "\\b(edit|redigera)( knappen)? (ar )?(gra|grå)\\b",
        "^same (as|like) before\\b",
    };
    static const char *subjects[] = {
        "status of my case", "the status on the case now", "hi", "hello there", "hi there you",
        "ab", "xab", "abc", "zab", "foo bar", "foofoobar", "cdef", "ef", "", " ", "b", "x.com",
        "abc", "xyzxy", "zzzzz", "ab", "color", "colour", "send", "resend", "ac", "42",
        "ABC", "aa", "ab", "e", "é", "\\", "status of my case é", "a{x", "zb", "bc", "a   b",
        "a and then b.", "all lines", "saas all lines", "all lines saas", "]y", "xy", "yz", "xxyz",
        "name ab", "raden vantar", "det ar vantar", "the line is open", "edit knappen ar grå",
        "redigera gra", "edit is grey", "same as before", "the same as before",
    };
    const size_t nres = sizeof res / sizeof *res, nsub = sizeof subjects / sizeof *subjects;
    struct probe pr = { gate_new(*(enum gate_mode *)*state), NULL, NULL, 0, pcre2_match_data_create(1, NULL), 0, 0, 0 };
    assert_non_null(pr.g);
    for (size_t i = 0; i < nres; i++)
        probe_add(&pr, res[i]);
    for (size_t i = 0; i < nsub; i++)
        check_subject(&pr, subjects[i], strlen(subjects[i]));
    /* what the analysis reads, and what it leaves to PCRE2 */
    assert_true(gate_has_literals(pr.g, 0));
    assert_true(gate_has_literals(pr.g, 1));
    assert_false(gate_has_literals(pr.g, 4));    /* matches "" */
    assert_false(gate_has_literals(pr.g, 5));
    assert_true(gate_has_literals(pr.g, 7));
    assert_false(gate_has_literals(pr.g, 9));    /* "^$": markers only */
    for (size_t i = 17; i < 23; i++)          /* left to PCRE2 */
        assert_false(gate_has_literals(pr.g, (int)i));
    for (size_t i = 23; i < nres; i++)        /* classes, counts, look-arounds, é */
        assert_true(gate_has_literals(pr.g, (int)i));
    /* and it says no where it can */
    gate_scan(pr.g, "all the rows", 12);
    assert_false(gate_may_match(pr.g, 27));      /* "all lines" is not there */
    gate_scan(pr.g, "hello world", 11);
    assert_false(gate_may_match(pr.g, 0));
    assert_false(gate_may_match(pr.g, 1));       /* anchored: "hello" is not all */
    assert_true(gate_may_match(pr.g, 4));
    gate_scan(pr.g, "hello", 5);
    assert_true(gate_may_match(pr.g, 1));
    /* a long word gates, though shorter ones are there */
    gate_scan(pr.g, "the line is open to edit, same as before", 40);
    assert_false(gate_may_match(pr.g, (int)nres - 3));  /* no "vantar" */
    assert_false(gate_may_match(pr.g, (int)nres - 2));  /* no "gra" after "edit " */
    assert_false(gate_may_match(pr.g, (int)nres - 1));  /* "same" not at the start */
    /* a pattern added after a scan is read at the next (the eager index is
     * rebuilt) */
    int z = gate_add(pr.g, "zebra(s)?");
    gate_scan(pr.g, "two zebras", 10);
    assert_true(gate_may_match(pr.g, z));
    assert_false(gate_may_match(pr.g, 1));
    gate_scan(pr.g, "a horse", 7);
    assert_false(gate_may_match(pr.g, z));
    probe_free(&pr);
}

/* A random pattern of the constructs the analysis reads, over "ab " */
static size_t rnd_re(uint64_t *rng, char *out, size_t cap, int depth)
{
    static const char *atoms[] = { "a", "b", " ", "ab", "ba", "\\b", "^", "$", ".", "A",
                                   "[ab]", "\\W", "[^a]", "(?!a)", "(?<=b)", "\\s" };
    static const char *quants[] = { "", "", "", "?", "*", "+", "??", "{0,2}", "{1,2}", "{2}" };
    size_t o = 0;
    int n = 1 + (int)(*rng % 4);
    for (int i = 0; i < n && o + 40 < cap; i++) {
        *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned r = (unsigned)(*rng >> 33);
        if (depth < 2 && r % 5 == 0) {
            out[o++] = '(';
            o += rnd_re(rng, out + o, cap - o - 8, depth + 1);
            if (r % 3 == 0) {
                out[o++] = '|';
                o += rnd_re(rng, out + o, cap - o - 8, depth + 1);
            }
            out[o++] = ')';
        } else {
            const char *a = atoms[(r >> 3) % (sizeof atoms / sizeof *atoms)];
            memcpy(out + o, a, strlen(a));
            o += strlen(a);
        }
        const char *q = quants[(r >> 8) % (sizeof quants / sizeof *quants)];
        memcpy(out + o, q, strlen(q));
        o += strlen(q);
    }
    out[o] = '\0';
    return o;
}

static void test_random_patterns(void **state)
{
    uint64_t rng = 42;
    char re[256][160], sub[8];
    struct probe pr = { gate_new(*(enum gate_mode *)*state), NULL, NULL, 0, pcre2_match_data_create(1, NULL), 0, 0, 0 };
    assert_non_null(pr.g);
    for (int i = 0; i < 256; i++) {
        int code;
        PCRE2_SIZE off;
        pcre2_code *c;
        do {    /* PCRE2 refuses some ("^*"): another */
            rnd_re(&rng, re[i], sizeof re[i], 0);
            c = pcre2_compile((PCRE2_SPTR)re[i], PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_CASELESS,
                              &code, &off, NULL);
        } while (!c);
        pcre2_code_free(c);
        probe_add(&pr, re[i]);
    }
    for (int i = 0; i < 2000; i++) {   /* every subject of up to 7 of "ab " */
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t n = 1 + (rng >> 40) % 7;
        for (size_t j = 0; j < n; j++)
            sub[j] = "ab "[(rng >> (3 * j + 2)) % 3];
        check_subject(&pr, sub, n);
    }
    assert_true(pr.runs < (long)(pr.subjects * pr.n));
    probe_free(&pr);
}

int main(void)
{
    static enum gate_mode lazy = GATE_LAZY, eager = GATE_EAGER;   /* each test in both modes */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_pack_patterns_never_gated_away, &lazy),
        cmocka_unit_test_prestate(test_pack_patterns_never_gated_away, &eager),
        cmocka_unit_test_prestate(test_probing_patterns, &lazy),
        cmocka_unit_test_prestate(test_probing_patterns, &eager),
        cmocka_unit_test_prestate(test_random_patterns, &lazy),
        cmocka_unit_test_prestate(test_random_patterns, &eager),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
