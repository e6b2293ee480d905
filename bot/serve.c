/* serve.c -- provbot's web chat server (see serve.h).
 *
 * One lws context, one vhost, one protocol. protocols[0] handles both the
 * plain HTTP requests and the WebSocket chats, so a browser's
 * `new WebSocket(url)` without a subprotocol lands on the chat (the vhost's
 * default protocol is index 0; c-libraries.md 2.3). Its per-session data is
 * a tagged union: an HTTP transaction or a chat.
 *
 * HTTP: the page files come from the table compiled in from bot/www
 * (www_embed.h); /healthz, /metrics, POST /upload. A response is written as
 * headers in the request callback and the body in HTTP_WRITEABLE, at most
 * 16 KiB a callback, then the transaction completes (keep-alive).
 *
 * Chat: a message is reassembled from its fragments into a buffer capped at
 * 16 KiB (beyond: the rest is discarded and one too_large error answers it),
 * checked against a token bucket, parsed and handed to the engine inline
 * (engine_turn takes microseconds and must run on this thread). Everything a
 * chat is sent goes through its own queue of malloc'd LWS_PRE+len buffers,
 * one lws_write per WRITEABLE. When the queue holds SERVE_OUTQ_PAUSE frames
 * the chat's input is paused (rx flow control) until it drains, so a client
 * that does not read cannot grow it; SERVE_OUTQ_MAX is the hard stop.
 *
 * Housekeeping runs on a 250 ms timer (lws_sul): the stop flag, the idle
 * timeout (chats are kept in order of last activity, so the scan stops at the
 * first one still active) and the shutdown deadline.
 *
 * The loop: lws's libev plugin (Debian package libwebsockets-evlib-ev, epoll)
 * when it loads, else lws's own poll(). With 1,000 chats open, poll() costs
 * about a millisecond a wakeup and epoll does not (bench: p50 0.2 ms against
 * 1 ms). With libev, lws_service() returns only once the context is
 * destroyed from inside the loop, so the timer does that at the end, and our
 * SIGINT/SIGTERM handlers replace the ones the plugin installs.
 */
#include "serve.h"
#include "log.h"
#include "metrics.h"
#include "engine.h"
#include "wchat.h"
#include "turns.h"
#include "wsq.h"
#include "www_embed.h"

#include <libwebsockets.h>
#include <cJSON.h>

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SERVE_MAX_MSG        (16 * 1024)        /* a chat message, reassembled */
#define SERVE_MAX_UPLOAD     (5 * 1024 * 1024)  /* an uploaded screenshot */
#define SERVE_MAX_DISCARD    (64 * 1024 * 1024) /* larger declared uploads: answer at once, close */
#define SERVE_OUTQ_PAUSE     32                 /* queued frames: stop reading the chat */
#define SERVE_OUTQ_RESUME    8                  /* queued frames: read again */
#define SERVE_OUTQ_MAX       256                /* queued frames: close the chat */
#define SERVE_SESSION_MAX    64
#define SERVE_USER_MAX       254
#define SERVE_TICK_US        (250 * 1000)
#define SERVE_STOP_GRACE_US  (3 * 1000 * 1000)  /* waiting for close handshakes at shutdown */
#define SERVE_HTTP_CHUNK     (16 * 1024)

/* ---------------------------------------------------------------- logging */

static void lws_log_emit(int level, const char *line)
{
    char q[512];
    char tmp[400];
    size_t n = strlen(line);
    if (n >= sizeof tmp) n = sizeof tmp - 1;
    memcpy(tmp, line, n);
    while (n && (tmp[n - 1] == '\n' || tmp[n - 1] == '\r')) n--;
    tmp[n] = 0;
    log_event(level == LLL_ERR ? "error" : "warn", "lws", "msg=%s", log_quote(tmp, q, sizeof q));
}

/* ---------------------------------------------------------------- helpers */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---------------------------------------------------------------- state */

enum close_why { CW_NONE, CW_IDLE, CW_SHUTDOWN, CW_SLOW };

/* One chat (an established WebSocket). Lives in the lws per-session data;
 * invariants: it is on server.conns from ESTABLISHED to CLOSED, ordered by
 * last_us (oldest first); a reply's slot is in q from its message until
 * the pipeline's answer. */
struct conn {
    struct conn *prev, *next;   /* server.conns, least recently active first */
    struct lws *wsi;            /* borrowed; valid until CLOSED */
    struct wsq q;               /* frames to send (slots: replies not durable yet), owned */
    bool paused;                /* input paused by rx flow control */
    bool welcomed;              /* the welcome frame was queued */
    enum close_why closing;     /* close once the queue drains (CW_SLOW: at once) */
    struct wsrx rx;             /* reassembly of a fragmented message, cap SERVE_MAX_MSG */
    char *user;                 /* the person's email from hello, owned, or NULL */
    double tokens;              /* rate limit bucket */
    int64_t refill_us;          /* when tokens were last refilled */
    int64_t last_us;            /* last message received (idle timeout) */
    char session[SERVE_SESSION_MAX + 1]; /* "" until hello or first message */
    struct server *srv;         /* the server, borrowed (the pipeline's callback needs it) */
};

