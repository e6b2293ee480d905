/* ws_load.c -- the WebSocket load generator behind `make bench`.
 *
 *   ws_load            (run from the repository root)
 *
 * Starts the bot ($PROVBOT_BIN, default build/provbot: `serve --listen
 * 127.0.0.1:PORT --data TMPDIR $PROVBOT_SERVE_ARGS`, default args
 * "--rate-limit 0" to lift the per-chat rate limit) and the baseline
 * ($BASELINE_BIN, default build/bench/ws_baseline PORT, a bare lws server that
 * answers every message at once) on free loopback ports, and measures both
 * with one libwebsockets client on one thread:
 *
 *   (a) closed loop: 100 sessions, each with one message outstanding (the
 *       next is sent when the reply arrives): replies/s over 5 s.
 *   (b) open loop: 1,000 sessions offered 2,000 messages/s in all at an even
 *       pace (a 1 ms timer), round robin, 5 s in rounds of 1 s (each after
 *       0.5 s of warm-up on new connections), the bot's and the baseline's
 *       rounds interleaved so that a passing stall of the machine falls on
 *       either alike; over the pooled rounds:
 *       p50/p99/p999 of the time from writing a message to reading its reply;
 *       how far the client's writes lagged their schedule is printed apart
 *       (p99), so a client that falls behind shows.
 *   (c) the bot's RSS (VmRSS) in a fresh process, before and with 1,000 idle
 *       connections that said hello: KiB per connection.
 *
 * Prints the figures and the targets. Exits 1 when a server could not
 * be started or a phase lost connections, else 0.
 *
 *   ws_load sustain PORT SESSIONS SECONDS MAX_REPLIES
 *
 * Sustained load for tests/wal_load.py: a closed loop of SESSIONS chats
 * against a bot already listening on PORT, until SECONDS pass, MAX_REPLIES
 * replies came, or every connection is gone (the bot was killed). Prints
 * "progress N" each 1,000 replies, then one line "session ID REPLIES" a chat
 * and "total N". Exit 0.
 *
 *   ws_load paced PORT SESSIONS RATE SECONDS
 *
 * The open loop of (b) against a bot already listening on PORT, for
 * tests/loop_stall.py: SESSIONS chats offered RATE messages/s in all for
 * SECONDS after 0.5 s of warm-up (SIGUSR1 ends it sooner). Prints one line "latency samples N p50 X
 * p99 X p999 X max X lag99 X errors N closed N" (ms). Exit 0 when every chat
 * stayed open and answered, else 1.
 */
#include <libwebsockets.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QN          8           /* messages waiting to be written, a connection */
#define RX_MAX      16384
#define MAX_LAT     (1 << 16)
#define B_ROUNDS    5           /* (b): rounds of 1 s a server, interleaved */

static const char *const texts[] = {
    "hello",
    "I did not receive the provisioning email",
    "when is the provisioning email sent?",
    "how do I see whether the update went through?",
    "thanks",
};
#define N_TEXTS (sizeof texts / sizeof texts[0])

enum mode { M_CLOSED, M_OPEN, M_IDLE, M_SUSTAIN };

struct lc {
    struct lws *wsi;
    int state;                  /* 0 connecting, 1 open, 2 closed or failed */
    int64_t q[QN];              /* ids (µs timestamps) to send */
    int qh, qn;
    int outstanding;            /* sent, not answered */
    int ntext;                  /* which text next */
    bool welcomed;
    char session[40];           /* from the welcome */
    uint64_t nreplies;          /* replies (type "reply") received */
};

struct run {
    enum mode mode;
    struct lws_context *ctx;
    struct lc *c;
    int n, port;
    int open, failed, closed;   /* connection counts */
    int64_t t0, t_measure, t_end; /* µs */
    double rate;                /* open loop: messages/s in all */
    uint64_t max_replies;       /* sustain: stop after that many replies */
    uint64_t scheduled, rr;
    uint64_t sent, replies, replies_measured, errors, welcomes, dropped;
    int64_t *lat;               /* µs from write to reply, open loop, measured window */
    size_t nlat;
    int64_t *lag;               /* µs from scheduled send time to the write */
    size_t nlag;
};

