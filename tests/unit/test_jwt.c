/* test_jwt.c -- HS256 identity tokens: what verifies and what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jwt.h"

#define KEY "a-portal-secret-of-32-bytes-ok!!"
#define NOW 1800000000

/* base64url without padding of in[0..n) into out. */
static void b64url(const unsigned char *in, size_t n, char *out)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = al[v >> 18 & 63];
        out[o++] = al[v >> 12 & 63];
        if (i + 1 < n) out[o++] = al[v >> 6 & 63];
        if (i + 2 < n) out[o++] = al[v & 63];
    }
    out[o] = '\0';
}

/* A token of header and payload JSON signed with key (NULL: no signature). */
static char *make(const char *header, const char *payload, const char *key)
{
    char *t = malloc(8192), sig[64];
    unsigned char md[32];
    unsigned int mdlen = 0;
    b64url((const unsigned char *)header, strlen(header), t);
    strcat(t, ".");
    b64url((const unsigned char *)payload, strlen(payload), t + strlen(t));
    if (key) {
        HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)t, strlen(t), md, &mdlen);
        b64url(md, mdlen, sig);
    } else {
        sig[0] = '\0';
    }
    strcat(t, ".");
    strcat(t, sig);
    return t;
}

static enum jwt_result verify(const char *t, struct jwt_identity *id)
{
    return jwt_verify_hs256(t, KEY, strlen(KEY), NOW, id);
}

#define HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static void test_good(void **state)
{
    (void)state;
    struct jwt_identity id;
    char *t = make(HS, "{\"email\":\"anna@partner.example\",\"name\":\"Anna Berg\",\"exp\":1800000600}", KEY);
    assert_int_equal(verify(t, &id), JWT_OK);
    assert_string_equal(id.email, "anna@partner.example");
    assert_string_equal(id.name, "Anna Berg");
    assert_int_equal(id.exp, 1800000600);
    free(t);
    /* name is optional, typ too */
    t = make("{\"alg\":\"HS256\"}", "{\"email\":\"b@x.se\",\"exp\":1800000001}", KEY);
    assert_int_equal(verify(t, &id), JWT_OK);
    assert_string_equal(id.name, "");
    free(t);
    /* an exp beyond int64 is the far future, not undefined behaviour */
    t = make(HS, "{\"email\":\"b@x.se\",\"exp\":1e300}", KEY);
    assert_int_equal(verify(t, &id), JWT_OK);
    assert_true(id.exp == INT64_MAX);
    free(t);
}

static void test_expired(void **state)
{
    (void)state;
    struct jwt_identity id;
    char *t = make(HS, "{\"email\":\"anna@partner.example\",\"exp\":1800000000}", KEY);
    assert_int_equal(verify(t, &id), JWT_EXPIRED);      /* exp == now is past */
    assert_string_equal(id.email, "");
    free(t);
    t = make(HS, "{\"email\":\"a@b.se\",\"exp\":1800000600,\"nbf\":1800000300}", KEY);
    assert_int_equal(verify(t, &id), JWT_EXPIRED);      /* not valid yet */
    free(t);
}

static void test_bad_signature(void **state)
{
    (void)state;
    struct jwt_identity id;
    char *t = make(HS, "{\"email\":\"anna@partner.example\",\"exp\":1800000600}", "another-secret");
    assert_int_equal(verify(t, &id), JWT_BAD_SIGNATURE);
    free(t);
    /* a payload changed after signing */
    char *good = make(HS, "{\"email\":\"anna@partner.example\",\"exp\":1800000600}", KEY);
    char *evil = make(HS, "{\"email\":\"mallory@partner.example\",\"exp\":1800000600}", KEY);
    strcpy(strrchr(evil, '.'), strrchr(good, '.'));
    assert_int_equal(verify(evil, &id), JWT_BAD_SIGNATURE);
    /* no key configured: nothing verifies */
    assert_int_equal(jwt_verify_hs256(good, "", 0, NOW, &id), JWT_BAD_SIGNATURE);
    /* a truncated signature */
    good[strlen(good) - 2] = '\0';
    assert_int_equal(verify(good, &id), JWT_BAD_SIGNATURE);
    free(good);
    free(evil);
}

