/* fuzz_dialog.c -- whole conversations through the engine (real pack,
 * in-memory store): each input line is one message of a new session. */
#include "engine.h"

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static engine *e;
static unsigned long n;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[512];
    struct engine_config cfg = {
        .intents_dir = getenv("PROVBOT_INTENTS") ? getenv("PROVBOT_INTENTS") : "intents",
        .data_dir = NULL, .channel = "fuzz",
        /* the run's model cache when there is one (tests/fuzz.sh sets it):
         * training takes seconds here, out of each target's fuzzing time */
        .model_cache_dir = getenv("PROVBOT_MODEL_CACHE") };
    if (!(e = engine_open(&cfg, err, sizeof err))) {
        fprintf(stderr, "fuzz_dialog: %s\n", err);
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char session[32], err[256];
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    snprintf(session, sizeof session, "f%lu", n++);
    int turns = 0;
    for (char *line = buf, *next; line && turns < 24; line = next, turns++) {
        next = memchr(line, '\n', (size_t)(buf + size - line));
        if (next)
            *next++ = '\0';
        struct engine_result r;
        if (engine_turn(e, session, turns == 0 ? NULL : "fuzz@example.com", line, "id", &r, err, sizeof err) < 0)
            abort();
        cJSON *j = cJSON_Parse(r.json);
        if (!j || !cJSON_IsString(cJSON_GetObjectItem(j, "text")))
            abort(); /* every reply is a contract object */
        cJSON_Delete(j);
        engine_result_free(&r);
    }
    free(buf);
    return 0;
}