static struct run R;
static lws_sorted_usec_list_t tick;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---------------------------------------------------------------- processes */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &al)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

/* Starts argv with stderr to logpath; waits until port accepts. 0 or -1. */
static pid_t spawn(char *const argv[], const char *logpath, int port)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        FILE *f = freopen(logpath, "w", stderr);
        (void)f;
        setenv("PROVBOT_LOG", "warn", 0);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    for (int64_t end = now_us() + 15 * 1000000; now_us() < end; usleep(20000)) {
        if (port_open(port)) return pid;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) break;
    }
    fprintf(stderr, "ws_load: %s did not start (log: %s)\n", argv[0], logpath);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void stop(pid_t pid)
{
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) return;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kib = atol(line + 6);
    fclose(f);
    return kib;
}

/* ---------------------------------------------------------------- client */

static void lc_push(struct lc *c, int64_t id)
{
    if (c->qn == QN) { R.dropped++; return; }
    c->q[(c->qh + c->qn) % QN] = id;
    c->qn++;
    if (c->wsi && c->state == 1) lws_callback_on_writable(c->wsi);
}

static void lc_send_hello(struct lc *c)
{
    c->q[(c->qh + c->qn) % QN] = -1;       /* -1: a hello */
    c->qn++;
    lws_callback_on_writable(c->wsi);
}

static void on_answer(struct lc *c, const char *msg, int64_t now)
{
    if (R.mode == M_IDLE || strstr(msg, "\"type\":\"welcome\"")) {   /* the baseline answers hello with a reply */
        const char *sp = strstr(msg, "\"session\":\"");
        if (sp) sscanf(sp + 11, "%39[0-9a-f]", c->session);
        if (!c->welcomed) { c->welcomed = true; R.welcomes++; }
        return;
    }
    bool reply = strstr(msg, "\"type\":\"reply\"") != NULL;
    if (!reply) R.errors++;
    else c->nreplies++;
    if (R.mode == M_SUSTAIN && R.replies % 1000 == 999) {
        printf("progress %llu\n", (unsigned long long)R.replies + 1);
        fflush(stdout);
    }
    if (c->outstanding > 0) c->outstanding--;
    R.replies++;
    if (now >= R.t_measure && now < R.t_end) R.replies_measured++;
    if (R.mode == M_OPEN && reply) {
        const char *p = strstr(msg, "\"reply_to\":\"");
        if (p) {
            int64_t sched = strtoll(p + 12, NULL, 10);
            if (sched >= R.t_measure && sched < R.t_end && R.nlat < MAX_LAT)
                R.lat[R.nlat++] = now - sched;
        }
    }
    if ((R.mode == M_CLOSED || R.mode == M_SUSTAIN) && now < R.t_end) lc_push(c, now);
}

static int client_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct lc *c = user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c && c->state == 0) { c->state = 2; R.failed++; }
        if (c) c->wsi = NULL;
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->state = 1;
        R.open++;
        if (R.mode == M_IDLE) lc_send_hello(c);
        else if (c->qn) lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE: {
        char buf[RX_MAX + 1];
        if (!lws_is_final_fragment(wsi)) return 0;      /* bench replies are single, small frames */
        if (len > RX_MAX) len = RX_MAX;
        memcpy(buf, in, len);
        buf[len] = 0;
        on_answer(c, buf, now_us());
        return 0;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        if (!c->qn) return 0;
        int64_t id = c->q[c->qh];
        c->qh = (c->qh + 1) % QN;
        c->qn--;
        if (id >= 0) {              /* latency counts from the write; the lag behind schedule apart */
            int64_t now = now_us();
            if (R.mode == M_OPEN && id >= R.t_measure && id < R.t_end && R.nlag < MAX_LAT)
                R.lag[R.nlag++] = now - id;
            id = now;
        }
        unsigned char buf[LWS_PRE + 256];
        int n = id < 0
            ? snprintf((char *)buf + LWS_PRE, 256, "{\"type\":\"hello\"}")
            : snprintf((char *)buf + LWS_PRE, 256, "{\"type\":\"message\",\"text\":\"%s\",\"id\":\"%lld\"}",
                       texts[c->ntext++ % N_TEXTS], (long long)id);
        if (lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_TEXT) < n) return -1;
        if (id >= 0) { c->outstanding++; R.sent++; }
        if (c->qn) lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c) { c->state = 2; c->wsi = NULL; R.closed++; }
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    { .name = "ws-load", .callback = client_cb, .per_session_data_size = 0, .rx_buffer_size = RX_MAX },
    { .name = NULL, .callback = NULL },
};