/* One HTTP transaction: the response body being written and an upload
 * being received. */
struct http_req {
    const unsigned char *body;  /* response body, borrowed or == owned */
    size_t len, off;            /* its length and what has been written */
    char *owned;                /* malloc'd response body, or NULL */
    bool close_after;           /* close the connection after this response */
    bool uploading;             /* POST /upload accepted, body arriving */
    unsigned char *up;          /* upload bytes, owned, at most SERVE_MAX_UPLOAD */
    size_t up_len, up_cap;      /* bytes received, allocated */
    int up_status;              /* non-zero: refuse with this status after the body */
    const char *up_error;       /* its message (static) */
    char up_session[SERVE_SESSION_MAX + 1];
    char up_name[101];
};

enum pss_kind { PSS_NONE, PSS_HTTP, PSS_WS };

struct pss {
    enum pss_kind kind;         /* which member of u is live */
    union {
        struct http_req h;
        struct conn c;
    } u;
};

struct server {
    const struct serve_config *cfg; /* borrowed for serve_run */
    engine *eng;                /* owned */
    turns *turns;               /* the turn pipeline over eng, owned */
    struct lws_protocols *protocols; /* the chat's, then each channel's; owned */
    struct lws_context *ctx;    /* owned */
    lws_sorted_usec_list_t tick; /* housekeeping timer */
    struct conn *head, *tail;   /* open chats, least recently active first */
    int n_conns;                /* chats open */
    int max_conns;
    int64_t idle_us;            /* 0: no idle timeout */
    double rate, burst;         /* tokens a second, bucket size; rate 0: no limit */
    bool stopping;              /* shutdown begun: no new chats */
    bool done;                  /* leave the loop */
    bool evlib;                 /* lws runs on its libev plugin (epoll), not on poll() */
    int64_t stop_deadline;      /* give up waiting for chats to close */
    lws_sorted_usec_list_t commit; /* the pipeline's group commit, after a loop turn's input */
    struct metrics m;
};

static volatile sig_atomic_t serve_signalled;

static void on_signal(int sig)
{
    serve_signalled = sig;
}

/* ---------------------------------------------------------------- chat list */

static void conns_unlink(struct server *s, struct conn *c)
{
    if (c->prev) c->prev->next = c->next; else s->head = c->next;
    if (c->next) c->next->prev = c->prev; else s->tail = c->prev;
    c->prev = c->next = NULL;
}

static void conns_append(struct server *s, struct conn *c)
{
    c->prev = s->tail;
    c->next = NULL;
    if (s->tail) s->tail->next = c; else s->head = c;
    s->tail = c;
}

/* ---------------------------------------------------------------- chat output */

static void conn_close_soon(struct conn *c, enum close_why why)
{
    if (c->closing == CW_NONE || why == CW_SLOW) c->closing = why;
    lws_callback_on_writable(c->wsi);
}

/* Queues a copy of s[0..len) for the chat (s NULL: a slot tagged t0).
 * When the queue is full the chat is closed instead (its client does not
 * read). */
static void conn_push(struct conn *c, const char *s, size_t len, int64_t t0)
{
    if (c->closing == CW_SLOW) return;
    if (c->q.len >= SERVE_OUTQ_MAX) {
        log_event("warn", "ws_slow_consumer", "queued=%d", c->q.len);
        conn_close_soon(c, CW_SLOW);
        return;
    }
    if (wsq_push(&c->q, s, len, t0) < 0) {
        log_event("error", "out_of_memory", "bytes=%zu", len);
        conn_close_soon(c, CW_SLOW);
        return;
    }
    if (c->q.len >= SERVE_OUTQ_PAUSE && !c->paused) {
        lws_rx_flow_control(c->wsi, 0);
        c->paused = true;
    }
    lws_callback_on_writable(c->wsi);
}

static void conn_send(struct conn *c, const char *s, size_t len)
{
    conn_push(c, s, len, 0);
}

static void conn_send_owned(struct conn *c, char *txt)
{
    if (txt) conn_send(c, txt, strlen(txt));
    else log_event("error", "out_of_memory", "what=json");
    free(txt);
}

static void conn_error(struct server *s, struct conn *c, const char *code,
                       const char *message, const char *reply_to)
{
    metrics_error(&s->m, code);
    conn_send_owned(c, wchat_error(code, message, reply_to));
}

static void conn_welcome(struct conn *c)
{
    c->welcomed = true;
    conn_send_owned(c, wchat_welcome(c->session));
}

static int conn_writeable(struct conn *c)
{
    if (c->closing == CW_SLOW) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                         (unsigned char *)"replies not read", 16);
        return -1;
    }
    int w = wsq_write(&c->q, c->wsi);   /* 0 at a slot: the pipeline's answer asks again */
    if (w < 0) return -1;
    if (w > 0) {
        if (c->paused && c->q.len <= SERVE_OUTQ_RESUME) {
            lws_rx_flow_control(c->wsi, 1);
            c->paused = false;
        }
        if (c->q.head || c->closing != CW_NONE) lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (c->q.head)
        return 0;
    if (c->closing == CW_IDLE) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"idle timeout", 12);
        return -1;
    }
    if (c->closing == CW_SHUTDOWN) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_GOINGAWAY, (unsigned char *)"server shutting down", 20);
        return -1;
    }
    return 0;   /* spurious */
}

