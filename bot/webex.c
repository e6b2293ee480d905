/* webex.c -- provbot in Webex (see webex.h).
 *
 * One instance (a static pointer, NULL when Webex is off or stopped). The
 * loop side is a small state machine:
 *
 *   boot: /people/me -> U2C catalog -> GET devices (reuse by name) or POST
 *         one -> connect the device WebSocket
 *   socket: ESTABLISHED -> send authorization -> mercury.buffer_state =
 *         ready (backoff reset, pings start) -> activities -> closed/error
 *         -> by close code: reconnect with backoff and jitter, re-register
 *         (4404, or a 404 on the handshake, at most WX_REREGISTER_MAX in a
 *         row), or stop (4000 with reason "replaced"; 4400/4401/4403
 *         credentials); 4000 with another reason (rebalancing) reconnects.
 *
 * An activity becomes a job: pending row (store) -> GET the message by its
 * Hydra id (retried with backoff; on a 404 with a guessed cluster, the id
 * from the conversation service) -> GET each shared file (5 MiB cap) and
 * engine_attach() it -> the turn, which settles the row (reply kept, event
 * handled) in its own commit -> POST the reply -> row gone. A job is owned by
 * exactly one request at a time and comes back with its result.
 *
 * The worker thread owns the CURLM and every easy handle. Requests (struct
 * wreq) go in through `in`, come back through `out` carrying their result;
 * both queues are guarded by `mu`. The loop drains `out` in
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED, which lws broadcasts to every protocol:
 * only this protocol's callback acts on it, and it drains all of it.
 */
#include "webex.h"
#include "attach.h"
#include "buf.h"
#include "log.h"
#include "metrics.h"
#include "wsq.h"
#include "wx.h"

#include "entity.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#define WX_RX_MAX          (256 * 1024)       /* one reassembled server frame */
#define WX_RESP_MAX        (256 * 1024)       /* one REST answer */
#define WX_FILE_MAX        (5 * 1024 * 1024)  /* one shared file */
#define WX_OUTQ_MAX        256                /* frames waiting to be written */
#define WX_INFLIGHT_MAX    8                  /* concurrent REST calls */
#define WX_REQ_TIMEOUT_MS  15000L
#define WX_RATE_RETRIES    20                 /* 429s one request may wait out */
#define WX_SEND_RETRIES    8                  /* 5xx / transport retries of a reply */
#define WX_REREGISTER_MAX  3
#define WX_PRUNE_MAX       64                 /* devices deleted in one cleanup */
#define WX_READY_TIMEOUT_US (30LL * 1000000)
#define WX_BACKOFF_MAX_MS  32000L
#define WX_DRAIN_MS        3000
#define WX_READ_RETRIES    6                  /* 5xx / transport / 404 retries of a message read */
#define WX_QUEUE_MAX       256                /* REST requests alive: past it new activities shed */

enum op { OP_ME, OP_U2C, OP_DEVICES, OP_CREATE, OP_DELETE, OP_MESSAGE, OP_FILE, OP_REPLY,
          OP_CONV_ID, OP_PRUNE_LIST, OP_PRUNE, OP_ACTION };
static const char *const op_names[] = { "people_me", "u2c", "devices", "create_device",
                                        "delete_device", "message", "file", "reply", "conv_id",
                                        "prune_list", "prune_device", "card_action" };

/* An activity being answered. */
struct job {
    char key[WX_UUID_MAX + 8];   /* "webex:<activity UUID>": its pending row in the store */
    char msg_url[WX_ID_MAX + 600]; /* the message read */
    int tries;                   /* message reads retried */
    char act_id[WX_UUID_MAX];    /* the activity (message) UUID */
    char verb[24];
    char room_uuid[WX_UUID_MAX]; /* the space's UUID (session key) */
    char target_url[WX_URL_MAX]; /* the conversation's URL (the 404 fallback), "" when none */
    bool conv_tried;             /* the conversation service was asked for the REST id */
    bool cluster_guessed;        /* the target host is in no catalog entry: "us" is a guess */
    bool direct;                 /* a 1:1 space */
    char session[40];
    char room_id[WX_ID_MAX];     /* Hydra room id, for the reply */
    char parent_id[WX_ID_MAX];   /* thread root, "" when none */
    char email[WX_EMAIL_MAX];    /* the person: requester */
    char *text;                  /* the message without the bot's mention, owned */
    char files[WX_FILES_MAX][WX_URL_MAX];
    int n_files, next_file;
    char notes[600];             /* what happened to the files, shown before the reply */
};

/* A REST request and, once back, its result. Owned by whichever side holds it. */
struct wreq {
    struct wreq *next;
    enum op op;
    char method[8];
    char *url;                   /* owned */
    char *body;                  /* owned, or NULL */
    int rate_waits, send_tries;
    int64_t not_before_ms;       /* worker: not before this (Retry-After, backoff) */
    struct job *job;             /* owned, or NULL */
    char key[WX_UUID_MAX + 8];   /* OP_REPLY: the pending row it settles, "" when none */
    /* worker-side transfer */
    CURL *easy;
    struct curl_slist *hdrs;
    /* result */
    long status;                 /* HTTP status, 0: transport error */
    struct buf resp;             /* the answer, capped (WX_RESP_MAX, files WX_FILE_MAX) */
    bool too_big;
    char retry_after[24];
    char content_type[64];
    char err[CURL_ERROR_SIZE];
};

enum wstate { WS_OFF, WS_BOOT, WS_CONNECTING, WS_AUTH, WS_READY, WS_DEAD };

struct webex {
    struct attachq *attach;       /* the attachment writer (off the loop), or NULL */
    struct lws_context *ctx;     /* borrowed */
    turns *turns;                /* the turn pipeline, borrowed */
    char *token;                 /* owned, never logged */
    char auth_hdr[1100];         /* "Authorization: Bearer ..." (never logged) */
    char api[512], u2c[512];     /* base URLs, no trailing slash */
    char api_origin[512];        /* scheme://host[:port]/ of api: files only from there */
    char device_name[64];
    char proxy[512];             /* the socket's proxy, [user:pass@]host:port, "" none (never logged) */
    bool plain_ok;               /* http/ws allowed (a local fake) */
    bool unregister;
    long backoff_ms, ping_ms;
    unsigned rng;

    /* identity and registration */
    struct wx_person me;
    bool have_me;
    char wdm[WX_URL_MAX];
    char *catalog;               /* the U2C answer, owned */
    size_t catalog_len;
    struct wx_device dev;
    bool have_dev;
    bool force_create;           /* next boot POSTs a device without listing */
    int reregisters;             /* 404 handshakes in a row */
    bool pruned;                 /* excessive devices: cleaned up once since the last create */
    int prune_left;              /* device DELETEs of the cleanup still out */
    int queued;                  /* requests made and not yet back (loop side) */
    long queue_max;              /* WEBEX_QUEUE_MAX, default WX_QUEUE_MAX */
    int outq_max;                /* WEBEX_OUTQ_MAX: frames waiting to be written, default WX_OUTQ_MAX */
    long timeout_ms;             /* WEBEX_TIMEOUT_MS: one REST call (not a file), default 15 s */
    unsigned long long shed;     /* activities shed because the queue was full */
    bool resumed;                /* the store's pending work was resumed (after /people/me) */

    /* socket */
    enum wstate st;
    struct lws *wsi;             /* borrowed until CLOSED / CONNECTION_ERROR */
    bool kill;                   /* close the socket at the next WRITEABLE */
    int close_code;              /* from the server's close frame, 0: none */
    char close_reason[64];       /* its reason, "" when none */
    struct wsrx rx;              /* reassembly, cap WX_RX_MAX */
    struct wsq q;                /* frames to send, owned */
    int retry;                   /* reconnects since the last ready */
    bool ping_out;               /* a ping awaits its pong */
    lws_sorted_usec_list_t sul_boot; /* backoff / boot steps */
    lws_sorted_usec_list_t sul_ping; /* ready timeout, then pings */

    /* worker */
    pthread_t thread;
    bool thread_started;
    CURLM *multi;
    pthread_mutex_t mu;
    struct wreq *in_head, *in_tail;   /* loop -> worker, under mu */
    struct wreq *out_head, *out_tail; /* worker -> loop, under mu */
    atomic_bool stop;            /* worker: leave now */
    atomic_bool drain;           /* worker: finish what is queued, then leave */
    int64_t drain_deadline_ms;
};

static struct webex *W;

/* ---------------------------------------------------------------- helpers */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void random_bytes(unsigned char *b, size_t n)
{
    int fd = open("/dev/urandom", O_RDONLY);
    ssize_t r = fd >= 0 ? read(fd, b, n) : -1;
    if (fd >= 0) close(fd);
    if (r != (ssize_t)n)
        for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(rand() >> 3);
}

static void new_uuid(char out[37])
{
    unsigned char r[16];
    random_bytes(r, sizeof r);
    wx_uuid_format(r, out);
}

static void job_free(struct job *j)
{
    if (!j) return;
    free(j->text);
    free(j);
}

