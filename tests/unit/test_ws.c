/* test_ws.c -- protocol tests of `provbot serve` with a libwebsockets client.
 *
 * Starts $PROVBOT_BIN (default build/provbot) as `serve --listen
 * 127.0.0.1:PORT --data TMPDIR` on a free loopback port, then talks to it:
 * the WebSocket chat at /chat (hello/welcome, one reply per message, oversize
 * and fragmented frames, bad JSON, the rate limit, resuming a session) and
 * plain HTTP (/healthz, /metrics, 404). The last test stops the server with
 * SIGTERM while a chat is open and expects a close frame and exit status 0.
 * A second group starts the server with a short --idle-timeout and measures
 * both sides of it: an idle chat is not closed before it, and is after it.
 *
 * Every wait is for an event, bounded (a few seconds, times TEST_SLOWDOWN),
 * and alarm() ends a test that still hangs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libwebsockets.h>
#include <cJSON.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSGS   512
#define MAX_OUT    512

/* ---------------------------------------------------------------- server */

static pid_t server_pid;
static int server_port;
static char tmpdir[64];
static char idle_arg[16];       /* --idle-timeout for the next start, "" for none */

/* TEST_SLOWDOWN (default 1): the factor for deadlines on a loaded machine. */
static int slowdown(void)
{
    const char *v = getenv("TEST_SLOWDOWN");
    int n = v ? atoi(v) : 1;
    return n < 1 ? 1 : n;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

/* A plain HTTP/1.0 GET on loopback; returns the status, body into buf. */
static int http_get(const char *path, char *buf, size_t buflen)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)server_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct timeval tv = { .tv_sec = 3 };
    char req[256], resp[65536];
    size_t got = 0;
    int status = -1;

    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) goto out;
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n", path, server_port);
    if (write(fd, req, (size_t)n) != n) goto out;
    for (;;) {
        ssize_t r = read(fd, resp + got, sizeof resp - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
        if (got == sizeof resp - 1) break;
    }
    resp[got] = 0;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) status = -1;
    const char *body = strstr(resp, "\r\n\r\n");
    if (buf && buflen) snprintf(buf, buflen, "%s", body ? body + 4 : "");
out:
    close(fd);
    return status;
}