static void tick_cb(lws_sorted_usec_list_t *sul)
{
    int64_t now = now_us();
    if (R.mode == M_OPEN && now >= R.t0 && now < R.t_end) {
        uint64_t due = (uint64_t)((double)(now - R.t0) * R.rate / 1e6) + 1;  /* message k is due at t0 + k/rate */
        while (R.scheduled < due) {
            int64_t at = R.t0 + (int64_t)((double)R.scheduled * 1e6 / R.rate);
            struct lc *c = &R.c[R.rr++ % (uint64_t)R.n];
            R.scheduled++;
            if (c->state == 1) lc_push(c, at);
        }
    }
    lws_sul_schedule(R.ctx, 0, sul, tick_cb, 1000);   /* 1 ms: 2 messages a tick at 2000/s */
}

static void service_until(int64_t deadline, bool (*done)(void))
{
    while (now_us() < deadline && !(done && done()))
        lws_service(R.ctx, 0);
}

static bool all_connected(void) { return R.open + R.failed >= R.n; }
static bool all_welcomed(void) { return (int)R.welcomes + R.failed + R.closed >= R.n; }
static bool none_outstanding(void)
{
    for (int i = 0; i < R.n; i++)
        if (R.c[i].state == 1 && (R.c[i].outstanding || R.c[i].qn)) return false;
    return true;
}

/* Opens n connections to port; false when some failed. */
static bool run_begin(enum mode mode, int port, int n)
{
    memset(&R, 0, sizeof R);
    R.mode = mode;
    R.port = port;
    R.n = n;
    R.c = calloc((size_t)n, sizeof *R.c);
    R.lat = calloc(MAX_LAT, sizeof *R.lat);
    R.lag = calloc(MAX_LAT, sizeof *R.lag);
    if (!R.c || !R.lat || !R.lag) return false;
    struct lws_context_creation_info info = {
        .port = CONTEXT_PORT_NO_LISTEN,
        .protocols = protocols,
        .fd_limit_per_thread = (unsigned)n + 64,
    };
    R.ctx = lws_create_context(&info);
    if (!R.ctx) return false;
    lws_sul_schedule(R.ctx, 0, &tick, tick_cb, 250);
    for (int i = 0; i < n; i++) {
        struct lc *c = &R.c[i];
        c->ntext = i;
        struct lws_client_connect_info ci = {
            .context = R.ctx,
            .address = "127.0.0.1",
            .port = port,
            .path = "/chat",
            .host = "127.0.0.1",
            .origin = "http://127.0.0.1",
            .local_protocol_name = "ws-load",
            .userdata = c,
            .pwsi = &c->wsi,
        };
        if (!lws_client_connect_via_info(&ci) && c->state == 0) { c->state = 2; R.failed++; }
        if (i % 50 == 49) lws_service(R.ctx, 0);        /* let the first ones progress */
    }
    service_until(now_us() + 10 * 1000000, all_connected);
    if (R.failed || R.open < n) {
        fprintf(stderr, "ws_load: %d of %d connections to port %d failed\n", n - R.open, n, port);
        return false;
    }
    return true;
}