static void req_free(struct wreq *r)
{
    if (!r) return;
    if (r->easy) curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    free(r->url);
    free(r->body);
    buf_free(&r->resp);
    job_free(r->job);
    free(r);
}

static const char *env_or(const char *k, const char *dflt)
{
    const char *v = getenv(k);
    return v && *v ? v : dflt;
}

/* ---------------------------------------------------------------- worker */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct wreq *r = ud;
    size_t len = size * n;
    if (buf_add(&r->resp, p, len) < 0) {
        r->too_big = true;
        return 0;                            /* aborts the transfer */
    }
    return len;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t outlen)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k)) return;
    const char *v = line + k;
    size_t vl = n - k;
    while (vl && (*v == ' ' || *v == '\t')) { v++; vl--; }
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
    if (vl >= outlen) vl = outlen - 1;
    memcpy(out, v, vl);
    out[vl] = 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct wreq *r = ud;
    size_t len = size * n;
    header_value(p, len, "retry-after:", r->retry_after, sizeof r->retry_after);
    header_value(p, len, "content-type:", r->content_type, sizeof r->content_type);
    return len;
}

static int req_start(struct webex *w, struct wreq *r)
{
    r->status = 0;
    buf_free(&r->resp);
    r->too_big = false;
    r->retry_after[0] = r->content_type[0] = r->err[0] = 0;
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
    if (r->easy) curl_easy_cleanup(r->easy);
    if (!(r->easy = curl_easy_init())) return -1;
    struct curl_slist *h = curl_slist_append(NULL, w->auth_hdr);
    if (h) r->hdrs = h;
    if (h && r->body) h = curl_slist_append(r->hdrs, "Content-Type: application/json;charset=utf-8");
    if (!h) return -1;
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    if (r->body) curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->op == OP_FILE ? WX_REQ_TIMEOUT_MS : w->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, w->plain_ok ? "http,https" : "https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "provbot");
    if (r->op == OP_FILE) curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)WX_FILE_MAX);
    return curl_multi_add_handle(w->multi, e) == CURLM_OK ? 0 : -1;
}

static void push_out(struct webex *w, struct wreq *r)
{
    r->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->out_tail) w->out_tail->next = r; else w->out_head = r;
    w->out_tail = r;
    pthread_mutex_unlock(&w->mu);
    lws_cancel_service(w->ctx);
}

/* A finished transfer: wait out a 429 / retry a reply, or hand it back. */
static void req_done(struct webex *w, struct wreq *r, struct wreq **pending)
{
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    curl_multi_remove_handle(w->multi, r->easy);
    curl_easy_cleanup(r->easy);
    r->easy = NULL;
    int64_t wait = -1;
    if ((r->status == 429 || r->status == 423) && r->rate_waits < WX_RATE_RETRIES) {
        wait = wx_retry_after_ms(r->retry_after[0] ? r->retry_after : NULL);
        r->rate_waits++;
        log_event("warn", "webex_rate_limited", "op=%s status=%ld wait_ms=%lld", op_names[r->op],
                  r->status, (long long)wait);
    } else if (r->op == OP_REPLY && (r->status == 0 || r->status >= 500) &&
               r->send_tries < WX_SEND_RETRIES) {
        wait = 500LL << (r->send_tries < 6 ? r->send_tries : 6);
        r->send_tries++;
        log_event("warn", "webex_reply_retry", "status=%ld try=%d wait_ms=%lld", r->status,
                  r->send_tries, (long long)wait);
    }
    if (wait >= 0 && !atomic_load(&w->drain)) {
        r->not_before_ms = mono_ms() + wait;
        r->next = *pending;
        *pending = r;
        return;
    }
    push_out(w, r);
}

/* The worker's requests: waiting (pending, in arrival order) and running. */
struct inflight {
    struct wreq *pending;               /* owned list */
    struct wreq *run[WX_INFLIGHT_MAX];  /* owned, NULL: free */
    int n;                              /* entries of run in use */
};

/* Moves what the loop queued onto the end of f->pending. */
static void worker_take(struct webex *w, struct inflight *f)
{
    pthread_mutex_lock(&w->mu);
    struct wreq **pp = &f->pending;
    while (*pp) pp = &(*pp)->next;
    *pp = w->in_head;
    w->in_head = w->in_tail = NULL;
    pthread_mutex_unlock(&w->mu);
}

/* True when the loop has queued nothing since the last worker_take(). */
static bool worker_idle(struct webex *w)
{
    pthread_mutex_lock(&w->mu);
    bool idle = w->in_head == NULL;
    pthread_mutex_unlock(&w->mu);
    return idle;
}

/* Starts the due pending requests while there is room; returns when the
 * next one not yet due is (at most 1 s ahead). */
static int64_t worker_launch(struct webex *w, struct inflight *f)
{
    int64_t now = mono_ms(), next_due = now + 1000;
    for (struct wreq **pp = &f->pending; *pp && f->n < WX_INFLIGHT_MAX;) {
        struct wreq *r = *pp;
        if (r->not_before_ms > now) {
            if (r->not_before_ms < next_due) next_due = r->not_before_ms;
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        r->next = NULL;
        if (req_start(w, r) < 0) {
            snprintf(r->err, sizeof r->err, "cannot start the request");
            r->status = 0;
            push_out(w, r);
            continue;
        }
        for (int i = 0; i < WX_INFLIGHT_MAX; i++)
            if (!f->run[i]) { f->run[i] = r; break; }
        f->n++;
    }
    return next_due;
}

/* Hands every finished transfer to req_done (result, retry or wait). */
static void worker_reap(struct webex *w, struct inflight *f)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        struct wreq *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (!r) continue;
        for (int i = 0; i < WX_INFLIGHT_MAX; i++)
            if (f->run[i] == r) f->run[i] = NULL;
        f->n--;
        if (m->data.result != CURLE_OK && !r->err[0])
            snprintf(r->err, sizeof r->err, "%s", curl_easy_strerror(m->data.result));
        req_done(w, r, &f->pending);
    }
}

static void *worker_main(void *arg)
{
    struct webex *w = arg;
    struct inflight f = { 0 };

    while (!atomic_load(&w->stop)) {
        worker_take(w, &f);
        int64_t next_due = worker_launch(w, &f);
        int running = 0;
        curl_multi_perform(w->multi, &running);
        worker_reap(w, &f);
        if (atomic_load(&w->drain) &&
            ((!f.pending && !f.n && worker_idle(w)) || mono_ms() >= w->drain_deadline_ms))
            break;
        int timeout = (int)(next_due - mono_ms());
        if (timeout < 0) timeout = 0;
        if (timeout > 1000 || f.n >= WX_INFLIGHT_MAX) timeout = 1000; /* activity wakes it */
        if (f.n || !f.pending || timeout > 0)
            curl_multi_poll(w->multi, NULL, 0, timeout, NULL);
    }
    for (int i = 0; i < WX_INFLIGHT_MAX; i++)
        if (f.run[i]) {
            curl_multi_remove_handle(w->multi, f.run[i]->easy);
            req_free(f.run[i]);
        }
    while (f.pending) {
        struct wreq *r = f.pending;
        f.pending = r->next;
        req_free(r);
    }
    return NULL;
}

/* Queues a request for the worker, to start after delay_ms. url, body and
 * key (a reply's pending row, or NULL) are copied; job is taken over (freed
 * on failure). */
static void rest_at(struct webex *w, enum op op, const char *method, const char *url,
                    const char *body, struct job *job, int64_t delay_ms, const char *key)
{
    struct wreq *r = calloc(1, sizeof *r);
    if (!r || !(r->url = strdup(url)) || (body && !(r->body = strdup(body)))) {
        log_event("error", "out_of_memory", "what=webex_request");
        if (r) { r->job = job; req_free(r); } else job_free(job);
        return;
    }
    r->op = op;
    if (key) snprintf(r->key, sizeof r->key, "%s", key);
    r->not_before_ms = delay_ms > 0 ? mono_ms() + delay_ms : 0;
    w->queued++;
    snprintf(r->method, sizeof r->method, "%s", method);
    buf_init(&r->resp, op == OP_FILE ? WX_FILE_MAX : WX_RESP_MAX);
    r->job = job;
    pthread_mutex_lock(&w->mu);
    if (w->in_tail) w->in_tail->next = r; else w->in_head = r;
    w->in_tail = r;
    pthread_mutex_unlock(&w->mu);
    curl_multi_wakeup(w->multi);
}

static void rest(struct webex *w, enum op op, const char *method, const char *url,
                 const char *body, struct job *job)
{
    rest_at(w, op, method, url, body, job, 0, NULL);
}

/* ---------------------------------------------------------------- socket output */

/* Counts and logs frames that will never be written (what: ack, ping,
 * auth, frames; n of them). */
static void frames_dropped(const char *what, const char *why, int n)
{
    log_event("warn", "webex_frame_dropped", "what=%s why=%s n=%d", what, why, n);
    metrics_extra_add("provbot_webex_frames_dropped_total",
                      "Webex socket frames (acks, pings) that could not be sent.", (uint64_t)n);
}