static int start_server(void **state)
{
    (void)state;
    const char *bin = getenv("PROVBOT_BIN");
    if (!bin || !*bin) bin = "build/provbot";
    snprintf(tmpdir, sizeof tmpdir, "/tmp/provbot-test-ws-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    server_port = free_port();
    if (server_port <= 0) return -1;
    char listen[64], logpath[128];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", server_port);
    snprintf(logpath, sizeof logpath, "%s/server.log", tmpdir);
    server_pid = fork();
    if (server_pid < 0) return -1;
    if (server_pid == 0) {
        FILE *f = freopen(logpath, "w", stderr);
        (void)f;
        if (idle_arg[0])
            execl(bin, bin, "serve", "--listen", listen, "--data", tmpdir, "--idle-timeout", idle_arg,
                  (char *)NULL);
        else
            execl(bin, bin, "serve", "--listen", listen, "--data", tmpdir, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    for (int64_t end = now_ms() + 8000; now_ms() < end; ) {
        if (http_get("/healthz", NULL, 0) == 200) return 0;
        int st;
        if (waitpid(server_pid, &st, WNOHANG) == server_pid) {
            fprintf(stderr, "test_ws: %s exited early (see %s)\n", bin, logpath);
            server_pid = 0;
            return -1;
        }
        usleep(50 * 1000);
    }
    fprintf(stderr, "test_ws: %s did not come up on %s\n", bin, listen);
    return -1;
}

static int stop_server(void **state)
{
    (void)state;
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (tmpdir[0] && system(cmd) != 0) fprintf(stderr, "test_ws: could not remove %s\n", tmpdir);
    return 0;
}

/* ---------------------------------------------------------------- ws client */

struct frame {
    unsigned char *buf;         /* LWS_PRE + len, owned */
    size_t len;
    int flags;                  /* lws_write_ws_flags() result */
};

struct wsc {
    struct lws *wsi;
    int state;                  /* 0 connecting, 1 open, 2 closed, 3 failed */
    int close_code;             /* from the server's close frame, 0 if none */
    char *msgs[MAX_MSGS];       /* received messages, owned */
    int nmsg, rd;
    char *rx;                   /* reassembly */
    size_t rxlen;
    struct frame out[MAX_OUT];
    int nout, wr;
};

static struct lws_context *cctx;
static lws_sorted_usec_list_t ctick;

static void tick_cb(lws_sorted_usec_list_t *sul)
{
    lws_sul_schedule(cctx, 0, sul, tick_cb, 5 * LWS_US_PER_MS);   /* keeps lws_service returning */
}

static int client_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct wsc *c = user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c) { c->state = 3; c->wsi = NULL; }
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->state = 1;
        if (c->wr < c->nout) lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE: {
        char *nb = realloc(c->rx, c->rxlen + len + 1);
        if (!nb) return -1;
        c->rx = nb;
        memcpy(c->rx + c->rxlen, in, len);
        c->rxlen += len;
        if (!lws_is_final_fragment(wsi)) return 0;
        c->rx[c->rxlen] = 0;
        if (c->nmsg < MAX_MSGS) c->msgs[c->nmsg++] = c->rx; else free(c->rx);
        c->rx = NULL;
        c->rxlen = 0;
        return 0;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (c->wr < c->nout) {
            struct frame *f = &c->out[c->wr++];
            int n = lws_write(wsi, f->buf + LWS_PRE, f->len, (enum lws_write_protocol)f->flags);
            if (n < (int)f->len) return -1;
            if (c->wr < c->nout) lws_callback_on_writable(wsi);
        }
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c && len >= 2) c->close_code = ((unsigned char *)in)[0] << 8 | ((unsigned char *)in)[1];
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c) { c->state = 2; c->wsi = NULL; }
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols client_protocols[] = {
    { .name = "provbot-test", .callback = client_cb, .per_session_data_size = 0 },
    { .name = NULL, .callback = NULL },
};

static int client_setup(void **state)
{
    if (start_server(state)) return -1;
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info = {
        .port = CONTEXT_PORT_NO_LISTEN,
        .protocols = client_protocols,
    };
    cctx = lws_create_context(&info);
    if (!cctx) return -1;
    lws_sul_schedule(cctx, 0, &ctick, tick_cb, 5 * LWS_US_PER_MS);
    return 0;
}

static int client_teardown(void **state)
{
    if (cctx) {
        lws_sul_cancel(&ctick);
        lws_context_destroy(cctx);
        cctx = NULL;
    }
    return stop_server(state);
}

static void pump(int ms)
{
    int64_t end = now_ms() + ms;
    while (now_ms() < end) lws_service(cctx, 0);
}

/* Services until c has `n` unread messages or is closed, at most ms. */
static bool wait_msgs(struct wsc *c, int n, int ms)
{
    int64_t end = now_ms() + ms;
    while (c->nmsg - c->rd < n && c->state < 2 && now_ms() < end) lws_service(cctx, 0);
    return c->nmsg - c->rd >= n;
}

static struct wsc *ws_open(const char *path, const char *origin)
{
    struct wsc *c = calloc(1, sizeof *c);
    assert_non_null(c);
    struct lws_client_connect_info i = {
        .context = cctx,
        .address = "127.0.0.1",
        .port = server_port,
        .path = path,
        .host = "127.0.0.1",
        .origin = origin ? origin : "http://127.0.0.1",
        .protocol = NULL,                  /* like a browser's new WebSocket(url) */
        .local_protocol_name = "provbot-test",
        .userdata = c,
        .pwsi = &c->wsi,
    };
    if (!lws_client_connect_via_info(&i) && c->state == 0) c->state = 3;
    int64_t end = now_ms() + 3000;
    while (c->state == 0 && now_ms() < end) lws_service(cctx, 0);
    return c;
}

static void ws_free(struct wsc *c)
{
    if (c->wsi && c->state == 1) {
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        int64_t end = now_ms() + 1000;
        while (c->state == 1 && now_ms() < end) lws_service(cctx, 0);
    }
    for (int i = 0; i < c->nmsg; i++) free(c->msgs[i]);
    for (int i = 0; i < c->nout; i++) free(c->out[i].buf);
    free(c->rx);
    free(c);
}

static void ws_queue(struct wsc *c, const void *data, size_t len, int flags)
{
    assert_true(c->nout < MAX_OUT);
    struct frame *f = &c->out[c->nout++];
    f->buf = malloc(LWS_PRE + len + 1);
    assert_non_null(f->buf);
    memcpy(f->buf + LWS_PRE, data, len);
    f->len = len;
    f->flags = flags;
    if (c->wsi && c->state == 1) lws_callback_on_writable(c->wsi);
}

static void ws_send(struct wsc *c, const char *text)
{
    ws_queue(c, text, strlen(text), LWS_WRITE_TEXT);
}

/* Sends text as `parts` fragments of one message. */
static void ws_send_frags(struct wsc *c, const char *text, size_t len, int parts)
{
    size_t per = len / (size_t)parts, off = 0;
    for (int k = 0; k < parts; k++) {
        size_t n = k == parts - 1 ? len - off : per;
        ws_queue(c, text + off, n, lws_write_ws_flags(LWS_WRITE_TEXT, k == 0, k == parts - 1));
        off += n;
    }
}

/* Takes the next message, parsed (caller cJSON_Deletes); fails the test
 * when none arrives within ms. */
static cJSON *ws_next(struct wsc *c, int ms)
{
    assert_true(wait_msgs(c, 1, ms));
    cJSON *j = cJSON_Parse(c->msgs[c->rd++]);
    assert_non_null(j);
    return j;
}

static const char *jstr(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void expect_type(const cJSON *j, const char *type)
{
    const char *t = jstr(j, "type");
    assert_non_null(t);
    assert_string_equal(t, type);
}

/* Sends a message with id and expects exactly its reply (and nothing else
 * within a short while after it). */
static void expect_reply(struct wsc *c, const char *id)
{
    char buf[256];
    snprintf(buf, sizeof buf, "{\"type\":\"message\",\"text\":\"hello\",\"id\":\"%s\"}", id);
    ws_send(c, buf);
    cJSON *j = ws_next(c, 3000);
    expect_type(j, "reply");
    assert_string_equal(jstr(j, "reply_to"), id);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(j, "text"));
    cJSON_Delete(j);
}

/* Hello with no session: a welcome with a fresh id (returned, caller frees). */
static char *hello(struct wsc *c, const char *session)
{
    char buf[256];
    if (session) snprintf(buf, sizeof buf, "{\"type\":\"hello\",\"session\":\"%s\"}", session);
    else snprintf(buf, sizeof buf, "{\"type\":\"hello\"}");
    ws_send(c, buf);
    cJSON *j = ws_next(c, 3000);
    expect_type(j, "welcome");
    const char *s = jstr(j, "session");
    assert_non_null(s);
    assert_true(strlen(s) >= 1 && strlen(s) <= 64);
    char *dup = strdup(s);
    cJSON_Delete(j);
    return dup;
}

static void expect_error(struct wsc *c, const char *code)
{
    cJSON *j = ws_next(c, 3000);
    expect_type(j, "error");
    assert_string_equal(jstr(j, "code"), code);
    assert_non_null(jstr(j, "message"));
    cJSON_Delete(j);
}

/* ---------------------------------------------------------------- tests */

static void test_hello_welcome(void **state)
{
    (void)state;
    alarm(10);
    struct wsc *c = ws_open("/chat", NULL);
    assert_int_equal(c->state, 1);
    char *sid = hello(c, NULL);
    for (const char *p = sid; *p; p++)
        assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    *p == '_' || *p == '-');
    free(sid);
    /* an invalid session id is replaced by a fresh one */
    sid = hello(c, "bad id with spaces");
    assert_string_not_equal(sid, "bad id with spaces");
    free(sid);
    ws_free(c);
    alarm(0);
}

