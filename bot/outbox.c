/* outbox.c -- the case delivery worker (see outbox.h).
 *
 * Each round takes the due cases from the store, runs their requests side
 * by side on one curl multi handle, and writes each verdict back. Between
 * rounds it sleeps in curl_multi_poll(), which outbox_stop() interrupts with
 * curl_multi_wakeup(): the only cross-thread call.
 *
 * An http delivery is one POST. An rt delivery is a short chain on the same
 * request record (struct req): queue check, search, create; each step's
 * answer either ends the delivery with a verdict or re-arms the record for
 * the next step, which goes back on the multi handle in the same round.
 */
#include "outbox.h"
#include "log.h"
#include "case.h"
#include "rt.h"
#include "store.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 8
#define RESPONSE_MAX (64 * 1024)
#define IDLE_POLL_MS 200
#define CHECKPOINT_MS 1000  /* how often the WAL is copied back */
#define STATUS_POLL_MS 5000 /* rt: how often the store is asked for stale statuses */

enum backend { BACKEND_NONE, BACKEND_HTTP, BACKEND_RT };

struct outbox {
    pthread_t thread;
    store *store;            /* the worker's own handle */
    CURLM *multi;
    atomic_bool stop;
    bool deliver;            /* a remote backend is configured */
    enum backend backend;    /* which one */
    int64_t checkpointed_ms; /* last checkpoint */
    int64_t purged_ms;       /* last retention purge */
    cJSON *tpl;              /* body template, or NULL */
    char url[2048];
    char auth[1100];         /* "Authorization: Bearer|token ..." or "" (never logged) */
    char queue[256];         /* rt: PROVBOT_RT_QUEUE */
    int64_t status_every_ms; /* rt: a ticket's status is read back at most this often */
    int64_t status_polled_ms;/* rt: last look for stale statuses */
    long timeout_ms;
    long backoff_base_ms;
    unsigned rng;
};

struct req {                 /* one delivery (or rt status read) in flight */
    CURL *easy;              /* owned; replaced when an rt step re-arms it */
    struct curl_slist *headers;
    char id[CASE_ID_MAX];
    enum rt_step step;       /* rt: the request this is (http: unused) */
    char ticket[32];         /* rt status read: the ticket id */
    char *url;               /* owned (rt), NULL for http (ob->url) */
    char *body;              /* owned POST body, or NULL */
    char resp[RESPONSE_MAX + 1];
    size_t resp_len;
    bool too_big;
};

/* One outbox log line: the case id (or "-") and a free-text detail. */
static void logline(const char *level, const char *event, const char *id, const char *detail)
{
    log_event(level, event, "case=%s%s%s", id, detail && *detail ? " detail=" : "", detail ? detail : "");
}

static enum backend backend_named(void)
{
    const char *b = getenv("PROVBOT_CASE_BACKEND");
    return !b ? BACKEND_NONE : !strcmp(b, "http") ? BACKEND_HTTP
         : !strcmp(b, "rt") ? BACKEND_RT : BACKEND_NONE;
}

bool outbox_configured(void)
{
    return backend_named() != BACKEND_NONE;
}

/* The rt backend's variables. The token goes only into ob->auth. */
static int configure_rt(outbox *ob, char *err, size_t errlen)
{
    const char *url = getenv("PROVBOT_RT_URL"), *tok = getenv("PROVBOT_RT_TOKEN");
    const char *queue = getenv("PROVBOT_RT_QUEUE"), *v;

    if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))) {
        snprintf(err, errlen, "PROVBOT_RT_URL: must be set to RT's http(s) web address");
        return -1;
    }
    if (!tok || !*tok || strlen(tok) > 1000 || strpbrk(tok, "\r\n")) {
        snprintf(err, errlen, "PROVBOT_RT_TOKEN: must be set to an RT auth token");
        return -1;
    }
    if (!queue || !*queue || strlen(queue) >= sizeof ob->queue) {
        snprintf(err, errlen, "PROVBOT_RT_QUEUE: must name the RT queue cases go to");
        return -1;
    }
    snprintf(ob->url, sizeof ob->url, "%s", url);
    snprintf(ob->auth, sizeof ob->auth, "Authorization: token %s", tok);
    snprintf(ob->queue, sizeof ob->queue, "%s", queue);
    long secs = (v = getenv("PROVBOT_RT_STATUS_SECONDS")) ? atol(v) : 300;
    ob->status_every_ms = (secs < 1 ? 1 : secs) * 1000;
    return 0;
}