/* Queues a frame to write (takes txt; `what` names it for the log). 0, or
 * -1 when it cannot be sent (no socket, the queue full, out of memory):
 * logged and counted, never silent. */
static int send_frame(struct webex *w, char *txt, const char *what)
{
    const char *why = !txt ? "out_of_memory" : !w->wsi ? "no_socket"
                    : w->q.len >= w->outq_max ? "queue_full" : NULL;
    if (!why && wsq_push(&w->q, txt, strlen(txt), 0) < 0) why = "out_of_memory";
    free(txt);
    if (why) {
        frames_dropped(what, why, 1);
        return -1;
    }
    lws_callback_on_writable(w->wsi);
    return 0;
}

static int on_writeable(struct webex *w, struct lws *wsi)
{
    if (w->kill) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"reconnecting", 12);
        return -1;
    }
    if (wsq_write(&w->q, wsi) < 0) return -1;
    if (w->q.head) lws_callback_on_writable(wsi);
    return 0;
}

/* ---------------------------------------------------------------- boot and reconnect */

static void boot_step(struct webex *w);
static void boot_cb(lws_sorted_usec_list_t *sul)
{
    struct webex *w = lws_container_of(sul, struct webex, sul_boot);
    boot_step(w);
}

/* Stops the channel for good (credentials, replaced), with a clear log. */
static void go_dead(struct webex *w, const char *event, const char *why)
{
    w->st = WS_DEAD;
    lws_sul_cancel(&w->sul_boot);
    lws_sul_cancel(&w->sul_ping);
    log_event("error", event, "why=\"%s\" action=stopped", why);
}

/* Schedules the next boot step after the backoff delay (with jitter). */
static void backoff(struct webex *w, const char *why)
{
    if (w->st == WS_DEAD || w->st == WS_OFF) return;
    long d = w->backoff_ms;
    for (int i = 0; i < w->retry && d < WX_BACKOFF_MAX_MS; i++) d *= 2;
    if (d > WX_BACKOFF_MAX_MS) d = WX_BACKOFF_MAX_MS;
    long jitter = d / 5;
    w->rng = w->rng * 1103515245u + 12345u;
    if (jitter > 0) d += (long)((w->rng >> 8) % (unsigned)(2 * jitter + 1)) - jitter;
    w->retry++;
    w->st = WS_BOOT;
    log_event("info", "webex_reconnect", "why=%s attempt=%d delay_ms=%ld", why, w->retry, d);
    lws_sul_schedule(w->ctx, 0, &w->sul_boot, boot_cb, (lws_usec_t)d * 1000);
}

static void ws_route(struct webex *w, const char *host);
static void connect_ws(struct webex *w)
{
    char url[WX_URL_MAX + 128], path[WX_URL_MAX + 128];
    const char *prot, *ads, *p;
    int port;
    const char *q = "outboundWireFormat=text&bufferStates=true&aliasHttpStatus=true";
    snprintf(url, sizeof url, "%s%s%s", w->dev.ws_url, strchr(w->dev.ws_url, '?') ? "&" : "?", q);
    if (lws_parse_uri(url, &prot, &ads, &port, &p) ||
        (strcmp(prot, "wss") && !(w->plain_ok && !strcmp(prot, "ws")))) {
        log_event("error", "webex_bad_ws_url", "scheme_ok=0");
        w->have_dev = false;
        w->force_create = true;
        backoff(w, "bad_ws_url");
        return;
    }
    snprintf(path, sizeof path, "/%s", p);
    struct lws_client_connect_info i = {
        .context = w->ctx,
        .address = ads,
        .port = port,
        .path = path,
        .host = ads,                         /* Host, SNI and certificate name */
        .ssl_connection = strcmp(prot, "wss") ? 0 : LCCSCF_USE_SSL,
        .local_protocol_name = "provbot-webex",
        .pwsi = &w->wsi,
    };
    w->st = WS_CONNECTING;
    w->close_code = 0;
    w->close_reason[0] = 0;
    w->kill = false;
    w->ping_out = false;
    log_event("info", "webex_connect", "host=%s", ads);
    ws_route(w, ads);
    if (!lws_client_connect_via_info(&i)) {
        w->wsi = NULL;
        if (w->st == WS_CONNECTING) backoff(w, "connect_failed");
    }
}

static void boot_step(struct webex *w)
{
    char url[WX_URL_MAX + 64];
    if (w->st == WS_DEAD || w->st == WS_OFF) return;
    w->st = WS_BOOT;
    if (!w->have_me) {
        snprintf(url, sizeof url, "%s/people/me", w->api);
        rest(w, OP_ME, "GET", url, NULL, NULL);
    } else if (!w->wdm[0]) {
        snprintf(url, sizeof url, "%s/catalog?format=hostmap", w->u2c);
        rest(w, OP_U2C, "GET", url, NULL, NULL);
    } else if (!w->have_dev && !w->force_create) {
        snprintf(url, sizeof url, "%s/devices", w->wdm);
        rest(w, OP_DEVICES, "GET", url, NULL, NULL);
    } else if (!w->have_dev) {
        char *body = wx_device_body(w->device_name);
        snprintf(url, sizeof url, "%s/devices", w->wdm);
        if (body) rest(w, OP_CREATE, "POST", url, body, NULL);
        free(body);
    } else {
        connect_ws(w);
    }
}

/* A failed boot call: credentials stop us, the rest backs off. */
static void boot_failed(struct webex *w, struct wreq *r)
{
    log_event("warn", "webex_boot_failed", "op=%s status=%ld err=\"%s\"", op_names[r->op],
              r->status, r->err);
    if (r->status == 401 || (r->status == 403 && r->op != OP_CREATE))
        go_dead(w, "webex_unauthorized", "Webex refused the token (check WEBEX_TOKEN)");
    else
        backoff(w, op_names[r->op]);
}

/* ---------------------------------------------------------------- activities */

/* POSTs a reply; key (or NULL) names the pending row it settles when sent. */
static void post_reply(struct webex *w, const char *room_id, const char *parent_id,
                       const char *key, const char *markdown)
{
    char url[600];
    char *body = wx_reply_body(room_id, parent_id, markdown);
    snprintf(url, sizeof url, "%s/messages", w->api);
    if (body) rest_at(w, OP_REPLY, "POST", url, body, NULL, 0, key);
    else log_event("error", "out_of_memory", "what=webex_reply");
    free(body);
}

static void job_reply(struct webex *w, struct job *j, const char *key, const char *markdown)
{
    post_reply(w, j->room_id, j->parent_id, key, markdown);
    log_event("info", "webex_reply_queued", "session=%.11s", j->session);
}

/* The job's pending row: what a restart needs to resume it. Caller frees. */
static char *job_json(const struct job *j)
{
    cJSON *o = cJSON_CreateObject();
    if (o && (!cJSON_AddStringToObject(o, "act", j->act_id) ||
              !cJSON_AddStringToObject(o, "verb", j->verb) ||
              !cJSON_AddStringToObject(o, "room", j->room_uuid) ||
              !cJSON_AddBoolToObject(o, "direct", j->direct) ||
              !cJSON_AddStringToObject(o, "target", j->target_url) ||
              !cJSON_AddStringToObject(o, "url", j->msg_url) ||
              !cJSON_AddStringToObject(o, "room_id", j->room_id) ||
              !cJSON_AddStringToObject(o, "parent_id", j->parent_id) ||
              !cJSON_AddStringToObject(o, "session", j->session) ||
              !cJSON_AddStringToObject(o, "notes", j->notes))) {
        cJSON_Delete(o);
        o = NULL;
    }
    char *txt = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return txt;
}

/* The job's activity is finished without a reply to send: its row goes
 * (handled: never again; else a redelivery is answered). */
static void job_settled(struct webex *w, const struct job *j, bool handled)
{
    if (turns_pending_done(w->turns, j->key, handled) < 0)
        log_event("error", "webex_store", "what=pending_done");
}

/* The case form's fields as the conversation knows them (its stored
 * state's facts), for the card's prefill; empty when unknown. */
/* The conversation's language ("en" when it has none yet). */
static const char *conv_lang(struct webex *w, const char *session)
{
    char *state = turns_conv_state(w->turns, session);
    cJSON *st = state ? cJSON_Parse(state) : NULL;
    const char *l = cJSON_GetStringValue(cJSON_GetObjectItem(st, "lang"));
    const char *lang = l && !strcmp(l, "sv") ? "sv" : "en";
    cJSON_Delete(st);
    free(state);
    return lang;
}

