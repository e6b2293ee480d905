/* test_nlu_cache.c -- the trained model's cache (nlu_open): a warm cache
 * gives exactly the trained model's answers; a corrupt, truncated or stale
 * cache (another pack) is not used but rebuilt. Run from the repository
 * root (reads intents/ and tests/heldout.tsv). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nlu.h"
#include "pack.h"

static char gdir[64], dir[64], path[128];
static pack *P;
static nlu *REF;             /* trained once, for the group; its cache in gdir */

static int group_setup(void **state)
{
    (void)state;
    char err[256];
    strcpy(gdir, "/tmp/test_nlu_cache.XXXXXX");
    if (!mkdtemp(gdir) || !(P = pack_load("intents", err, sizeof err)))
        return -1;
    REF = nlu_open(P, gdir, err, sizeof err);
    return REF && !nlu_from_cache(REF) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    nlu_free(REF);
    pack_free(P);
    snprintf(cmd, sizeof cmd, "rm -rf %s", gdir);
    return system(cmd);
}

/* A fresh folder holding a copy of the group's cache. */
static int setup(void **state)
{
    (void)state;
    char cmd[256];
    strcpy(dir, "/tmp/test_nlu_cache.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/" NLU_CACHE_FILE, dir);
    snprintf(cmd, sizeof cmd, "cp %s/" NLU_CACHE_FILE " %s", gdir, path);
    return system(cmd);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static long file_size(void)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Every utterance of the held-out file gets the same answer, to the last
 * bit, from a and b; returns how many were compared. */
static int same_answers_in(nlu *a, nlu *b, const char *file)
{
    FILE *f = fopen(file, "r");
    char line[4096];
    int n = 0;
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        char *t = strchr(line, '\t');
        if (line[0] == '#' || !t)
            continue;
        t[strcspn(t, "\n")] = '\0';
        struct nlu_result ra, rb;
        nlu_classify(a, t + 1, strlen(t + 1), NULL, &ra);
        nlu_classify(b, t + 1, strlen(t + 1), NULL, &rb);
        assert_int_equal(ra.intent, rb.intent);
        assert_memory_equal(&ra.confidence, &rb.confidence, sizeof ra.confidence);
        assert_memory_equal(&ra.top, &rb.top, sizeof ra.top);
        assert_int_equal(ra.nalt, rb.nalt);
        assert_memory_equal(ra.alt, rb.alt, sizeof ra.alt);
        assert_string_equal(ra.lang, rb.lang);
        assert_int_equal(ra.intent2, rb.intent2);
        n++;
    }
    fclose(f);
    return n;
}

static int same_answers(nlu *a, nlu *b)
{
    return same_answers_in(a, b, "tests/heldout.tsv") + same_answers_in(a, b, "tests/heldout2.tsv");
}

static void test_warm_cache_is_the_trained_model(void **state)
{
    (void)state;
    char err[256];
    nlu *warm = nlu_open(P, dir, err, sizeof err);
    assert_non_null(warm);
    assert_true(nlu_from_cache(warm));
    assert_int_equal(nlu_model_bytes(REF), nlu_model_bytes(warm));
    assert_true(same_answers(REF, warm) > 850);   /* 572 + 350 or so */
    nlu_free(warm);
}

/* The portable scoring loop gives the answers of the AVX2 one to the last
 * bit (where the processor has AVX2; else both are the portable loop). */
static void test_portable_scores_are_the_same(void **state)
{
    (void)state;
    char err[256];
    setenv("PROVBOT_NLU_AVX2", "0", 1);
    nlu *plain = nlu_open(P, dir, err, sizeof err);
    unsetenv("PROVBOT_NLU_AVX2");
    assert_non_null(plain);
    assert_true(same_answers(REF, plain) > 850);
    nlu_free(plain);
}

/* Flips the byte at offset off of the cache file (off < 0: from the end). */
static void flip(long off)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, off, off < 0 ? SEEK_END : SEEK_SET), 0);
    int b = fgetc(f);
    assert_int_equal(fseek(f, off, off < 0 ? SEEK_END : SEEK_SET), 0);
    fputc(b ^ 0xff, f);
    fclose(f);
}

static void truncate_by(long n)
{
    long size = file_size();
    assert_int_equal(truncate(path, size - n), 0);
}

static void test_bad_cache_is_not_used(void **state)
{
    (void)state;
    pack *p = P;
    nlu *m;
    long size = file_size();
    /* a flipped byte in the weights, in the table, in the header (the
     * version), the last one: refused; flipped back: used */
    const long offs[] = { size / 2, 100, 8, -1 };
    for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) {
        flip(offs[i]);
        assert_null(nlu_cache_load(p, dir));
        flip(offs[i]);
        assert_non_null(m = nlu_cache_load(p, dir));
        nlu_free(m);
    }
    /* a short file, an empty file, none */
    truncate_by(4);
    assert_null(nlu_cache_load(p, dir));
    truncate_by(size - 4);
    assert_null(nlu_cache_load(p, dir));
    assert_int_equal(remove(path), 0);
    assert_null(nlu_cache_load(p, dir));
}

/* A cache that is not right is rebuilt by nlu_open(), which trains. */
static void test_bad_cache_is_rebuilt(void **state)
{
    (void)state;
    char err[256];
    nlu *m;
    long size = file_size();
    flip(size / 3);
    assert_non_null(m = nlu_open(P, dir, err, sizeof err));
    assert_false(nlu_from_cache(m));
    same_answers(REF, m);
    nlu_free(m);
    assert_int_equal(file_size(), size);
    assert_non_null(m = nlu_cache_load(P, dir));   /* rewritten, right */
    nlu_free(m);
}

/* A pack with one example more makes another key: the old cache is stale. */
static void test_other_pack_is_retrained(void **state)
{
    (void)state;
    char err[256], cmd[512], pdir[128];
    snprintf(pdir, sizeof pdir, "%s/intents", dir);
    snprintf(cmd, sizeof cmd, "cp -r intents %s && python3 -c 'import json, sys; "
             "d = json.load(open(sys.argv[1])); "
             "d[\"examples\"][\"en\"].append(\"my provisioning mail went missing\"); "
             "json.dump(d, open(sys.argv[1], \"w\"))' %s/email_not_received.json", pdir, pdir);
    assert_int_equal(system(cmd), 0);
    pack *q = pack_load(pdir, err, sizeof err);
    assert_non_null(q);
    nlu *m = nlu_open(q, dir, err, sizeof err), *c;
    assert_non_null(m);
    assert_false(nlu_from_cache(m));
    assert_non_null(c = nlu_cache_load(q, dir));   /* now the new pack's */
    same_answers(m, c);
    assert_null(nlu_cache_load(P, dir));           /* and no longer the old one's */
    nlu_free(c);
    nlu_free(m);
    pack_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_warm_cache_is_the_trained_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_portable_scores_are_the_same, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_cache_is_not_used, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_cache_is_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_pack_is_retrained, setup, teardown),
    };
    return cmocka_run_group_tests_name("nlu_cache", tests, group_setup, group_teardown);
}
