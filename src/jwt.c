/* jwt.c -- HS256 identity tokens (see jwt.h).
 *
 * Why OpenSSL's HMAC and this small parser rather than Debian 12's libjwt
 * (1.10.2): that version checks no claim (no exp, no required email; the
 * jwt_valid_* API came in 1.12), lets the token's header pick the algorithm
 * unless the caller re-checks it, and brings jansson beside cJSON. Here the
 * algorithm is pinned, the compare is constant-time (CRYPTO_memcmp), every
 * part has a hard size cap, and libcrypto is already linked by libwebsockets
 * and libcurl.
 */
#include "jwt.h"
#include "b64.h"

#include <cJSON.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Parses the base64url JSON object s[0..n); NULL when it is not one. */
static cJSON *part_json(const char *s, size_t n)
{
    unsigned char *buf = malloc(n * 3 / 4 + 2);
    cJSON *j = NULL;
    if (!buf)
        return NULL;
    long len = b64_decode(s, n, B64_URL_STRICT, buf, n * 3 / 4 + 2);
    if (len > 0 && (j = cJSON_ParseWithLength((const char *)buf, (size_t)len)) && !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        j = NULL;
    }
    free(buf);
    return j;
}

/* A plausible address: local@domain.tld, printable ASCII without spaces. */
static bool email_plausible(const char *e)
{
    size_t n = strlen(e);
    const char *at = strchr(e, '@');
    if (n == 0 || n > JWT_EMAIL_MAX || !at || at == e || strchr(at + 1, '@') ||
        !strchr(at + 1, '.') || at[1] == '.' || e[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)e[i] <= ' ' || (unsigned char)e[i] >= 0x7f || strchr("<>\",;()[]\\", e[i]))
            return false;
    return true;
}

static enum jwt_result check_header(const char *s, size_t n)
{
    cJSON *h = part_json(s, n);
    if (!h)
        return JWT_MALFORMED;
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
    const cJSON *typ = cJSON_GetObjectItemCaseSensitive(h, "typ");
    enum jwt_result r = JWT_OK;
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") ||
        cJSON_GetObjectItemCaseSensitive(h, "crit"))
        r = JWT_BAD_ALG;
    else if (typ && (!cJSON_IsString(typ) || strcasecmp(typ->valuestring, "JWT")))
        r = JWT_MALFORMED;
    cJSON_Delete(h);
    return r;
}

static enum jwt_result check_signature(const char *signed_part, size_t n, const char *sig,
                                       size_t sn, const void *key, size_t keylen)
{
    unsigned char md[EVP_MAX_MD_SIZE], want[64];
    unsigned int mdlen = 0;
    if (sn > 64)
        return JWT_BAD_SIGNATURE;
    long wl = b64_decode(sig, sn, B64_URL_STRICT, want, sizeof want);
    if (wl < 0)
        return JWT_BAD_SIGNATURE;
    if (keylen == 0 || keylen > INT32_MAX ||
        !HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)signed_part, n, md, &mdlen))
        return JWT_BAD_SIGNATURE;
    if (wl != (long)mdlen || CRYPTO_memcmp(md, want, mdlen))
        return JWT_BAD_SIGNATURE;
    return JWT_OK;
}

static enum jwt_result read_claims(const char *s, size_t n, int64_t now, struct jwt_identity *out)
{
    cJSON *p = part_json(s, n);
    if (!p)
        return JWT_MALFORMED;
    const cJSON *email = cJSON_GetObjectItemCaseSensitive(p, "email");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(p, "exp");
    const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(p, "nbf");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
    enum jwt_result r = JWT_OK;
    if (!cJSON_IsString(email) || !email_plausible(email->valuestring) || !cJSON_IsNumber(exp))
        r = JWT_MISSING_CLAIM;
    else if (exp->valuedouble <= (double)now || (nbf && (!cJSON_IsNumber(nbf) || nbf->valuedouble > (double)now)))
        r = JWT_EXPIRED;
    if (r == JWT_OK) {
        strcpy(out->email, email->valuestring);      /* length checked */
        out->exp = exp->valuedouble >= 9.2e18 ? INT64_MAX : (int64_t)exp->valuedouble;
        if (cJSON_IsString(name) && strlen(name->valuestring) <= JWT_NAME_MAX)
            strcpy(out->name, name->valuestring);
    }
    cJSON_Delete(p);
    return r;
}

enum jwt_result jwt_verify_hs256(const char *token, const void *key, size_t keylen,
                                 int64_t now, struct jwt_identity *out)
{
    memset(out, 0, sizeof *out);
    size_t len = strnlen(token, JWT_TOKEN_MAX + 1);
    if (len > JWT_TOKEN_MAX)
        return JWT_MALFORMED;
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) || d1 == token || d2 == d1 + 1)
        return JWT_MALFORMED;    /* an empty signature is checked (and fails) below */
    /* the header first (it says how to check), then the signature, and only
     * then is the payload read */
    enum jwt_result r = check_header(token, (size_t)(d1 - token));
    if (r == JWT_OK)
        r = check_signature(token, (size_t)(d2 - token), d2 + 1, len - (size_t)(d2 + 1 - token), key, keylen);
    if (r == JWT_OK)
        r = read_claims(d1 + 1, (size_t)(d2 - d1 - 1), now, out);
    if (r != JWT_OK)
        memset(out, 0, sizeof *out);
    return r;
}

int jwt_person_session(const char *email, const void *key, size_t keylen, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE], low[JWT_EMAIL_MAX + 32];
    unsigned int mdlen = 0;
    static const char tag[] = "provbot-web-session\n";
    size_t n = strlen(email);
    out[0] = '\0';
    if (keylen == 0 || keylen > INT32_MAX || n > JWT_EMAIL_MAX)
        return -1;
    memcpy(low, tag, sizeof tag - 1);
    for (size_t i = 0; i < n; i++)
        low[sizeof tag - 1 + i] = (unsigned char)tolower((unsigned char)email[i]);
    if (!HMAC(EVP_sha256(), key, (int)keylen, low, sizeof tag - 1 + n, md, &mdlen) || mdlen < 24)
        return -1;
    memcpy(out, JWT_SESSION_PREFIX, 3);
    for (int i = 0; i < 24; i++)
        snprintf(out + 3 + 2 * i, 3, "%02x", md[i]);
    return 0;
}

const char *jwt_result_str(enum jwt_result r)
{
    switch (r) {
    case JWT_OK: return "ok";
    case JWT_MALFORMED: return "malformed token";
    case JWT_BAD_ALG: return "algorithm not HS256";
    case JWT_BAD_SIGNATURE: return "bad signature";
    case JWT_EXPIRED: return "expired";
    case JWT_MISSING_CLAIM: return "missing or invalid claim (email, exp)";
    }
    return "?";
}