static void run_end(void)
{
    if (R.ctx) {
        lws_sul_cancel(&tick);
        lws_context_destroy(R.ctx);
    }
    free(R.c);
    free(R.lat);
    free(R.lag);
    R.lag = NULL;
    R.ctx = NULL;
    R.c = NULL;
    R.lat = NULL;
}

/* (a) replies/s, or -1 on failure. */
static double closed_loop(int port, int sessions, double warm_s, double secs)
{
    double rps = -1;
    if (!run_begin(M_CLOSED, port, sessions)) goto out;
    int64_t t = now_us();
    R.t0 = t;
    R.t_measure = t + (int64_t)(warm_s * 1e6);
    R.t_end = R.t_measure + (int64_t)(secs * 1e6);
    for (int i = 0; i < sessions; i++) lc_push(&R.c[i], t);
    service_until(R.t_end, NULL);
    rps = (double)R.replies_measured / secs;
    if (R.closed) {
        fprintf(stderr, "ws_load: %d connections closed during the closed loop\n", R.closed);
        rps = -1;
    }
out:
    run_end();
    return rps;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

struct lat_result {
    bool ok;
    double p50, p99, p999, max;  /* ms */
    double lag99;               /* ms the client's writes lagged their schedule, p99 */
    uint64_t sent, answered, errors, dropped;
    size_t samples;
};

static volatile sig_atomic_t stop_asked;   /* paced: SIGUSR1 ends the load early */
static void on_usr1(int sig) { (void)sig; stop_asked = 1; }
static bool stop_was_asked(void) { return stop_asked != 0; }

/* Latency samples of one server, pooled over the rounds of (b). */
struct pool {
    int64_t lat[MAX_LAT], lag[MAX_LAT];
    size_t nlat, nlag;
    uint64_t sent, answered, errors, dropped;
    bool failed;
};

static void pool_add(int64_t *to, size_t *n, const int64_t *from, size_t k)
{
    if (k > MAX_LAT - *n) k = MAX_LAT - *n;
    memcpy(to + *n, from, k * sizeof *from);
    *n += k;
}

/* The percentiles of the pool (sorted here). */
static struct lat_result pool_result(struct pool *p)
{
    struct lat_result r = { 0 };
    qsort(p->lat, p->nlat, sizeof *p->lat, cmp_i64);
    if (p->nlat) {
        r.p50 = (double)p->lat[p->nlat * 50 / 100] / 1000;
        r.p99 = (double)p->lat[p->nlat * 99 / 100] / 1000;
        r.p999 = (double)p->lat[p->nlat * 999 / 1000] / 1000;
        r.max = (double)p->lat[p->nlat - 1] / 1000;
    }
    qsort(p->lag, p->nlag, sizeof *p->lag, cmp_i64);
    if (p->nlag) r.lag99 = (double)p->lag[p->nlag * 99 / 100] / 1000;
    r.samples = p->nlat;
    r.sent = p->sent;
    r.answered = p->answered;
    r.errors = p->errors;
    r.dropped = p->dropped;
    r.ok = !p->failed && p->nlat > 0;
    return r;
}

/* The reply latencies of both pools (sorted) side by side, in buckets. */
static void print_histogram(const struct pool *bot, const struct pool *base)
{
    static const int64_t edge[] = { 100, 200, 500, 1000, 2000, 5000, 10000, 20000, INT64_MAX };
    static const char *const name[] = { "< 0.1", "0.1-0.2", "0.2-0.5", "0.5-1", "1-2", "2-5",
                                        "5-10", "10-20", ">= 20" };
    const struct pool *p[2] = { bot, base };
    size_t at[2] = { 0, 0 };
    printf("    reply latency (ms)   provbot            baseline\n");
    for (size_t b = 0; b < sizeof edge / sizeof *edge; b++) {
        size_t n[2];
        for (int i = 0; i < 2; i++) {
            size_t from = at[i];
            while (at[i] < p[i]->nlat && p[i]->lat[at[i]] < edge[b]) at[i]++;
            n[i] = at[i] - from;
        }
        printf("      %-9s %8zu %6.2f %%   %8zu %6.2f %%\n", name[b],
               n[0], p[0]->nlat ? 100.0 * (double)n[0] / (double)p[0]->nlat : 0,
               n[1], p[1]->nlat ? 100.0 * (double)n[1] / (double)p[1]->nlat : 0);
    }
}

/* One round of (b) against port, its samples added to p. */
static void open_loop(int port, int sessions, double rate, double warm_s, double secs,
                      struct pool *p)
{
    if (!run_begin(M_OPEN, port, sessions)) {
        p->failed = true;
        goto out;
    }
    R.rate = rate;
    R.t0 = now_us() + 10000;
    R.t_measure = R.t0 + (int64_t)(warm_s * 1e6);
    R.t_end = R.t_measure + (int64_t)(secs * 1e6);
    service_until(R.t_end, stop_was_asked);
    R.t_end = now_us(); /* (when asked to stop: no more messages) */
    service_until(now_us() + 2 * 1000000, none_outstanding);   /* the last replies */
    pool_add(p->lat, &p->nlat, R.lat, R.nlat);
    pool_add(p->lag, &p->nlag, R.lag, R.nlag);
    p->sent += R.sent;
    p->answered += R.replies;
    p->errors += R.errors;
    p->dropped += R.dropped;
    p->failed |= R.closed != 0 || R.nlat == 0;
out:
    run_end();
}

/* (c) KiB of RSS before / with `sessions` idle chats; false on failure. */
static bool idle_rss(pid_t pid, int port, int sessions, long *before, long *after)
{
    bool ok = false;
    *before = rss_kib(pid);
    if (!run_begin(M_IDLE, port, sessions)) goto out;
    service_until(now_us() + 5 * 1000000, all_welcomed);
    service_until(now_us() + 500000, NULL);
    *after = rss_kib(pid);
    ok = (int)R.welcomes == sessions && R.closed == 0;
    if (!ok) fprintf(stderr, "ws_load: %llu of %d idle chats welcomed\n",
                     (unsigned long long)R.welcomes, sessions);
out:
    run_end();
    return ok;
}

/* ---------------------------------------------------------------- main */

static void remove_dir(const char *path)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "ws_load: could not remove %s\n", path);
}

