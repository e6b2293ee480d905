/* webchat.c -- the web chat: one WebSocket per chat at /chat (see
 * serve_int.h; the frames are wchat.h's).
 *
 * A message is reassembled from its fragments into a buffer capped at
 * 16 KiB (wsq.h; beyond: one too_large error answers it), checked against a
 * token bucket, parsed and handed to the turn pipeline (turns.h), which
 * answers once the turn is durable. Everything a chat is sent goes through
 * its own frame queue; a reply waits in a slot kept at its message's place,
 * so frames leave in order. When the queue holds SERVE_OUTQ_PAUSE frames the
 * chat's input is paused (rx flow control) until it drains, so a client that
 * does not read cannot grow it; SERVE_OUTQ_MAX is the hard stop. Chats are
 * kept in order of last activity, for the idle timeout.
 */
#include "serve_int.h"
#include "jwt.h"
#include "log.h"
#include "wchat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

void webchat_close_soon(struct conn *c, enum close_why why)
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
        c->srv->m.outq_shed++;
        log_event("warn", "ws_slow_consumer", "queued=%d shed_total=%llu", c->q.len,
                  (unsigned long long)c->srv->m.outq_shed);
        webchat_close_soon(c, CW_SLOW);
        return;
    }
    if (wsq_push(&c->q, s, len, t0) < 0) {
        log_event("error", "out_of_memory", "bytes=%zu", len);
        webchat_close_soon(c, CW_SLOW);
        return;
    }
    if (c->q.len >= SERVE_OUTQ_PAUSE && !c->paused) {
        lws_rx_flow_control(c->wsi, 0);
        c->paused = true;
    }
    if (wsq_ready(&c->q))   /* a slot alone waits for its fill to ask */
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
    c->welcomed = true; /* (with the page's input hints) */
    conn_send_owned(c, wchat_welcome(c->session, engine_expects(c->srv->eng)));
}

int webchat_writeable(struct conn *c)
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
        if (wsq_ready(&c->q) || c->closing != CW_NONE) lws_callback_on_writable(c->wsi);
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
        webchat_close_soon(c, CW_SLOW);
    }
    free(txt);
    if (wsq_ready(&c->q))
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
    metrics_turn(&s->m, o->res, t0 ? (double)(serve_now_us() - t0) / 1e6 : 0);
}

static void conn_turn(struct server *s, struct conn *c, const char *text, const char *id, int64_t t0)
{
    if (!c->welcomed) {
        if (!c->session[0]) engine_new_session(c->session);
        conn_welcome(c);
    }
    if (c->id_exp && (int64_t)time(NULL) >= c->id_exp) {
        /* the person's token expired: no turn in their name until a new hello */
        conn_error(s, c, "bad_token", "your sign-in expired: reload the page", id);
        return;
    }
    s->m.messages++;
    conn_push(c, NULL, 0, t0);     /* the reply's place, filled once it is durable */
    struct turns_msg m = { .session = c->session, .user = c->user, .text = text, .reply_to = id };
    turns_submit(s->turns, &m, conn_answered, c, NULL);
}

/* The identity a hello asks for, under PROVBOT_WEB_JWT_SECRET (key): a
 * valid token makes the chat its person's (the token's email as the user,
 * the person's own session from any browser); anything else leaves the chat
 * anonymous, in the session it asked for unless that is a person's. Returns
 * the token's verdict. */
static enum jwt_result hello_verified(struct conn *c, const struct wchat_frame *f, const char *key)
{
    size_t keylen = strlen(key);
    struct jwt_identity id;
    enum jwt_result r = f->token ? jwt_verify_hs256(f->token, key, keylen, (int64_t)time(NULL), &id)
                                 : JWT_MISSING_CLAIM;
    if (r == JWT_OK && jwt_person_session(id.email, key, keylen, c->session) == 0 &&
        (c->user = strdup(id.email))) {
        c->id_exp = id.exp;
        return JWT_OK;
    }
    if (f->session[0] && strncmp(f->session, JWT_SESSION_PREFIX, strlen(JWT_SESSION_PREFIX)))
        snprintf(c->session, sizeof c->session, "%s", f->session);
    else
        engine_new_session(c->session);
    return r == JWT_OK ? JWT_MALFORMED : r;
}

static void conn_hello(struct server *s, struct conn *c, const struct wchat_frame *f)
{
    const char *key = s->cfg->web_jwt_secret;
    enum jwt_result r = JWT_OK;
    free(c->user);
    c->user = NULL;
    c->id_exp = 0;
    if (key && *key) {
        r = hello_verified(c, f, key);
    } else {                        /* no secret: the user is self-asserted */
        if (f->session[0])
            snprintf(c->session, sizeof c->session, "%s", f->session);
        else if (!c->session[0])
            engine_new_session(c->session);
        c->user = f->user[0] ? strdup(f->user) : NULL;
    }
    if (f->token && (r != JWT_OK || !key || !*key)) {
        const char *why = key && *key ? jwt_result_str(r) : "no PROVBOT_WEB_JWT_SECRET";
        log_event("info", "bad_token", "why=%s", why);
        conn_error(s, c, "bad_token", key && *key ? why : "identity tokens are not accepted here", NULL);
    }
    log_event("debug", "ws_hello", "session=%.8s identity=%s", c->session,
              c->id_exp ? "verified" : c->user ? "self-asserted" : "anonymous");
    conn_welcome(c);
}

/* One whole client message. */
static void conn_dispatch(struct server *s, struct conn *c, const char *msg, size_t len,
                          bool binary, bool too_large)
{
    int64_t t0 = serve_now_us();
    struct wchat_frame f;
    c->last_us = t0;
    conns_unlink(s, c);
    conns_append(s, c);
    if (!rate_take(s, c, t0)) {
        s->m.chat_rate_shed++;
        conn_error(s, c, "too_fast", "too many messages, slow down", NULL);
        return;
    }
    if (too_large) {
        conn_error(s, c, "too_large", "message larger than 16 KiB", NULL);
        return;
    }
    switch (wchat_parse(msg, len, binary, &f)) {
    case WCHAT_HELLO:
        conn_hello(s, c, &f);
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
int webchat_receive(struct server *s, struct conn *c, const char *in, size_t len)
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

void webchat_open(struct server *s, struct pss *p, struct lws *wsi)
{
    memset(p, 0, sizeof *p);
    p->kind = PSS_WS;
    struct conn *c = &p->u.c;
    c->wsi = wsi;
    c->srv = s;
    c->last_us = c->refill_us = serve_now_us();
    c->tokens = s->burst;
    conns_append(s, c);
    s->n_conns++;
    s->m.conns_total++;
    log_event("debug", "ws_open", "conns=%d", s->n_conns);
}

void webchat_closed(struct server *s, struct conn *c)
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

/* (see serve_int.h) */
int webchat_confirm(struct server *s, struct lws *wsi)
{
    char uri[64], origin[256], q[300];
    unsigned int status = 0;

    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/chat")) {
        status = 404;
    } else {
        http_header_origin(wsi, origin, sizeof origin);
        if (!http_origin_allowed(s->cfg, origin)) {
            s->m.origin_rejected++;
            log_event("warn", "origin_rejected", "what=ws origin=%s", log_quote(origin, q, sizeof q));
            status = 403;
        } else if (s->stopping || s->n_conns + s->n_uploads >= s->max_conns) {
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
