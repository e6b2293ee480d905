/* facts.c -- a conversation's facts (see facts.h).
 *
 * Kept as a small array of entries in the order the facts were first told
 * (a fact told again keeps its place, a forgotten one leaves the array), plus
 * the last turn at which anything was forgotten (a forgotten fact leaves no
 * entry to carry its turn). A conversation knows a dozen facts at most, so
 * a linear search beats any table; the stored form is the JSON object
 * {name: {"v": value, "t": turn, "c": confidence}}, written straight into a
 * buffer by facts_write() (no cJSON tree on the turn's path).
 */
#include "facts.h"

#include <stdlib.h>
#include <string.h>

struct fact {
    char *name;              /* owned */
    char *value;             /* owned, never "" */
    int turn;                /* the turn that told it */
    double conf;             /* the confidence it was told with */
};

struct facts {
    struct fact *a;          /* a[0..n), oldest first, owned */
    size_t n, cap;
    int forgot;              /* last turn a fact was forgotten, -1 never */
};

static struct fact *entry(const facts *f, const char *name)
{
    for (size_t i = 0; name && i < f->n; i++)
        if (f->a[i].name[0] == name[0] && !strcmp(f->a[i].name, name))
            return &f->a[i];
    return NULL;
}

facts *facts_new(const cJSON *o)
{
    facts *f = calloc(1, sizeof *f);
    const cJSON *e;
    if (!f)
        return NULL;
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
    for (size_t i = 0; i < f->n; i++) {
        free(f->a[i].name);
        free(f->a[i].value);
    }
    free(f->a);
    free(f);
}

cJSON *facts_json(const facts *f)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < f->n; i++) {
        cJSON *e = cJSON_AddObjectToObject(o, f->a[i].name);
        if (!e || !cJSON_AddStringToObject(e, "v", f->a[i].value) ||
            !cJSON_AddNumberToObject(e, "t", f->a[i].turn) ||
            !cJSON_AddNumberToObject(e, "c", f->a[i].conf)) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

int facts_write(const facts *f, struct buf *b)
{
    buf_add(b, "{", 1);
    for (size_t i = 0; i < f->n; i++) {
        if (i)
            buf_add(b, ",", 1);
        buf_json_str(b, f->a[i].name);
        buf_add(b, ":{\"v\":", 6);
        buf_json_str(b, f->a[i].value);
        buf_add(b, ",\"t\":", 5);
        buf_json_num(b, f->a[i].turn);
        if (f->a[i].conf != 1.0) {     /* 1 when left out (facts_new) */
            buf_add(b, ",\"c\":", 5);
            buf_json_num(b, f->a[i].conf);
        }
        buf_add(b, "}", 1);
    }
    return buf_add(b, "}", 1);
}

size_t facts_count(const facts *f) { return f->n; }

const char *facts_get(const facts *f, const char *name)
{
    const struct fact *e = entry(f, name);
    return e ? e->value : NULL;
}

double facts_conf(const facts *f, const char *name)
{
    const struct fact *e = entry(f, name);
    return e ? e->conf : 0;
}

int facts_turn(const facts *f, const char *name)
{
    const struct fact *e = entry(f, name);
    return e ? e->turn : -1;
}

/* Forgets the fact e (an entry of f) at turn. */
static void forget(facts *f, struct fact *e, int turn)
{
    free(e->name);
    free(e->value);
    memmove(e, e + 1, (size_t)(f->a + f->n - (e + 1)) * sizeof *e);
    f->n--;
    f->forgot = turn;
}

/* A new entry at the end of f; NULL when out of memory. */
static struct fact *append(facts *f, const char *name)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct fact *a = realloc(f->a, cap * sizeof *a);
        if (!a)
            return NULL;
        f->a = a;
        f->cap = cap;
    }
    struct fact *e = &f->a[f->n];
    if (!(e->name = strdup(name)))
        return NULL;
    e->value = NULL;
    f->n++;
    return e;
}

int facts_set(facts *f, const char *name, const char *value, int turn, double conf)
{
    struct fact *e = entry(f, name);

    if (!value || !*value) {
        if (!e)
            return 0;
        forget(f, e, turn);
        return 1;
    }
    if (e && e->turn == turn && e->conf > conf)
        return 0;
    if (e && strcmp(e->value, value) == 0)
        return 0; /* said again: the fact keeps the turn that first told it */
    char *v = strdup(value);
    if (!v)
        return -1;
    if (!e && !(e = append(f, name))) {
        free(v);
        return -1;
    }
    free(e->value);
    e->value = v;
    e->turn = turn;
    e->conf = conf;
    return 1;
}

bool facts_changed_since(const facts *f, int turn)
{
    if (f->forgot >= turn)
        return true;
    for (size_t i = 0; i < f->n; i++)
        if (f->a[i].turn >= turn)
            return true;
    return false;
}

cJSON *facts_values(const facts *f)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < f->n; i++)
        if (!cJSON_AddStringToObject(o, f->a[i].name, f->a[i].value)) {
            cJSON_Delete(o);
            return NULL;
        }
    return o;
}
