/* outbox.c -- the case delivery worker (see outbox.h).
 *
 * Each round takes the due cases from the store, runs their POSTs side by
 * side on one curl multi handle, and writes each verdict back. Between rounds
 * it sleeps in curl_multi_poll(), which outbox_stop() interrupts with
 * curl_multi_wakeup(): the only cross-thread call.
 */
#include "outbox.h"
#include "case.h"
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

struct outbox {
    pthread_t thread;
    store *store;            /* the worker's own handle */
    CURLM *multi;
    atomic_bool stop;
    bool deliver;            /* a remote backend is configured */
    int64_t checkpointed_ms; /* last checkpoint */
    int64_t purged_ms;       /* last retention purge */
    cJSON *tpl;              /* body template, or NULL */
    char url[2048];
    char auth[1100];         /* "Authorization: Bearer ..." or "" (never logged) */
    long timeout_ms;
    long backoff_base_ms;
    unsigned rng;
};

struct req {                 /* one delivery in flight */
    CURL *easy;
    struct curl_slist *headers;
    char id[CASE_ID_MAX];
    char *body;
    char resp[RESPONSE_MAX + 1];
    size_t resp_len;
    bool too_big;
};

static void logline(const char *level, const char *event, const char *id, const char *detail)
{
    char ts[32];
    store_rfc3339(store_now_ms(), ts);
    fprintf(stderr, "ts=%s level=%s event=%s case=%s%s%s\n", ts, level, event, id,
            detail && *detail ? " detail=" : "", detail ? detail : "");
}

bool outbox_configured(void)
{
    const char *b = getenv("PROVBOT_CASE_BACKEND");
    return b && strcmp(b, "http") == 0;
}

static int configure(outbox *ob, char *err, size_t errlen)
{
    if (!(ob->deliver = outbox_configured()))
        return 0; /* local cases: only the checkpoints to do */
    const char *url = getenv("PROVBOT_CASE_URL"), *tok = getenv("PROVBOT_CASE_TOKEN");
    const char *tpl = getenv("PROVBOT_CASE_TEMPLATE"), *v;

    if (!url || strncmp(url, "http", 4) != 0) {
        snprintf(err, errlen, "PROVBOT_CASE_URL: must be set to the case server's http(s) URL");
        return -1;
    }
    snprintf(ob->url, sizeof ob->url, "%s", url);
    if (tok && *tok)
        snprintf(ob->auth, sizeof ob->auth, "Authorization: Bearer %.1000s", tok);
    ob->timeout_ms = (v = getenv("PROVBOT_CASE_TIMEOUT_MS")) ? atol(v) : 10000;
    if (ob->timeout_ms <= 0)
        ob->timeout_ms = 10000;
    ob->backoff_base_ms = (v = getenv("PROVBOT_OUTBOX_BACKOFF_MS")) ? atol(v) : 1000;
    if (ob->backoff_base_ms <= 0)
        ob->backoff_base_ms = 1000;
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
    ob->rng = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)ob;
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

static void req_free(struct req *r)
{
    if (!r)
        return;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    free(r);
}

static struct req *req_new(outbox *ob, const char *id)
{
    struct req *r = calloc(1, sizeof *r);
    struct case_rec c;
    cJSON *att = NULL;
    char key[64];

    if (!r)
        return NULL;
    snprintf(r->id, sizeof r->id, "%.23s", id);
    if (store_case_get(ob->store, id, &c) != 1)
        goto fail;
    att = c.nattach ? store_attach_json(ob->store, id) : NULL;
    r->body = case_http_body(&c, ob->tpl, att);
    cJSON_Delete(att);
    case_rec_clear(&c);
    if (!r->body || !(r->easy = curl_easy_init()))
        goto fail;
    snprintf(key, sizeof key, "Idempotency-Key: %.23s", id);
    r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
    r->headers = curl_slist_append(r->headers, key);
    if (ob->auth[0])
        r->headers = curl_slist_append(r->headers, ob->auth);
    curl_easy_setopt(r->easy, CURLOPT_URL, ob->url);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, ob->timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, ob->timeout_ms < 5000 ? ob->timeout_ms : 5000L);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "provbot/1");
    return r;