static int configure(outbox *ob, char *err, size_t errlen)
{
    if (!(ob->deliver = outbox_configured()))
        return 0; /* local cases: only the checkpoints to do */
    const char *url = getenv("PROVBOT_CASE_URL"), *tok = getenv("PROVBOT_CASE_TOKEN");
    const char *tpl = getenv("PROVBOT_CASE_TEMPLATE"), *v;

    ob->backend = backend_named();
    ob->timeout_ms = (v = getenv("PROVBOT_CASE_TIMEOUT_MS")) ? atol(v) : 10000;
    if (ob->timeout_ms <= 0)
        ob->timeout_ms = 10000;
    ob->backoff_base_ms = (v = getenv("PROVBOT_OUTBOX_BACKOFF_MS")) ? atol(v) : 1000;
    if (ob->backoff_base_ms <= 0)
        ob->backoff_base_ms = 1000;
    ob->rng = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)ob;
    if (ob->backend == BACKEND_RT)
        return configure_rt(ob, err, errlen);
    if (!url || strncmp(url, "http", 4) != 0) {
        snprintf(err, errlen, "PROVBOT_CASE_URL: must be set to the case server's http(s) URL");
        return -1;
    }
    snprintf(ob->url, sizeof ob->url, "%s", url);
    if (tok && *tok)
        snprintf(ob->auth, sizeof ob->auth, "Authorization: Bearer %.1000s", tok);
    if (tpl && *tpl) {
        FILE *f = fopen(tpl, "r");
        char buf[16384];
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        if (!f || !(ob->tpl = cJSON_Parse(buf)) || !cJSON_IsObject(ob->tpl)) {
            snprintf(err, errlen, "PROVBOT_CASE_TEMPLATE %s: not a readable JSON object", tpl);
            return -1;
        }
    }
    return 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct req *r = ud;
    size_t len = size * n;
    if (r->resp_len + len > RESPONSE_MAX) {
        r->too_big = true;
        return 0; /* aborts the transfer */
    }
    memcpy(r->resp + r->resp_len, p, len);
    r->resp_len += len;
    return len;
}

/* Lets go of r's transfer (not r itself), ready to be armed again. */
static void req_disarm(struct req *r)
{
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->url);
    free(r->body);
    r->easy = NULL;
    r->headers = NULL;
    r->url = r->body = NULL;
    r->resp_len = 0;
    r->too_big = false;
}

static void req_free(struct req *r)
{
    if (!r)
        return;
    req_disarm(r);
    free(r);
}

/* The body of the POST r makes, built from the store: the http backend's
 * JSON (template applied) or RT's ticket. Caller frees; NULL on failure. */
static char *case_body(outbox *ob, const char *id)
{
    struct case_rec c;
    cJSON *att = NULL;
    char *body = NULL;

    if (store_case_get(ob->store, id, &c) != 1)
        return NULL;
    att = c.nattach ? store_attach_json(ob->store, id) : NULL;
    if (!c.nattach || att)
        body = ob->backend == BACKEND_RT ? rt_ticket_body(&c, ob->queue, att)
                                         : case_http_body(&c, ob->tpl, att);
    cJSON_Delete(att);
    case_rec_clear(&c);
    return body;
}

/* The URL of r's rt step. Caller frees. */
static char *rt_step_url(const outbox *ob, const struct req *r)
{
    switch (r->step) {
    case RT_STEP_QUEUE:  return rt_queue_url(ob->url, ob->queue);
    case RT_STEP_SEARCH: return rt_search_url(ob->url, r->id);
    case RT_STEP_CREATE: return rt_create_url(ob->url);
    case RT_STEP_STATUS: return rt_ticket_url(ob->url, r->ticket);
    }
    return NULL;
}

/* (Re)builds r's transfer for its backend and step. 0, or -1. */
static int req_arm(outbox *ob, struct req *r)
{
    bool post = ob->backend == BACKEND_HTTP || r->step == RT_STEP_CREATE;
    char key[64];

    req_disarm(r);
    if (ob->backend == BACKEND_RT && !(r->url = rt_step_url(ob, r)))
        return -1;
    if (post && !(r->body = case_body(ob, r->id)))
        return -1;
    if (!(r->easy = curl_easy_init()))
        return -1;
    r->headers = curl_slist_append(r->headers, "Accept: application/json");
    if (post)
        r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
    if (ob->backend == BACKEND_HTTP) {
        snprintf(key, sizeof key, "Idempotency-Key: %.23s", r->id);
        r->headers = curl_slist_append(r->headers, key);
    }
    if (ob->auth[0])
        r->headers = curl_slist_append(r->headers, ob->auth);
    if (!r->headers)
        return -1;
    curl_easy_setopt(r->easy, CURLOPT_URL, r->url ? r->url : ob->url);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    if (post)
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, ob->timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, ob->timeout_ms < 5000 ? ob->timeout_ms : 5000L);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "provbot/1");
    return 0;
}

