/* backend_rt.c -- the rt case backend: Request Tracker over REST2 (see
 * src/rt.h for the requests). A delivery is three steps: check the queue
 * and its custom fields, search for a ticket already carrying the case id
 * (RT has no idempotency key: a create whose answer was lost is adopted,
 * never repeated), create the ticket. The status step reads a filed case's
 * ticket status back. */
#include "backend.h"
#include "rt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rt_state {
    char url[2048];
    char auth[1100];            /* "Authorization: token ..." (never logged) */
    char queue[256];
    long long status_every_ms;  /* PROVBOT_RT_STATUS_SECONDS (default 300), in ms */
};

static void rt_release(void *st)
{
    struct rt_state *r = st;
    if (!r)
        return;
    memset(r->auth, 0, sizeof r->auth);
    free(r);
}

static void *rt_configure(char *err, size_t errlen)
{
    const char *url = getenv("PROVBOT_RT_URL"), *tok = getenv("PROVBOT_RT_TOKEN");
    const char *queue = getenv("PROVBOT_RT_QUEUE"), *v = getenv("PROVBOT_RT_STATUS_SECONDS");
    struct rt_state *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))) {
        snprintf(err, errlen, "PROVBOT_RT_URL: must be set to RT's http(s) web address");
        goto fail;
    }
    if (!tok || !*tok || strlen(tok) > 1000 || strpbrk(tok, "\r\n")) {
        snprintf(err, errlen, "PROVBOT_RT_TOKEN: must be set to an RT auth token");
        goto fail;
    }
    if (!queue || !*queue || strlen(queue) >= sizeof r->queue) {
        snprintf(err, errlen, "PROVBOT_RT_QUEUE: must name the RT queue cases go to");
        goto fail;
    }
    snprintf(r->url, sizeof r->url, "%s", url);
    snprintf(r->auth, sizeof r->auth, "Authorization: token %s", tok);
    snprintf(r->queue, sizeof r->queue, "%s", queue);
    long secs = v ? atol(v) : 300;
    r->status_every_ms = (secs < 1 ? 1 : secs) * 1000LL;
    return r;
fail:
    rt_release(r);
    return NULL;
}

static int rt_prepare(void *st, int step, const char *id, const char *ticket,
                      struct backend_request *out)
{
    struct rt_state *r = st;
    switch ((enum rt_step)step) {
    case RT_STEP_QUEUE:  out->url = rt_queue_url(r->url, r->queue); break;
    case RT_STEP_SEARCH: out->url = rt_search_url(r->url, id); break;
    case RT_STEP_CREATE: out->url = rt_create_url(r->url); break;
    case RT_STEP_STATUS: out->url = rt_ticket_url(r->url, ticket); break;
    }
    out->post = step == RT_STEP_CREATE;
    snprintf(out->headers[0], sizeof out->headers[0], "%s", r->auth);
    return out->url ? 0 : -1;
}

static char *rt_body(void *st, const struct case_rec *c, const cJSON *attachments)
{
    return rt_ticket_body(c, ((struct rt_state *)st)->queue, attachments);
}

static void reject(struct backend_result *res) { res->v = BACKEND_REJECTED; }
static void retry(struct backend_result *res, const char *why)
{
    res->v = BACKEND_RETRY;
    res->retry_after = false;
    snprintf(res->why, sizeof res->why, "%s", why);
}

/* The answer to a step that went through (rt_judge said: delivered). */
static void step_done(struct rt_state *r, int *step, const struct backend_answer *a,
                      struct backend_result *res)
{
    switch ((enum rt_step)*step) {
    case RT_STEP_QUEUE:
        if (rt_check_queue(a->body, a->len, r->queue, res->why, sizeof res->why) < 0)
            return reject(res);
        *step = RT_STEP_SEARCH;
        res->v = BACKEND_NEXT;
        return;
    case RT_STEP_SEARCH:
        switch (rt_parse_search(a->body, a->len, res->remote_id, sizeof res->remote_id)) {
        case 1: /* an earlier create went through: adopt its ticket */
            res->v = BACKEND_FILED;
            snprintf(res->how, sizeof res->how, "(found by the case id, not created again)");
            return;
        case 0:
            *step = RT_STEP_CREATE;
            res->v = BACKEND_NEXT;
            return;
        default:
            return retry(res, "RT: the search answer is not readable");
        }
    case RT_STEP_CREATE:
        if (rt_parse_created(a->body, a->len, res->remote_id, sizeof res->remote_id) < 0)
            /* created, most likely: the search before the next try finds it */
            return retry(res, "RT: the ticket id in the answer is not readable");
        res->v = BACKEND_FILED;
        return;
    case RT_STEP_STATUS:
        break;
    }
}

static void rt_judge_answer(void *st, int *step, const struct backend_answer *a, struct backend_result *res)
{
    struct rt_state *r = st;
    enum case_verdict v = rt_judge((enum rt_step)*step, a->status, a->body, a->len, r->queue,
                                   res->why, sizeof res->why);
    if (!a->status)
        snprintf(res->why, sizeof res->why, "RT: %s", a->too_big ? "answer too large" : a->error);
    if (*step == RT_STEP_STATUS) {
        res->v = BACKEND_STATUS;
        if (a->status >= 200 && a->status < 300 &&
            rt_parse_status(a->body, a->len, res->remote_status, sizeof res->remote_status) < 0)
            snprintf(res->why, sizeof res->why, "RT: the ticket's status is not readable");
        return;
    }
    if (v == CASE_REJECTED)
        return reject(res);
    if (v == CASE_RETRY) {
        res->v = BACKEND_RETRY;
        res->retry_after = true;
        return;
    }
    step_done(r, step, a, res);
}

static long long rt_status_every_ms(void *st) { return ((struct rt_state *)st)->status_every_ms; }

const struct backend_ops backend_rt = {
    .name = "rt",
    .delivers = true,
    .first_step = RT_STEP_QUEUE,
    .status_step = RT_STEP_STATUS,
    .configure = rt_configure,
    .release = rt_release,
    .prepare = rt_prepare,
    .body = rt_body,
    .judge = rt_judge_answer,
    .status_every_ms = rt_status_every_ms,
};
