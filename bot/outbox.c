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
#include "backend.h"
#include "log.h"
#include "case.h"
#include "store.h"
#include "thread.h"

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
#define CHECKPOINT_SOON_MS 50 /* ... while it is past its bound (a busy RESTART) */
#define STATUS_POLL_MS 5000 /* rt: how often the store is asked for stale statuses */

struct outbox {
    pthread_t thread;
    store *store;            /* the worker's own handle */
    CURLM *multi;
    atomic_bool stop;
    const struct backend_ops *ops; /* the backend; delivers: cases to deliver */
    void *bst;               /* its state, owned (ops->release) */
    int64_t checkpointed_ms; /* last checkpoint */
    bool ckpt_soon;          /* the WAL was left past its bound: again in CHECKPOINT_SOON_MS */
    int64_t purged_ms;       /* last retention purge */
    int64_t status_every_ms; /* a filed case's status is read back at most this often */
    int64_t status_polled_ms;/* last look for stale statuses */
    long timeout_ms;
    long backoff_base_ms;
    unsigned rng;
};

struct req {                 /* one request of a delivery (or a status read) in flight */
    CURL *easy;              /* owned; replaced when the next step re-arms it */
    struct curl_slist *headers;
    char id[CASE_ID_MAX];
    int step;                /* the backend's step this request is */
    char ticket[128];        /* status read: the remote id */
    struct backend_request rq; /* the backend's request, rq.url owned */
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

/* The backend PROVBOT_CASE_BACKEND names; NULL when it names none. */
static const struct backend_ops *backend_named(void)
{
    return backend_find(getenv("PROVBOT_CASE_BACKEND"));
}

bool outbox_configured(void)
{
    const struct backend_ops *b = backend_named();
    return b && b->delivers;
}

static int configure(outbox *ob, char *err, size_t errlen)
{
    const char *v;
    if (!(ob->ops = backend_named())) {
        snprintf(err, errlen, "PROVBOT_CASE_BACKEND=%s: must be %s", getenv("PROVBOT_CASE_BACKEND"),
                 backend_names);
        return -1;
    }
    if (!ob->ops->delivers)
        return 0; /* local cases: only the checkpoints to do */
    ob->timeout_ms = (v = getenv("PROVBOT_CASE_TIMEOUT_MS")) ? atol(v) : 10000;
    if (ob->timeout_ms <= 0)
        ob->timeout_ms = 10000;
    ob->backoff_base_ms = (v = getenv("PROVBOT_OUTBOX_BACKOFF_MS")) ? atol(v) : 1000;
    if (ob->backoff_base_ms <= 0)
        ob->backoff_base_ms = 1000;
    ob->rng = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)ob;
    if (!(ob->bst = ob->ops->configure(err, errlen)))
        return -1;
    if (ob->ops->status_step >= 0)
        ob->status_every_ms = ob->ops->status_every_ms(ob->bst);
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
    free(r->rq.url);
    free(r->body);
    memset(&r->rq, 0, sizeof r->rq);
    r->easy = NULL;
    r->headers = NULL;
    r->body = NULL;
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

/* The body of the POST r makes, built by the backend from the store.
 * Caller frees; NULL on failure. */
static char *case_body(outbox *ob, const char *id)
{
    struct case_rec c;
    cJSON *att = NULL;
    char *body = NULL;

    if (store_case_get(ob->store, id, &c) != 1)
        return NULL;
    att = c.nattach ? store_attach_json(ob->store, id) : NULL;
    if (!c.nattach || att)
        body = ob->ops->body(ob->bst, &c, att);
    cJSON_Delete(att);
    case_rec_clear(&c);
    return body;
}

/* (Re)builds r's transfer for its step, as the backend prepares it. 0, or -1. */
static int req_arm(outbox *ob, struct req *r)
{
    req_disarm(r);
    if (ob->ops->prepare(ob->bst, r->step, r->id, r->ticket, &r->rq) < 0)
        return -1;
    if (r->rq.post && !(r->body = case_body(ob, r->id)))
        return -1;
    if (!(r->easy = curl_easy_init()))
        return -1;
    r->headers = curl_slist_append(r->headers, "Accept: application/json");
    if (r->rq.post)
        r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
    for (int i = 0; i < BACKEND_HEADERS; i++)
        if (r->rq.headers[i][0])
            r->headers = curl_slist_append(r->headers, r->rq.headers[i]);
    memset(r->rq.headers, 0, sizeof r->rq.headers);   /* a token may be in there */
    if (!r->headers)
        return -1;
    curl_easy_setopt(r->easy, CURLOPT_URL, r->rq.url);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    if (r->rq.post)
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

/* A request for case id at the backend's `step` (ticket: the remote id, for
 * a status read). Caller req_free()s. NULL on failure. */
static struct req *req_new(outbox *ob, const char *id, int step, const char *ticket)
{
    struct req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    snprintf(r->id, sizeof r->id, "%.23s", id);
    snprintf(r->ticket, sizeof r->ticket, "%s", ticket ? ticket : "");
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
    char d[300];
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

/* A status read's outcome: the status when read, else only the time (the
 * last status known stays; the next read is one interval later). */
static void status_read(outbox *ob, struct req *r, const struct backend_result *res)
{
    if (!res->remote_status[0]) {
        char d[300], event[40];
        snprintf(d, sizeof d, "\"ticket %.31s: %.240s\"", r->ticket, res->why);
        snprintf(event, sizeof event, "%.20s_status_failed", ob->ops->name);
        logline("warn", event, r->id, d);
    }
    store_case_remote_status(ob->store, r->id, res->remote_status, store_now_ms());
}

/* Records the outcome of one finished request; true when r was re-armed
 * for the backend's next step (the caller puts it back on the multi handle). */
static bool finish(outbox *ob, struct req *r, CURLcode res)
{
    struct backend_result out;
    struct backend_answer a = { .body = r->resp, .len = r->resp_len, .too_big = r->too_big,
                                .error = curl_easy_strerror(res) };
    memset(&out, 0, sizeof out);
    if (res == CURLE_OK)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &a.status);
    ob->ops->judge(ob->bst, &r->step, &a, &out);
    switch (out.v) {
    case BACKEND_FILED:    filed(ob, r->id, out.remote_id, out.how); return false;
    case BACKEND_REJECTED: rejected(ob, r->id, out.why); return false;
    case BACKEND_RETRY:
        retry_later(ob, r->id, out.retry_after ? retry_after_of(r->easy, a.status) : -1, out.why);
        return false;
    case BACKEND_STATUS:   status_read(ob, r, &out); return false;
    case BACKEND_NEXT:     break;
    }
    if (req_arm(ob, r) < 0) {
        retry_later(ob, r->id, -1, "out of memory");
        return false;
    }
    return true;
}

/* Adds r to the round (inflight, count *added); frees it when it cannot. */
static void launch(outbox *ob, struct req *r, struct req **inflight, int *added)
{
    if (r && curl_multi_add_handle(ob->multi, r->easy) == CURLM_OK)
        inflight[(*added)++] = r;
    else
        req_free(r);
}

/* Status reads for filed cases whose status is older than the interval,
 * looked for at most every STATUS_POLL_MS (always when `now` is set). */
static void launch_status_reads(outbox *ob, bool now, struct req **inflight, int *added)
{
    char ids[BATCH][CASE_ID_MAX];
    int64_t t = store_now_ms();
    if (ob->ops->status_step < 0 || (!now && t - ob->status_polled_ms < STATUS_POLL_MS))
        return;
    ob->status_polled_ms = t;
    int n = store_cases_stale(ob->store, t - ob->status_every_ms, ids, BATCH);
    for (int i = 0; i < n; i++) {
        struct case_rec c;
        if (store_case_get(ob->store, ids[i], &c) != 1)
            continue;
        struct req *r = req_new(ob, c.id, ob->ops->status_step, c.remote_id);
        if (!r) /* not a remote id the backend can use: do not ask again soon */
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
        launch(ob, req_new(ob, ids[i], ob->ops->first_step, NULL), inflight, &added);
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
    if (ob->ops && ob->ops->release)
        ob->ops->release(ob->bst);
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

/* A test hook's interval in ms (env name), or dflt when unset. The hooks
 * (PROVBOT_TEST_CHECKPOINT_EVERY_MS, PROVBOT_TEST_PURGE_EVERY_MS,
 * PROVBOT_TEST_RETENTION_MS) let tests/loop_stall.py force checkpoints and
 * purges under load; they are not configuration. */
static int64_t test_ms(const char *name, int64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? atoll(v) : dflt;
}

static void checkpoint(outbox *ob)
{
    int64_t now = store_now_ms();
    int64_t every = ob->ckpt_soon ? CHECKPOINT_SOON_MS
                                  : test_ms("PROVBOT_TEST_CHECKPOINT_EVERY_MS", CHECKPOINT_MS);
    if (now - ob->checkpointed_ms < every)
        return;
    ob->checkpointed_ms = now;
    int rc = store_checkpoint(ob->store);
    if (rc < 0)
        logline("warn", "checkpoint_failed", "-", store_errmsg(ob->store));
    ob->ckpt_soon = rc == 1;
}

/* PROVBOT_RETENTION_DAYS: what people wrote is kept that long (default 90),
 * purged at start and every hour. */
static void purge(outbox *ob)
{
    const char *v = getenv("PROVBOT_RETENTION_DAYS");
    long days = v && *v ? atol(v) : 90;
    int64_t keep_ms = test_ms("PROVBOT_TEST_RETENTION_MS", (int64_t)days * 86400 * 1000);
    int64_t now = store_now_ms();
    if (keep_ms <= 0 || now - ob->purged_ms < test_ms("PROVBOT_TEST_PURGE_EVERY_MS", 3600 * 1000))
        return;
    ob->purged_ms = now;
    int n = store_purge(ob->store, now - keep_ms);
    if (n < 0)
        logline("warn", "purge_failed", "-", store_errmsg(ob->store));
    else if (n > 0) {
        char d[64];
        snprintf(d, sizeof d, "%d_rows_older_than_%lld_ms", n, (long long)keep_ms);
        logline("info", "purged", "-", d);
    }
}

static void *worker(void *arg)
{
    outbox *ob = arg;
    thread_background("provbot-outbox");
    while (!atomic_load(&ob->stop)) {
        purge(ob);
        checkpoint(ob);
        int n = ob->ops->delivers ? round_once(ob, false) : 0;
        if (n <= 0 && !atomic_load(&ob->stop))
            curl_multi_poll(ob->multi, NULL, 0, ob->ckpt_soon ? CHECKPOINT_SOON_MS : IDLE_POLL_MS,
                            NULL);
    }
    return NULL;
}

outbox *outbox_start(const char *data_dir, void *unused, char *err, size_t errlen)
{
    (void)unused;
    outbox *ob = create(data_dir, err, errlen);
    if (!ob)
        return NULL;
    /* its own commits (purge chunks, verdicts) never checkpoint: checkpoint()
     * does, with a RESTART that holds the write lock only a few ms */
    store_autocheckpoint(ob->store, false);
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