/* ---------------------------------------------------------------- chat input */

/* Takes a token from the chat's bucket; false when it is empty. */
static bool rate_take(struct server *s, struct conn *c, int64_t now)
{
    if (s->rate <= 0) return true;
    c->tokens += (double)(now - c->refill_us) * s->rate / 1e6;
    if (c->tokens > s->burst) c->tokens = s->burst;
    c->refill_us = now;
    if (c->tokens < 1.0) return false;
    c->tokens -= 1.0;
    return true;
}

/* Puts the frame txt (owned; NULL: out of memory) in place of the chat's
 * oldest slot; without a slot (none could be queued) it goes at the end.
 * Returns the slot's t0, or 0. */
static int64_t conn_fill_slot(struct conn *c, char *txt)
{
    int64_t t0 = 0;
    int rc = txt ? wsq_fill(&c->q, txt, strlen(txt), &t0) : -1;
    if (rc == 0)
        conn_send(c, txt, strlen(txt));
    if (rc < 0) {       /* the slot went out empty */
        log_event("error", "out_of_memory", "what=reply");
        conn_close_soon(c, CW_SLOW);
    }
    free(txt);
    lws_callback_on_writable(c->wsi);
    return rc > 0 ? t0 : 0;
}

/* The pipeline's answer for one of the chat's turns: its reply once durable,
 * else an error frame (the turn is lost: the person sends it again). */
static void conn_answered(void *owner, void *arg, const struct turns_outcome *o)
{
    struct conn *c = owner;
    struct server *s = c->srv;
    char q[300];
    (void)arg;
    if (!o->ok) {
        log_event("error", "turn_failed", "session=%.8s err=%s", c->session,
                  log_quote(o->err, q, sizeof q));
        metrics_error(&s->m, "internal");
        conn_fill_slot(c, wchat_error("internal", "the bot could not save your message, please send it again",
                                      o->reply_to));
        return;
    }
    char *txt = strdup(o->res->json);
    int64_t t0 = conn_fill_slot(c, txt);
    metrics_turn(&s->m, o->res, t0 ? (double)(now_us() - t0) / 1e6 : 0);
}

static void commit_cb(lws_sorted_usec_list_t *sul)
{
    turns_flush(lws_container_of(sul, struct server, commit)->turns);
}

/* The pipeline's hook: a group commit after this loop turn's input. */
static void schedule_commit(void *arg)
{
    struct server *s = arg;
    lws_sul_schedule(s->ctx, 0, &s->commit, commit_cb, 0);
}

static void conn_turn(struct server *s, struct conn *c, const char *text, const char *id, int64_t t0)
{
    if (!c->welcomed) {
        if (!c->session[0]) engine_new_session(c->session);
        conn_welcome(c);
    }
    s->m.messages++;
    conn_push(c, NULL, 0, t0);     /* the reply's place, filled once it is durable */
    struct turns_msg m = { .session = c->session, .user = c->user, .text = text, .reply_to = id };
    turns_submit(s->turns, &m, conn_answered, c, NULL);
}

static void conn_hello(struct conn *c, const struct wchat_frame *f)
{
    bool resumed = f->session[0] != '\0';
    if (resumed)
        snprintf(c->session, sizeof c->session, "%s", f->session);
    else if (!c->session[0])
        engine_new_session(c->session);
    free(c->user);
    c->user = f->user[0] ? strdup(f->user) : NULL;
    log_event("debug", "ws_hello", "session=%.8s resumed=%d", c->session, resumed);
    conn_welcome(c);
}

/* One whole client message. */
static void conn_dispatch(struct server *s, struct conn *c, const char *msg, size_t len,
                          bool binary, bool too_large)
{
    int64_t t0 = now_us();
    struct wchat_frame f;
    c->last_us = t0;
    conns_unlink(s, c);
    conns_append(s, c);
    if (!rate_take(s, c, t0)) {
        conn_error(s, c, "too_fast", "too many messages, slow down", NULL);
        return;
    }
    if (too_large) {
        conn_error(s, c, "too_large", "message larger than 16 KiB", NULL);
        return;
    }
    switch (wchat_parse(msg, len, binary, &f)) {
    case WCHAT_HELLO:
        conn_hello(c, &f);
        break;
    case WCHAT_MESSAGE:
        conn_turn(s, c, f.text, f.id, t0);
        break;
    case WCHAT_BAD:
        conn_error(s, c, "bad_json", f.error, f.id);
        break;
    }
    wchat_frame_clear(&f);
}

