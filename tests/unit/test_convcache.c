/* test_convcache.c -- the turn path's own pieces: the JSON writers of buf.h
 * (byte for byte what cJSON prints), the cache of parsed dialog states
 * (used only while the stored row is the one it wrote; least recently used
 * out first), and the engine following the stored row when somebody else
 * rewrote it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "convcache.h"
#include "engine.h"
#include "pack.h"
#include "store.h"

static const char *intents(void)
{
    return getenv("PROVBOT_INTENTS") ? getenv("PROVBOT_INTENTS") : "intents";
}

static void expect_num(double d)
{
    struct buf b;
    cJSON *n = cJSON_CreateNumber(d);
    char *want = cJSON_PrintUnformatted(n);
    buf_init(&b, 1024);
    assert_int_equal(buf_json_num(&b, d), 0);
    assert_string_equal(buf_str(&b), want);
    buf_free(&b);
    free(want);
    cJSON_Delete(n);
}

static void test_json_numbers(void **state)
{
    (void)state;
    const double v[] = { 0, -0.0, 1, -1, 0.6, 0.9, 0.996, 0.05, 0.5, 0.001, 0.999, 1.25,
                         -2.5, 10, 123456789, 4149319312.0, 2629817303.0, 1e15, 0.1 + 0.2,
                         1.0 / 3, 1e-7, 1e300, -1e-300, 2147483647.0, 2147483648.0,
                         9007199254740993.0, 1234.5678, 999999999999.999 };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        expect_num(v[i]);
    expect_num(NAN);     /* null, as cJSON */
    expect_num(INFINITY);
    /* thousandths round-trip: what is written reads back as the same double */
    for (int k = -2000; k <= 2000; k++) {
        struct buf b;
        buf_init(&b, 64);
        buf_json_num(&b, k / 1000.0);
        assert_true(strtod(buf_str(&b), NULL) == k / 1000.0);
        buf_free(&b);
    }
}

static void test_json_strings(void **state)
{
    (void)state;
    const char *v[] = { "", "plain", "quote \" and \\ back", "tab\tnl\ncr\rbs\bff\f",
                        "\x01\x1f\x7f end", "åäö ☃ 𝄞", "</script>", "a\"" };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        struct buf b;
        cJSON *s = cJSON_CreateString(v[i]);
        char *want = cJSON_PrintUnformatted(s);
        buf_init(&b, 1024);
        assert_int_equal(buf_json_str(&b, v[i]), 0);
        assert_string_equal(buf_str(&b), want);
        buf_free(&b);
        free(want);
        cJSON_Delete(s);
    }
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_json_str(&b, NULL), 0);
    assert_string_equal(buf_str(&b), "null");
    assert_int_equal(buf_json_str(&b, "longer than the cap"), -1);   /* failed, not cut */
    assert_null(buf_take(&b));
}

static void test_cache(void **state)
{
    (void)state;
    char err[256];
    pack *p = pack_load(intents(), err, sizeof err);
    assert_non_null(p);
    convcache *c = convcache_new(2);
    assert_non_null(c);
    assert_null(convcache_take(c, "a", "{}"));
    dialog *a = dialog_load(p, NULL, "en"), *b = dialog_load(p, NULL, "sv");
    convcache_put(c, "a", a, strdup("{\"v\":2}"), NULL);
    convcache_put(c, "b", b, strdup("{\"v\":3}"), NULL);
    assert_int_equal(convcache_count(c), 2);
    /* another row than the one kept: not used, and gone */
    assert_null(convcache_take(c, "a", "{\"v\":2,\"x\":1}"));
    assert_int_equal(convcache_count(c), 1);
    assert_null(convcache_take(c, "a", "{\"v\":2}"));
    /* the same row: the same object, handed over */
    assert_ptr_equal(convcache_take(c, "b", "{\"v\":3}"), b);
    assert_int_equal(convcache_count(c), 0);
    /* no row (purged): not used */
    convcache_put(c, "b", b, strdup("{}"), NULL);
    assert_null(convcache_take(c, "b", NULL));
    /* full: the least recently put goes */
    convcache_put(c, "x", dialog_load(p, NULL, "en"), strdup("1"), NULL);
    convcache_put(c, "y", dialog_load(p, NULL, "en"), strdup("2"), NULL);
    dialog *z = dialog_load(p, NULL, "en");
    convcache_put(c, "z", z, strdup("3"), NULL);
    assert_int_equal(convcache_count(c), 2);
    assert_null(convcache_take(c, "x", "1"));
    assert_ptr_equal(convcache_take(c, "z", "3"), z);
    dialog_free(z);
    convcache_free(c);   /* frees y */
    pack_free(p);
}

/* An entry's row is handed out only in the epoch it was put in; otherwise
 * the entry stays for the reading path. */