static void form_prefill(struct webex *w, const char *session, struct wx_case_form *f)
{
    char *state = turns_conv_state(w->turns, session);
    cJSON *st = state ? cJSON_Parse(state) : NULL, *facts = cJSON_GetObjectItem(st, "facts");
    const char *o = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(facts, "order_ref"), "v"));
    const char *e = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(facts, "new_email"), "v"));
    const char *d = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(facts, "description"), "v"));
    memset(f, 0, sizeof *f);
    snprintf(f->order_ref, sizeof f->order_ref, "%s", o ? o : "");
    snprintf(f->new_email, sizeof f->new_email, "%s", e ? e : "");
    snprintf(f->description, sizeof f->description, "%s", d ? d : "");
    cJSON_Delete(st);
    free(state);
}

/* The card body for a yes/no or line-status question with quick replies:
 * one button per label. NULL when the reply has none. Caller frees. */
static char *question_card(const struct job *j, const cJSON *r, const char *text, const char *md)
{
    const char *labels[WX_BUTTONS_MAX];
    int n = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItem(r, "buttons"))
        if (cJSON_IsString(b) && n < WX_BUTTONS_MAX) labels[n++] = b->valuestring;
    return n ? wx_buttons_card_body(j->room_id, j->parent_id, md, text, labels, n) : NULL;
}

/* A reply that asks to confirm the case form, or asks a yes/no or
 * line-status question with quick replies, goes as an Adaptive Card (the
 * markdown its fallback). True when posted so. */
static bool card_reply(struct webex *w, struct job *j, const char *reply_json, const char *md)
{
    cJSON *r = cJSON_Parse(reply_json);
    const char *expect = cJSON_GetStringValue(cJSON_GetObjectItem(r, "expect"));
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(r, "text"));
    char *body = NULL, url[600];
    const char *kind = "case_form";
    if (expect && text && !strcmp(expect, "confirm")) {
        struct wx_case_form f;
        engine *e = turns_engine(w->turns);
        const char *lang = cJSON_GetStringValue(cJSON_GetObjectItem(r, "lang"));
        const struct wx_card_labels l = {
            engine_text(e, "card_order_ref", lang), engine_text(e, "card_new_email", lang),
            engine_text(e, "card_description", lang), engine_text(e, "card_submit", lang),
            engine_text(e, "card_cancel", lang) };
        form_prefill(w, j->session, &f);
        body = wx_case_card_body(j->room_id, j->parent_id, md, text, &f, &l);
    } else if (expect && text && (!strcmp(expect, "yes_no") || !strcmp(expect, "line_status"))) {
        body = question_card(j, r, text, md);
        kind = "buttons";
    }
    cJSON_Delete(r);
    if (!body) return false;
    snprintf(url, sizeof url, "%s/messages", w->api);
    rest_at(w, OP_REPLY, "POST", url, body, NULL, 0, j->key);
    log_event("info", "webex_reply_queued", "session=%.11s card=%s", j->session, kind);
    free(body);
    return true;
}

/* The pipeline's answer for a job's turn: the reply (with the notes about
 * the files before it) once the turn is durable, else an apology. Frees j. */
static void job_answered(void *owner, void *arg, const struct turns_outcome *o)
{
    struct webex *w = owner;
    struct job *j = arg;
    if (!o->ok) {
        log_event("error", "webex_turn_failed", "session=%.11s err=\"%s\"", j->session, o->err);
        job_settled(w, j, false);
        job_reply(w, j, NULL, "The bot could not save your message, please send it again.");
        job_free(j);
        return;
    }
    char *md = wx_reply_markdown(o->res->json, strlen(o->res->json));
    if (md && j->notes[0]) {
        size_t n = strlen(j->notes) + strlen(md) + 3;
        char *both = malloc(n);
        if (both) {
            snprintf(both, n, "%s\n\n%s", j->notes, md);
            free(md);
            md = both;
        }
    }
    if (md && !card_reply(w, j, o->res->json, md)) job_reply(w, j, j->key, md);
    log_event("info", "webex_turn", "session=%.11s intent=%s case=%s", j->session,
              o->res->intent[0] ? o->res->intent : "none", o->res->case_id[0] ? o->res->case_id : "-");
    free(md);
    job_free(j);
}

/* The files are in: hand the turn to the pipeline. Takes j. */
static void job_turn(struct webex *w, struct job *j)
{
    if (!j->text[0]) {                       /* only files: tell what became of them */
        job_settled(w, j, true);
        if (j->notes[0]) job_reply(w, j, NULL, j->notes);
        job_free(j);
        return;
    }
    char *data = job_json(j);                /* where the reply goes, for a restart */
    if (!data || turns_pending_update(w->turns, j->key, data) < 0)
        log_event("error", "webex_store", "what=pending_update");
    free(data);
    struct turns_msg m = { .session = j->session, .user = j->email[0] ? j->email : NULL,
                           .text = j->text, .reply_to = NULL, .channel = "webex",
                           .settle_key = j->key };
    turns_submit(w->turns, &m, job_answered, w, j);
}

/* Fetches the next shared file, or runs the turn. Takes j. */
static void job_next(struct webex *w, struct job *j)
{
    while (j->next_file < j->n_files) {
        const char *u = j->files[j->next_file];
        if (!strncmp(u, w->api_origin, strlen(w->api_origin))) {
            rest(w, OP_FILE, "GET", u, NULL, j);
            return;
        }
        log_event("warn", "webex_file_skipped", "why=foreign_host");
        j->next_file++;
    }
    job_turn(w, j);
}

/* A shared file's outcome in the job's notes; then the next file or the turn. */
static void file_done(struct webex *w, struct job *j, const char *name, int rc, const char *err)
{
    log_event("info", "webex_attach", "session=%.11s file=%d ok=%d", j->session, j->next_file + 1,
              rc == 0);
    size_t o = strlen(j->notes);
    snprintf(j->notes + o, sizeof j->notes - o, "%s%s %s%s%s", o ? "\n" : "", rc == 0 ? "📎" : "⚠️",
             name, rc == 0 ? "" : ": ", rc == 0 ? "" : err);
    j->next_file++;
    job_next(w, j);
}

/* A file on its way to the attachment writer (off the loop). */
struct file_wait {
    struct webex *w;
    struct job *j;
    char name[64];
};

/* The writer's outcome, on the loop; NULL: dropped at shutdown. */
static void file_written(void *arg, const struct attach_job *a)
{
    struct file_wait *fw = arg;
    if (a)
        file_done(fw->w, fw->j, fw->name, a->rc, a->err[0] ? a->err : "the file could not be stored");
    else
        job_free(fw->j);
    free(fw);
}

/* Hands the fetched file to the writer; false (err set) when it cannot take it. */
static bool file_hand_over(struct webex *w, struct job *j, const char *name, struct wreq *r,
                           char *err, size_t errlen)
{
    const char *mime = NULL;
    if (turns_attach_check(w->turns, j->session, buf_str(&r->resp), r->resp.len,
                           &mime, err, errlen) < 0)
        return false;
    struct attach_job *a = calloc(1, sizeof *a);
    struct file_wait *fw = calloc(1, sizeof *fw);
    size_t len = r->resp.len;
    unsigned char *data = a && fw ? (unsigned char *)buf_take(&r->resp) : NULL; /* no copy */
    if (data) {
        *fw = (struct file_wait){ .w = w, .j = j };
        snprintf(fw->name, sizeof fw->name, "%s", name);
        *a = (struct attach_job){ .mime = mime, .data = data, .len = len,
                                  .done = file_written, .arg = fw };
        snprintf(a->session, sizeof a->session, "%s", j->session);
        snprintf(a->name, sizeof a->name, "%s", name);
        if (attach_submit(w->attach, a) == 0)
            return true;
    }
    free(data);
    free(fw);
    if (a) a->data = NULL;
    free(a);
    snprintf(err, errlen, "the server is busy, please share the file again in a moment");
    log_event("warn", "webex_attach_shed", "session=%.11s", j->session);
    return false;
}

static void on_file(struct webex *w, struct wreq *r)
{
    struct job *j = r->job;
    r->job = NULL;
    char err[256] = "", name[64];
    const char *ext = strstr(r->content_type, "jpeg") ? "jpg" : "png";
    snprintf(name, sizeof name, "screenshot-%d.%s", j->next_file + 1, ext);
    int rc = -1;
    if (r->status == 200 && !r->too_big && w->attach) {
        if (file_hand_over(w, j, name, r, err, sizeof err))
            return;                       /* file_written goes on */
    } else if (r->status == 200 && !r->too_big) {
        rc = turns_attach(w->turns, j->session, name, buf_str(&r->resp), r->resp.len, err, sizeof err);
    } else {
        snprintf(err, sizeof err, "%s", r->too_big ? "the file is larger than 5 MiB"
                                                   : "the file could not be fetched");
    }
    file_done(w, j, name, rc, err);
}

/* True when the bot may send its token to url: Webex's own https hosts, or
 * the REST API's origin (a local fake). */
static bool trusted_url(const struct webex *w, const char *url)
{
    char host[256];
    if (!strncmp(url, w->api_origin, strlen(w->api_origin))) return true;
    if (strncmp(url, "https://", 8)) return false;
    size_t n = strcspn(url + 8, ":/?#");
    if (n >= sizeof host) return false;
    memcpy(host, url + 8, n);
    host[n] = 0;
    const char *const ok[] = { ".wbx2.com", ".webex.com" };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (n > strlen(ok[i]) && !strcasecmp(host + n - strlen(ok[i]), ok[i])) return true;
    return false;
}