/* One RECEIVE callback: a chunk of a message. */
static int conn_receive(struct server *s, struct conn *c, const char *in, size_t len)
{
    const char *msg;
    size_t mlen;
    bool binary = lws_frame_is_binary(c->wsi);
    enum wsrx_status st = wsrx_feed(&c->rx, c->wsi, in, len, SERVE_MAX_MSG, &msg, &mlen);
    if (st == WSRX_MORE)
        return 0;
    if (st == WSRX_NOMEM)
        return -1;
    conn_dispatch(s, c, msg, mlen, binary, st == WSRX_TOO_LARGE);
    wsrx_clear(&c->rx);     /* a fragmented message's buffer goes with it */
    return 0;
}

static void conn_open(struct server *s, struct pss *p, struct lws *wsi)
{
    memset(p, 0, sizeof *p);
    p->kind = PSS_WS;
    struct conn *c = &p->u.c;
    c->wsi = wsi;
    c->srv = s;
    c->last_us = c->refill_us = now_us();
    c->tokens = s->burst;
    conns_append(s, c);
    s->n_conns++;
    s->m.conns_total++;
    log_event("debug", "ws_open", "conns=%d", s->n_conns);
}

static void conn_closed(struct server *s, struct conn *c)
{
    turns_cancel(s->turns, c);
    wsq_clear(&c->q);
    wsrx_clear(&c->rx);
    free(c->user);
    c->user = NULL;
    conns_unlink(s, c);
    s->n_conns--;
    log_event("debug", "ws_close", "session=%.8s conns=%d", c->session, s->n_conns);
}

/* ---------------------------------------------------------------- HTTP */

static void http_reset(struct http_req *h)
{
    free(h->owned);
    free(h->up);
    memset(h, 0, sizeof *h);
}

static bool origin_allowed(const struct serve_config *cfg, const char *origin)
{
    if (cfg->n_allow_origins <= 0 || !cfg->allow_origins) return true;
    for (int i = 0; i < cfg->n_allow_origins; i++)
        if (cfg->allow_origins[i] && !strcmp(cfg->allow_origins[i], origin)) return true;
    return false;
}

/* The Origin header ("" when absent) into buf. */
static void header_origin(struct lws *wsi, char *buf, int len)
{
    buf[0] = 0;
    if (lws_hdr_copy(wsi, buf, len, WSI_TOKEN_ORIGIN) < 0) buf[0] = 0;
}

/* The CSP for the page: scripts, styles and images from the page's own
 * origin only (no inline script), WebSocket back to the same host. */
static void page_csp(struct lws *wsi, char *out, size_t outlen)
{
    char host[128] = "";
    bool ok = lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) > 0;
    for (const char *p = host; ok && *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr(".-:[]", *p))) ok = false;
    if (ok)
        snprintf(out, outlen, "default-src 'none'; script-src 'self'; style-src 'self'; "
                 "img-src 'self' data: blob:; connect-src 'self' ws://%s wss://%s; "
                 "base-uri 'none'; form-action 'none'", host, host);
    else
        snprintf(out, outlen, "default-src 'none'; script-src 'self'; style-src 'self'; "
                 "img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'");
}

/* Writes the status line and headers now and queues the body for
 * HTTP_WRITEABLE. body is borrowed (static) unless it is h->owned. */
static int http_respond(struct lws *wsi, struct http_req *h, unsigned int status, const char *mime,
                        const void *body, size_t len, bool page)
{
    unsigned char buf[LWS_PRE + 2048];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
    char csp[512];

    if (lws_add_http_common_headers(wsi, status, mime, len, &p, end)) return -1;
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
                                    (const unsigned char *)"nosniff", 7, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"referrer-policy:",
                                    (const unsigned char *)"no-referrer", 11, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)(page ? "no-cache" : "no-store"),
                                    8, &p, end))
        return -1;
    if (page) {
        page_csp(wsi, csp, sizeof csp);
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)"content-security-policy:",
                                        (const unsigned char *)csp, (int)strlen(csp), &p, end))
            return -1;
    }
    if (h->close_after &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
                                    (const unsigned char *)"close", 5, &p, end))
        return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end)) return -1;
    h->body = body;
    h->len = len;
    h->off = 0;
    if (len == 0) {     /* nothing more to write */
        if (h->close_after) return -1;
        http_reset(h);
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    lws_callback_on_writable(wsi);
    return 0;
}

/* Like http_respond, for a malloc'd body the request takes over. */
static int http_respond_owned(struct lws *wsi, struct http_req *h, unsigned int status,
                              const char *mime, char *body)
{
    if (!body) return -1;
    free(h->owned);
    h->owned = body;
    return http_respond(wsi, h, status, mime, body, strlen(body), false);
}

static int http_json_status(struct lws *wsi, struct http_req *h, unsigned int status,
                            const char *error)
{
    cJSON *o = cJSON_CreateObject();
    char *txt = NULL;
    if (o && cJSON_AddBoolToObject(o, "ok", error == NULL) &&
        (!error || cJSON_AddStringToObject(o, "error", error)))
        txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return http_respond_owned(wsi, h, status, "application/json", txt);
}