static void test_cache_rows(void **state)
{
    (void)state;
    char err[256], *json = NULL;
    pack *p = pack_load(intents(), err, sizeof err);
    assert_non_null(p);
    convcache *c = convcache_new(4);
    dialog *a = dialog_load(p, NULL, "en"), *b = dialog_load(p, NULL, "en");
    struct convcache_row row = { 7, 9, true, 3 }, got = { 0 };
    convcache_put(c, "a", a, strdup("{\"v\":1}"), &row);
    convcache_put(c, "b", b, strdup("{\"v\":2}"), NULL);   /* no row known */
    assert_null(convcache_take_row(c, "a", 4, &got, &json));  /* another epoch */
    assert_null(convcache_take_row(c, "b", 3, &got, &json));
    assert_null(convcache_take_row(c, "x", 3, &got, &json));
    assert_int_equal(convcache_count(c), 2);
    assert_ptr_equal(convcache_take_row(c, "a", 3, &got, &json), a);
    assert_int_equal(got.rowid, 7);
    assert_int_equal(got.last_turn, 9);
    assert_true(got.failed);
    assert_string_equal(json, "{\"v\":1}");
    assert_int_equal(convcache_count(c), 1);
    free(json);
    dialog_free(a);
    assert_ptr_equal(convcache_take(c, "b", "{\"v\":2}"), b);
    dialog_free(b);
    convcache_free(c);
    pack_free(p);
}

static cJSON *say(engine *e, const char *session, const char *text)
{
    struct engine_result r;
    char err[256];
    assert_int_equal(engine_turn(e, session, NULL, text, NULL, &r, err, sizeof err), 0);
    cJSON *j = cJSON_Parse(r.json);
    assert_non_null(j);
    engine_result_free(&r);
    return j;
}

static const char *lang_of(const cJSON *j)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(j, "lang"));
}

/* A row rewritten by another connection (here: an English state put in a
 * Swedish conversation) is what the next turn continues from, although the
 * engine kept the Swedish object of the turn before. */
static void test_engine_follows_row(void **state)
{
    (void)state;
    char err[512], dir[] = "/tmp/test_convcache.XXXXXX", *en = NULL, cmd[128];
    assert_non_null(mkdtemp(dir));
    /* the suites' shared model cache when there is one (a fresh data folder
     * would train its own: seconds under valgrind; the cache itself is
     * tested in test_nlu_cache) */
    struct engine_config cfg = { .intents_dir = intents(), .data_dir = dir, .channel = "test",
                                 .model_cache_dir = getenv("PROVBOT_MODEL_CACHE") };
    engine *e = engine_open(&cfg, err, sizeof err);
    assert_non_null(e);
    cJSON *j = say(e, "en1", "hello, I need help with an order");
    assert_string_equal(lang_of(j), "en");
    cJSON_Delete(j);
    j = say(e, "sv1", "hej, jag behöver hjälp med en order");
    assert_string_equal(lang_of(j), "sv");
    cJSON_Delete(j);
    j = say(e, "sv1", "55512345");      /* a number keeps the language */
    assert_string_equal(lang_of(j), "sv");
    cJSON_Delete(j);
    store *s = store_open(dir, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(store_conv_load(s, "en1", &en), 1);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_conv_save(s, "sv1", "test", NULL, "en", en, NULL), 0);
    assert_int_equal(store_commit(s), 0);
    store_close(s);
    free(en);
    j = say(e, "sv1", "55512345");
    assert_string_equal(lang_of(j), "en");
    cJSON_Delete(j);
    engine_close(e);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A case of the conversation that failed in another connection (the
 * outbox) is told in the next turn, once: the turn's one read of its row
 * says whether to look. */
static void test_failed_case_told(void **state)
{
    (void)state;
    char err[512], dir[] = "/tmp/test_convcache.XXXXXX", cmd[128];
    assert_non_null(mkdtemp(dir));
    struct engine_config cfg = { .intents_dir = intents(), .data_dir = dir, .channel = "test",
                                 .model_cache_dir = getenv("PROVBOT_MODEL_CACHE"),
                                 .queue_cases = true };
    engine *e = engine_open(&cfg, err, sizeof err);
    assert_non_null(e);
    cJSON_Delete(say(e, "f1", "hello"));
    store *s = store_open(dir, err, sizeof err);
    assert_non_null(s);
    struct case_rec c;
    memset(&c, 0, sizeof c);
    strcpy(c.session, "f1");
    strcpy(c.type, "Change provisioning contact email");
    strcpy(c.order_ref, "55512345");
    strcpy(c.new_email, "n@example.com");
    strcpy(c.lang, "en");
    c.status = CASE_QUEUED;
    assert_int_equal(store_case_insert(s, &c), 0);
    assert_int_equal(store_case_failed(s, c.id, "HTTP 400"), 0);
    store_close(s);
    cJSON *j = say(e, "f1", "thanks");
    assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(j, "text")), c.id));
    cJSON_Delete(j);
    j = say(e, "f1", "thanks");
    assert_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(j, "text")), c.id));
    cJSON_Delete(j);
    engine_close(e);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_numbers),
        cmocka_unit_test(test_json_strings),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_cache_rows),
        cmocka_unit_test(test_engine_follows_row),
        cmocka_unit_test(test_failed_case_told),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
