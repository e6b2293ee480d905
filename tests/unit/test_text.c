/* test_text.c -- normalisation: case and diacritic folding, punctuation,
 * repeated letters, and hostile bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

static void norm_is(const char *in, enum text_form f, const char *want)
{
    char out[256];
    text_normalize(in, strlen(in), f, out, sizeof out);
    assert_string_equal(out, want);
}

static void test_case_folding(void **state)
{
    (void)state;
    norm_is("ÅÄÖ Éclair", TEXT_LOWER, "åäö éclair");
    norm_is("ÅÄÖ Éclair", TEXT_FOLD, "aao eclair");
    norm_is("Ändra ETABLERINGSKONTAKTEN!", TEXT_FOLD, "andra etableringskontakten");
    norm_is("STRASSE Łódź", TEXT_FOLD, "strasse lodz");
}

static void test_punctuation_and_space(void **state)
{
    (void)state;
    norm_is("  it-admin@example.org, please!!  ", TEXT_FOLD, "it admin example org please");
    norm_is("a\t\tb\n\nc", TEXT_LOWER, "a b c");
    norm_is("...", TEXT_FOLD, "");
    norm_is("", TEXT_FOLD, "");
}

static void test_repeated_letters(void **state)
{
    (void)state;
    norm_is("heeeeelp", TEXT_FOLD, "heelp");
    norm_is("hello", TEXT_FOLD, "hello");
    norm_is("55512345", TEXT_FOLD, "55512345"); /* digits are kept as they are */
}

static void test_hostile_bytes(void **state)
{
    (void)state;
    const char bad[] = "a\xff\xfe" "b\xc3" "\0c";
    char out[64];
    size_t n = text_normalize(bad, sizeof bad - 1, TEXT_FOLD, out, sizeof out);
    assert_string_equal(out, "a b c");
    assert_int_equal(n, 5);
    char *s = text_sanitize(bad, sizeof bad - 1);
    assert_non_null(s);
    assert_true(text_utf8_valid(s, strlen(s)));
    assert_string_equal(s, "a\xef\xbf\xbd\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd" "c");
    free(s);
    assert_false(text_utf8_valid("\xc0\xaf", 2));   /* overlong */
    assert_false(text_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    assert_true(text_utf8_valid("smörgås", strlen("smörgås")));
}

static void test_truncation(void **state)
{
    (void)state;
    char out[6];
    /* never splits a character, always terminates */
    text_normalize("åååå", 8, TEXT_LOWER, out, sizeof out);
    assert_true(text_utf8_valid(out, strlen(out)));
    assert_true(strlen(out) <= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_folding),
        cmocka_unit_test(test_punctuation_and_space),
        cmocka_unit_test(test_repeated_letters),
        cmocka_unit_test(test_hostile_bytes),
        cmocka_unit_test(test_truncation),
    };
    return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