/* A request for case id (rt: starting at step; ticket for a status read).
 * Caller req_free()s. NULL on failure. */
static struct req *req_new(outbox *ob, const char *id, enum rt_step step, const char *ticket)
{
    struct req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    snprintf(r->id, sizeof r->id, "%.23s", id);
    snprintf(r->ticket, sizeof r->ticket, "%.31s", ticket ? ticket : "");
    r->step = step;
    if (req_arm(ob, r) < 0) {
        req_free(r);
        return NULL;
    }
    return r;
}

static unsigned next_rand(outbox *ob)
{
    ob->rng ^= ob->rng << 13;
    ob->rng ^= ob->rng >> 17;
    ob->rng ^= ob->rng << 5;
    return ob->rng;
}

/* The verdicts' effect on the store, with one log line each. */
static void filed(outbox *ob, const char *id, const char *remote, const char *how)
{
    char d[200];
    if (store_case_delivered(ob->store, id, remote) < 0)
        return;
    snprintf(d, sizeof d, "\"%s%s%s\"", remote, *how ? " " : "", how);
    logline("info", "case_filed", id, d);
}

static void rejected(outbox *ob, const char *id, const char *why)
{
    char d[300];
    if (store_case_failed(ob->store, id, why) < 0)
        return;
    snprintf(d, sizeof d, "\"%.280s\"", why);
    logline("error", "case_rejected", id, d);
}

static void retry_later(outbox *ob, const char *id, long retry_after, const char *why)
{
    struct case_rec c;
    if (store_case_get(ob->store, id, &c) != 1)
        return;
    int64_t delay = case_backoff_ms(c.attempts + 1, retry_after, next_rand(ob));
    case_rec_clear(&c);
    if (retry_after < 0)
        delay = delay * ob->backoff_base_ms / 1000;
    if (store_case_retry(ob->store, id, store_now_ms() + delay, why) == 0) {
        char d[300];
        snprintf(d, sizeof d, "\"%.240s, retry in %lld ms\"", why, (long long)delay);
        logline("warn", "case_retry", id, d);
    }
}

/* 429/503's Retry-After in seconds, or -1. curl says 0 both for
 * "Retry-After: 0" and for no header at all: take 0 as no advice. */
static long retry_after_of(CURL *easy, long status)
{
    curl_off_t ra = -1;
    if (status != 429 && status != 503)
        return -1;
    if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK || ra <= 0)
        return -1;
    return (long)ra;
}

/* Records the outcome of one finished http delivery. */
static void finish_http(outbox *ob, struct req *r, long status, CURLcode res)
{
    char remote[128], why[200];
    enum case_verdict v = case_judge(status, r->resp, r->resp_len, remote, sizeof remote);
    if (status)
        snprintf(why, sizeof why, "HTTP %ld", status);
    else
        snprintf(why, sizeof why, "%s", curl_easy_strerror(res));
    switch (v) {
    case CASE_DELIVERED: filed(ob, r->id, remote, ""); break;
    case CASE_REJECTED:  rejected(ob, r->id, why); break;
    case CASE_RETRY:     retry_later(ob, r->id, retry_after_of(r->easy, status), why); break;
    }
}

/* A status read's outcome: the status when read, else only the time (the
 * last status known stays; the next read is one interval later). */
static void finish_rt_status(outbox *ob, struct req *r, long status, const char *why)
{
    char st[32] = "";
    if (status >= 200 && status < 300 && rt_parse_status(r->resp, r->resp_len, st, sizeof st) < 0)
        why = "RT: the ticket's status is not readable";
    if (!st[0]) {
        char d[300];
        snprintf(d, sizeof d, "\"ticket %.31s: %.240s\"", r->ticket, why);
        logline("warn", "rt_status_failed", r->id, d);
    }
    store_case_remote_status(ob->store, r->id, st, store_now_ms());
}

/* One rt step done. Returns true when r is armed for the next step (the
 * caller puts it back on the multi handle), false when the delivery ended. */
