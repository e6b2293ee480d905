/* test_b64.c -- base64: RFC 4648's vectors both ways, and what strict
 * (JWT) decoding refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "b64.h"

static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
static const char *const padded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
static const char *const bare[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };

static void test_rfc4648_vectors(void **state)
{
    (void)state;
    char out[16];
    unsigned char dec[16];
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
        size_t n = strlen(plain[i]);
        assert_int_equal(b64_encode(plain[i], n, true, out, sizeof out), (long)strlen(padded[i]));
        assert_string_equal(out, padded[i]);
        assert_int_equal(b64_encode(plain[i], n, false, out, sizeof out), (long)strlen(bare[i]));
        assert_string_equal(out, bare[i]);
        assert_int_equal(b64_encoded_size(n, true), strlen(padded[i]) + 1);
        assert_int_equal(b64_decode(padded[i], strlen(padded[i]), B64_LENIENT, dec, sizeof dec), (long)n);
        assert_string_equal((char *)dec, plain[i]);
        assert_int_equal(b64_decode(bare[i], strlen(bare[i]), B64_URL_STRICT, dec, sizeof dec), (long)n);
        assert_memory_equal(dec, plain[i], n);
    }
}

static void test_room(void **state)
{
    (void)state;
    char out[8];
    unsigned char dec[3];
    assert_int_equal(b64_encode("foobar", 6, true, out, sizeof out), -1); /* needs 9 */
    assert_int_equal(b64_encode("foob", 4, false, out, 7), 6);
    assert_int_equal(b64_encode("foob", 4, false, out, 6), -1);
    assert_int_equal(b64_decode("Zm9v", 4, B64_LENIENT, dec, sizeof dec), -1); /* 3 + NUL */
}

static void test_alphabets(void **state)
{
    (void)state;
    unsigned char dec[8];
    /* 0xfb 0xff: "+/8" in the standard alphabet, "-_8" in base64url */
    assert_int_equal(b64_decode("-_8", 3, B64_URL_STRICT, dec, sizeof dec), 2);
    assert_int_equal(dec[0], 0xfb);
    assert_int_equal(dec[1], 0xff);
    assert_int_equal(b64_decode("+/8", 3, B64_LENIENT, dec, sizeof dec), 2);
    assert_int_equal(dec[0], 0xfb);
    assert_int_equal(b64_decode("+/8", 3, B64_URL_STRICT, dec, sizeof dec), -1);
}

static void test_strict_refuses(void **state)
{
    (void)state;
    unsigned char dec[16];
    assert_int_equal(b64_decode("Zg==", 4, B64_URL_STRICT, dec, sizeof dec), -1); /* padding */
    assert_int_equal(b64_decode("Zm9vY", 5, B64_URL_STRICT, dec, sizeof dec), -1); /* length */
    assert_int_equal(b64_decode("Zh", 2, B64_URL_STRICT, dec, sizeof dec), -1);    /* stray bits */
    assert_int_equal(b64_decode("Zh", 2, B64_LENIENT, dec, sizeof dec), 1);
    assert_int_equal(b64_decode("Zm 9v", 5, B64_LENIENT, dec, sizeof dec), -1);    /* not base64 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_room),
        cmocka_unit_test(test_alphabets),
        cmocka_unit_test(test_strict_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