static void test_message_without_hello(void **state)
{
    (void)state;
    alarm(10);
    struct wsc *c = ws_open("/chat", NULL);
    assert_int_equal(c->state, 1);
    ws_send(c, "{\"type\":\"message\",\"text\":\"hi\",\"id\":\"m1\"}");
    cJSON *j = ws_next(c, 3000);
    expect_type(j, "welcome");
    assert_non_null(jstr(j, "session"));
    cJSON_Delete(j);
    j = ws_next(c, 3000);
    expect_type(j, "reply");
    assert_string_equal(jstr(j, "reply_to"), "m1");
    cJSON_Delete(j);
    /* no id: reply_to is null */
    ws_send(c, "{\"type\":\"message\",\"text\":\"hi\"}");
    j = ws_next(c, 3000);
    expect_type(j, "reply");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "reply_to")));
    cJSON_Delete(j);
    ws_free(c);
    alarm(0);
}

static void test_one_reply_per_message(void **state)
{
    (void)state;
    alarm(10);
    struct wsc *c = ws_open("/chat", NULL);
    assert_int_equal(c->state, 1);
    free(hello(c, NULL));
    char buf[128];
    for (int i = 0; i < 15; i++) {   /* within the burst allowance */
        snprintf(buf, sizeof buf, "{\"type\":\"message\",\"text\":\"hello number %d\",\"id\":\"q%d\"}", i, i);
        ws_send(c, buf);
    }
    assert_true(wait_msgs(c, 15, 5000));
    pump(300);                       /* anything extra would arrive now */
    assert_int_equal(c->nmsg - c->rd, 15);
    for (int i = 0; i < 15; i++) {
        cJSON *j = ws_next(c, 100);
        expect_type(j, "reply");
        snprintf(buf, sizeof buf, "q%d", i);
        assert_string_equal(jstr(j, "reply_to"), buf);
        cJSON_Delete(j);
    }
    ws_free(c);
    alarm(0);
}

