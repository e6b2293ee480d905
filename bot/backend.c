/* backend.c -- the table of case backends (see backend.h). */
#include "backend.h"

#include <string.h>

static const struct backend_ops backend_local = {
    .name = "local", .delivers = false, .status_step = -1,
};

static const struct backend_ops *const table[] = { &backend_local, &backend_http, &backend_rt };

const char backend_names[] = "local, http or rt";

const struct backend_ops *backend_find(const char *name)
{
    if (!name || !*name)
        return &backend_local;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i]->name, name))
            return table[i];
    return NULL;
}