static int http_writeable(struct lws *wsi, struct http_req *h)
{
    unsigned char buf[LWS_PRE + SERVE_HTTP_CHUNK];
    if (!h->body || h->off >= h->len) return 0;        /* spurious */
    size_t n = h->len - h->off;
    if (n > SERVE_HTTP_CHUNK) n = SERVE_HTTP_CHUNK;
    bool final = h->off + n == h->len;
    memcpy(buf + LWS_PRE, h->body + h->off, n);
    if (lws_write(wsi, buf + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
        return -1;
    h->off += n;
    if (!final) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    bool close_after = h->close_after;
    http_reset(h);
    if (close_after) return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static const struct www_file *www_find(const char *path)
{
    if (!strcmp(path, "/")) path = "/index.html";
    for (size_t i = 0; i < www_nfiles; i++)
        if (!strcmp(www_files[i].path, path)) return &www_files[i];
    return NULL;
}

/* POST /upload?session=S: checks the request; the body follows. */
static int upload_begin(struct server *s, struct lws *wsi, struct http_req *h)
{
    char buf[160], ct[128], origin[256], clen[32];
    const char *sess = lws_get_urlarg_by_name(wsi, "session=", buf, sizeof buf);

    header_origin(wsi, origin, sizeof origin);
    if (lws_hdr_copy(wsi, ct, sizeof ct, WSI_TOKEN_HTTP_CONTENT_TYPE) < 0) ct[0] = 0;
    if (lws_hdr_copy(wsi, clen, sizeof clen, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) clen[0] = 0;

    char *endp = NULL;
    errno = 0;
    unsigned long long declared = clen[0] ? strtoull(clen, &endp, 10) : 0;
    if (!clen[0] || errno || (endp && *endp) || declared == 0) {
        h->close_after = true;   /* no body we could skip reliably */
        return http_json_status(wsi, h, 411, "an upload needs a Content-Length");
    }
    if (declared > SERVE_MAX_DISCARD) {
        h->close_after = true;
        return http_json_status(wsi, h, 413, "the file is larger than 5 MiB");
    }
    h->uploading = true;
    if (declared > SERVE_MAX_UPLOAD) {
        h->up_status = 413;
        h->up_error = "the file is larger than 5 MiB";
    } else if (origin[0] && !origin_allowed(s->cfg, origin)) {
        char q[300];
        log_event("warn", "origin_rejected", "what=upload origin=%s", log_quote(origin, q, sizeof q));
        h->up_status = 403;
        h->up_error = "origin not allowed";
    } else if (!sess || !wchat_session_valid(sess)) {
        h->up_status = 400;
        h->up_error = "missing or invalid session";
    } else if (strncasecmp(ct, "image/png", 9) && strncasecmp(ct, "image/jpeg", 10)) {
        h->up_status = 415;
        h->up_error = "only PNG or JPEG images";
    } else if (!(h->up = malloc((size_t)declared))) {
        h->up_status = 503;
        h->up_error = "out of memory";
    } else {
        h->up_cap = (size_t)declared;
        snprintf(h->up_session, sizeof h->up_session, "%s", sess);
        char name[128] = "";
        if (lws_hdr_custom_copy(wsi, name, sizeof name, "x-filename:", 11) <= 0) name[0] = 0;
        size_t o = 0;   /* keep a tame file name: letters, digits, . _ - */
        for (const char *p = name; *p && o + 1 < sizeof h->up_name; p++)
            if (isalnum((unsigned char)*p) || strchr("._-", *p)) h->up_name[o++] = *p;
        h->up_name[o] = 0;
        if (!o || h->up_name[0] == '.') snprintf(h->up_name, sizeof h->up_name, "screenshot.png");
    }
    return 0;
}

static int upload_body(struct http_req *h, const void *in, size_t len)
{
    if (!h->uploading) return 0;
    if (h->up_status) return 0;                       /* refusing: discard */
    if (h->up_len + len > h->up_cap) {                /* more than declared */
        h->up_status = 413;
        h->up_error = "the file is larger than declared";
        return 0;
    }
    memcpy(h->up + h->up_len, in, len);
    h->up_len += len;
    return 0;
}

static int upload_done(struct server *s, struct lws *wsi, struct http_req *h)
{
    if (!h->uploading) return 0;
    h->uploading = false;
    if (h->up_status) {
        log_event("info", "upload_refused", "status=%d", h->up_status);
        return http_json_status(wsi, h, (unsigned)h->up_status, h->up_error);
    }
    char err[256] = "";
    /* durable before it is acknowledged */
    int rc = turns_attach(s->turns, h->up_session, h->up_name, h->up, h->up_len, err, sizeof err);
    free(h->up);
    h->up = NULL;
    log_event("info", "upload", "session=%.8s bytes=%zu ok=%d", h->up_session, h->up_len, rc == 0);
    if (rc == 0) {
        s->m.uploads++;
        return http_json_status(wsi, h, 200, NULL);
    }
    return http_json_status(wsi, h, 400, err[0] ? err : "the file could not be attached");
}

static int http_request(struct server *s, struct lws *wsi, struct pss *p, const char *path)
{
    if (p->kind == PSS_HTTP) http_reset(&p->u.h);
    else memset(p, 0, sizeof *p);
    p->kind = PSS_HTTP;
    struct http_req *h = &p->u.h;

    char *uri;
    int urilen;
    int method = lws_http_get_uri_and_method(wsi, &uri, &urilen);
    log_event("debug", "http", "method=%d path_len=%zu", method, strlen(path));

    if (!strcmp(path, "/upload")) {
        if (method != LWSHUMETH_POST) return http_json_status(wsi, h, 405, "use POST");
        return upload_begin(s, wsi, h);
    }
    if (method == LWSHUMETH_POST) {
        h->close_after = true;      /* an unread body may follow */
        return http_respond(wsi, h, 405, "text/plain", "method not allowed\n", 19, false);
    }
    if (method != LWSHUMETH_GET)
        return http_respond(wsi, h, 405, "text/plain", "method not allowed\n", 19, false);
    if (!strcmp(path, "/healthz"))
        return http_respond(wsi, h, 200, "text/plain", "ok", 2, false);
    if (!strcmp(path, "/metrics"))
        return http_respond_owned(wsi, h, 200, "text/plain; version=0.0.4; charset=utf-8",
                                  metrics_text(&s->m, s->n_conns));
    if (!strcmp(path, "/chat"))
        return http_respond(wsi, h, 426, "text/plain", "WebSocket only\n", 15, false);
    const struct www_file *f = www_find(path);
    if (f) return http_respond(wsi, h, 200, f->mime, f->data, f->len, true);
    return http_respond(wsi, h, 404, "text/plain", "not found\n", 10, false);
}

/* HTTP_CONFIRM_UPGRADE: only /chat, only listed origins, only while there
 * is room. Returns 0 to allow, 1 after writing a refusal. */
static int ws_confirm(struct server *s, struct lws *wsi)
{
    char uri[64], origin[256], q[300];
    unsigned int status = 0;

    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/chat")) {
        status = 404;
    } else {
        header_origin(wsi, origin, sizeof origin);
        if (!origin_allowed(s->cfg, origin)) {
            s->m.origin_rejected++;
            log_event("warn", "origin_rejected", "what=ws origin=%s", log_quote(origin, q, sizeof q));
            status = 403;
        } else if (s->stopping || s->n_conns >= s->max_conns) {
            s->m.refused++;
            if (s->m.refused < 10 || s->m.refused % 1000 == 0)
                log_event("warn", "ws_refused", "reason=%s conns=%d refused_total=%llu",
                          s->stopping ? "stopping" : "max_conns", s->n_conns,
                          (unsigned long long)s->m.refused);
            status = 503;
        }
    }
    if (!status) return 0;
    if (lws_return_http_status(wsi, status, NULL)) return -1;
    return 1;
}

/* ---------------------------------------------------------------- lws glue */

static int serve_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                          void *in, size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    struct server *s = ctx ? lws_context_user(ctx) : NULL;
    struct pss *p = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        if (!s) return -1;
        if (p && p->kind == PSS_HTTP) http_reset(&p->u.h);
        if (p) p->kind = PSS_NONE;
        return ws_confirm(s, wsi);
    case LWS_CALLBACK_ESTABLISHED:
        if (!s || !p) return -1;
        if (p->kind == PSS_HTTP) http_reset(&p->u.h);
        conn_open(s, p, wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (!p || p->kind != PSS_WS) return -1;
        return conn_receive(s, &p->u.c, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!p || p->kind != PSS_WS) return 0;
        return conn_writeable(&p->u.c);
    case LWS_CALLBACK_CLOSED:
        if (p && p->kind == PSS_WS) conn_closed(s, &p->u.c);
        if (p) p->kind = PSS_NONE;
        return 0;

    case LWS_CALLBACK_HTTP:
        if (!s || !p) return -1;
        return http_request(s, wsi, p, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        if (!p || p->kind != PSS_HTTP) return 0;
        return upload_body(&p->u.h, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!p || p->kind != PSS_HTTP) return 0;
        return upload_done(s, wsi, &p->u.h);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!p || p->kind != PSS_HTTP) return 0;
        return http_writeable(wsi, &p->u.h);
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (p && p->kind == PSS_HTTP) {
            http_reset(&p->u.h);
            p->kind = PSS_NONE;
        }
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* The context's protocols: the chat first (the vhost's default, so a
 * WebSocket without a subprotocol lands on it), then each channel's, then
 * the terminator. Caller frees. */
static struct lws_protocols *protocols_new(const struct serve_config *cfg)
{
    struct lws_protocols *p = calloc((size_t)cfg->n_channels + 2, sizeof *p);
    int n = 0;
    if (!p) return NULL;
    p[n++] = (struct lws_protocols){
        .name = "provbot-chat",
        .callback = serve_callback,
        .per_session_data_size = sizeof(struct pss),
        .rx_buffer_size = 0,
    };
    for (int i = 0; i < cfg->n_channels; i++)
        if (cfg->channels[i]->protocol.name)
            p[n++] = cfg->channels[i]->protocol;
    return p;
}

/* Stops every channel (idempotent), before the context goes. */
static void channels_stop(const struct serve_config *cfg)
{
    for (int i = 0; i < cfg->n_channels; i++)
        cfg->channels[i]->stop();
}

static void begin_stop(struct server *s, const char *why)
{
    if (s->stopping) return;
    s->stopping = true;
    s->stop_deadline = now_us() + SERVE_STOP_GRACE_US;
    log_event("info", "shutdown", "reason=%s conns=%d", why, s->n_conns);
    for (struct conn *c = s->head; c; c = c->next) conn_close_soon(c, CW_SHUTDOWN);
}

static void check_stop(struct server *s)
{
    if (s->stopping) return;
    if (serve_signalled)
        begin_stop(s, serve_signalled == SIGINT ? "SIGINT" : "SIGTERM");
    else if (s->cfg->stop && *s->cfg->stop)
        begin_stop(s, "stop_flag");
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
    struct server *s = lws_container_of(sul, struct server, tick);
    int64_t now = now_us();

    check_stop(s);
    if (s->stopping) {
        turns_flush(s->turns);
        if (!s->head || now >= s->stop_deadline) {
            s->done = true;
            channels_stop(s->cfg);            /* before the context goes */
            if (s->evlib)
                lws_context_destroy(s->ctx);  /* ends the libev loop; serve_run finishes it */
            else
                lws_cancel_service(s->ctx);   /* a flag set here is seen only after the next wakeup */
            return;
        }
    } else if (s->idle_us > 0) {
        for (struct conn *c = s->head; c && now - c->last_us > s->idle_us; c = c->next)
            if (c->closing == CW_NONE) {
                log_event("debug", "ws_idle", "session=%.8s", c->session);
                conn_close_soon(c, CW_IDLE);
            }
    }
    lws_sul_schedule(s->ctx, 0, &s->tick, tick_cb, SERVE_TICK_US);
}

/* Splits "HOST:PORT" / "[V6]:PORT" / ":PORT". host gets "" for any. */
static bool parse_listen(const char *spec, char *host, size_t hostlen, int *port)
{
    const char *colon;
    size_t hl;
    if (!spec || !*spec) return false;
    if (spec[0] == '[') {
        const char *rb = strchr(spec, ']');
        if (!rb || rb[1] != ':') return false;
        hl = (size_t)(rb - spec - 1);
        if (hl == 0 || hl >= hostlen) return false;
        memcpy(host, spec + 1, hl);
        colon = rb + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon) return false;
        hl = (size_t)(colon - spec);
        if (hl >= hostlen || memchr(spec, ':', hl)) return false;
        memcpy(host, spec, hl);
    }
    host[hl] = 0;
    char *end;
    errno = 0;
    long v = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || v < 0 || v > 65535) return false;
    *port = (int)v;
    return true;
}

/* Raises the soft RLIMIT_NOFILE to `want` when possible; returns the limit. */
static rlim_t raise_nofile(rlim_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return 1024;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl)) getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

