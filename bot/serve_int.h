/* serve_int.h -- what serve.c, webchat.c and http.c share: the server's
 * state and the callbacks the lws glue in serve.c calls. Private to those
 * three files (curl's urldata.h is the model): nothing else includes it.
 *
 * protocols[0] of the context handles both the plain HTTP requests
 * (http.c) and the WebSocket chats (webchat.c); its per-session data is a
 * tagged union of the two (struct pss). Everything runs on the loop thread.
 */
#ifndef PROVBOT_SERVE_INT_H
#define PROVBOT_SERVE_INT_H

#include "serve.h"
#include "metrics.h"
#include "turns.h"
#include "wsq.h"
#include "attach.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define SERVE_MAX_MSG        (16 * 1024)        /* a chat message, reassembled */
#define SERVE_RX_CHUNK       1024               /* lws's receive buffer a chat: a longer frame comes in parts */
#define SERVE_MAX_UPLOAD     (5 * 1024 * 1024)  /* an uploaded screenshot */
#define SERVE_MAX_DISCARD    (64 * 1024 * 1024) /* larger declared uploads: answer at once, close */
#define SERVE_UPLOAD_INFLIGHT (32 * 1024 * 1024) /* bytes declared by all uploads in flight */
#define SERVE_UPLOAD_CHUNK   (64 * 1024)        /* an upload's first buffer; doubles as data arrives */
#define SERVE_UPLOAD_RATE    1.0                /* uploads a second a client (peer address) may start */
#define SERVE_UPLOAD_BURST   10.0               /* ... in a burst */
#define SERVE_UPLOAD_SLOTS   256                /* rate buckets; addresses that collide share one */
#define SERVE_OUTQ_PAUSE     32                 /* queued frames: stop reading the chat */
#define SERVE_OUTQ_RESUME    8                  /* queued frames: read again */
#define SERVE_OUTQ_MAX       256                /* queued frames: close the chat */
#define SERVE_SESSION_MAX    64
#define SERVE_USER_MAX       254
#define SERVE_TICK_US        (250 * 1000)
#define SERVE_STOP_GRACE_US  (3 * 1000 * 1000)  /* waiting for close handshakes at shutdown */
#define SERVE_HTTP_CHUNK     (16 * 1024)

static inline int64_t serve_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A token bucket (refill_us 0: never used, full). */
struct serve_bucket {
    double tokens;
    int64_t refill_us;
};

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
    char *user;                 /* the person's email from hello, owned, or NULL (anonymous):
                                   the token's when id_exp, else self-asserted (no secret) */
    int64_t id_exp;             /* the verified identity's token expiry (epoch s), 0: none */
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
    bool uploading;             /* POST /upload begun, body arriving (counts in server.n_uploads) */
    struct server *srv;         /* set while uploading: the accounting to give back, borrowed */
    unsigned char *up;          /* upload bytes, owned, grown as they arrive up to up_declared */
    size_t up_len, up_cap;      /* bytes received, allocated (in server.up_held) */
    size_t up_declared;         /* Content-Length reserved in server.up_reserved (0: refusing) */
    int up_status;              /* non-zero: refuse with this status after the body */
    const char *up_error;       /* its message (static) */
    struct upload_text *text;   /* the upload's names and outcome, owned (allocated
                                   when admitted: an idle connection holds none) */
    /* an upload being written by the attachment thread (attach.h) */
    struct server *wait_srv;    /* set while on wait_srv->up_wait, borrowed */
    struct http_req *wait_next; /* server.up_wait */
    struct lws *wsi;            /* borrowed, valid while on up_wait (CLOSED_HTTP resets) */
    uint64_t attach_id;         /* the job's id */
    int answer;                 /* non-zero: the outcome's status, to send in HTTP_WRITEABLE */
};

struct upload_text {
    char session[SERVE_SESSION_MAX + 1];
    char name[101];
    char answer_err[256];       /* the outcome's error ("" when 200) */
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
    int n_uploads;              /* uploads in flight: they count toward max_conns */
    size_t up_reserved;         /* bytes their Content-Lengths reserve, at most up_max */
    size_t up_held;             /* bytes their buffers hold */
    size_t up_max;              /* SERVE_UPLOAD_INFLIGHT */
    struct serve_bucket up_rate[SERVE_UPLOAD_SLOTS]; /* upload rate, by peer address hash */
    struct attachq *attach;     /* the attachment writer thread, owned; NULL: writes on the loop */
    uint64_t attach_seq;        /* the last job id */
    struct http_req *up_wait;   /* uploads whose write is in flight */
    uint64_t attach_shed;       /* uploads refused: the writer's queue was full */
    struct metrics m;
};

/* ---- webchat.c: the chat WebSocket at /chat */

/* HTTP_CONFIRM_UPGRADE: only /chat, only listed origins, only while there
 * is room. 0 to allow, 1 after writing a refusal, -1 to drop. */
int webchat_confirm(struct server *s, struct lws *wsi);
void webchat_open(struct server *s, struct pss *p, struct lws *wsi);
int webchat_receive(struct server *s, struct conn *c, const char *in, size_t len);
int webchat_writeable(struct conn *c);
void webchat_closed(struct server *s, struct conn *c);
/* Closes the chat once its queue drains (CW_SLOW: at once). */
void webchat_close_soon(struct conn *c, enum close_why why);

/* ---- http.c: the page, /healthz, /metrics, POST /upload */

void http_reset(struct http_req *h);
int http_request(struct server *s, struct lws *wsi, struct pss *p, const char *path);
int http_body(struct http_req *h, const void *in, size_t len);
/* /metrics: the counters and every bound's use. Caller frees; NULL: out of memory. */
char *http_metrics(const struct server *s);
int http_body_done(struct server *s, struct lws *wsi, struct http_req *h);
int http_writeable(struct lws *wsi, struct http_req *h);
/* EVENT_WAIT_CANCELLED: answers the uploads the attachment thread wrote. */
void http_attach_done(struct server *s);
/* True when origin is on the allow list (or there is none). */
bool http_origin_allowed(const struct serve_config *cfg, const char *origin);
/* The Origin header ("" when absent) into buf. */
void http_header_origin(struct lws *wsi, char *buf, int len);

#endif
