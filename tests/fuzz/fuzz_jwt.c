/* fuzz_jwt.c -- the identity token verifier on any bytes: never a crash,
 * never an identity without the key's signature. The input is split at its
 * first NUL byte: before it the token, after it the key. */
#include "jwt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *tok = malloc(size + 1);
    if (!tok)
        return 0;
    memcpy(tok, data, size);
    tok[size] = '\0';
    size_t tl = strlen(tok);
    const char *key = tl < size ? tok + tl + 1 : "";
    size_t kl = tl < size ? size - tl - 1 : 0;
    struct jwt_identity id;
    enum jwt_result r = jwt_verify_hs256(tok, key, kl, 1800000000, &id);
    if (r == JWT_OK && (!id.email[0] || !strchr(id.email, '@') || id.exp <= 1800000000 || kl == 0))
        abort();
    if (r != JWT_OK && (id.email[0] || id.exp))
        abort();
    if (!jwt_result_str(r))
        abort();
    free(tok);
    return 0;
}
