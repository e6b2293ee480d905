/* fuzz_text.c -- normalisation, sanitising, classification and entity
 * extraction on any bytes, with the real knowledge pack. */
#include "entity.h"
#include "nlu.h"
#include "pack.h"
#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pack *p;
static nlu *m;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[512];
    const char *dir = getenv("PROVBOT_INTENTS") ? getenv("PROVBOT_INTENTS") : "intents";
    /* through the run's model cache when there is one (tests/fuzz.sh sets
     * it): training takes seconds here; the model is the same either way */
    if (!(p = pack_load(dir, err, sizeof err)) ||
        !(m = nlu_open(p, getenv("PROVBOT_MODEL_CACHE"), err, sizeof err))) {
        fprintf(stderr, "fuzz_text: %s\n", err);
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[8192];
    const char *s = (const char *)data;
    size_t n = text_normalize(s, size, TEXT_FOLD, out, sizeof out);
    if (!text_utf8_valid(out, n) || strlen(out) != n)
        abort();
    text_normalize(s, size, TEXT_LOWER, out, 7); /* a tiny buffer */
    char *clean = text_sanitize(s, size);
    if (!clean || !text_utf8_valid(clean, strlen(clean)))
        abort();
    struct nlu_result r;
    nlu_classify(m, clean, strlen(clean), size & 1 ? "sv" : NULL, &r);
    if (r.intent < 0 || (size_t)r.intent >= pack_intent_count(p) || !(r.confidence >= 0 && r.confidence <= 1))
        abort();
    struct ent_result er;
    n = text_normalize(clean, strlen(clean), TEXT_FOLD, out, sizeof out);
    ent_extract(p, clean, strlen(clean), out, n, &er);
    for (int i = 0; i < er.nemail; i++) {
        char why[80];
        if (!ent_email_valid(er.email[i], why, sizeof why))
            abort();
    }
    free(clean);
    return 0;
}