static void test_alg(void **state)
{
    (void)state;
    struct jwt_identity id;
    static const struct { const char *header, *key; } cases[] = {
        { "{\"alg\":\"none\"}", NULL },          /* unsigned */
        { "{\"alg\":\"none\"}", KEY },           /* "none", yet signed */
        { "{\"alg\":\"HS512\"}", KEY },
        { "{\"alg\":\"hs256\"}", KEY },
        { "{\"typ\":\"JWT\"}", KEY },            /* no alg */
        { "{\"alg\":\"HS256\",\"crit\":[\"x\"]}", KEY },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *t = make(cases[i].header, "{\"email\":\"a@b.se\",\"exp\":1800000600}", cases[i].key);
        assert_int_equal(verify(t, &id), JWT_BAD_ALG);
        assert_string_equal(id.email, "");
        free(t);
    }
}

static void test_missing_claims(void **state)
{
    (void)state;
    struct jwt_identity id;
    const char *payloads[] = {
        "{\"exp\":1800000600}",
        "{\"email\":\"\",\"exp\":1800000600}",
        "{\"email\":\"not-an-address\",\"exp\":1800000600}",
        "{\"email\":\"a b@x.se\",\"exp\":1800000600}",
        "{\"email\":42,\"exp\":1800000600}",
        "{\"email\":\"a@b.se\"}",
        "{\"email\":\"a@b.se\",\"exp\":\"1800000600\"}",
    };
    for (size_t i = 0; i < sizeof payloads / sizeof *payloads; i++) {
        char *t = make(HS, payloads[i], KEY);
        assert_int_equal(verify(t, &id), JWT_MISSING_CLAIM);
        free(t);
    }
}

static void test_malformed(void **state)
{
    (void)state;
    struct jwt_identity id;
    char *good = make(HS, "{\"email\":\"a@b.se\",\"exp\":1800000600}", KEY);
    char buf[8192];
    const char *bad[] = { "", "abc", "a.b", "a.b.c.d", "..", "!!.??.**", "e30..x", "e30=.e30.x" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(verify(bad[i], &id), JWT_MALFORMED);
    /* four parts: good token with an extra dot */
    snprintf(buf, sizeof buf, "%s.x", good);
    assert_int_equal(verify(buf, &id), JWT_MALFORMED);
    /* payload not an object, header not JSON */
    char *t = make(HS, "[1,2]", KEY);
    assert_int_equal(verify(t, &id), JWT_MALFORMED);
    free(t);
    t = make("{alg:HS256}", "{\"email\":\"a@b.se\",\"exp\":1800000600}", KEY);
    assert_int_equal(verify(t, &id), JWT_MALFORMED);
    free(t);
    /* too long: refused unread */
    memset(buf, 'A', JWT_TOKEN_MAX + 1);
    buf[JWT_TOKEN_MAX + 1] = '\0';
    assert_int_equal(verify(buf, &id), JWT_MALFORMED);
    free(good);
    assert_string_equal(jwt_result_str(JWT_EXPIRED), "expired");
}

/* The person's session: the same for the same email in any case, another
 * for another email or another key, and nothing without a key. */
static void test_person_session(void **state)
{
    (void)state;
    char a[JWT_SESSION_LEN + 1], b[JWT_SESSION_LEN + 1], c[JWT_SESSION_LEN + 1], d[JWT_SESSION_LEN + 1];
    assert_int_equal(jwt_person_session("anna@partner.example", KEY, strlen(KEY), a), 0);
    assert_int_equal(jwt_person_session("Anna@Partner.Example", KEY, strlen(KEY), b), 0);
    assert_int_equal(jwt_person_session("bo@partner.example", KEY, strlen(KEY), c), 0);
    assert_int_equal(jwt_person_session("anna@partner.example", "k2", 2, d), 0);
    assert_int_equal(strlen(a), JWT_SESSION_LEN);
    assert_memory_equal(a, JWT_SESSION_PREFIX, 3);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
    assert_int_equal(jwt_person_session("anna@partner.example", "", 0, d), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_alg),
        cmocka_unit_test(test_missing_claims),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_person_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