/* The server for cfg, with its engine, pipeline and protocol table; NULL
 * with *rc 2 (the engine: pack or store) or 1 (out of memory), and a
 * message on stderr. */
static struct server *server_new(const struct serve_config *cfg, int *rc)
{
    char err[256] = "";
    struct server *s = calloc(1, sizeof *s);
    *rc = 1;
    if (!s) {
        fprintf(stderr, "provbot: out of memory\n");
        return NULL;
    }
    s->cfg = cfg;
    s->max_conns = cfg->max_conns > 0 ? cfg->max_conns : 10000;
    s->idle_us = cfg->idle_secs < 0 ? 0 : (int64_t)(cfg->idle_secs ? cfg->idle_secs : 600) * 1000000;
    s->rate = cfg->rate_per_sec < 0 ? 0 : (cfg->rate_per_sec ? cfg->rate_per_sec : 10);
    s->burst = s->rate > 0 ? 2 * s->rate : 0;
    if (!(s->eng = engine_open(cfg->engine, err, sizeof err))) {
        /* the pack or the store: a configuration error, as in `chat` */
        fprintf(stderr, "provbot: %s\n", err[0] ? err : "cannot open the engine");
        *rc = 2;
        goto fail;
    }
    if (!(s->turns = turns_open(s->eng, NULL, schedule_commit, s)) ||
        !(s->protocols = protocols_new(cfg))) {
        fprintf(stderr, "provbot: out of memory\n");
        goto fail;
    }
    return s;
fail:
    turns_close(s->turns);
    engine_close(s->eng);
    free(s->protocols);
    free(s);
    return NULL;
}