fail:
    req_free(r);
    return NULL;
}

static unsigned next_rand(outbox *ob)
{
    ob->rng ^= ob->rng << 13;
    ob->rng ^= ob->rng >> 17;
    ob->rng ^= ob->rng << 5;
    return ob->rng;
}

/* Records the outcome of one finished request. */
static void finish(outbox *ob, struct req *r, CURLcode res)
{
    long status = 0;
    curl_off_t retry_after = -1;
    char remote[128], why[200];
    struct case_rec c;

    if (res == CURLE_OK)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status == 429 || status == 503) {
        /* curl says 0 both for "Retry-After: 0" and for no header at all:
         * take 0 as no advice and back off as usual */
        if (curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &retry_after) != CURLE_OK ||
            retry_after <= 0)
            retry_after = -1;
    } else {
        retry_after = -1;
    }
    enum case_verdict v = case_judge(status, r->resp, r->resp_len, remote, sizeof remote);
    if (status)
        snprintf(why, sizeof why, "HTTP %ld", status);
    else
        snprintf(why, sizeof why, "%s", curl_easy_strerror(res));
    if (store_case_get(ob->store, r->id, &c) != 1)
        return;
    switch (v) {
    case CASE_DELIVERED:
        if (store_case_delivered(ob->store, r->id, remote) == 0)
            logline("info", "case_filed", r->id, remote);
        break;
    case CASE_REJECTED:
        if (store_case_failed(ob->store, r->id, why) == 0)
            logline("error", "case_rejected", r->id, why);
        break;
    case CASE_RETRY: {
        int64_t delay = case_backoff_ms(c.attempts + 1, (long)retry_after, next_rand(ob));
        if (retry_after < 0)
            delay = delay * ob->backoff_base_ms / 1000;
        if (store_case_retry(ob->store, r->id, store_now_ms() + delay, why) == 0) {
            char d[240];
            snprintf(d, sizeof d, "\"%s, retry in %lld ms\"", why, (long long)delay);
            logline("warn", "case_retry", r->id, d);
        }
        break;
    }
    }
    case_rec_clear(&c);
}

/* One round: the due cases, delivered side by side. Returns how many were
 * tried, or -1 on a store error. */
static int round_once(outbox *ob)
{
    char ids[BATCH][CASE_ID_MAX];
    struct req *inflight[BATCH] = { NULL };
    int n = store_cases_due(ob->store, store_now_ms(), ids, BATCH), running = 0, added = 0;
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        struct req *r = req_new(ob, ids[i]);
        if (r && curl_multi_add_handle(ob->multi, r->easy) == CURLM_OK)
            inflight[added++] = r;
        else
            req_free(r);
    }
    if (!added)
        return 0;
    do {
        curl_multi_perform(ob->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(ob->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct req *r = NULL;
            CURLcode res = m->data.result;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            curl_multi_remove_handle(ob->multi, m->easy_handle);
            finish(ob, r, res);
            for (int i = 0; i < added; i++)
                if (inflight[i] == r)
                    inflight[i] = NULL;
            req_free(r);
        }
        if (running)
            curl_multi_poll(ob->multi, NULL, 0, 200, NULL);
    } while (running && !atomic_load(&ob->stop));
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
        int n = ob->deliver ? round_once(ob) : 0;
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
        int n = round_once(ob);
        if (n < 0) {
            snprintf(err, errlen, "store: %s", store_errmsg(ob->store));
            rc = -1;
            break;
        }
        if (n == 0) {
            /* anything still queued but not yet due? */
            if (store_cases_due(ob->store, INT64_MAX, ids, 1) == 0)
                break;
            curl_multi_poll(ob->multi, NULL, 0, 100, NULL);
        }
    }
    cleanup(ob);
    return rc;
}
