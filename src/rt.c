/* rt.c -- Request Tracker REST2 requests and replies (see rt.h). */
#include "rt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const rt_fields[RT_NFIELDS] = {
    RT_CF_CASE_TYPE, RT_CF_ORDER_REF, RT_CF_NEW_EMAIL, RT_CF_CASE_ID,
};

#define REST "/REST/2.0"

/* Ids go into URLs and TicketSQL unquoted-safe: letters, digits, '-'. */
static bool plain_id(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '-'))
            return false;
    return true;
}

/* Percent-encodes s (all but RFC 3986 unreserved). Caller frees. */
static char *url_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1), *p = out;
    if (!out)
        return NULL;
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
            (*q >= '0' && *q <= '9') || strchr("-._~", *q)) {
            *p++ = (char)*q;
        } else {
            *p++ = '%';
            *p++ = hex[*q >> 4];
            *p++ = hex[*q & 15];
        }
    }
    *p = '\0';
    return out;
}

/* base (without a trailing "/" or "/REST/2.0") + "/REST/2.0" + a + b. */
static char *join(const char *base, const char *a, const char *b)
{
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    if (bl >= sizeof REST - 1 && memcmp(base + bl - (sizeof REST - 1), REST, sizeof REST - 1) == 0)
        bl -= sizeof REST - 1;
    size_t cap = bl + sizeof REST + strlen(a) + strlen(b);
    char *out = malloc(cap);
    if (out)
        snprintf(out, cap, "%.*s%s%s%s", (int)bl, base, REST, a, b);
    return out;
}

char *rt_queue_url(const char *base, const char *queue)
{
    char *q = queue && *queue ? url_escape(queue) : NULL;
    char *out = q ? join(base, "/queue/", q) : NULL;
    free(q);
    return out;
}

char *rt_search_sql(const char *case_id)
{
    static const char fmt[] = "'CF.{" RT_CF_CASE_ID "}' = '%s'";
    if (!plain_id(case_id))
        return NULL;
    size_t cap = sizeof fmt + strlen(case_id);
    char *out = malloc(cap);
    if (out)
        snprintf(out, cap, fmt, case_id);
    return out;
}

char *rt_search_url(const char *base, const char *case_id)
{
    char *sql = rt_search_sql(case_id), *q = NULL, *out = NULL;
    if (!sql || !(q = url_escape(sql)))
        goto out;
    out = join(base, "/tickets?per_page=20&orderby=id&order=ASC&query=", q);
out:
    free(sql);
    free(q);
    return out;
}

char *rt_create_url(const char *base)
{
    return join(base, "/ticket", "");
}

char *rt_ticket_url(const char *base, const char *ticket_id)
{
    if (!plain_id(ticket_id) || strspn(ticket_id, "0123456789") != strlen(ticket_id))
        return NULL; /* RT's ticket ids are numbers */
    return join(base, "/ticket/", ticket_id);
}

/* The ticket's text: what fails, the case's facts, the conversation. */
static char *content(const struct case_rec *c)
{
    static const char fmt[] =
        "%s\n\n"
        "Case type: %s\n"
        "Order reference: %s\n"
        "New provisioning contact email: %s\n"
        "Requester: %s\n"
        "Provbot case: %s (opened %s, language %s)\n"
        "%s%s";
    const char *summary = c->summary ? c->summary : "";
    const char *tr = c->transcript && *c->transcript ? c->transcript : NULL;
    size_t cap = sizeof fmt + strlen(summary) + strlen(c->type) + strlen(c->order_ref) + strlen(c->new_email) +
                 strlen(c->requester) + strlen(c->id) + strlen(c->created_at) + strlen(c->lang) +
                 (tr ? strlen(tr) : 0) + 64;
    char *out = malloc(cap);
    if (out)
        snprintf(out, cap, fmt, summary, c->type, c->order_ref, c->new_email,
                 *c->requester ? c->requester : "(unknown)", c->id, c->created_at, c->lang,
                 tr ? "\nConversation with the bot:\n" : "", tr ? tr : "");
    return out;
}