static bool finish_rt(outbox *ob, struct req *r, long status, CURLcode res)
{
    char why[240], ticket[32];
    enum case_verdict v = rt_judge(r->step, status, r->resp, r->resp_len, ob->queue,
                                   why, sizeof why);
    if (!status)
        snprintf(why, sizeof why, "RT: %s", r->too_big ? "answer too large" : curl_easy_strerror(res));
    if (r->step == RT_STEP_STATUS) {
        finish_rt_status(ob, r, status, why);
        return false;
    }
    if (v == CASE_REJECTED) {
        rejected(ob, r->id, why);
        return false;
    }
    if (v == CASE_RETRY) {
        retry_later(ob, r->id, retry_after_of(r->easy, status), why);
        return false;
    }
    switch (r->step) {
    case RT_STEP_QUEUE:
        if (rt_check_queue(r->resp, r->resp_len, ob->queue, why, sizeof why) < 0) {
            rejected(ob, r->id, why);
            return false;
        }
        r->step = RT_STEP_SEARCH;
        break;
    case RT_STEP_SEARCH:
        switch (rt_parse_search(r->resp, r->resp_len, ticket, sizeof ticket)) {
        case 1: /* an earlier create went through: adopt its ticket */
            filed(ob, r->id, ticket, "(found by the case id, not created again)");
            return false;
        case 0:
            r->step = RT_STEP_CREATE;
            break;
        default:
            retry_later(ob, r->id, -1, "RT: the search answer is not readable");
            return false;
        }
        break;
    case RT_STEP_CREATE:
        if (rt_parse_created(r->resp, r->resp_len, ticket, sizeof ticket) < 0)
            /* created, most likely: the search before the next try finds it */
            retry_later(ob, r->id, -1, "RT: the ticket id in the answer is not readable");
        else
            filed(ob, r->id, ticket, "");
        return false;
    case RT_STEP_STATUS:
        return false;
    }
    if (req_arm(ob, r) < 0) {
        retry_later(ob, r->id, -1, "out of memory");
        return false;
    }
    return true;
}

/* Records the outcome of one finished request; true when r was re-armed. */
static bool finish(outbox *ob, struct req *r, CURLcode res)
{
    long status = 0;
    if (res == CURLE_OK)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (ob->backend == BACKEND_RT)
        return finish_rt(ob, r, status, res);
    finish_http(ob, r, status, res);
    return false;
}

/* Adds r to the round (inflight, count *added); frees it when it cannot. */
static void launch(outbox *ob, struct req *r, struct req **inflight, int *added)
{
    if (r && curl_multi_add_handle(ob->multi, r->easy) == CURLM_OK)
        inflight[(*added)++] = r;
    else
        req_free(r);
}

/* rt: status reads for filed cases whose status is older than the interval,
 * looked for at most every STATUS_POLL_MS (always when `now` is set). */
static void launch_status_reads(outbox *ob, bool now, struct req **inflight, int *added)
{
    char ids[BATCH][CASE_ID_MAX];
    int64_t t = store_now_ms();
    if (ob->backend != BACKEND_RT || (!now && t - ob->status_polled_ms < STATUS_POLL_MS))
        return;
    ob->status_polled_ms = t;
    int n = store_cases_stale(ob->store, t - ob->status_every_ms, ids, BATCH);
    for (int i = 0; i < n; i++) {
        struct case_rec c;
        if (store_case_get(ob->store, ids[i], &c) != 1)
            continue;
        struct req *r = req_new(ob, c.id, RT_STEP_STATUS, c.remote_id);
        if (!r) /* not an RT ticket id: do not ask again soon */
            store_case_remote_status(ob->store, c.id, NULL, t);
        launch(ob, r, inflight, added);
        case_rec_clear(&c);
    }
}

/* One round: the due cases (and with rt the stale statuses), side by side.
 * Returns how many requests were started, or -1 on a store error. */
static int round_once(outbox *ob, bool statuses_now)
{
    char ids[BATCH][CASE_ID_MAX];
    struct req *inflight[2 * BATCH] = { NULL };
    int n = store_cases_due(ob->store, store_now_ms(), ids, BATCH), running = 0, added = 0;
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++)
        launch(ob, req_new(ob, ids[i], RT_STEP_QUEUE, NULL), inflight, &added);
    launch_status_reads(ob, statuses_now, inflight, &added);
    int active = added;
    while (active > 0 && !atomic_load(&ob->stop)) {
        curl_multi_perform(ob->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(ob->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct req *r = NULL;
            CURL *easy = m->easy_handle;
            CURLcode res = m->data.result;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
            curl_multi_remove_handle(ob->multi, easy);
            if (finish(ob, r, res) && curl_multi_add_handle(ob->multi, r->easy) == CURLM_OK)
                continue; /* the next rt step, in this round */
            for (int i = 0; i < added; i++)
                if (inflight[i] == r)
                    inflight[i] = NULL;
            req_free(r);
            active--;
        }
        if (active > 0)
            curl_multi_poll(ob->multi, NULL, 0, 200, NULL);
    }
    for (int i = 0; i < added; i++) /* stopping: abandoned, it stays queued */
        if (inflight[i]) {
            curl_multi_remove_handle(ob->multi, inflight[i]->easy);
            req_free(inflight[i]);
        }
    return added;
}

