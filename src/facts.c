/* facts.c -- a conversation's facts (see facts.h).
 *
 * Kept as one cJSON object {name: {"v": value, "t": turn, "c": confidence}},
 * which is also the stored form, plus the last turn at which anything was
 * forgotten (a forgotten fact leaves no entry to carry its turn).
 */
#include "facts.h"

#include <stdlib.h>
#include <string.h>

struct facts {
    cJSON *o;                /* {name: {"v","t","c"}}, owned */
    int forgot;              /* last turn a fact was forgotten, -1 never */
};

static const cJSON *entry(const facts *f, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(f->o, name);
}

facts *facts_new(const cJSON *o)
{
    facts *f = calloc(1, sizeof *f);
    const cJSON *e;
    if (!f || !(f->o = cJSON_CreateObject()))
        goto fail;
    f->forgot = -1;
    cJSON_ArrayForEach(e, o) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "v");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "t");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "c");
        if (!e->string || !cJSON_IsString(v) || !*v->valuestring)
            continue;
        if (facts_set(f, e->string, v->valuestring, cJSON_IsNumber(t) ? t->valueint : 0,
                      cJSON_IsNumber(c) ? c->valuedouble : 1.0) < 0)
            goto fail;
    }
    return f;
fail:
    facts_free(f);
    return NULL;
}

void facts_free(facts *f)
{
    if (!f)
        return;
    cJSON_Delete(f->o);
    free(f);
}

cJSON *facts_json(const facts *f)
{
    return cJSON_Duplicate(f->o, 1);
}

const char *facts_get(const facts *f, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(entry(f, name), "v");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

double facts_conf(const facts *f, const char *name)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(entry(f, name), "c");
    return cJSON_IsNumber(c) ? c->valuedouble : 0;
}

int facts_turn(const facts *f, const char *name)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(entry(f, name), "t");
    return cJSON_IsNumber(t) ? t->valueint : -1;
}

int facts_set(facts *f, const char *name, const char *value, int turn, double conf)
{
    const cJSON *old = entry(f, name);
    const char *was = facts_get(f, name);
    const cJSON *oc = cJSON_GetObjectItemCaseSensitive(old, "c");

    if (!value || !*value) {
        if (!old)
            return 0;
        cJSON_DeleteItemFromObjectCaseSensitive(f->o, name);
        f->forgot = turn;
        return 1;
    }
    if (old && facts_turn(f, name) == turn && cJSON_IsNumber(oc) && oc->valuedouble > conf)
        return 0;
    if (was && strcmp(was, value) == 0)
        return 0; /* said again: the fact keeps the turn that first told it */
    cJSON *e = cJSON_CreateObject();
    if (!e || !cJSON_AddStringToObject(e, "v", value) || !cJSON_AddNumberToObject(e, "t", turn) ||
        !cJSON_AddNumberToObject(e, "c", conf)) {
        cJSON_Delete(e);
        return -1;
    }
    if (old)
        cJSON_ReplaceItemInObjectCaseSensitive(f->o, name, e);
    else
        cJSON_AddItemToObject(f->o, name, e);
    return 1;
}

bool facts_changed_since(const facts *f, int turn)
{
    const cJSON *e;
    if (f->forgot >= turn)
        return true;
    cJSON_ArrayForEach(e, f->o)
        if (facts_turn(f, e->string) >= turn)
            return true;
    return false;
}

cJSON *facts_values(const facts *f)
{
    cJSON *o = cJSON_CreateObject();
    const cJSON *e;
    cJSON_ArrayForEach(e, f->o)
        if (o && !cJSON_AddStringToObject(o, e->string, facts_get(f, e->string))) {
            cJSON_Delete(o);
            return NULL;
        }
    return o;
}