/* store_attach_json()'s array in REST2's shape. NULL if out of memory. */
static cJSON *attachments_rest2(const cJSON *att)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *a;
    cJSON_ArrayForEach(a, att) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(a, "name");
        const cJSON *mime = cJSON_GetObjectItemCaseSensitive(a, "mime");
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(a, "data");
        cJSON *o;
        if (!arr)
            break;
        if (!cJSON_IsString(data) || !*data->valuestring)
            continue; /* RT refuses an attachment without content */
        if (!(o = cJSON_CreateObject()) || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            return NULL;
        }
        if (!cJSON_AddStringToObject(o, "FileName", cJSON_IsString(name) && *name->valuestring
                                     ? name->valuestring : "screenshot") ||
            !cJSON_AddStringToObject(o, "FileType", cJSON_IsString(mime) && *mime->valuestring
                                     ? mime->valuestring : "application/octet-stream") ||
            !cJSON_AddStringToObject(o, "FileContent", data->valuestring)) {
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

char *rt_ticket_body(const struct case_rec *c, const char *queue, const cJSON *attachments)
{
    cJSON *o = cJSON_CreateObject(), *cf = NULL, *att = NULL;
    char subject[240], *text = content(c), *out = NULL;

    /* every field is checked: a body missing one (above all "Provbot Case",
     * which the search-before-create looks for) is no body */
    if (!o || !text)
        goto out;
    snprintf(subject, sizeof subject, "%.127s: order %.64s (%s)", c->type, c->order_ref, c->id);
    if (!cJSON_AddStringToObject(o, "Queue", queue) || !cJSON_AddStringToObject(o, "Subject", subject) ||
        (*c->requester && !cJSON_AddStringToObject(o, "Requestor", c->requester)) ||
        !cJSON_AddStringToObject(o, "Content", text) ||
        !cJSON_AddStringToObject(o, "ContentType", "text/plain") ||
        !(cf = cJSON_AddObjectToObject(o, "CustomFields")))
        goto out;
    if (!cJSON_AddStringToObject(cf, RT_CF_CASE_TYPE, c->type) ||
        !cJSON_AddStringToObject(cf, RT_CF_ORDER_REF, c->order_ref) ||
        !cJSON_AddStringToObject(cf, RT_CF_NEW_EMAIL, c->new_email) ||
        !cJSON_AddStringToObject(cf, RT_CF_CASE_ID, c->id))
        goto out;
    if (cJSON_GetArraySize(attachments) > 0) {
        if (!(att = attachments_rest2(attachments)))
            goto out;
        if (cJSON_GetArraySize(att) == 0)
            cJSON_Delete(att);
        else if (!cJSON_AddItemToObject(o, "Attachments", att)) {
            cJSON_Delete(att);
            goto out;
        }
    }
    out = cJSON_PrintUnformatted(o);
out:
    cJSON_Delete(o);
    free(text);
    return out;
}

/* An id member as text: REST2 sends "12" (or 12). */
static bool id_text(const cJSON *v, char *id, size_t cap)
{
    if (cJSON_IsString(v) && plain_id(v->valuestring)) {
        snprintf(id, cap, "%s", v->valuestring);
        return true;
    }
    if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble < 1e15) {
        snprintf(id, cap, "%.0f", v->valuedouble);
        return true;
    }
    return false;
}

int rt_parse_search(const char *body, size_t len, char *id, size_t cap)
{
    cJSON *doc = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items"), *it;
    double best = 0;
    int rc = -1;

    id[0] = '\0';
    if (!cJSON_IsArray(items))
        goto out;
    rc = 0;
    cJSON_ArrayForEach(it, items) {
        char t[32];
        if (!id_text(cJSON_GetObjectItemCaseSensitive(it, "id"), t, sizeof t))
            continue;
        double n = strtod(t, NULL);
        if (!rc || n < best) { /* the oldest ticket of the case is the one */
            best = n;
            snprintf(id, cap, "%s", t);
            rc = 1;
        }
    }
out:
    cJSON_Delete(doc);
    return rc;
}

