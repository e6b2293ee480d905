/* ws_baseline.c -- the physical baseline for `make bench`: a minimal
 * libwebsockets server that answers every WebSocket message at once.
 *
 *   ws_baseline PORT        listens on 127.0.0.1:PORT until SIGINT/SIGTERM
 *
 * Same lws build, same event loop as the bot (libev/epoll when the plugin
 * loads, else poll), no engine: for each message it finds the
 * "id":"..." and sends a reply object of about the bot's size with that
 * reply_to. Measures what lws and loopback TCP cost, so ws_load can put the
 * bot's figures next to it.
 */
#include <libwebsockets.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define RING 16                 /* replies waiting to be written, a connection */
#define ID_MAX 48

struct pss {
    char ids[RING][ID_MAX];     /* reply_to of each pending reply ("" = null) */
    int head, n;
};

static volatile sig_atomic_t interrupted;
static struct lws_context *ctx;
static int evlib;               /* lws runs on its libev plugin (epoll), like the bot */
static lws_sorted_usec_list_t tick;

/* With libev, lws_service() does not return until the context is destroyed
 * from inside the loop: a timer watches the flag. */
static void tick_cb(lws_sorted_usec_list_t *sul)
{
    if (interrupted) {
        if (evlib) lws_context_destroy(ctx);
        else lws_cancel_service(ctx);
        return;
    }
    lws_sul_schedule(ctx, 0, sul, tick_cb, 100 * LWS_US_PER_MS);
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void take_id(const char *in, size_t len, char out[ID_MAX])
{
    static const char key[] = "\"id\":\"";
    out[0] = 0;
    for (size_t i = 0; i + sizeof key - 1 < len; i++) {
        if (memcmp(in + i, key, sizeof key - 1)) continue;
        size_t s = i + sizeof key - 1, o = 0;
        while (s < len && in[s] != '"' && in[s] != '\\' && o + 1 < ID_MAX) out[o++] = in[s++];
        out[o] = 0;
        return;
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct pss *p = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        memset(p, 0, sizeof *p);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (!lws_is_final_fragment(wsi)) return 0;
        if (p->n == RING) return 0;                    /* client far behind: drop */
        take_id(in, len, p->ids[(p->head + p->n) % RING]);
        p->n++;
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        if (!p->n) return 0;
        unsigned char buf[LWS_PRE + 512];
        const char *id = p->ids[p->head];
        int n = id[0]
            ? snprintf((char *)buf + LWS_PRE, 512, "{\"type\":\"reply\",\"reply_to\":\"%s\",\"text\":\"ok\","
                       "\"lang\":\"en\",\"intent\":null,\"confidence\":null,\"expect\":null,"
                       "\"buttons\":[],\"case\":null}", id)
            : snprintf((char *)buf + LWS_PRE, 512, "{\"type\":\"reply\",\"reply_to\":null,\"text\":\"ok\","
                       "\"lang\":\"en\",\"intent\":null,\"confidence\":null,\"expect\":null,"
                       "\"buttons\":[],\"case\":null}");
        p->head = (p->head + 1) % RING;
        p->n--;
        if (lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_TEXT) < n) return -1;
        if (p->n) lws_callback_on_writable(wsi);
        return 0;
    }
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    { .name = "baseline", .callback = callback, .per_session_data_size = sizeof(struct pss) },
    { .name = NULL, .callback = NULL },
};

int main(int argc, char **argv)
{
    if (argc != 2 || atoi(argv[1]) <= 0) {
        fprintf(stderr, "usage: ws_baseline PORT\n");
        return 2;
    }
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < 8192) {
        rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info = {
        .port = atoi(argv[1]),
        .iface = "127.0.0.1",
        .protocols = protocols,
        .options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_LIBEV,
        .fd_limit_per_thread = 8192,
        .pcontext = &ctx,
    };
    ctx = lws_create_context(&info);
    evlib = ctx != NULL;
    if (!ctx) {                 /* no libev plugin: poll() */
        info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
        ctx = lws_create_context(&info);
    }
    if (!ctx) {
        fprintf(stderr, "ws_baseline: cannot listen on 127.0.0.1:%s\n", argv[1]);
        return 1;
    }
    signal(SIGINT, on_signal);  /* after lws, whose libev plugin installs its own */
    signal(SIGTERM, on_signal);
    lws_sul_schedule(ctx, 0, &tick, tick_cb, 100 * LWS_US_PER_MS);
    while (!interrupted && lws_service(ctx, 0) >= 0)
        ;
    if (ctx) lws_context_destroy(ctx);
    return 0;
}