/* The lws context listening on host:port (host "" for any): on lws's libev
 * plugin when it loads, else on its poll() loop. 0, or -1 with a message. */
static int context_create(struct server *s, const char *host, int port, const char *spec)
{
    rlim_t want = (rlim_t)s->max_conns + 256;
    rlim_t have = raise_nofile(want);
    if (have < want)
        log_event("warn", "fd_limit", "nofile=%llu wanted=%llu",
                  (unsigned long long)have, (unsigned long long)want);
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    struct lws_context_creation_info info = {
        .port = port,
        .iface = host[0] ? host : NULL,
        .protocols = s->protocols,
        .user = s,
        .vhost_name = "provbot",
        .server_string = "provbot",
        .fd_limit_per_thread = (unsigned int)(have < want ? have : want),
        .timeout_secs = 20,
        .pcontext = &s->ctx,    /* lws clears it once the context is gone */
        .options = LWS_SERVER_OPTION_LIBEV |
                   LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |   /* wss client (Webex) */
                   LWS_SERVER_OPTION_DISABLE_IPV6 * (strchr(host, ':') == NULL && host[0]),
    };
    s->ctx = lws_create_context(&info);
    s->evlib = s->ctx != NULL;
    if (!s->ctx) {      /* no libev plugin? lws's own poll() loop then */
        info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
        s->ctx = lws_create_context(&info);
        if (s->ctx) log_event("warn", "evlib", "using=poll reason=\"libev plugin not loaded\"");
    }
    if (!s->ctx) {
        fprintf(stderr, "provbot: cannot listen on %s (address in use or not available?)\n", spec);
        return -1;
    }
    return 0;
}