/* A 404 on the message read (a wrong cluster guess): ask the conversation
 * service for the REST id, as webex_bot does. True when asked (r's job
 * moves to the new request). */
static bool conv_fallback(struct webex *w, struct wreq *r)
{
    struct job *j = r->job;
    char url[WX_URL_MAX + WX_UUID_MAX];
    if (r->status != 404 || !j->cluster_guessed || j->conv_tried || !j->target_url[0] ||
        wx_conv_lookup_url(j->target_url, j->room_uuid, j->act_id, url, sizeof url) < 0 ||
        !trusted_url(w, url))
        return false;
    j->conv_tried = true;
    r->job = NULL;
    log_event("warn", "webex_cluster_fallback", "activity=%.8s why=404 via=conversation_service",
              j->act_id);
    rest(w, OP_CONV_ID, "GET", url, NULL, j);
    return true;
}

/* The conversation service's answer: the REST id to read the message by. */
static void on_conv_id(struct webex *w, struct wreq *r)
{
    char id[WX_ID_MAX], url[WX_ID_MAX + 600];
    if (r->status != 200 || wx_id_parse(buf_str(&r->resp), r->resp.len, id, sizeof id) < 0 ||
        strchr(id, '/') || strchr(id, '?')) {
        struct job *j = r->job;
        log_event("warn", "webex_conv_id_failed", "status=%ld err=\"%s\"", r->status, r->err);
        r->job = NULL;                         /* the read by the guessed id, retried */
        rest_at(w, OP_MESSAGE, "GET", j->msg_url, NULL, j, 500, NULL);
        return;
    }
    snprintf(url, sizeof url, "%s/messages/%s", w->api, id);
    struct job *j = r->job;
    r->job = NULL;
    rest(w, OP_MESSAGE, "GET", url, NULL, j);
}

/* A message read that failed for now (transport, 5xx, 404: not yet
 * readable there): again after a backoff, at most WX_READ_RETRIES times.
 * True when requeued (r's job moves to the new request). */
static bool read_retry(struct webex *w, struct wreq *r)
{
    struct job *j = r->job;
    if (!(r->status == 0 || r->status >= 500 || r->status == 404) || j->tries >= WX_READ_RETRIES)
        return false;
    int64_t wait = 500LL << j->tries;
    j->tries++;
    r->job = NULL;
    log_event("warn", "webex_message_retry", "activity=%.8s status=%ld try=%d wait_ms=%lld",
              j->act_id, r->status, j->tries, (long long)wait);
    rest_at(w, OP_MESSAGE, "GET", r->url, NULL, j, wait, NULL);
    return true;
}

static void on_message(struct webex *w, struct wreq *r)
{
    struct job *j = r->job;
    struct wx_message m;
    if (r->status != 200 || wx_message_parse(buf_str(&r->resp), r->resp.len, &m) < 0) {
        if (r->status == 200) wx_message_clear(&m);
        if (conv_fallback(w, r)) return;
        if (read_retry(w, r)) return;
        log_event("warn", "webex_message_unavailable", "status=%ld err=\"%s\" action=%s",
                  r->status, r->err, r->status == 403 ? "ignored" : "gave_up");
        job_settled(w, j, r->status == 403);   /* 403: not for the bot, never */
        return;                                /* r still owns j */
    }
    bool direct = strcmp(m.room_type, "group") != 0 && j->direct;
    if (w->me.email[0] && !strcasecmp(m.person_email, w->me.email)) {
        log_event("debug", "webex_ignored", "why=own_message");
        job_settled(w, j, true);
        goto out;
    }
    if (!direct && !wx_message_mentions(&m, w->me.uuid)) {
        log_event("debug", "webex_ignored", "why=not_mentioned");
        job_settled(w, j, true);
        goto out;
    }
    r->job = NULL;                             /* j is ours now */
    j->direct = direct;
    j->text = direct ? strdup(m.text) : wx_strip_mention(m.text, w->me.display_name);
    if (!j->text) {
        job_settled(w, j, false);
        job_free(j);
        goto out;
    }
    snprintf(j->room_id, sizeof j->room_id, "%s", m.room_id);
    snprintf(j->parent_id, sizeof j->parent_id, "%s", m.parent_id);
    snprintf(j->email, sizeof j->email, "%s", m.person_email);
    wx_session_id(j->room_uuid, j->email, direct, j->session);
    for (int i = 0; i < m.n_files; i++)
        snprintf(j->files[j->n_files++], WX_URL_MAX, "%s", m.files[i]);
    job_next(w, j);
out:
    wx_message_clear(&m);
}

/* An edit (parent.type "edit") is no new message: it is ignored, except
 * while a question of the case form is pending in its conversation, when
 * its new text is a correction (the dialog takes a new order or email at
 * any point). True when it is to be taken. */
static bool edit_wanted(struct webex *w, const struct wx_activity *a)
{
    char session[40];
    wx_session_id(a->target_id, a->actor_email, a->one_on_one, session);
    int rc = turns_form_pending(w->turns, session);
    if (rc < 0) log_event("error", "webex_store", "what=form_pending");
    if (rc <= 0) {
        log_event("info", "webex_ignored", "why=edit activity=%.8s of=%.8s", a->id, a->parent_id);
        return false;
    }
    log_event("info", "webex_edit_correction", "activity=%.8s of=%.8s session=%.11s", a->id,
              a->parent_id, session);
    return true;
}

/* Whether the bot acts on an activity (card: a card submission); logs why
 * not. Its own and other bots' activities, unmentioned group messages and
 * edits outside the case form are not for it; a full queue sheds. */
static bool activity_wanted(struct webex *w, const struct wx_activity *a, bool card)
{
    if (strcmp(a->verb, "post") && strcmp(a->verb, "share") && !card) {
        log_event("debug", "webex_ignored", "why=verb verb=%s", a->verb);
        return false;
    }
    if ((w->me.uuid[0] && !strcasecmp(a->actor_id, w->me.uuid)) ||
        (w->dev.user_id[0] && !strcasecmp(a->actor_id, w->dev.user_id))) {
        log_event("debug", "webex_ignored", "why=own_activity");
        return false;
    }
    if (a->actor_type[0] && strcmp(a->actor_type, "PERSON")) {
        log_event("debug", "webex_ignored", "why=bot_actor");
        return false;
    }
    if (!card && !a->one_on_one && !wx_activity_mentions(a, w->me.uuid)) {
        log_event("debug", "webex_ignored", "why=not_mentioned");
        return false;
    }
    if (a->parent_edit && !edit_wanted(w, a))
        return false;
    if (w->queued >= w->queue_max) {        /* shed: not marked, a redelivery is answered */
        w->shed++;
        log_event("warn", "webex_queue_shed", "activity=%.8s queued=%d shed_total=%llu", a->id,
                  w->queued, (unsigned long long)w->shed);
        metrics_extra_add("provbot_webex_shed_total",
                          "Webex activities shed because the REST queue was full.", 1);
        return false;
    }
    return true;
}

static void on_activity(struct webex *w, const struct wx_activity *a)
{
    char cluster[128], id[WX_ID_MAX], url[WX_ID_MAX + 600];
    bool card = !strcmp(a->verb, "cardAction");
    if (!activity_wanted(w, a, card)) return;
    bool guessed = wx_u2c_cluster(w->catalog ? w->catalog : "", w->catalog_len, a->target_host,
                                  cluster, sizeof cluster) != 0;
    if (guessed) log_event("warn", "webex_cluster_unknown", "host=%s guess=us", a->target_host);
    if (wx_hydra_id(cluster, card ? "ATTACHMENT_ACTION" : "MESSAGE", a->id, id, sizeof id) < 0) return;
    struct job *j = calloc(1, sizeof *j);
    if (!j) return;
    snprintf(j->act_id, sizeof j->act_id, "%s", a->id);
    snprintf(j->verb, sizeof j->verb, "%s", a->verb);
    snprintf(j->room_uuid, sizeof j->room_uuid, "%s", a->target_id);
    snprintf(j->target_url, sizeof j->target_url, "%s", a->target_url);
    j->cluster_guessed = guessed;
    snprintf(j->email, sizeof j->email, "%s", a->actor_email);
    j->direct = a->one_on_one;
    snprintf(url, sizeof url, "%s/%s/%s", w->api, card ? "attachment/actions" : "messages", id);
    snprintf(j->msg_url, sizeof j->msg_url, "%s", url);
    snprintf(j->key, sizeof j->key, "webex:%s", a->id);
    /* Never twice: pending (then handled once its reply is committed) before
     * any work; an event redelivered after a reconnect or a restart stops
     * here, and a restart resumes what is pending. */
    char *data = job_json(j);
    int rc = data ? turns_pending_begin(w->turns, j->key, data) : -1;
    free(data);
    if (rc == 0) {
        log_event("info", "webex_duplicate", "activity=%.8s", a->id);
        job_free(j);
        return;
    }
    if (rc < 0) log_event("error", "webex_store", "what=pending_begin");
    log_event("info", "webex_activity", "activity=%.8s verb=%s direct=%d", a->id, a->verb, a->one_on_one);
    rest(w, card ? OP_ACTION : OP_MESSAGE, "GET", url, NULL, j);
}

