/* casefmt.c -- a case's summary from the pack's template (see casefmt.h).
 *
 * Rendering appends to one buffer (buf.h) capped at CASEFMT_MAX bytes; a
 * part is rendered into its own buffer first (its "none" and "last" rules
 * need the whole of it).
 */
#include "casefmt.h"
#include "buf.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASEFMT_MAX (64 * 1024)   /* a summary longer than this is cut */

static const char *fact(const cJSON *facts, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(facts, k);
    return cJSON_IsString(v) && *v->valuestring && strcmp(v->valuestring, "-") ? v->valuestring : NULL;
}

static bool holds(const cJSON *cond, const cJSON *facts)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cond) {
        const char *v = fact(facts, c->string);
        bool ok = false;
        if (!v) return false;
        if (cJSON_IsString(c))
            ok = !strcmp(c->valuestring, "*") || !strcmp(c->valuestring, v);
        else {
            const cJSON *alt;
            cJSON_ArrayForEach(alt, c)
                ok = ok || (cJSON_IsString(alt) && !strcmp(alt->valuestring, v));
        }
        if (!ok) return false;
    }
    return true;
}

static void render(struct buf *o, const char *text, const cJSON *sum, const cJSON *facts, int depth);

/* {name}: a part, a labelled fact or a fact; {name.}: the fact as a sentence. */
static void placeholder(struct buf *o, const char *name, size_t len, const cJSON *sum,
                        const cJSON *facts, int depth)
{
    char key[64];
    bool stop = len && name[len - 1] == '.';
    if (stop) len--;
    snprintf(key, sizeof key, "%.*s", (int)len, name);
    const cJSON *part = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(sum, "parts"), key);
    if (part && !stop && depth < 4) {
        struct buf p;
        buf_init(&p, CASEFMT_MAX);
        const cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(part, "items")) {
            const cJSON *alts = cJSON_IsArray(item) ? item : NULL;
            const cJSON *cl = alts ? NULL : item, *alt;
            cJSON_ArrayForEach(alt, alts)
                if (!cl && holds(cJSON_GetObjectItemCaseSensitive(alt, "if"), facts)) cl = alt;
            if (cl && holds(cJSON_GetObjectItemCaseSensitive(cl, "if"), facts))
                render(&p, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cl, "text")), sum, facts, depth + 1);
        }
        const char *none = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(part, "none"));
        const char *last = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(part, "last"));
        if (!p.len && none) render(&p, none, sum, facts, depth + 1);
        bool replace = p.len && last;
        if (replace) p.len--;
        buf_add(o, buf_str(&p), p.len);
        if (replace) buf_adds(o, last);
        if (p.failed) o->failed = true;
        buf_free(&p);
        return;
    }
    const char *v = fact(facts, key);
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(sum, "labels"), key);
    const char *label = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, v ? v : ""));
    if (!label && v) label = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, "*"));
    if (stop && v) {
        size_t n = strlen(v);
        buf_add(o, v, n);
        if (!strchr(".!?", v[n - 1])) buf_adds(o, ".");
    } else if (label || v) {
        buf_adds(o, label ? label : v);
    }
}

static void render(struct buf *o, const char *text, const cJSON *sum, const cJSON *facts, int depth)
{
    for (const char *t = text ? text : ""; *t;) {
        const char *open = strchr(t, '{'), *close = open ? strchr(open, '}') : NULL;
        if (!close) {
            buf_adds(o, t);
            return;
        }
        buf_add(o, t, (size_t)(open - t));
        placeholder(o, open + 1, (size_t)(close - open - 1), sum, facts, depth);
        t = close + 1;
    }
}

char *casefmt_summary(const cJSON *doc, const cJSON *facts)
{
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(doc, "summary");
    struct buf o;
    buf_init(&o, CASEFMT_MAX);
    render(&o, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sum, "text")), sum, facts, 0);
    return buf_take(&o);
}

static int bad(char *err, size_t errlen, const char *field, const char *why)
{
    snprintf(err, errlen, "cases.json: %s: %s", field, why);
    return -1;
}

static int check_clause(const cJSON *cl, const char *field, char *err, size_t errlen)
{
    const cJSON *cond = cJSON_GetObjectItemCaseSensitive(cl, "if"), *c;
    if (!cJSON_IsObject(cl) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(cl, "text")))
        return bad(err, errlen, field, "a clause is {\"if\": {...}, \"text\": S}");
    if (cond && !cJSON_IsObject(cond))
        return bad(err, errlen, field, "\"if\" must be an object");
    cJSON_ArrayForEach(c, cond)
        if (!cJSON_IsString(c) && !cJSON_IsArray(c))
            return bad(err, errlen, field, "a condition is \"*\", a value or an array of values");
    return 0;
}

int casefmt_check(const cJSON *doc, char *err, size_t errlen)
{
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(doc, "summary"), *part, *item, *alt;
    char field[160];
    if (!cJSON_IsObject(sum) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(sum, "text")))
        return bad(err, errlen, "summary.text", "missing or not a string");
    cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(sum, "parts")) {
        snprintf(field, sizeof field, "summary.parts.%s.items", part->string);
        if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(part, "items")))
            return bad(err, errlen, field, "missing or not an array");
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(part, "items")) {
            const cJSON *alts = cJSON_IsArray(item) ? item : NULL;
            if (!alts && check_clause(item, field, err, errlen) < 0)
                return -1;
            cJSON_ArrayForEach(alt, alts)
                if (check_clause(alt, field, err, errlen) < 0)
                    return -1;
        }
    }
    return 0;
}
