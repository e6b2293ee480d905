/* case.c -- case records, their JSON, and delivery verdicts (see case.h). */
#include "case.h"
#include "buf.h"

#define CASE_BODY_MAX (8u << 20)  /* one expanded template field */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = { "queued", "filed", "failed" };

const char *case_status_name(enum case_status s)
{
    return (unsigned)s < 3 ? status_names[s] : "failed";
}

int case_status_parse(const char *s, enum case_status *out)
{
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, status_names[i]) == 0) {
            *out = (enum case_status)i;
            return 0;
        }
    return -1;
}

void case_rec_clear(struct case_rec *c)
{
    free(c->summary);
    free(c->transcript);
    c->summary = c->transcript = NULL;
}

static cJSON *str_or_null(const char *s)
{
    return s && *s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

cJSON *case_to_json(const struct case_rec *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "type", c->type);
    cJSON_AddStringToObject(o, "status", case_status_name(c->status));
    cJSON_AddStringToObject(o, "order_ref", c->order_ref);
    cJSON_AddStringToObject(o, "new_email", c->new_email);
    cJSON_AddItemToObject(o, "requester", str_or_null(c->requester));
    cJSON_AddStringToObject(o, "lang", c->lang);
    cJSON_AddStringToObject(o, "summary", c->summary ? c->summary : "");
    cJSON_AddStringToObject(o, "created_at", c->created_at);
    cJSON_AddItemToObject(o, "remote_id", str_or_null(c->remote_id));
    if (c->remote_status[0])
        cJSON_AddStringToObject(o, "remote_status", c->remote_status);
    return o;
}

enum case_verdict case_judge(long http_status, const char *body, size_t len,
                             char *remote_id, size_t cap)
{
    remote_id[0] = '\0';
    if (http_status >= 200 && http_status < 300) {
        cJSON *doc = body && len ? cJSON_ParseWithLength(body, len) : NULL;
        static const char *const keys[] = { "id", "remote_id", "case_id", "number", NULL };
        for (int i = 0; doc && keys[i]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, keys[i]);
            if (cJSON_IsString(v) && *v->valuestring) {
                snprintf(remote_id, cap, "%s", v->valuestring);
                break;
            }
            if (cJSON_IsNumber(v)) {
                snprintf(remote_id, cap, "%.0f", v->valuedouble);
                break;
            }
        }
        cJSON_Delete(doc);
        return CASE_DELIVERED;
    }
    if (http_status == 0 || http_status == 408 || http_status == 429 || http_status >= 500)
        return CASE_RETRY;
    return CASE_REJECTED;
}

int64_t case_backoff_ms(int attempts, long retry_after_s, uint32_t rnd)
{
    if (retry_after_s >= 0)
        return (int64_t)(retry_after_s > 3600 ? 3600 : retry_after_s) * 1000;
    int64_t base = 1000;
    for (int i = 1; i < attempts && base < 300000; i++)
        base *= 2;
    if (base > 300000)
        base = 300000;
    /* jitter in [-20 %, +20 %] */
    int64_t span = base * 2 / 5;
    return base - base / 5 + (span ? (int64_t)(rnd % (uint32_t)span) : 0);
}

static const char *field(const struct case_rec *c, const char *name, size_t n)
{
#define F(k, v) if (n == sizeof k - 1 && memcmp(name, k, n) == 0) return v
    F("id", c->id);
    F("type", c->type);
    F("order_ref", c->order_ref);
    F("new_email", c->new_email);
    F("requester", c->requester);
    F("lang", c->lang);
    F("summary", c->summary ? c->summary : "");
    F("created_at", c->created_at);
    F("transcript", c->transcript ? c->transcript : "");
    F("status", case_status_name(c->status));
#undef F
    return NULL;
}

/* Expands {placeholders} of tpl; unknown ones stay as written. Caller
 * frees; NULL when out of memory or past CASE_BODY_MAX. */
static char *expand(const struct case_rec *c, const char *tpl)
{
    struct buf out;
    buf_init(&out, CASE_BODY_MAX);
    for (const char *s = tpl; *s && !out.failed;) {
        const char *close = *s == '{' ? strchr(s, '}') : NULL;
        const char *v = close ? field(c, s + 1, (size_t)(close - s - 1)) : NULL;
        if (v) {
            buf_adds(&out, v);
            s = close + 1;
        } else {
            buf_add(&out, s, 1);
            s++;
        }
    }
    return buf_take(&out);
}

char *case_http_body(const struct case_rec *c, const cJSON *tpl, const cJSON *attachments)
{
    cJSON *o = NULL;
    char *out = NULL;

    if (!tpl) {
        o = case_to_json(c);
    } else {
        const cJSON *it;
        o = cJSON_CreateObject();
        cJSON_ArrayForEach(it, tpl) {
            if (!o)
                break;
            if (cJSON_IsString(it)) {
                char *v = expand(c, it->valuestring);
                if (!v)
                    goto out;
                cJSON_AddStringToObject(o, it->string, v);
                free(v);
            } else {
                cJSON_AddItemToObject(o, it->string, cJSON_Duplicate(it, 1));
            }
        }
    }
    if (!o)
        goto out;
    if (attachments)
        cJSON_AddItemToObject(o, "attachments", cJSON_Duplicate(attachments, 1));
    out = cJSON_PrintUnformatted(o);
out:
    cJSON_Delete(o);
    return out;
}