static pid_t start_bot(const char *bin, int port, const char *dir)
{
    char listen[64], log[256];
    char *argv[32];
    int a = 0;
    static char extra[512];
    const char *ea = getenv("PROVBOT_SERVE_ARGS");
    snprintf(extra, sizeof extra, "%s", ea ? ea : "--rate-limit 0");
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/provbot.log", dir);
    argv[a++] = (char *)bin;
    argv[a++] = "serve";
    argv[a++] = "--listen";
    argv[a++] = listen;
    argv[a++] = "--data";
    argv[a++] = (char *)dir;
    for (char *t = strtok(extra, " "); t && a < 30; t = strtok(NULL, " ")) argv[a++] = t;
    argv[a] = NULL;
    return spawn(argv, log, port);
}

static bool sustain_done(void)
{
    return R.closed + R.failed >= R.n || R.replies >= R.max_replies;
}

/* `ws_load sustain PORT SESSIONS SECONDS MAX_REPLIES` (see the top). */
static int sustain(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: ws_load sustain PORT SESSIONS SECONDS MAX_REPLIES\n");
        return 2;
    }
    int port = atoi(argv[2]), n = atoi(argv[3]);
    if (!run_begin(M_SUSTAIN, port, n)) return 1;
    R.max_replies = strtoull(argv[5], NULL, 10);
    R.t0 = R.t_measure = now_us();
    R.t_end = R.t0 + (int64_t)(atof(argv[4]) * 1e6);
    for (int i = 0; i < n; i++) lc_push(&R.c[i], R.t0);
    service_until(R.t_end, sustain_done);
    for (int i = 0; i < n; i++)
        printf("session %s %llu\n", R.c[i].session[0] ? R.c[i].session : "-",
               (unsigned long long)R.c[i].nreplies);
    printf("total %llu\n", (unsigned long long)R.replies);
    fflush(stdout);
    run_end();
    return 0;
}

