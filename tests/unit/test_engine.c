/* test_engine.c -- the engine with the real knowledge pack (intents/):
 * email validation, entities, attachments, the PONR guard, no duplicate
 * cases, and a conversation that survives closing and reopening. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "entity.h"
#include "text.h"

static char dir[64];
static const char *intents(void)
{
    return getenv("PROVBOT_INTENTS") ? getenv("PROVBOT_INTENTS") : "intents";
}

static int setup(void **state)
{
    strcpy(dir, "/tmp/test_engine.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char err[512];
    /* the suites' shared model cache when there is one (a fresh data folder
     * would train its own: seconds under valgrind; the cache itself is
     * tested in test_nlu_cache) */
    struct engine_config cfg = { .intents_dir = intents(), .data_dir = dir, .channel = "test",
                                 .model_cache_dir = getenv("PROVBOT_MODEL_CACHE") };
    engine *e = engine_open(&cfg, err, sizeof err);
    if (!e)
        fprintf(stderr, "%s\n", err);
    *state = e;
    return e ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    engine_close(*state);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* One turn; returns the reply parsed (caller cJSON_Delete()s). */
static cJSON *say(engine *e, const char *session, const char *user, const char *text)
{
    struct engine_result r;
    char err[256];
    memset(&r, 0xAA, sizeof r); /* the turn fills every field, whatever was there */
    assert_int_equal(engine_turn(e, session, user, text, "id1", &r, err, sizeof err), 0);
    cJSON *j = cJSON_Parse(r.json);
    assert_non_null(j);
    /* no case in the reply: no case id in the result (not what the struct held) */
    if (cJSON_IsNull(cJSON_GetObjectItem(j, "case")))
        assert_int_equal(r.case_id[0], '\0');
    else
        assert_int_equal(strncmp(r.case_id, "PB-", 3), 0);
    assert_string_equal(cJSON_GetObjectItem(j, "reply_to")->valuestring, "id1");
    engine_result_free(&r);
    return j;
}

static const char *field(cJSON *j, const char *k)
{
    cJSON *v = cJSON_GetObjectItem(j, k);
    return cJSON_IsString(v) ? v->valuestring : "null";
}

static void test_email_validation(void **state)
{
    (void)state;
    char why[80];
    const char *good[] = { "a@example.com", "first.last+tag@sub.example.co.uk", "x_y@d-1.se" };
    const char *bad[] = { "a@example", "@example.com", "a@@example.com", "a..b@example.com",
                          "a@-example.com", "a@example.c", "a b@example.com", "a@example.123" };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(ent_email_valid(good[i], why, sizeof why));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(ent_email_valid(bad[i], why, sizeof why));
}

static void test_attachments(void **state)
{
    engine *e = *state;
    char err[256];
    static const unsigned char png[] = "\x89PNG\r\n\x1a\n rest";
    /* no case form open: refused */
    assert_int_not_equal(engine_attach(e, "att", "a.png", png, sizeof png, err, sizeof err), 0);
    assert_non_null(strstr(err, "while a case is being opened"));
    cJSON_Delete(say(e, "att", "me@example.com", "open a support case"));
    assert_int_not_equal(engine_attach(e, "att", "a.txt", "hello", 5, err, sizeof err), 0);
    assert_non_null(strstr(err, "PNG or JPEG"));
    /* a cut JPEG signature is no JPEG */
    assert_int_not_equal(engine_attach(e, "att", "cut.jpg", "\xff\xd8", 2, err, sizeof err), 0);
    assert_non_null(strstr(err, "PNG or JPEG"));
    unsigned char *big = calloc(1, (5u << 20) + 10);
    memcpy(big, png, 8);
    assert_int_not_equal(engine_attach(e, "att", "big.png", big, (5u << 20) + 10, err, sizeof err), 0);
    assert_non_null(strstr(err, "larger than 5 MB"));
    free(big);
    /* the bare 8-byte PNG signature is a PNG; 7 of its bytes are not */
    assert_int_not_equal(engine_attach(e, "att", "cut.png", png, 7, err, sizeof err), 0);
    assert_int_equal(engine_attach(e, "att", "sig.png", png, 8, err, sizeof err), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(engine_attach(e, "att", "a.png", png, sizeof png, err, sizeof err), 0);
    /* a JPEG is taken like a PNG: the fifth screenshot */
    assert_int_equal(engine_attach(e, "att", "b.jpg", "\xff\xd8\xff\xe0", 4, err, sizeof err), 0);
    /* the sixth is refused for the count, whatever its type */
    assert_int_not_equal(engine_attach(e, "att", "a.png", png, sizeof png, err, sizeof err), 0);
    assert_non_null(strstr(err, "at most 5"));
    assert_int_not_equal(engine_attach(e, "att", "c.jpg", "\xff\xd8\xff\xe0", 4, err, sizeof err), 0);
    assert_non_null(strstr(err, "at most 5"));
}

static void test_ponr_guard_and_no_duplicates(void **state)
{
    engine *e = *state;
    cJSON *j = say(e, "pg", "me@example.com",
                   "our org is already onboarded, open a case for order 55512345 new contact n@example.com");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "case")));
    assert_non_null(strstr(field(j, "text"), "admin.webex.com"));
    cJSON_Delete(j);

    /* PONR unknown: asked once before the form */
    j = say(e, "dup", "me@example.com", "open a case for order 55512345 new contact n@example.com, save fails");
    assert_string_equal(field(j, "expect"), "yes_no");
    assert_non_null(strstr(field(j, "text"), "Control Hub"));
    cJSON_Delete(j);
    j = say(e, "dup", "me@example.com", "no");
    assert_string_equal(field(j, "expect"), "confirm");
    cJSON_Delete(j);
    j = say(e, "dup", "me@example.com", "yes");
    cJSON *c = cJSON_GetObjectItem(j, "case");
    assert_true(cJSON_IsObject(c));
    char id[32];
    snprintf(id, sizeof id, "%s", field(c, "id"));
    cJSON_Delete(j);
    /* the same order again: its reference up front, no form, no second case */
    j = say(e, "dup", "me@example.com", "open a case for order 55512345 new contact n@example.com, save fails");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "case")));
    assert_non_null(strstr(field(j, "text"), id));
    assert_non_null(strstr(field(j, "text"), "already"));
    assert_string_not_equal(field(j, "expect"), "confirm");
    cJSON_Delete(j);
}