static void cleanup(outbox *ob)
{
    if (!ob)
        return;
    if (ob->multi)
        curl_multi_cleanup(ob->multi);
    store_close(ob->store);
    cJSON_Delete(ob->tpl);
    free(ob);
}

static outbox *create(const char *data_dir, char *err, size_t errlen)
{
    outbox *ob = calloc(1, sizeof *ob);
    if (!ob) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (configure(ob, err, errlen) < 0)
        goto fail;
    if (!(ob->store = store_open(data_dir, err, errlen)))
        goto fail;
    if (!(ob->multi = curl_multi_init())) {
        snprintf(err, errlen, "curl_multi_init failed");
        goto fail;
    }
    return ob;
fail:
    cleanup(ob);
    return NULL;
}

static void checkpoint(outbox *ob)
{
    int64_t now = store_now_ms();
    if (now - ob->checkpointed_ms < CHECKPOINT_MS)
        return;
    ob->checkpointed_ms = now;
    if (store_checkpoint(ob->store) < 0)
        logline("warn", "checkpoint_failed", "-", store_errmsg(ob->store));
}

/* PROVBOT_RETENTION_DAYS: what people wrote is kept that long (default 90),
 * purged at start and every hour. */
static void purge(outbox *ob)
{
    const char *v = getenv("PROVBOT_RETENTION_DAYS");
    long days = v && *v ? atol(v) : 90;
    int64_t now = store_now_ms();
    if (days <= 0 || now - ob->purged_ms < 3600 * 1000)
        return;
    ob->purged_ms = now;
    int n = store_purge(ob->store, now - (int64_t)days * 86400 * 1000);
    if (n < 0)
        logline("warn", "purge_failed", "-", store_errmsg(ob->store));
    else if (n > 0) {
        char d[64];
        snprintf(d, sizeof d, "%d_rows_older_than_%ld_days", n, days);
        logline("info", "purged", "-", d);
    }
}

static void *worker(void *arg)
{
    outbox *ob = arg;
    while (!atomic_load(&ob->stop)) {
        purge(ob);
        checkpoint(ob);
        int n = ob->deliver ? round_once(ob, false) : 0;
        if (n <= 0 && !atomic_load(&ob->stop))
            curl_multi_poll(ob->multi, NULL, 0, IDLE_POLL_MS, NULL);
    }
    return NULL;
}

outbox *outbox_start(const char *data_dir, void *unused, char *err, size_t errlen)
{
    (void)unused;
    outbox *ob = create(data_dir, err, errlen);
    if (!ob)
        return NULL;
    if (pthread_create(&ob->thread, NULL, worker, ob) != 0) {
        snprintf(err, errlen, "cannot start the outbox thread");
        cleanup(ob);
        return NULL;
    }
    return ob;
}

void outbox_stop(outbox *ob)
{
    if (!ob)
        return;
    atomic_store(&ob->stop, true);
    curl_multi_wakeup(ob->multi);
    pthread_join(ob->thread, NULL);
    cleanup(ob);
}

int outbox_drain(const char *data_dir, char *err, size_t errlen)
{
    outbox *ob = outbox_configured() ? create(data_dir, err, errlen) : NULL;
    const char *v = getenv("PROVBOT_OUTBOX_MAX_SECONDS");
    int64_t deadline = store_now_ms() + (v ? atol(v) : 120) * 1000;
    char ids[1][CASE_ID_MAX];
    int rc = 0;

    if (!ob) {
        if (!outbox_configured())
            snprintf(err, errlen, "no remote case backend configured (PROVBOT_CASE_BACKEND)");
        return -1;
    }
    while (store_now_ms() < deadline) {
        int n = round_once(ob, false);
        if (n < 0) {
            snprintf(err, errlen, "store: %s", store_errmsg(ob->store));
            rc = -1;
            break;
        }
        if (n == 0) {
            /* anything still queued but not yet due? */
            if (store_cases_due(ob->store, INT64_MAX, ids, 1) == 0) {
                round_once(ob, true); /* rt: the statuses of what was just filed */
                break;
            }
            curl_multi_poll(ob->multi, NULL, 0, 100, NULL);
        }
    }
    cleanup(ob);
    return rc;
}