/* `ws_load paced PORT SESSIONS RATE SECONDS` (see the top). */
static int paced(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: ws_load paced PORT SESSIONS RATE SECONDS\n");
        return 2;
    }
    static struct pool p;
    open_loop(atoi(argv[2]), atoi(argv[3]), atof(argv[4]), 0.5, atof(argv[5]), &p);
    struct lat_result r = pool_result(&p);
    printf("latency samples %zu p50 %.2f p99 %.2f p999 %.2f max %.2f lag99 %.2f errors %llu"
           " closed %d\n", r.samples, r.p50, r.p99, r.p999, r.max, r.lag99,
           (unsigned long long)r.errors, r.ok ? 0 : 1);
    fflush(stdout);
    return r.ok && r.errors == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "paced")) {
        signal(SIGPIPE, SIG_IGN);
        signal(SIGUSR1, on_usr1);
        lws_set_log_level(LLL_ERR, NULL);
        return paced(argc, argv);
    }
    if (argc > 1 && !strcmp(argv[1], "sustain")) {
        signal(SIGPIPE, SIG_IGN);
        lws_set_log_level(LLL_ERR, NULL);
        return sustain(argc, argv);
    }
    const char *bot = getenv("PROVBOT_BIN");
    const char *base = getenv("BASELINE_BIN");
    if (!bot || !*bot) bot = "build/provbot";
    if (!base || !*base) base = "build/bench/ws_baseline";
    const char *parts = getenv("WS_LOAD_PARTS");   /* e.g. "b": only the open loop */
    if (!parts || !*parts) parts = "abc";
    int status = 0;

    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < 8192) {
        rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    lws_set_log_level(LLL_ERR, NULL);

    char dir[] = "/tmp/provbot-bench-XXXXXX";
    if (!mkdtemp(dir)) { perror("ws_load: mkdtemp"); return 1; }
    char data1[300], data2[300], data3[300], blog[300];
    snprintf(data1, sizeof data1, "%s/a", dir);
    snprintf(data2, sizeof data2, "%s/c", dir);
    snprintf(data3, sizeof data3, "%s/b", dir);
    snprintf(blog, sizeof blog, "%s/baseline.log", dir);
    if (mkdir(data1, 0700) || mkdir(data2, 0700) || mkdir(data3, 0700)) { perror("ws_load: mkdir"); return 1; }

    int bport = free_port(), pport = free_port();
    char bport_s[16];
    snprintf(bport_s, sizeof bport_s, "%d", bport);
    char *bargv[] = { (char *)base, bport_s, NULL };
    pid_t bpid = spawn(bargv, blog, bport);
    pid_t ppid = start_bot(bot, pport, data1);
    if (bpid < 0 || ppid < 0) {
        stop(bpid);
        stop(ppid);
        fprintf(stderr, "ws_load: server logs kept in %s\n", dir);
        return 1;
    }

    printf("provbot WebSocket bench: loopback, %ld CPUs, one client thread\n", sysconf(_SC_NPROCESSORS_ONLN));
    printf("  bot: %s   baseline: %s\n\n", bot, base);

    if (strchr(parts, 'a')) {
    printf("(a) closed loop, 100 sessions x 1 message outstanding, 5 s\n");
    fflush(stdout);
    double a_bot = closed_loop(pport, 100, 1.0, 5.0);
    /* (b) gets a fresh process and data folder: removing this one drops its
     * dirty pages, which the kernel would otherwise write back during the
     * baseline's run and (b) */
    stop(ppid);
    remove_dir(data1);
    pport = free_port();
    ppid = start_bot(bot, pport, data3);
    double a_base = closed_loop(bport, 100, 1.0, 5.0);
    printf("    provbot   %9.0f replies/s\n", a_bot);
    printf("    baseline  %9.0f replies/s\n", a_base);
    if (a_bot > 0 && a_base > 0)
        printf("    ratio     %9.2f          (target: >= 0.30 of the baseline: %s)\n",
               a_bot / a_base, a_bot / a_base >= 0.30 ? "met" : "MISSED");
    else
        status = 1;
    }

    if (strchr(parts, 'b')) {
    printf("\n(b) open loop, 1000 sessions, 2000 messages/s in all, 5 s in rounds of 1 s after 0.5 s"
           " warm-up,\n    the two servers' rounds interleaved"
           ",\n    a fresh provbot and data folder ((a)'s hundreds of MB of WAL traffic, which the kernel\n"
           "    would still be writing back, are not part of this load)\n");
    fflush(stdout);
    if (ppid < 0) {
        stop(bpid);
        return 1;
    }
    /* five rounds of 1 s each, in the order ABBAA BBAAB: a passing stall of the
     * machine (a kernel thread, writeback) lands on either server alike */
    static struct pool pools[2];
    for (int i = 0; i < 2 * B_ROUNDS; i++) {
        int who = (i + 1) / 2 % 2;      /* 0 1 1 0 0 1 1 0 ... */
        open_loop(who ? bport : pport, 1000, 2000, 0.5, 1.0, &pools[who]);
    }
    struct lat_result b_bot = pool_result(&pools[0]);
    struct lat_result b_base = pool_result(&pools[1]);
    const struct lat_result *lr[2] = { &b_bot, &b_base };
    const char *nm[2] = { "provbot ", "baseline" };
    for (int i = 0; i < 2; i++) {
        if (!lr[i]->ok) { printf("    %s  failed\n", nm[i]); status = 1; continue; }
        printf("    %s  p50 %7.3f ms  p99 %7.3f ms  p999 %7.3f ms  max %7.3f ms\n"
               "              (sent %llu, answered %llu, errors %llu, samples %zu;"
               " client send lag p99 %.3f ms)\n",
               nm[i], lr[i]->p50, lr[i]->p99, lr[i]->p999, lr[i]->max,
               (unsigned long long)lr[i]->sent, (unsigned long long)lr[i]->answered,
               (unsigned long long)lr[i]->errors, lr[i]->samples, lr[i]->lag99);
    }
    if (b_bot.ok && b_base.ok)
        print_histogram(&pools[0], &pools[1]);
    if (b_bot.ok && b_base.ok)
        printf("    vs baseline: p99 x%.1f, p999 x%.1f (targets: <= x2 each: %s)\n",
               b_bot.p99 / b_base.p99, b_bot.p999 / b_base.p999,
               b_bot.p99 <= 2 * b_base.p99 && b_bot.p999 <= 2 * b_base.p999 ? "met" : "MISSED");
    }
    stop(ppid);
    if (!strchr(parts, 'c')) {
        stop(bpid);
        goto done;
    }

    printf("\n(c) RSS with 1000 idle connections (hello/welcome done), fresh processes\n");
    fflush(stdout);
    pport = free_port();
    ppid = start_bot(bot, pport, data2);
    long before = 0, after = 0, bbefore = 0, bafter = 0;
    if (ppid > 0 && idle_rss(ppid, pport, 1000, &before, &after)) {
        printf("    provbot   %6ld KiB idle -> %6ld KiB with 1000: %.1f KiB per connection"
               " (target <= 6: %s)\n", before, after, (double)(after - before) / 1000,
               (double)(after - before) / 1000 <= 6 ? "met" : "MISSED");
    } else {
        printf("    provbot   failed\n");
        status = 1;
    }
    stop(ppid);
    stop(bpid);
    snprintf(bport_s, sizeof bport_s, "%d", bport = free_port());
    bpid = spawn(bargv, blog, bport);
    if (bpid > 0 && idle_rss(bpid, bport, 1000, &bbefore, &bafter))
        printf("    baseline  %6ld KiB idle -> %6ld KiB with 1000: %.1f KiB per connection\n",
               bbefore, bafter, (double)(bafter - bbefore) / 1000);
    stop(bpid);

done:
    remove_dir(dir);
    return status;
}