static void test_oversize(void **state)
{
    (void)state;
    alarm(10);
    struct wsc *c = ws_open("/chat", NULL);
    assert_int_equal(c->state, 1);
    free(hello(c, NULL));

    size_t big = 20 * 1024;
    char *msg = malloc(big + 64);
    assert_non_null(msg);
    int n = snprintf(msg, 64, "{\"type\":\"message\",\"id\":\"big\",\"text\":\"");
    memset(msg + n, 'a', big - (size_t)n - 2);
    memcpy(msg + big - 2, "\"}", 3);

    ws_queue(c, msg, big, LWS_WRITE_TEXT);           /* one frame */
    expect_error(c, "too_large");
    expect_reply(c, "after1");                        /* still works */

    ws_send_frags(c, msg, big, 4);                   /* fragments, 5 KiB each */
    expect_error(c, "too_large");
    expect_reply(c, "after2");

    /* a fragmented message under the cap is reassembled */
    size_t mid = 12 * 1024;
    n = snprintf(msg, 64, "{\"type\":\"message\",\"id\":\"frag\",\"text\":\"");
    memset(msg + n, 'b', mid - (size_t)n - 2);
    memcpy(msg + mid - 2, "\"}", 3);
    ws_send_frags(c, msg, mid, 3);
    cJSON *j = ws_next(c, 3000);
    expect_type(j, "reply");
    assert_string_equal(jstr(j, "reply_to"), "frag");
    cJSON_Delete(j);
    free(msg);
    pump(200);
    assert_int_equal(c->nmsg - c->rd, 0);
    assert_int_equal(c->state, 1);
    ws_free(c);
    alarm(0);
}

static void test_bad_json(void **state)
{
    (void)state;
    alarm(10);
    struct wsc *c = ws_open("/chat", NULL);
    assert_int_equal(c->state, 1);
    free(hello(c, NULL));
    static const char *bad[] = {
        "{not json",
        "[1,2,3]",
        "\"a string\"",
        "{\"type\":\"dance\"}",
        "{\"type\":\"message\"}",
        "{\"type\":\"message\",\"text\":42}",
        "{\"text\":\"no type\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ws_send(c, bad[i]);
        expect_error(c, "bad_json");
    }
    { static const char bad8[] = "{\"type\":\"message\",\"text\":\"\xc3\"}"; ws_queue(c, bad8, sizeof bad8 - 1, LWS_WRITE_TEXT); } /* bad UTF-8 */
    expect_error(c, "bad_json");
    expect_reply(c, "still-open");
    assert_int_equal(c->state, 1);
    ws_free(c);
    alarm(0);
}

static void test_too_fast(void **state)
{
    (void)state;
    alarm(10);
    struct wsc *c = ws_open("/chat", NULL);
    assert_int_equal(c->state, 1);
    free(hello(c, NULL));
    char buf[128];
    int total = 60;
    for (int i = 0; i < total; i++) {
        snprintf(buf, sizeof buf, "{\"type\":\"message\",\"text\":\"flood\",\"id\":\"f%d\"}", i);
        ws_send(c, buf);
    }
    assert_true(wait_msgs(c, total, 6000));
    int replies = 0, too_fast = 0;
    while (c->rd < c->nmsg) {
        cJSON *j = ws_next(c, 100);
        const char *t = jstr(j, "type");
        assert_non_null(t);
        if (!strcmp(t, "reply")) replies++;
        else if (!strcmp(t, "error") && !strcmp(jstr(j, "code"), "too_fast")) too_fast++;
        else fail_msg("unexpected frame type %s", t);
        cJSON_Delete(j);
    }
    assert_int_equal(replies + too_fast, total);    /* one answer a frame */
    assert_true(too_fast >= 1);
    assert_true(replies >= 10);                      /* the burst went through */
    assert_int_equal(c->state, 1);
    pump(1200);                                      /* the bucket refills */
    expect_reply(c, "later");
    ws_free(c);
    alarm(0);
}

