/* test_buf.c -- the growable buffer: JSON strings and numbers exactly as
 * cJSON prints them (random strings with every kind of byte, numbers of
 * every shape), the hard cap (an append past it fails and marks the buffer
 * failed for good; nothing is cut silently), buf_take() and buf_free(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static uint64_t rng = 7;

static unsigned next(void)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(rng >> 33);
}

/* A random NUL-terminated string of up to max - 1 bytes: mostly letters,
 * some quotes, backslashes, control bytes and bytes over 127. */
static void random_string(char *s, size_t max)
{
    static const char some[] = "ab \"\\\n\t\r\b\f\x01\x1f\x7f\xc3\xa5/";
    size_t n = next() % max;
    for (size_t i = 0; i < n; i++)
        s[i] = next() % 4 ? (char)('a' + next() % 26) : some[next() % (sizeof some - 1)];
    s[n] = '\0';
}

/* cJSON's text of one string or number, into out. */
static void cjson_text(cJSON *item, char *out, size_t cap)
{
    char *t = cJSON_PrintUnformatted(item);
    assert_non_null(t);
    assert_true(strlen(t) < cap);
    strcpy(out, t);
    free(t);
    cJSON_Delete(item);
}

static void test_strings_as_cjson(void **state)
{
    (void)state;
    char s[300], want[2000];
    struct buf b;
    for (int k = 0; k < 5000; k++) {
        random_string(s, sizeof s);
        cjson_text(cJSON_CreateString(s), want, sizeof want);
        buf_init(&b, 1 << 20);
        buf_adds(&b, "x");              /* after other bytes too */
        assert_int_equal(buf_json_str(&b, s), 0);
        assert_string_equal(buf_str(&b) + 1, want);
        assert_int_equal(b.len, strlen(want) + 1);
        buf_free(&b);
    }
    buf_init(&b, 64);
    assert_int_equal(buf_json_str(&b, NULL), 0);
    assert_string_equal(buf_str(&b), "null");
    buf_free(&b);
}

static void test_numbers_as_cjson(void **state)
{
    (void)state;
    static const double fixed[] = { 0, -0.0, 1, -1, 0.5, 0.6, 0.9, 0.123, 0.001, 1e-7, 3.14159,
                                    1e15, 1e16, 123456789012.5, 1.0 / 3, -2.75, 1796348532097.0 };
    char want[64];
    struct buf b;
    for (int k = 0; k < 3000; k++) {
        double d = k < (int)(sizeof fixed / sizeof *fixed) ? fixed[k]
                   : k % 3 ? (double)(next() % 100000) / (double)(1 + next() % 1000)
                           : ldexp((double)next(), (int)(next() % 80) - 40) * (next() % 2 ? 1 : -1);
        cjson_text(cJSON_CreateNumber(d), want, sizeof want);
        buf_init(&b, 1 << 10);
        assert_int_equal(buf_json_num(&b, d), 0);
        assert_string_equal(buf_str(&b), want);
        buf_free(&b);
    }
    buf_init(&b, 64);
    buf_json_num(&b, NAN);
    assert_string_equal(buf_str(&b), "null");
    buf_free(&b);
}

/* Appends that reach the cap exactly succeed; one byte more fails, the
 * buffer stays failed, and buf_take() gives NULL. */
static void test_hard_cap(void **state)
{
    (void)state;
    for (size_t max = 1; max < 700; max += 37) {
        struct buf b;
        buf_init(&b, max);
        for (size_t i = 0; i < max; i++)
            assert_int_equal(buf_add(&b, "y", 1), 0);
        assert_int_equal(b.len, max);
        assert_false(b.failed);
        assert_int_equal(buf_add(&b, "y", 1), -1);
        assert_true(b.failed);
        assert_int_equal(buf_add(&b, "", 0), -1);      /* failed for good */
        assert_int_equal(buf_json_str(&b, ""), -1);
        assert_null(buf_take(&b));
        assert_false(b.failed);                        /* empty again */
        /* a JSON string that does not fit fails, whatever its escapes */
        assert_int_equal(buf_json_str(&b, max % 2 ? "\n" : "a"), max >= 3 + (max % 2) ? 0 : -1);
        buf_free(&b);
    }
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_json_str(&b, "12345678"), 0);   /* 10 bytes with its quotes */
    assert_int_equal(buf_json_str(&b, ""), -1);
    buf_free(&b);
    buf_init(&b, 10);
    assert_int_equal(buf_json_str(&b, "123456789"), -1);  /* 11 */
    assert_true(b.failed);
    buf_free(&b);
}

static void test_take_and_free(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    char *e = buf_take(&b);               /* empty: "" allocated */
    assert_non_null(e);
    assert_string_equal(e, "");
    free(e);
    buf_printf(&b, "%d-%s", 42, "x");
    buf_json_str(&b, "q\"");
    char *t = buf_take(&b);
    assert_string_equal(t, "42-x\"q\\\"\"");
    free(t);
    assert_int_equal(b.len, 0);
    assert_string_equal(buf_str(&b), "");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_as_cjson),
        cmocka_unit_test(test_numbers_as_cjson),
        cmocka_unit_test(test_hard_cap),
        cmocka_unit_test(test_take_and_free),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
