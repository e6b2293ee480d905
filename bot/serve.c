/* serve.c -- provbot's web chat server (see serve.h).
 *
 * One lws context, one vhost, one protocol. protocols[0] handles both the
 * plain HTTP requests and the WebSocket chats, so a browser's
 * `new WebSocket(url)` without a subprotocol lands on the chat (the vhost's
 * default protocol is index 0; c-libraries.md 2.3). Its per-session data is
 * a tagged union: an HTTP transaction or a chat.
 *
 * HTTP is http.c, the chat webchat.c, their shared state serve_int.h.
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
#include "serve_int.h"
#include "log.h"
#include "store.h"

#include <libwebsockets.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
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
static volatile sig_atomic_t serve_signalled;

static void on_signal(int sig)
{
    serve_signalled = sig;
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
        return webchat_confirm(s, wsi);
    case LWS_CALLBACK_ESTABLISHED:
        if (!s || !p) return -1;
        if (p->kind == PSS_HTTP) http_reset(&p->u.h);
        webchat_open(s, p, wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (!p || p->kind != PSS_WS) return -1;
        return webchat_receive(s, &p->u.c, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!p || p->kind != PSS_WS) return 0;
        return webchat_writeable(&p->u.c);
    case LWS_CALLBACK_CLOSED:
        if (p && p->kind == PSS_WS) webchat_closed(s, &p->u.c);
        if (p) p->kind = PSS_NONE;
        return 0;

    case LWS_CALLBACK_HTTP:
        if (!s || !p) return -1;
        return http_request(s, wsi, p, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        if (!p || p->kind != PSS_HTTP) return 0;
        return http_body(&p->u.h, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!p || p->kind != PSS_HTTP) return 0;
        return http_body_done(s, wsi, &p->u.h);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!p || p->kind != PSS_HTTP) return 0;
        return http_writeable(wsi, &p->u.h);
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (s) turns_deliver(s->turns);
        if (s && s->attach) http_attach_done(s);
        break;
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
        .rx_buffer_size = SERVE_RX_CHUNK,
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
    s->stop_deadline = serve_now_us() + SERVE_STOP_GRACE_US;
    log_event("info", "shutdown", "reason=%s conns=%d", why, s->n_conns);
    for (struct conn *c = s->head; c; c = c->next) webchat_close_soon(c, CW_SHUTDOWN);
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
    int64_t now = serve_now_us();

    check_stop(s);
    if (s->stopping) {
        turns_flush(s->turns);
        if (!s->head || now >= s->stop_deadline) {
            s->done = true;
            channels_stop(s->cfg);            /* before the context goes */
            turns_quiet(s->turns);            /* no wake reaches the context from now */
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
                webchat_close_soon(c, CW_IDLE);
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

/* Sets the soft RLIMIT_NOFILE to `want` (lowered too, within the hard
 * limit); returns the limit now. lws sizes its fd table from this limit:
 * given a smaller fd_limit_per_thread instead, it finds a socket's wsi by a
 * linear scan of that table on every event (3 % of serve's CPU at 1,000
 * chats), so the limit itself is the bound. */
static rlim_t set_nofile(rlim_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return 1024;
    if (rl.rlim_cur != want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl)) getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

/* The pipeline's hook, called from its worker: outcomes wait to be told
 * (LWS_CALLBACK_EVENT_WAIT_CANCELLED -> turns_deliver). */
static void turns_wake(void *arg)
{
    struct server *s = arg;
    lws_cancel_service(s->ctx);
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
    s->up_max = SERVE_UPLOAD_INFLIGHT;
    if (!(s->eng = engine_open(cfg->engine, err, sizeof err))) {
        /* the pack or the store: a configuration error, as in `chat` */
        fprintf(stderr, "provbot: %s\n", err[0] ? err : "cannot open the engine");
        *rc = 2;
        goto fail;
    }
    /* the synchronous calls on the loop never wait long for the write lock;
     * the worker retries a busy batch */
    store_busy_timeout(engine_store(s->eng), TURNS_BUSY_MS);
    if (!(s->turns = turns_start(s->eng, NULL, turns_wake, s)) ||
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
    rlim_t have = set_nofile(want);
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
    const char *key = s->cfg->web_jwt_secret;
    log_event("info", "listen", "addr=%s%s%s:%d max_conns=%d idle_secs=%lld rate=%g origins=%d web_identity=%s",
              v6 ? "[" : "", host[0] ? host : "0.0.0.0", v6 ? "]" : "", bound > 0 ? bound : port,
              s->max_conns, (long long)(s->idle_us / 1000000), s->rate, s->cfg->n_allow_origins,
              key && *key ? "jwt" : "self-asserted");
    if (key && *key && strlen(key) < 32)
        log_event("warn", "jwt_secret_short", "bytes=%zu (use at least 32 random bytes)", strlen(key));
    if (isatty(2))
        fprintf(stderr, "\nprovbot: open http://%s%s%s:%d/ in a browser to chat (Ctrl-C stops)\n\n",
                v6 ? "[" : "", host[0] ? host : "127.0.0.1", v6 ? "]" : "", bound > 0 ? bound : port);
}

/* Starts the channels, then serves until the stop. 0, or 2 when a channel
 * is configured wrongly. */
static int serve_loop(struct server *s)
{
    const struct serve_config *cfg = s->cfg;
    struct channel_env env = { .ctx = s->ctx, .turns = s->turns, .attach = s->attach,
                               .unregister = cfg->unregister_at_stop };
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
    }
    return 0;
}

/* The attachment thread's wakeup (called from it). */
static void attach_wake(void *arg)
{
    struct server *s = arg;
    lws_cancel_service(s->ctx);
}

/* Ends everything in order: the pending turns while their channels exist,
 * the channels, the attachment thread, the context (CLOSED frees each chat),
 * the engine. */
static void server_free(struct server *s, int rc)
{
    if (s->turns) turns_flush(s->turns);
    channels_stop(s->cfg);
    attach_stop(s->attach);             /* joined at shutdown, never while serving */
    s->attach = NULL;
    turns_quiet(s->turns);
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
        char err[256];
        const char *dir = cfg->engine->data_dir;
        if (dir && !(s->attach = attach_start(dir, attach_wake, s, err, sizeof err)))
            log_event("warn", "attach_thread", "detail=\"%s\" (uploads are written on the loop)", err);
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