/* Sends text as message id and returns its reply (caller cJSON_Deletes). */
static cJSON *say(struct wsc *c, const char *text, const char *id)
{
    cJSON *m = cJSON_CreateObject();
    assert_non_null(m);
    cJSON_AddStringToObject(m, "type", "message");
    cJSON_AddStringToObject(m, "text", text);
    cJSON_AddStringToObject(m, "id", id);
    char *buf = cJSON_PrintUnformatted(m);
    assert_non_null(buf);
    ws_send(c, buf);
    free(buf);
    cJSON_Delete(m);
    cJSON *j = ws_next(c, 3000 * slowdown());
    expect_type(j, "reply");
    assert_string_equal(jstr(j, "reply_to"), id);
    return j;
}

/* What reply j asks: its expect (or "null") and its last paragraph. */
static void asked(const cJSON *j, char *expect, size_t elen, char *question, size_t qlen)
{
    const char *e = jstr(j, "expect"), *t = jstr(j, "text"), *p;
    assert_non_null(t);
    snprintf(expect, elen, "%s", e ? e : "null");
    for (p = t + strlen(t); p > t && strncmp(p - 1, "\n\n", 2) != 0; p--)
        ;
    snprintf(question, qlen, "%s", p);
}

/* A chat cut in the middle of a flow and resumed with its session asks
 * what it asked before the cut (an unrelated "?" brings the question back). */
static void test_resume(void **state)
{
    (void)state;
    char e1[32], q1[512], e2[32], q2[512];
    alarm(10 * slowdown());
    struct wsc *c = ws_open("/chat", NULL);
    assert_int_equal(c->state, 1);
    char *sid = hello(c, NULL);
    cJSON *j = say(c, "I need to change the provisioning contact email", "r1");
    asked(j, e1, sizeof e1, q1, sizeof q1);
    cJSON_Delete(j);
    assert_string_not_equal(e1, "null");              /* a flow is under way */
    assert_true(strlen(q1) > 10);
    ws_free(c);

    c = ws_open("/chat", NULL);
    assert_int_equal(c->state, 1);
    char *again = hello(c, sid);
    assert_string_equal(again, sid);
    j = say(c, "?", "r2");
    asked(j, e2, sizeof e2, q2, sizeof q2);
    cJSON_Delete(j);
    assert_string_equal(e2, e1);
    assert_string_equal(q2, q1);

    /* the control: a new session is not in that flow */
    ws_free(c);
    c = ws_open("/chat", NULL);
    free(hello(c, NULL));
    j = say(c, "?", "r3");
    asked(j, e2, sizeof e2, q2, sizeof q2);
    cJSON_Delete(j);
    assert_string_not_equal(q2, q1);
    free(again);
    free(sid);
    ws_free(c);
    alarm(0);
}

static void test_upgrade_elsewhere_refused(void **state)
{
    (void)state;
    alarm(10);
    struct wsc *c = ws_open("/not-chat", NULL);
    assert_int_not_equal(c->state, 1);
    ws_free(c);
    alarm(0);
}

static void test_healthz(void **state)
{
    (void)state;
    alarm(10);
    char body[64];
    assert_int_equal(http_get("/healthz", body, sizeof body), 200);
    assert_string_equal(body, "ok");
    alarm(0);
}

/* The documented default idle timeout (600 s, `provbot --help`) is in force. */
static void test_idle_default(void **state)
{
    (void)state;
    char path[128], line[1024];
    bool found = false;
    snprintf(path, sizeof path, "%s/server.log", tmpdir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, "event=listen") && strstr(line, " idle_secs=600 ");
    fclose(f);
    assert_true(found);
}

/* Services until c is closed or the deadline; returns when it closed (ms). */
static int64_t wait_closed(struct wsc *c, int64_t deadline)
{
    while (c->state == 1 && now_ms() < deadline) lws_service(cctx, 0);
    return now_ms();
}

