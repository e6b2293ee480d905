/* http.c -- serve's plain HTTP: the chat page (compiled in from bot/www,
 * www_embed.h), /healthz, /metrics (metrics.h) and POST /upload (a
 * screenshot for the open case form, attached through the turn pipeline so
 * that it is durable before it is acknowledged). A response is written as
 * headers in the request callback and the body in HTTP_WRITEABLE, at most
 * SERVE_HTTP_CHUNK a callback, then the transaction completes (keep-alive).
 */
#include "serve_int.h"
#include "log.h"
#include "wchat.h"
#include "www_embed.h"

#include <cJSON.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- HTTP */

/* Ends h's upload, if any: its buffer freed, its reservation, buffer bytes
 * and connection given back to the server. */
static void upload_release(struct http_req *h)
{
    struct server *s = h->srv;
    if (s) {
        s->up_reserved -= h->up_declared;
        s->up_held -= h->up_cap;
        s->n_uploads--;
    }
    free(h->up);
    h->up = NULL;
    h->srv = NULL;
    h->up_declared = h->up_cap = 0;
}

/* Takes h off its server's list of uploads being written, if it is on it. */
static void wait_remove(struct http_req *h)
{
    if (!h->wait_srv)
        return;
    for (struct http_req **pp = &h->wait_srv->up_wait; *pp; pp = &(*pp)->wait_next)
        if (*pp == h) {
            *pp = h->wait_next;
            break;
        }
    h->wait_srv = NULL;
}

void http_reset(struct http_req *h)
{
    wait_remove(h);
    upload_release(h);
    free(h->owned);
    free(h->text);
    memset(h, 0, sizeof *h);
}

bool http_origin_allowed(const struct serve_config *cfg, const char *origin)
{
    if (cfg->n_allow_origins <= 0 || !cfg->allow_origins) return true;
    for (int i = 0; i < cfg->n_allow_origins; i++)
        if (cfg->allow_origins[i] && !strcmp(cfg->allow_origins[i], origin)) return true;
    return false;
}

/* The Origin header ("" when absent) into buf. */
void http_header_origin(struct lws *wsi, char *buf, int len)
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

