/* test_wchat.c -- web chat frames: what a client may send, what comes back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wchat.h"

static enum wchat_kind parse(const char *s, struct wchat_frame *f)
{
    return wchat_parse(s, strlen(s), false, f);
}

static void test_hello(void **state)
{
    (void)state;
    struct wchat_frame f;
    assert_int_equal(parse("{\"type\":\"hello\",\"session\":\"abc-12_X\",\"user\":\"me@example.com\"}", &f), WCHAT_HELLO);
    assert_string_equal(f.session, "abc-12_X");
    assert_string_equal(f.user, "me@example.com");
    wchat_frame_clear(&f);
    /* a session id that is not ours to accept is dropped, not trusted */
    assert_int_equal(parse("{\"type\":\"hello\",\"session\":\"../../etc\"}", &f), WCHAT_HELLO);
    assert_string_equal(f.session, "");
    wchat_frame_clear(&f);
    assert_int_equal(parse("{\"type\":\"hello\"}", &f), WCHAT_HELLO);
    assert_null(f.id);
    assert_null(f.token);
    wchat_frame_clear(&f);
}

/* The identity token is carried, unchecked (the server verifies it); a
 * token that is not a string is no token. */
static void test_hello_token(void **state)
{
    (void)state;
    struct wchat_frame f;
    assert_int_equal(parse("{\"type\":\"hello\",\"token\":\"aa.bb.cc\",\"user\":\"x@y.se\"}", &f), WCHAT_HELLO);
    assert_non_null(f.token);
    assert_string_equal(f.token, "aa.bb.cc");
    assert_string_equal(f.user, "x@y.se");
    wchat_frame_clear(&f);
    assert_null(f.token);
    assert_int_equal(parse("{\"type\":\"hello\",\"token\":42}", &f), WCHAT_HELLO);
    assert_null(f.token);
    wchat_frame_clear(&f);
    /* a message's token is not read */
    assert_int_equal(parse("{\"type\":\"message\",\"text\":\"x\",\"token\":\"aa.bb.cc\"}", &f), WCHAT_MESSAGE);
    assert_null(f.token);
    wchat_frame_clear(&f);
}

static void test_message(void **state)
{
    (void)state;
    struct wchat_frame f;
    assert_int_equal(parse("{\"type\":\"message\",\"text\":\"hej på dig\",\"id\":\"m1\"}", &f), WCHAT_MESSAGE);
    assert_string_equal(f.text, "hej på dig");
    assert_string_equal(f.id, "m1");
    wchat_frame_clear(&f);
    assert_int_equal(parse("{\"type\":\"message\",\"text\":\"x\"}", &f), WCHAT_MESSAGE);
    assert_null(f.id);
    wchat_frame_clear(&f);
}

static void test_bad_frames(void **state)
{
    (void)state;
    struct wchat_frame f;
    const char *bad[] = { "", "nope", "[1,2]", "{\"type\":1}", "{\"text\":\"x\"}",
                          "{\"type\":\"message\"}", "{\"type\":\"message\",\"text\":5}",
                          "{\"type\":\"message\",\"text\":\"x\",\"id\":7}", "{\"type\":\"shout\"}",
                          "{\"type\":\"message\",\"text\":\"x\"" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(parse(bad[i], &f), WCHAT_BAD);
        assert_non_null(f.error);
        wchat_frame_clear(&f);
    }
    assert_int_equal(wchat_parse("{\"type\":\"message\",\"text\":\"\xc3\"}", 28, false, &f), WCHAT_BAD);
    assert_string_equal(f.error, "invalid UTF-8");
    wchat_frame_clear(&f);
    assert_int_equal(wchat_parse("{}", 2, true, &f), WCHAT_BAD);
    wchat_frame_clear(&f);
    /* the id of a bad message still comes back as reply_to */
    assert_int_equal(parse("{\"type\":\"message\",\"id\":\"m9\"}", &f), WCHAT_BAD);
    assert_string_equal(f.id, "m9");
    wchat_frame_clear(&f);
}

static void test_builders(void **state)
{
    (void)state;
    char *w = wchat_welcome("s1", NULL);
    assert_string_equal(w, "{\"type\":\"welcome\",\"session\":\"s1\"}");
    free(w);
    cJSON *ex = cJSON_Parse("{\"email\":{\"en\":\"name@x\",\"sv\":\"namn@x\"}}");
    w = wchat_welcome("s2", ex);
    assert_string_equal(w, "{\"type\":\"welcome\",\"session\":\"s2\","
                           "\"expects\":{\"email\":{\"en\":\"name@x\",\"sv\":\"namn@x\"}}}");
    free(w);
    cJSON_Delete(ex);
    char *e = wchat_error("too_fast", "slow \"down\"", "m2");
    assert_string_equal(e, "{\"type\":\"error\",\"code\":\"too_fast\",\"message\":\"slow \\\"down\\\"\",\"reply_to\":\"m2\"}");
    free(e);
    assert_false(wchat_session_valid(""));
    assert_true(wchat_session_valid("a"));
    char long_id[70];
    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    assert_false(wchat_session_valid(long_id));
}

/* Kills mutate survivors wchat.c:59 (a user of exactly WCHAT_USER_MAX
 * bytes) and :62 (a hello's id freed but left set: a double free). */
static void test_limits(void **state)
{
    (void)state;
    struct wchat_frame f;
    char user[WCHAT_USER_MAX + 2], frame[WCHAT_USER_MAX + 64];
    memset(user, 'u', WCHAT_USER_MAX);
    user[WCHAT_USER_MAX] = '\0';
    snprintf(frame, sizeof frame, "{\"type\":\"hello\",\"user\":\"%s\"}", user);
    assert_int_equal(parse(frame, &f), WCHAT_HELLO);
    assert_string_equal(f.user, user);
    wchat_frame_clear(&f);
    user[WCHAT_USER_MAX] = 'u';
    user[WCHAT_USER_MAX + 1] = '\0';
    snprintf(frame, sizeof frame, "{\"type\":\"hello\",\"user\":\"%s\"}", user);
    assert_int_equal(parse(frame, &f), WCHAT_HELLO);
    assert_string_equal(f.user, "");
    wchat_frame_clear(&f);
    /* a hello with an id: no reply, so no id kept */
    assert_int_equal(parse("{\"type\":\"hello\",\"id\":\"h1\",\"session\":\"s\"}", &f), WCHAT_HELLO);
    assert_null(f.id);
    assert_string_equal(f.session, "s");
    wchat_frame_clear(&f);
    assert_null(f.id);
    assert_null(f.text);
    char sess[WCHAT_SESSION_MAX + 1];
    memset(sess, 'a', WCHAT_SESSION_MAX);
    sess[WCHAT_SESSION_MAX] = '\0';
    assert_true(wchat_session_valid(sess));
    assert_false(wchat_session_valid("a b"));
    assert_false(wchat_session_valid("a/b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_hello_token),
        cmocka_unit_test(test_message),
        cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_builders),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests_name("wchat", tests, NULL, NULL);
}