/* The listen log line, and for a person at a terminal where to go. */
static void announce(const struct server *s, const char *host, int port)
{
    struct lws_vhost *vh = lws_get_vhost_by_name(s->ctx, "provbot");
    int bound = vh ? lws_get_vhost_listen_port(vh) : port;
    bool v6 = strchr(host, ':') != NULL;
    log_event("info", "listen", "addr=%s%s%s:%d max_conns=%d idle_secs=%lld rate=%g origins=%d",
              v6 ? "[" : "", host[0] ? host : "0.0.0.0", v6 ? "]" : "", bound > 0 ? bound : port,
              s->max_conns, (long long)(s->idle_us / 1000000), s->rate, s->cfg->n_allow_origins);
    if (isatty(2))
        fprintf(stderr, "\nprovbot: open http://%s%s%s:%d/ in a browser to chat (Ctrl-C stops)\n\n",
                v6 ? "[" : "", host[0] ? host : "127.0.0.1", v6 ? "]" : "", bound > 0 ? bound : port);
}

/* Starts the channels, then serves until the stop. 0, or 2 when a channel
 * is configured wrongly. */
static int serve_loop(struct server *s)
{
    const struct serve_config *cfg = s->cfg;
    struct channel_env env = { .ctx = s->ctx, .turns = s->turns, .unregister = cfg->unregister_at_stop };
    for (int i = 0; i < cfg->n_channels; i++)
        if (cfg->channels[i]->start(&env) < 0)
            return 2;
    lws_sul_schedule(s->ctx, 0, &s->tick, tick_cb, SERVE_TICK_US);
    while (!s->done) {
        if (lws_service(s->ctx, 0) < 0) {
            log_event("error", "service_failed", NULL);
            break;
        }
        check_stop(s);
    }
    if (s->ctx && !s->evlib) {
        lws_sul_cancel(&s->tick);
        lws_sul_cancel(&s->commit);
    }
    return 0;
}

/* Ends everything in order: the pending turns while their channels exist,
 * the channels, the context (CLOSED frees each chat), the engine. */
static void server_free(struct server *s, int rc)
{
    if (s->turns) turns_flush(s->turns);
    channels_stop(s->cfg);
    if (s->ctx) lws_context_destroy(s->ctx);
    turns_close(s->turns);
    engine_close(s->eng);
    free(s->protocols);
    if (rc == 0)
        log_event("info", "stopped", "messages=%llu conns_total=%llu",
                  (unsigned long long)s->m.messages, (unsigned long long)s->m.conns_total);
    free(s);
}

int serve_run(const struct serve_config *cfg)
{
    struct sigaction sa, old_int, old_term;
    char host[128];
    int port = 0, rc = 1;
    const char *listen_spec = cfg->listen ? cfg->listen : "127.0.0.1:8080";

    if (!parse_listen(listen_spec, host, sizeof host, &port)) {
        fprintf(stderr, "provbot: bad --listen '%s': expected HOST:PORT, e.g. 127.0.0.1:8080\n",
                listen_spec);
        return 2;
    }
    if (!strcmp(host, "localhost")) snprintf(host, sizeof host, "127.0.0.1");
    if (!strcmp(host, "*") || !strcmp(host, "0.0.0.0")) host[0] = 0;
    struct server *s = server_new(cfg, &rc);
    if (!s)
        return rc;
    /* The handlers to restore at the end: the ones from before lws (whose
     * libev plugin installs its own, and is unloaded with the context). */
    sigaction(SIGINT, NULL, &old_int);
    sigaction(SIGTERM, NULL, &old_term);
    rc = 1;
    if (context_create(s, host, port, listen_spec) == 0) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        serve_signalled = 0;
        sigaction(SIGINT, &sa, NULL);      /* over libev's: stopping is ours, gracefully */
        sigaction(SIGTERM, &sa, NULL);
        announce(s, host, port);
        rc = serve_loop(s);
    }
    server_free(s, rc);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}
