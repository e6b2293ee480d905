/* fuzz_pack.c -- the knowledge-pack loader on any bytes: the input replaces
 * one file of a copy of intents/ (the first byte picks which). A bad pack
 * must be refused with a message, never crash. */
#include "pack.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static const char *const victims[] = { "pack.json", "entities.json", "flows.json", "thanks.json", "open_case.json" };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char cmd[512];
    const char *src = getenv("PROVBOT_INTENTS") ? getenv("PROVBOT_INTENTS") : "intents";
    strcpy(dir, "/tmp/fuzz_pack.XXXXXX");
    if (!mkdtemp(dir))
        exit(1);
    snprintf(cmd, sizeof cmd, "cp %s/*.json %s/", src, dir);
    if (system(cmd) != 0)
        exit(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char orig[5][1 << 18];
    static size_t origlen[5];
    char path[128], err[512];
    if (size < 1)
        return 0;
    int k = data[0] % 5;
    snprintf(path, sizeof path, "%s/%s", dir, victims[k]);
    if (!origlen[k]) {
        FILE *f = fopen(path, "rb");
        origlen[k] = f ? fread(orig[k], 1, sizeof orig[k], f) : 0;
        if (f)
            fclose(f);
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    err[0] = '\0';
    pack *p = pack_load(dir, err, sizeof err);
    if (!p && !err[0])
        abort(); /* refused without saying why */
    pack_free(p);
    f = fopen(path, "wb"); /* put the good file back */
    fwrite(orig[k], 1, origlen[k], f);
    fclose(f);
    return 0;
}