int http_writeable(struct lws *wsi, struct http_req *h)
{
    unsigned char buf[LWS_PRE + SERVE_HTTP_CHUNK];
    if (h->answer) {                                   /* an upload's outcome */
        unsigned status = (unsigned)h->answer;
        h->answer = 0;
        return http_json_status(wsi, h, status, status == 200 ? NULL : h->text->answer_err);
    }
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

/* The client's address: the peer's, or behind a reverse proxy on loopback
 * the last X-Forwarded-For entry (the one the proxy added). */
static void client_address(struct lws *wsi, char *out, size_t outlen)
{
    char xff[256];
    out[0] = '\0';
    lws_get_peer_simple(wsi, out, outlen);
    if ((strcmp(out, "127.0.0.1") && strcmp(out, "::1") && strcmp(out, "::ffff:127.0.0.1")) ||
        lws_hdr_copy(wsi, xff, sizeof xff, WSI_TOKEN_X_FORWARDED_FOR) <= 0)
        return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ')
        last++;
    size_t n = strlen(last);
    if (n && n < outlen)
        memcpy(out, last, n + 1);
}

/* Takes a token from the client address's upload bucket; false when empty. */
static bool upload_rate_take(struct server *s, struct lws *wsi)
{
    char peer[64];
    uint32_t hsh = 2166136261u;     /* FNV-1a of the address */
    client_address(wsi, peer, sizeof peer);
    for (const char *p = peer; *p; p++)
        hsh = (hsh ^ (unsigned char)*p) * 16777619u;
    int64_t now = serve_now_us();
    struct serve_bucket *b = &s->up_rate[hsh % SERVE_UPLOAD_SLOTS];
    if (!b->refill_us)
        b->tokens = SERVE_UPLOAD_BURST;
    else
        b->tokens += (double)(now - b->refill_us) * SERVE_UPLOAD_RATE / 1e6;
    if (b->tokens > SERVE_UPLOAD_BURST) b->tokens = SERVE_UPLOAD_BURST;
    b->refill_us = now;
    if (b->tokens < 1.0) return false;
    b->tokens -= 1.0;
    return true;
}

/* Sheds an upload the server has no room for: answered at once, closed. */
static int upload_shed(struct lws *wsi, struct http_req *h, uint64_t *counter, const char *bound,
                       unsigned int status, const char *error)
{
    (*counter)++;
    if (*counter < 10 || *counter % 1000 == 0)
        log_event("warn", "upload_shed", "bound=%s shed_total=%llu", bound, (unsigned long long)*counter);
    h->close_after = true;
    return http_json_status(wsi, h, status, error);
}

/* The bounds an upload of declared bytes must fit: the client's rate, the
 * connection limit, the in-flight memory cap. 1 when admitted (it then counts
 * in n_uploads and, when it will be kept, reserves its bytes), else 0 or -1
 * after answering it. */
static int upload_admit(struct server *s, struct lws *wsi, struct http_req *h,
                        unsigned long long declared)
{
    if (!upload_rate_take(s, wsi))
        return upload_shed(wsi, h, &s->m.upload_shed_rate, "upload_rate", 429,
                           "too many uploads, try again in a moment");
    if (s->n_conns + s->n_uploads >= s->max_conns)
        return upload_shed(wsi, h, &s->m.upload_shed_conns, "connections", 503,
                           "the server is busy, try again in a moment");
    bool keep = declared <= SERVE_MAX_UPLOAD;
    if (keep && s->up_reserved + declared > s->up_max)
        return upload_shed(wsi, h, &s->m.upload_shed_bytes, "upload_bytes", 503,
                           "the server is busy, try again in a moment");
    if (!h->text && !(h->text = calloc(1, sizeof *h->text))) {
        h->close_after = true;
        return http_json_status(wsi, h, 503, "out of memory");
    }
    h->srv = s;
    s->n_uploads++;
    h->uploading = true;
    if (keep) {
        h->up_declared = (size_t)declared;
        s->up_reserved += h->up_declared;
    }
    return 1;
}

/* POST /upload?session=S: checks the request; the body follows. */
static int upload_begin(struct server *s, struct lws *wsi, struct http_req *h)
{
    char buf[160], ct[128], origin[256], clen[32];
    const char *sess = lws_get_urlarg_by_name(wsi, "session=", buf, sizeof buf);

    http_header_origin(wsi, origin, sizeof origin);
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
    int adm = upload_admit(s, wsi, h, declared);
    if (adm <= 0)
        return adm;
    if (declared > SERVE_MAX_UPLOAD) {
        h->up_status = 413;
        h->up_error = "the file is larger than 5 MiB";
    } else if (origin[0] && !http_origin_allowed(s->cfg, origin)) {
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
    } else {
        snprintf(h->text->session, sizeof h->text->session, "%s", sess);
        char name[128] = "";
        if (lws_hdr_custom_copy(wsi, name, sizeof name, "x-filename:", 11) <= 0) name[0] = 0;
        size_t o = 0;   /* keep a tame file name: letters, digits, . _ - */
        for (const char *p = name; *p && o + 1 < sizeof h->text->name; p++)
            if (isalnum((unsigned char)*p) || strchr("._-", *p)) h->text->name[o++] = *p;
        h->text->name[o] = 0;
        if (!o || h->text->name[0] == '.') snprintf(h->text->name, sizeof h->text->name, "screenshot.png");
    }
    return 0;
}

/* Grows h's buffer to hold need bytes (doubling, at most up_declared). */
static int upload_grow(struct http_req *h, size_t need)
{
    size_t cap = h->up_cap ? h->up_cap : SERVE_UPLOAD_CHUNK;
    while (cap < need)
        cap *= 2;
    if (cap > h->up_declared)
        cap = h->up_declared;
    unsigned char *p = realloc(h->up, cap);
    if (!p)
        return -1;
    h->srv->up_held += cap - h->up_cap;
    h->up = p;
    h->up_cap = cap;
    return 0;
}

int http_body(struct http_req *h, const void *in, size_t len)
{
    if (!h->uploading) return 0;
    if (h->up_status) return 0;                       /* refusing: discard */
    if (h->up_len + len > h->up_declared) {           /* more than declared */
        h->up_status = 413;
        h->up_error = "the file is larger than declared";
        return 0;
    }
    if (h->up_len + len > h->up_cap && upload_grow(h, h->up_len + len) < 0) {
        h->up_status = 503;
        h->up_error = "out of memory";
        return 0;
    }
    memcpy(h->up + h->up_len, in, len);
    h->up_len += len;
    return 0;
}

/* A checked upload goes to the attachment thread with its buffer and its
 * accounting (given back when its outcome is taken); h waits on up_wait.
 * Refused at once when the engine's checks fail or the thread's queue is
 * full (shed: 503). */
static int upload_hand_over(struct server *s, struct lws *wsi, struct http_req *h)
{
    char err[256] = "";
    const char *mime = NULL;
    struct attach_job *j = NULL;
    if (turns_attach_check(s->turns, h->text->session, h->up, h->up_len, &mime,
                           err, sizeof err) < 0)
        goto refuse;
    if (!(j = calloc(1, sizeof *j))) {
        snprintf(err, sizeof err, "out of memory");
        goto refuse;
    }
    j->id = ++s->attach_seq;
    snprintf(j->session, sizeof j->session, "%s", h->text->session);
    snprintf(j->name, sizeof j->name, "%s", h->text->name);
    j->mime = mime;
    j->data = h->up;
    j->len = h->up_len;
    j->held = h->up_declared;
    j->cap = h->up_cap;
    if (attach_submit(s->attach, j) < 0) {
        j->data = NULL;             /* still h's: upload_release frees it */
        free(j);
        upload_release(h);
        return upload_shed(wsi, h, &s->attach_shed, "attach_queue", 503,
                           "the server is busy, try again in a moment");
    }
    h->up = NULL;                   /* the job's now, with its accounting */
    h->srv = NULL;
    h->up_declared = h->up_cap = 0;
    h->attach_id = j->id;
    h->wsi = wsi;
    h->wait_srv = s;
    h->wait_next = s->up_wait;
    s->up_wait = h;
    return 0;
refuse:
    log_event("info", "upload", "session=%.8s bytes=%zu ok=0", h->text->session, h->up_len);
    upload_release(h);
    return http_json_status(wsi, h, 400, err[0] ? err : "the file could not be attached");
}

void http_attach_done(struct server *s)
{
    struct attach_job *j;
    while ((j = attach_take(s->attach))) {
        if (j->done) { /* a channel's file: its owner takes the outcome */
            j->done(j->arg, j);
            attach_job_free(j);
            continue;
        }
        s->up_reserved -= j->held;
        s->up_held -= j->cap;
        s->n_uploads--;
        log_event("info", "upload", "session=%.8s bytes=%zu ok=%d", j->session, j->len, j->rc == 0);
        if (j->rc == 0)
            s->m.uploads++;
        for (struct http_req *h = s->up_wait; h; h = h->wait_next)
            if (h->attach_id == j->id) {
                wait_remove(h);
                h->answer = j->rc == 0 ? 200 : 400;
                snprintf(h->text->answer_err, sizeof h->text->answer_err, "%s",
                         j->err[0] ? j->err : "the file could not be attached");
                lws_callback_on_writable(h->wsi);
                break;
            }
        attach_job_free(j);
    }
}

int http_body_done(struct server *s, struct lws *wsi, struct http_req *h)
{
    if (!h->uploading) return 0;
    h->uploading = false;
    if (h->up_status) {
        log_event("info", "upload_refused", "status=%d", h->up_status);
        return http_json_status(wsi, h, (unsigned)h->up_status, h->up_error);
    }
    char err[256] = "";
    if (s->attach)
        return upload_hand_over(s, wsi, h);
    /* durable before it is acknowledged */
    int rc = turns_attach(s->turns, h->text->session, h->text->name, h->up, h->up_len, err, sizeof err);
    size_t got = h->up_len;
    upload_release(h);
    h->up_len = got;
    log_event("info", "upload", "session=%.8s bytes=%zu ok=%d", h->text->session, h->up_len, rc == 0);
    if (rc == 0) {
        s->m.uploads++;
        return http_json_status(wsi, h, 200, NULL);
    }
    return http_json_status(wsi, h, 400, err[0] ? err : "the file could not be attached");
}

char *http_metrics(const struct server *s)
{
    int outq = 0;
    for (const struct conn *c = s->head; c; c = c->next)
        if (c->q.len > outq) outq = c->q.len;
    const struct metrics_bound b[] = {
        { "connections", s->n_conns + s->n_uploads, s->max_conns, s->m.refused + s->m.upload_shed_conns },
        { "upload_bytes", (double)s->up_reserved, (double)s->up_max, s->m.upload_shed_bytes },
        { "upload_buffer", (double)s->up_held, (double)s->up_max, 0 },
        { "upload_rate", -1, SERVE_UPLOAD_RATE, s->m.upload_shed_rate },
        { "chat_rate", -1, s->rate, s->m.chat_rate_shed },
        { "chat_outq", outq, SERVE_OUTQ_MAX, s->m.outq_shed },
        { "attach_queue", s->attach ? attach_inflight(s->attach) : 0, ATTACH_QUEUE_MAX, s->attach_shed },
        /* waiting turns hold a reply slot each: at most every chat's queue */
        { "turns_waiting", turns_waiting(s->turns), (double)s->max_conns * SERVE_OUTQ_MAX, 0 },
    };
    return metrics_text(&s->m, s->n_conns, b, (int)(sizeof b / sizeof b[0]));
}

int http_request(struct server *s, struct lws *wsi, struct pss *p, const char *path)
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
                                  http_metrics(s));
    if (!strcmp(path, "/chat"))
        return http_respond(wsi, h, 426, "text/plain", "WebSocket only\n", 15, false);
    const struct www_file *f = www_find(path);
    if (f) return http_respond(wsi, h, 200, f->mime, f->data, f->len, true);
    return http_respond(wsi, h, 404, "text/plain", "not found\n", 10, false);
}