/* --idle-timeout I: an idle chat is closed (1000) no sooner than I after its
 * last message and soon after; a message restarts the clock (the control:
 * the chat that spoke stays open when the silent one is closed). */
static void test_idle_timeout(void **state)
{
    (void)state;
    int64_t idle_ms = atoi(idle_arg) * 1000LL, slack = 3000LL * slowdown();
    alarm((unsigned)(3 * idle_ms / 1000 + 20));
    struct wsc *a = ws_open("/chat", NULL), *b = ws_open("/chat", NULL);
    assert_int_equal(a->state, 1);
    assert_int_equal(b->state, 1);
    free(hello(b, NULL));
    int64_t ta = now_ms();
    free(hello(a, NULL));
    assert_true(wait_closed(a, ta + idle_ms * 6 / 10) >= ta + idle_ms * 6 / 10);
    assert_int_equal(a->state, 1);                    /* open at 0.6 I */
    assert_int_equal(b->state, 1);
    int64_t tb = now_ms();    /* (before the send: b's clock restarts when the bot reads it,
                                 the reply may come late on a busy machine) */
    cJSON_Delete(say(b, "hello", "keep"));
    int64_t closed_a = wait_closed(a, ta + idle_ms + slack);
    assert_int_equal(a->state, 2);
    assert_int_equal(a->close_code, 1000);
    assert_true(closed_a - ta >= idle_ms - 100);       /* never before the timeout */
    assert_int_equal(b->state, 1);                    /* its clock restarted at tb */
    int64_t closed_b = wait_closed(b, tb + idle_ms + slack);
    assert_int_equal(b->state, 2);
    assert_true(closed_b - tb >= idle_ms - 100);
    ws_free(a);
    ws_free(b);
    alarm(0);
}

static int idle_setup(void **state)
{
    snprintf(idle_arg, sizeof idle_arg, "%d", 2 * slowdown());
    return client_setup(state);
}

static void test_metrics(void **state)
{
    (void)state;
    alarm(10);
    static char body[65536];
    assert_int_equal(http_get("/metrics", body, sizeof body), 200);
    const char *p = strstr(body, "\nprovbot_messages_total ");
    assert_non_null(p);
    assert_true(atoll(p + 24) >= 1);                /* earlier tests sent messages */
    assert_non_null(strstr(body, "provbot_replies_total{intent=\""));
    assert_non_null(strstr(body, "provbot_connections_open "));
    assert_non_null(strstr(body, "provbot_reply_latency_seconds_bucket{le=\"+Inf\"}"));
    assert_non_null(strstr(body, "provbot_errors_total{code=\"too_fast\"}"));
    alarm(0);
}

static void test_not_found(void **state)
{
    (void)state;
    alarm(10);
    char body[256];
    assert_int_equal(http_get("/no/such/page", body, sizeof body), 404);
    assert_int_equal(http_get("/", body, sizeof body), 200);
    alarm(0);
}

/* Last: SIGTERM with a chat open gives a close frame and a clean exit. */
static void test_graceful_stop(void **state)
{
    (void)state;
    alarm(10);
    struct wsc *c = ws_open("/chat", NULL);
    assert_int_equal(c->state, 1);
    free(hello(c, NULL));
    assert_int_equal(kill(server_pid, SIGTERM), 0);
    int64_t end = now_ms() + 5000;
    while (c->state == 1 && now_ms() < end) lws_service(cctx, 0);
    assert_int_equal(c->state, 2);
    assert_int_equal(c->close_code, 1001);
    int st = 0;
    pid_t w = 0;
    while ((w = waitpid(server_pid, &st, WNOHANG)) == 0 && now_ms() < end) usleep(20 * 1000);
    assert_int_equal(w, server_pid);
    server_pid = 0;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    ws_free(c);
    alarm(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz),
        cmocka_unit_test(test_idle_default),
        cmocka_unit_test(test_hello_welcome),
        cmocka_unit_test(test_message_without_hello),
        cmocka_unit_test(test_one_reply_per_message),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_too_fast),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_upgrade_elsewhere_refused),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_graceful_stop),
    };
    const struct CMUnitTest idle[] = {
        cmocka_unit_test(test_idle_timeout),
    };
    int failed = cmocka_run_group_tests_name("ws", tests, client_setup, client_teardown);
    return failed + cmocka_run_group_tests_name("ws-idle", idle, idle_setup, client_teardown);
}