int rt_parse_created(const char *body, size_t len, char *id, size_t cap)
{
    cJSON *doc = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    int rc = id_text(cJSON_GetObjectItemCaseSensitive(doc, "id"), id, cap) ? 0 : -1;
    if (rc < 0)
        id[0] = '\0';
    cJSON_Delete(doc);
    return rc;
}

int rt_parse_status(const char *body, size_t len, char *status, size_t cap)
{
    cJSON *doc = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(doc, "Status");
    int rc = -1;
    status[0] = '\0';
    if (cJSON_IsString(st) && *st->valuestring && strlen(st->valuestring) < cap) {
        snprintf(status, cap, "%s", st->valuestring);
        rc = 0;
    }
    cJSON_Delete(doc);
    return rc;
}

int rt_check_queue(const char *body, size_t len, const char *queue, char *why, size_t cap)
{
    cJSON *doc = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *cfs = cJSON_GetObjectItemCaseSensitive(doc, "TicketCustomFields"), *cf;
    char missing[160] = "";
    int nmissing = 0;

    why[0] = '\0';
    if (!cJSON_IsObject(doc)) {
        snprintf(why, cap, "RT: the reply for queue '%s' is not readable", queue);
        cJSON_Delete(doc);
        return -1;
    }
    for (int i = 0; i < RT_NFIELDS; i++) {
        bool found = false;
        cJSON_ArrayForEach(cf, cfs) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(cf, "name");
            if (cJSON_IsString(name) && strcmp(name->valuestring, rt_fields[i]) == 0)
                found = true;
        }
        if (!found) {
            size_t ml = strlen(missing);
            snprintf(missing + ml, sizeof missing - ml, "%s'%s'", ml ? ", " : "", rt_fields[i]);
            nmissing++;
        }
    }
    cJSON_Delete(doc);
    if (!nmissing)
        return 0;
    snprintf(why, cap, "RT: ticket custom field%s %s missing or not applied to queue '%s'",
             nmissing > 1 ? "s" : "", missing, queue);
    return -1;
}

/* RT's own error text ({"message": ...}), or "". */
static void rt_message(const char *body, size_t len, char *out, size_t cap)
{
    cJSON *doc = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, "message");
    snprintf(out, cap, "%s", cJSON_IsString(m) ? m->valuestring : "");
    cJSON_Delete(doc);
}

enum case_verdict rt_judge(enum rt_step step, long http_status, const char *body, size_t len,
                           const char *queue, char *why, size_t cap)
{
    char msg[160];

    why[0] = '\0';
    if (http_status >= 200 && http_status < 300)
        return CASE_DELIVERED;
    if (http_status == 0 || http_status == 408 || http_status == 429 || http_status >= 500) {
        if (http_status)
            snprintf(why, cap, "RT: HTTP %ld", http_status);
        else
            snprintf(why, cap, "RT: no answer");
        return CASE_RETRY;
    }
    rt_message(body, len, msg, sizeof msg);
    if (http_status == 401)
        snprintf(why, cap, "RT refused the token (HTTP 401): check PROVBOT_RT_TOKEN");
    else if (http_status == 403 && (step == RT_STEP_QUEUE || step == RT_STEP_CREATE))
        snprintf(why, cap, "RT: unknown queue '%s', or its token's user may not see it or "
                 "create tickets in it (HTTP 403)", queue);
    else if (http_status == 404 && step == RT_STEP_QUEUE)
        snprintf(why, cap, "RT: unknown queue '%s' (HTTP 404): check PROVBOT_RT_QUEUE", queue);
    else if (http_status == 403)
        snprintf(why, cap, "RT: the token's user may not %s (HTTP 403)",
                 step == RT_STEP_SEARCH ? "search tickets" : "see the ticket");
    else
        snprintf(why, cap, "RT: HTTP %ld%s%s", http_status, *msg ? ": " : "", msg);
    return CASE_REJECTED;
}