/* ---------------------------------------------------------------- results */

/* A boot step's answer (identity, catalog, devices, a new device): the
 * next step, or a backoff. */
static void resume_pending(struct webex *w);
static void on_boot_result(struct webex *w, struct wreq *r)
{
    const char *body = buf_str(&r->resp);
    size_t len = r->resp.len;
    bool ok = false;
    switch (r->op) {
    case OP_ME:
        if ((ok = r->status == 200 && wx_person_parse(body, len, &w->me) == 0 && w->me.uuid[0])) {
            w->have_me = true;
            log_event("info", "webex_identity", "email=%s", w->me.email);
            if (!w->resumed) resume_pending(w);  /* once the bot knows who it is (mentions) */
            w->resumed = true;
        }
        break;
    case OP_U2C:
        ok = r->status == 200 && wx_u2c_wdm(body, len, w->wdm, sizeof w->wdm) == 0 &&
             (!strncmp(w->wdm, "https://", 8) || w->plain_ok);
        if (ok) {
            free(w->catalog);
            w->catalog_len = len;
            w->catalog = buf_take(&r->resp);   /* kept for the clusters */
        } else {
            w->wdm[0] = 0;
        }
        break;
    case OP_DEVICES: {
        int rc = r->status == 200 ? wx_devices_find(body, len, w->device_name, &w->dev) : -1;
        if ((ok = rc >= 0) && rc == 1) {
            w->have_dev = true;
            log_event("info", "webex_device", "action=reused");
        } else if (ok) {
            w->force_create = true;
        }
        break;
    }
    case OP_CREATE:
        if ((ok = r->status >= 200 && r->status < 300 && wx_device_parse(body, len, &w->dev) == 0)) {
            w->have_dev = true;
            w->force_create = false;
            w->pruned = false;
            log_event("info", "webex_device", "action=created");
        } else if (r->status == 403 && !w->pruned && strstr(body, "excessive device registrations")) {
            char url[WX_URL_MAX + 16];
            w->pruned = true;                    /* once: a second 403 backs off */
            log_event("warn", "webex_device_refused", "status=403 why=excessive_devices action=cleanup");
            snprintf(url, sizeof url, "%s/devices", w->wdm);
            rest(w, OP_PRUNE_LIST, "GET", url, NULL, NULL);
            return;
        } else if (r->status == 403) {
            log_event("error", "webex_device_refused", "status=403 body_hint=\"%.80s\"", body);
        }
        break;
    default:
        return;
    }
    if (ok) boot_step(w);
    else boot_failed(w, r);
}

/* The turn text for a card submission, through the same dialog path as
 * typed text: "yes" when the inputs are what the form holds, else the
 * corrections (the dialog shows the form again, with a fresh card). */
static char *action_text(struct webex *w, const struct job *j, const struct wx_card_action *a)
{
    char buf[WX_EMAIL_MAX + 200];
    struct wx_case_form known;
    if (!strcmp(a->action, "cancel")) return strdup("no");
    form_prefill(w, j->session, &known);
    if (!strcmp(known.order_ref, a->form.order_ref) && !strcasecmp(known.new_email, a->form.new_email))
        return strdup("yes");
    snprintf(buf, sizeof buf, "order %s, new provisioning contact %s", a->form.order_ref,
             a->form.new_email);
    return strdup(buf);
}

/* True the first time a card (its message id) is answered: a second press
 * of the same card (a double click, a stale press of an answered card) is
 * not a second answer. Durable (its own commit). */
static bool card_first_answer(struct webex *w, const struct job *j, const struct wx_card_action *a)
{
    char key[WX_ID_MAX + 16];
    if (!a->message_id[0]) return true;
    snprintf(key, sizeof key, "webex-card:%s", a->message_id);
    int rc = turns_mark_handled(w->turns, key);
    if (rc < 0) log_event("error", "webex_store", "what=card_mark");
    if (rc != 0) return true;
    log_event("info", "webex_card_repeat", "session=%.11s action=ignored", j->session);
    return false;
}

/* A card submission read back: a question card's button is the label as
 * if typed; the case form is validated like the text form (the email by
 * the same check; the order through the dialog); then a turn. A card
 * answers once. */
static void on_action(struct webex *w, struct wreq *r)
{
    struct job *j = r->job;
    struct wx_card_action a;
    char why[80] = "", msg[WX_EMAIL_MAX + 256];
    if (r->status != 200 || wx_card_action_parse(buf_str(&r->resp), r->resp.len, &a) < 0) {
        if (read_retry(w, r)) return;
        log_event("warn", "webex_card_unavailable", "status=%ld", r->status);
        job_settled(w, j, r->status == 403);
        return;                                /* r still owns j */
    }
    r->job = NULL;
    snprintf(j->room_id, sizeof j->room_id, "%s", a.room_id);
    j->parent_id[0] = 0;                       /* no thread for card actions (webex_bot) */
    wx_session_id(j->room_uuid, j->email, j->direct, j->session);
    if (a.answer[0]) {                         /* a question card's button */
        bool first = card_first_answer(w, j, &a);
        if (!first || !(j->text = strdup(a.answer))) {
            job_settled(w, j, !first);
            job_free(j);
            return;
        }
        log_event("info", "webex_card_answer", "session=%.11s", j->session);
        job_turn(w, j);
        return;
    }
    if (strcmp(a.action, "cancel") && !ent_email_valid(a.form.new_email, why, sizeof why)) {
        engine *e = turns_engine(w->turns);
        const char *lang = conv_lang(w, j->session);
        snprintf(msg, sizeof msg, "%s %s", engine_text(e, "card_email_invalid", lang),
                 engine_text(e, ent_email_why_key(why), lang));
        log_event("info", "webex_card_invalid", "session=%.11s field=new_email", j->session);
        job_settled(w, j, true);
        job_reply(w, j, NULL, msg);
        job_free(j);
        return;
    }
    bool first = card_first_answer(w, j, &a);
    if (!first || !(j->text = action_text(w, j, &a))) {
        job_settled(w, j, !first);
        job_free(j);
        return;
    }
    log_event("info", "webex_card_submit", "session=%.11s action=%s", j->session, a.action);
    job_turn(w, j);
}

/* A reply's end: sent or refused (4xx): its pending row goes; still
 * failing after the retries: kept, a restart sends it. */
static void on_reply(struct webex *w, struct wreq *r)
{
    bool final = r->status == 200 || (r->status >= 400 && r->status < 500 && r->status != 429 &&
                                      r->status != 423);
    if (r->status == 200)
        log_event("info", "webex_reply", "status=200");
    else
        log_event("error", "webex_reply_failed", "status=%ld err=\"%s\" action=%s", r->status,
                  r->err, final ? "dropped" : "kept_for_restart");
    if (final && r->key[0] && turns_pending_done(w->turns, r->key, false) < 0)
        log_event("error", "webex_store", "what=pending_done");
}

/* Excessive device registrations, the js-sdk's way: the token's devices
 * listed, the oldest third (by modificationTime) deleted, then register
 * again (boot_step once the last DELETE is back). */
static void on_prune_list(struct webex *w, struct wreq *r)
{
    static char urls[WX_PRUNE_MAX][WX_URL_MAX];
    int n = r->status == 200 ? wx_devices_oldest_third(buf_str(&r->resp), r->resp.len, urls,
                                                       WX_PRUNE_MAX) : -1;
    w->prune_left = 0;
    for (int i = 0; i < n; i++) {
        const char *u = urls[i];
        if (strncmp(u, "https://", 8) && !(w->plain_ok && !strncmp(u, "http://", 7))) continue;
        const char *id = strrchr(u, '/');
        log_event("info", "webex_device_pruned", "device=%.40s", id ? id + 1 : u);
        rest(w, OP_PRUNE, "DELETE", u, NULL, NULL);
        w->prune_left++;
    }
    log_event("info", "webex_device_cleanup", "listed_status=%ld deleting=%d", r->status, w->prune_left);
    if (!w->prune_left) backoff(w, "excessive_devices");
}

static void on_result(struct webex *w, struct wreq *r)
{
    switch (r->op) {
    case OP_ME:
    case OP_U2C:
    case OP_DEVICES:
    case OP_CREATE:
        on_boot_result(w, r);
        break;
    case OP_DELETE:
        log_event("info", "webex_device", "action=deleted status=%ld", r->status);
        break;
    case OP_MESSAGE:
        on_message(w, r);
        break;
    case OP_FILE:
        on_file(w, r);
        break;
    case OP_CONV_ID:
        on_conv_id(w, r);
        break;
    case OP_ACTION:
        on_action(w, r);
        break;
    case OP_PRUNE_LIST:
        on_prune_list(w, r);
        break;
    case OP_PRUNE:
        if (r->status < 200 || r->status >= 300)
            log_event("warn", "webex_device_prune_failed", "status=%ld", r->status);
        if (w->prune_left > 0 && --w->prune_left == 0) boot_step(w);
        break;
    case OP_REPLY:
        on_reply(w, r);
        break;
    }
}

