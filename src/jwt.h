/* jwt.h -- verifying the web chat's identity tokens: HS256 JSON Web Tokens
 * (RFC 7519) signed by the embedding portal with a shared secret.
 *
 * Pure functions, no I/O. Only HS256 is accepted (the header's "alg" must be
 * exactly "HS256": "none", RS256 and every other value are refused, so the
 * token cannot choose how it is checked); the signature is HMAC-SHA256 from
 * OpenSSL's libcrypto, compared in constant time. The claims: "email"
 * (required, a plausible address), "exp" (required, a number of seconds since
 * the epoch, in the future), "name" (optional), "nbf" (optional: not before).
 * Header "crit" is refused (no extension is understood).
 */
#ifndef PROVBOT_JWT_H
#define PROVBOT_JWT_H

#include <stddef.h>
#include <stdint.h>

#define JWT_TOKEN_MAX 4096   /* longer tokens are refused unread */
#define JWT_EMAIL_MAX 254
#define JWT_NAME_MAX  100

enum jwt_result {
    JWT_OK = 0,
    JWT_MALFORMED = -1,      /* not three base64url parts of JSON objects */
    JWT_BAD_ALG = -2,        /* the header's alg is not HS256 (or crit is set) */
    JWT_BAD_SIGNATURE = -3,  /* the HMAC does not match (or no key) */
    JWT_EXPIRED = -4,        /* exp is past (or nbf is future) */
    JWT_MISSING_CLAIM = -5,  /* no valid email, or no numeric exp */
};

struct jwt_identity {
    char email[JWT_EMAIL_MAX + 1];   /* the verified email */
    char name[JWT_NAME_MAX + 1];     /* "" when absent (or not a short string) */
    int64_t exp;                     /* the token's exp */
};

/* Verifies token (NUL-terminated) with key[0..keylen) at time now (seconds
 * since the epoch). On JWT_OK fills *out; otherwise *out is zeroed. */
enum jwt_result jwt_verify_hs256(const char *token, const void *key, size_t keylen,
                                 int64_t now, struct jwt_identity *out);

#define JWT_SESSION_PREFIX "id-"
#define JWT_SESSION_LEN 51   /* "id-" and 48 hex digits */

/* The web chat session of the verified person email (case-insensitive),
 * the same from any browser and unguessable without the key: "id-" and
 * the hex of HMAC-SHA256(key, email lower-cased), cut to 24 bytes.
 * out has room for JWT_SESSION_LEN + 1. Returns 0, or -1 (no key, email
 * too long). */
int jwt_person_session(const char *email, const void *key, size_t keylen, char *out);

/* A short static description of r, for a log line or the client. */
const char *jwt_result_str(enum jwt_result r);

#endif