static void test_resume_after_reopen(void **state)
{
    engine *e = *state;
    cJSON_Delete(say(e, "rs", NULL, "jag vill öppna ett ärende"));
    cJSON_Delete(say(e, "rs", NULL, "nej"));
    cJSON_Delete(say(e, "rs", NULL, "55512345"));
    engine_close(e);
    char err[512];
    struct engine_config cfg = { .intents_dir = intents(), .data_dir = dir, .channel = "test",
                                 .model_cache_dir = getenv("PROVBOT_MODEL_CACHE") };
    *state = e = engine_open(&cfg, err, sizeof err);
    assert_non_null(e);
    cJSON *j = say(e, "rs", NULL, "ny@example.se");
    assert_string_equal(field(j, "lang"), "sv");
    assert_string_equal(field(j, "expect"), "text");
    cJSON_Delete(j);
}

/* The case form is open while one of its questions is pending: not before,
 * not at another question (the PONR yes/no), not for an unknown session. */
static void test_form_pending(void **state)
{
    engine *e = *state;
    assert_int_equal(engine_form_pending(e, "nobody"), 0);
    cJSON_Delete(say(e, "fp", "me@example.com", "hello"));
    assert_int_equal(engine_form_pending(e, "fp"), 0);
    cJSON *r = say(e, "fp", "me@example.com", "open a support case");
    assert_string_equal(field(r, "expect"), "yes_no");       /* the PONR guard first */
    cJSON_Delete(r);
    assert_int_equal(engine_form_pending(e, "fp"), 0);
    r = say(e, "fp", "me@example.com", "no");
    assert_string_equal(field(r, "expect"), "order_ref");
    cJSON_Delete(r);
    assert_int_equal(engine_form_pending(e, "fp"), 1);
    cJSON_Delete(say(e, "fp", "me@example.com", "55512345"));
    assert_int_equal(engine_form_pending(e, "fp"), 1);       /* the next field */
}

static void test_session_ids(void **state)
{
    (void)state;
    char a[33], b[33];
    engine_new_session(a);
    engine_new_session(b);
    assert_int_equal(strlen(a), 32);
    assert_string_not_equal(a, b);
    /* every byte is random, the first one too: 200 ids give many first bytes */
    bool seen[256] = { false };
    int distinct = 0;
    for (int i = 0; i < 200; i++) {
        engine_new_session(a);
        unsigned v;
        assert_int_equal(sscanf(a, "%2x", &v), 1);
        distinct += !seen[v & 255];
        seen[v & 255] = true;
    }
    assert_true(distinct >= 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email_validation),
        cmocka_unit_test_setup_teardown(test_attachments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ponr_guard_and_no_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_after_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_pending, setup, teardown),
        cmocka_unit_test(test_session_ids),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