static void drain_results(struct webex *w)
{
    pthread_mutex_lock(&w->mu);
    struct wreq *r = w->out_head;
    w->out_head = w->out_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (r) {
        struct wreq *next = r->next;
        w->queued--;
        /* stopping: only the DELETE's log and the replies' pending rows */
        if (w->st != WS_OFF || r->op == OP_DELETE || r->op == OP_REPLY) on_result(w, r);
        req_free(r);
        r = next;
    }
}

/* ---------------------------------------------------------------- socket input */

static void ping_cb(lws_sorted_usec_list_t *sul)
{
    struct webex *w = lws_container_of(sul, struct webex, sul_ping);
    if (!w->wsi) return;
    if (w->st != WS_READY || w->ping_out) {
        log_event("warn", "webex_timeout", "what=%s", w->st != WS_READY ? "ready" : "pong");
        w->kill = true;
        lws_callback_on_writable(w->wsi);
        return;
    }
    char id[37];
    new_uuid(id);
    send_frame(w, wx_ping_frame(id), "ping");
    w->ping_out = true;              /* even unsent (a stuck queue): no pong, so a reconnect */
    lws_sul_schedule(w->ctx, 0, &w->sul_ping, ping_cb, (lws_usec_t)w->ping_ms * 1000);
}

static void on_frame(struct webex *w, const char *msg, size_t len)
{
    struct wx_envelope env;
    enum wx_env_kind k = wx_envelope_parse(msg, len, &env);
    bool acked = !env.id[0] || k == WX_ENV_PONG || send_frame(w, wx_ack_frame(env.id), "ack") == 0;
    switch (k) {
    case WX_ENV_BAD:
        log_event("warn", "webex_bad_envelope", "bytes=%zu event=\"%s\"", len, env.event_type);
        break;
    case WX_ENV_READY:
        if (w->st != WS_READY) {
            w->st = WS_READY;
            w->retry = 0;
            w->reregisters = 0;
            log_event("info", "webex_ready", NULL);
            lws_sul_schedule(w->ctx, 0, &w->sul_ping, ping_cb, (lws_usec_t)w->ping_ms * 1000);
        }
        break;
    case WX_ENV_PONG:
        w->ping_out = false;
        break;
    case WX_ENV_SHUTDOWN:
        log_event("info", "webex_server_shutdown", NULL);
        w->kill = true;
        lws_callback_on_writable(w->wsi);
        break;
    case WX_ENV_ACTIVITY:                /* unacked: Mercury delivers it again; act then */
        if (acked) on_activity(w, &env.act);
        else log_event("warn", "webex_activity_deferred", "activity=%.8s why=ack_not_sent", env.act.id);
        break;
    case WX_ENV_OTHER:
        log_event("debug", "webex_event", "type=\"%s\"", env.event_type);
        break;
    }
}

static int on_receive(struct webex *w, struct lws *wsi, const char *in, size_t len)
{
    const char *msg;
    size_t mlen;
    switch (wsrx_feed(&w->rx, wsi, in, len, WX_RX_MAX, &msg, &mlen)) {
    case WSRX_MORE:
        return 0;
    case WSRX_NOMEM:
        return -1;
    case WSRX_TOO_LARGE:
        log_event("warn", "webex_bad_envelope", "why=too_large");
        return 0;
    case WSRX_MESSAGE:
        on_frame(w, msg, mlen);
        return 0;
    }
    return 0;
}

/* The socket is gone (error or close): decide what comes next. */
static void on_gone(struct webex *w, bool handshake_failed, int http_status)
{
    w->wsi = NULL;
    if (w->q.len) frames_dropped("frames", "socket_gone", w->q.len); /* activities behind lost
                                               acks come again: the store answers them once */
    wsq_clear(&w->q);
    lws_sul_cancel(&w->sul_ping);
    if (w->st == WS_DEAD || w->st == WS_OFF) return;
    if (handshake_failed && http_status == 404) {
        w->have_dev = false;
        if (++w->reregisters <= WX_REREGISTER_MAX) {
            log_event("warn", "webex_stale_device", "action=register attempt=%d", w->reregisters);
            w->force_create = true;
            w->st = WS_BOOT;
            lws_sul_schedule(w->ctx, 0, &w->sul_boot, boot_cb, 1);
            return;
        }
        w->force_create = false;                  /* list again, after a pause */
        backoff(w, "stale_device");
        return;
    }
    if (handshake_failed && (http_status == 401 || http_status == 403)) {
        go_dead(w, "webex_unauthorized", "the WebSocket handshake was refused (check WEBEX_TOKEN)");
        return;
    }
    switch (wx_close_policy(w->close_code, w->close_reason)) {
    case WX_CLOSE_REPLACED:
        go_dead(w, "webex_replaced", "code 4000 replaced: another connection for this device took over");
        return;
    case WX_CLOSE_AUTH:
        log_event("error", "webex_auth_rejected", "code=%d", w->close_code);
        go_dead(w, "webex_unauthorized", "Webex closed the socket for the credentials (check WEBEX_TOKEN)");
        return;
    case WX_CLOSE_REREGISTER:
        w->have_dev = false;
        w->force_create = true;
        backoff(w, "close_4404");
        return;
    case WX_CLOSE_RECONNECT:
        break;
    }
    char why[32];
    snprintf(why, sizeof why, handshake_failed ? "connect_error" : "closed_%d", w->close_code);
    backoff(w, why);
}

static int webex_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                   void *in, size_t len)
{
    struct webex *w = W;
    if (!w || w->st == WS_OFF)
        return reason == LWS_CALLBACK_CLIENT_WRITEABLE || reason == LWS_CALLBACK_CLIENT_RECEIVE
                   ? -1 : lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:   /* broadcast: acted on here only */
        drain_results(w);
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        if (w->wsi && wsi != w->wsi) return 0;
        int st = (int)lws_http_client_http_response(wsi);
        log_event("warn", "webex_connect_error", "status=%d err=\"%s\"", st,
                  in ? (const char *)in : "");
        on_gone(w, true, st);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
        char id[37];
        new_uuid(id);
        w->st = WS_AUTH;
        send_frame(w, wx_auth_frame(id, w->token), "auth");
        lws_sul_schedule(w->ctx, 0, &w->sul_ping, ping_cb, WX_READY_TIMEOUT_US);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return on_receive(w, wsi, in, len);
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writeable(w, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const unsigned char *b = in;
            size_t n = len - 2 < sizeof w->close_reason ? len - 2 : sizeof w->close_reason - 1;
            w->close_code = (b[0] << 8) | b[1];
            memcpy(w->close_reason, b + 2, n);
            w->close_reason[n] = 0;
            for (size_t i = 0; i < n; i++)
                if (w->close_reason[i] < 0x20 || w->close_reason[i] == '"') w->close_reason[i] = '?';
        }
        log_event("info", "webex_peer_close", "code=%d reason=\"%s\"", w->close_code, w->close_reason);
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (wsi != w->wsi) return 0;
        on_gone(w, false, 0);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---------------------------------------------------------------- start / stop */

static int base_url(const char *name, const char *dflt, char *out, size_t outlen, bool *plain)
{
    const char *v = env_or(name, dflt);
    if (!strncmp(v, "http://", 7)) *plain = true;
    else if (strncmp(v, "https://", 8)) {
        fprintf(stderr, "provbot: %s=%s: must be an https:// URL (http:// only for a local test)\n", name, v);
        return -1;
    }
    if (strlen(v) >= outlen) {
        fprintf(stderr, "provbot: %s: too long\n", name);
        return -1;
    }
    snprintf(out, outlen, "%s", v);
    size_t n = strlen(out);
    while (n && out[n - 1] == '/') out[--n] = 0;
    return 0;
}

static void webex_free(struct webex *w)
{
    if (!w) return;
    wsq_clear(&w->q);
    while (w->in_head) { struct wreq *r = w->in_head; w->in_head = r->next; req_free(r); }
    while (w->out_head) { struct wreq *r = w->out_head; w->out_head = r->next; req_free(r); }
    if (w->multi) curl_multi_cleanup(w->multi);
    pthread_mutex_destroy(&w->mu);
    if (w->token) memset(w->token, 0, strlen(w->token));
    memset(w->auth_hdr, 0, sizeof w->auth_hdr);
    memset(w->proxy, 0, sizeof w->proxy);
    free(w->token);
    free(w->catalog);
    wsrx_clear(&w->rx);
    free(w);
}

/* One pending row from before a restart: its reply sent, or its message
 * read again. */
static void resume_one(struct webex *w, const cJSON *row)
{
    const char *key = cJSON_GetStringValue(cJSON_GetObjectItem(row, "key"));
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(row, "kind"));
    const char *reply = cJSON_GetStringValue(cJSON_GetObjectItem(row, "reply"));
    const char *data = cJSON_GetStringValue(cJSON_GetObjectItem(row, "data"));
    cJSON *d = data ? cJSON_Parse(data) : NULL;
#define D(k) (cJSON_GetStringValue(cJSON_GetObjectItem(d, k)) ? cJSON_GetStringValue(cJSON_GetObjectItem(d, k)) : "")
    if (!key || !kind || !d) goto out;
    if (!strcmp(kind, "reply") && reply) {
        char *md = wx_reply_markdown(reply, strlen(reply));
        size_t n = md ? strlen(D("notes")) + strlen(md) + 3 : 0;
        char *both = md ? malloc(n) : NULL;
        if (both) snprintf(both, n, "%s%s%s", D("notes"), D("notes")[0] ? "\n\n" : "", md);
        if (both) post_reply(w, D("room_id"), D("parent_id"), key, both);
        log_event("info", "webex_resumed", "kind=reply key=%.14s", key);
        free(md);
        free(both);
    } else if (!strcmp(kind, "activity") && D("url")[0]) {
        struct job *j = calloc(1, sizeof *j);
        if (!j) goto out;
        snprintf(j->key, sizeof j->key, "%s", key);
        snprintf(j->msg_url, sizeof j->msg_url, "%s", D("url"));
        snprintf(j->act_id, sizeof j->act_id, "%s", D("act"));
        snprintf(j->verb, sizeof j->verb, "%s", D("verb"));
        snprintf(j->room_uuid, sizeof j->room_uuid, "%s", D("room"));
        snprintf(j->target_url, sizeof j->target_url, "%s", D("target"));
        j->direct = cJSON_IsTrue(cJSON_GetObjectItem(d, "direct"));
        log_event("info", "webex_resumed", "kind=activity activity=%.8s", j->act_id);
        rest(w, OP_MESSAGE, "GET", j->msg_url, NULL, j);
    }
#undef D
out:
    cJSON_Delete(d);
}

