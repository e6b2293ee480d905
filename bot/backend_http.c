/* backend_http.c -- the http case backend: one POST of the case (or of the
 * PROVBOT_CASE_TEMPLATE mapping of it) to PROVBOT_CASE_URL, with
 * Idempotency-Key: <case id> and, when PROVBOT_CASE_TOKEN is set, a bearer
 * token. The verdict is case_judge()'s (case.h). */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_state {
    char url[2048];
    char auth[1100];            /* "Authorization: Bearer ..." or "" (never logged) */
    cJSON *tpl;                 /* body template, owned, or NULL */
};

static void http_release(void *st)
{
    struct http_state *h = st;
    if (!h)
        return;
    cJSON_Delete(h->tpl);
    memset(h->auth, 0, sizeof h->auth);
    free(h);
}

static cJSON *load_template(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[16384];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    cJSON *tpl = f ? cJSON_Parse(buf) : NULL;
    if (tpl && !cJSON_IsObject(tpl)) {
        cJSON_Delete(tpl);
        tpl = NULL;
    }
    return tpl;
}

static void *http_configure(char *err, size_t errlen)
{
    const char *url = getenv("PROVBOT_CASE_URL"), *tok = getenv("PROVBOT_CASE_TOKEN");
    const char *tpl = getenv("PROVBOT_CASE_TEMPLATE");
    struct http_state *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!url || strncmp(url, "http", 4) != 0) {
        snprintf(err, errlen, "PROVBOT_CASE_URL: must be set to the case server's http(s) URL");
        goto fail;
    }
    snprintf(h->url, sizeof h->url, "%s", url);
    if (tok && *tok)
        snprintf(h->auth, sizeof h->auth, "Authorization: Bearer %.1000s", tok);
    if (tpl && *tpl && !(h->tpl = load_template(tpl))) {
        snprintf(err, errlen, "PROVBOT_CASE_TEMPLATE %s: not a readable JSON object", tpl);
        goto fail;
    }
    return h;
fail:
    http_release(h);
    return NULL;
}

static int http_prepare(void *st, int step, const char *id, const char *ticket,
                        struct backend_request *out)
{
    struct http_state *h = st;
    (void)step;
    (void)ticket;
    if (!(out->url = strdup(h->url)))
        return -1;
    out->post = true;
    snprintf(out->headers[0], sizeof out->headers[0], "Idempotency-Key: %.23s", id);
    snprintf(out->headers[1], sizeof out->headers[1], "%s", h->auth);
    return 0;
}

static char *http_body(void *st, const struct case_rec *c, const cJSON *attachments)
{
    return case_http_body(c, ((struct http_state *)st)->tpl, attachments);
}

static void http_judge(void *st, int *step, const struct backend_answer *a, struct backend_result *res)
{
    (void)st;
    (void)step;
    enum case_verdict v = case_judge(a->status, a->body, a->len, res->remote_id, sizeof res->remote_id);
    if (a->status)
        snprintf(res->why, sizeof res->why, "HTTP %ld", a->status);
    else
        snprintf(res->why, sizeof res->why, "%s", a->error);
    res->v = v == CASE_DELIVERED ? BACKEND_FILED : v == CASE_REJECTED ? BACKEND_REJECTED : BACKEND_RETRY;
    res->retry_after = true;
}

const struct backend_ops backend_http = {
    .name = "http",
    .delivers = true,
    .first_step = 0,
    .status_step = -1,
    .configure = http_configure,
    .release = http_release,
    .prepare = http_prepare,
    .body = http_body,
    .judge = http_judge,
};