/* The WebSocket's proxy, read once at start: https_proxy / HTTPS_PROXY
 * (what libcurl uses for the https REST calls), else http_proxy (lws's own
 * default); an http:// proxy as host:port, credentials allowed
 * (user:pass@host:port, never logged). An https:// proxy or one without a
 * port is unusable: logged, the socket goes direct. */
static void ws_proxy_init(struct webex *w)
{
    const char *p = env_or("https_proxy", env_or("HTTPS_PROXY", env_or("http_proxy", "")));
    if (!*p) return;
    if (!strncmp(p, "https://", 8)) {
        log_event("warn", "webex_proxy_unsupported", "why=https_proxy_scheme action=direct");
        return;
    }
    if (!strncmp(p, "http://", 7)) p += 7;
    snprintf(w->proxy, sizeof w->proxy, "%s", p);
    size_t n = strlen(w->proxy);
    while (n && w->proxy[n - 1] == '/') w->proxy[--n] = 0;
    const char *at = strrchr(w->proxy, '@');
    if (!strchr(at ? at : w->proxy, ':')) {
        log_event("warn", "webex_proxy_invalid", "why=no_port action=direct");
        memset(w->proxy, 0, sizeof w->proxy);
    }
}

/* Before each connect: the socket to `host` through the proxy, or direct
 * when there is none or no_proxy / NO_PROXY names the host (libcurl's rule
 * for the REST calls, wx_no_proxy). lws proxies every client connection of
 * the vhost serve named "provbot" (this socket is its only one); ":0" is
 * how lws 4.1.6 clears it (port 0: no proxy). */
static void ws_route(struct webex *w, const char *host)
{
    struct lws_vhost *vh = lws_get_vhost_by_name(w->ctx, "provbot");
    bool bypass = wx_no_proxy(env_or("no_proxy", env_or("NO_PROXY", "")), host);
    bool direct = !w->proxy[0] || bypass;
    if (!vh) return;
    if (!direct && lws_set_proxy(vh, w->proxy)) {
        log_event("warn", "webex_proxy_invalid", "action=direct");
        direct = true;
    }
    if (direct) lws_set_proxy(vh, ":0");
    const char *at = strrchr(w->proxy, '@');
    if (w->proxy[0])
        log_event("info", "webex_proxy", "via=%s%s", direct ? "direct" : at ? at + 1 : w->proxy,
                  bypass ? " why=no_proxy" : "");
}

/* What a previous run left pending (store): resumed at start. */
static void resume_pending(struct webex *w)
{
    cJSON *rows = turns_pending_list(w->turns, "webex:"), *row;
    cJSON_ArrayForEach(row, rows) resume_one(w, row);
    cJSON_Delete(rows);
}

static int webex_start(const struct channel_env *env)
{
    const char *tok = getenv("WEBEX_TOKEN");
    if (!tok || !*tok) return 0;
    if (strlen(tok) > 1000) {
        fprintf(stderr, "provbot: WEBEX_TOKEN: too long\n");
        return -1;
    }
    struct webex *w = calloc(1, sizeof *w);
    if (!w) return -1;
    pthread_mutex_init(&w->mu, NULL);
    w->ctx = env->ctx;
    w->turns = env->turns;
    w->attach = env->attach;
    w->unregister = env->unregister;
    if (base_url("WEBEX_API_URL", "https://webexapis.com/v1", w->api, sizeof w->api, &w->plain_ok) ||
        base_url("WEBEX_U2C_URL", "https://u2c.wbx2.com/u2c/api/v1", w->u2c, sizeof w->u2c, &w->plain_ok))
        goto fail;
    const char *h = strstr(w->api, "://") + 3;
    snprintf(w->api_origin, sizeof w->api_origin, "%.*s/", (int)(h + strcspn(h, "/") - w->api), w->api);
    snprintf(w->device_name, sizeof w->device_name, "%s", env_or("WEBEX_DEVICE_NAME", "provbot"));
    w->backoff_ms = atol(env_or("WEBEX_BACKOFF_MS", "1000"));
    if (w->backoff_ms <= 0) w->backoff_ms = 1000;
    w->timeout_ms = atol(env_or("WEBEX_TIMEOUT_MS", "15000"));
    if (w->timeout_ms < 100) w->timeout_ms = WX_REQ_TIMEOUT_MS;
    w->queue_max = atol(env_or("WEBEX_QUEUE_MAX", "256"));
    if (w->queue_max < 1) w->queue_max = WX_QUEUE_MAX;
    w->outq_max = atoi(env_or("WEBEX_OUTQ_MAX", "256"));
    if (w->outq_max < 1) w->outq_max = WX_OUTQ_MAX;
    w->ping_ms = atol(env_or("WEBEX_PING_MS", "15000"));
    if (w->ping_ms < 100) w->ping_ms = 15000;
    unsigned char seed[4];
    random_bytes(seed, sizeof seed);
    memcpy(&w->rng, seed, sizeof seed);
    if (!(w->token = strdup(tok))) goto fail;
    snprintf(w->auth_hdr, sizeof w->auth_hdr, "Authorization: Bearer %s", tok);
    if (!(w->multi = curl_multi_init())) goto fail;
    if (pthread_create(&w->thread, NULL, worker_main, w)) goto fail;
    w->thread_started = true;
    w->st = WS_BOOT;
    W = w;
    log_event("info", "webex_start", "api=%s u2c=%s device=%s", w->api, w->u2c, w->device_name);
    ws_proxy_init(w);
    lws_sul_schedule(w->ctx, 0, &w->sul_boot, boot_cb, 1);
    return 0;
fail:
    webex_free(w);
    return -1;
}

static void webex_stop(void)
{
    struct webex *w = W;
    if (!w) return;
    lws_sul_cancel(&w->sul_boot);
    lws_sul_cancel(&w->sul_ping);
    if (w->unregister && w->have_dev) {
        rest(w, OP_DELETE, "DELETE", w->dev.url, NULL, NULL);
        log_event("info", "webex_unregister", NULL);
    }
    w->st = WS_OFF;                  /* callbacks from here on only close */
    w->drain_deadline_ms = mono_ms() + WX_DRAIN_MS;
    atomic_store(&w->drain, true);
    curl_multi_wakeup(w->multi);
    if (w->thread_started) pthread_join(w->thread, NULL);
    w->thread_started = false;
    drain_results(w);                /* the DELETE's answer, for the log */
    turns_flush(w->turns);           /* the answers of turns still pending, while w exists */
    if (w->wsi) {
        w->kill = true;              /* the context closes it; its callbacks see W == NULL */
        w->wsi = NULL;
    }
    W = NULL;
    webex_free(w);
}

const struct channel webex_channel = {
    .name = "webex",
    .protocol = { .name = "provbot-webex", .callback = webex_callback,
                  .per_session_data_size = 0, .rx_buffer_size = 0 },
    .start = webex_start,
    .stop = webex_stop,
};
