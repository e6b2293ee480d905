/* wsq.h -- a WebSocket's outgoing frame queue and its incoming message
 * reassembly, on libwebsockets; shared by the web chat and Webex.
 *
 * struct wsq: malloc'd frames with LWS_PRE headroom, one lws_write() per
 * WRITEABLE callback. A frame may be a *slot*: a place kept for a frame not
 * known yet (a reply waiting for its commit); writing stops at a slot until
 * wsq_fill() puts the frame in. The caller bounds the queue (wsq.len).
 *
 * struct wsrx: a message from its fragments, into one buffer of at most
 * `max` bytes allocated on the first fragmented message; a message passing
 * the cap is discarded and reported once as too large. An unfragmented
 * message is handed over without a copy.
 *
 * Both are plain structs to embed, zero-initialised; loop thread only.
 */
#ifndef PROVBOT_WSQ_H
#define PROVBOT_WSQ_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wsq_frame;

struct wsq {
    struct wsq_frame *head, *tail;  /* owned, oldest first */
    int len;                        /* frames queued, slots included */
};

/* Queues a copy of s[0..len); s NULL: a slot carrying `tag` (the caller's,
 * e.g. a time). 0, or -1 when out of memory. */
int wsq_push(struct wsq *q, const char *s, size_t len, int64_t tag);

/* Puts s[0..len) in place of the oldest slot and gives back its tag in
 * *tag. 1 when a slot was filled, 0 when there is none (nothing queued),
 * -1 when out of memory (the slot becomes an empty frame). */
int wsq_fill(struct wsq *q, const char *s, size_t len, int64_t *tag);

/* Writes the oldest frame as a text message. 1 when one was written, 0 when
 * there is none or a slot is first, -1 when the write failed. */
int wsq_write(struct wsq *q, struct lws *wsi);

/* True when a frame other than a slot is first (something to write now). */
bool wsq_ready(const struct wsq *q);

/* Frees every frame. */
void wsq_clear(struct wsq *q);

struct wsrx {
    char *buf;                  /* owned, max bytes once allocated */
    size_t len;                 /* bytes of the message so far */
    bool over;                  /* the message passed the cap */
};

enum wsrx_status { WSRX_MORE, WSRX_MESSAGE, WSRX_TOO_LARGE, WSRX_NOMEM };

/* Feeds one RECEIVE chunk of wsi. On WSRX_MESSAGE (msg, mlen) is the whole
 * message (borrowed until the next call); WSRX_MORE: a fragment of one. */
enum wsrx_status wsrx_feed(struct wsrx *r, struct lws *wsi, const char *in, size_t len,
                           size_t max, const char **msg, size_t *mlen);

/* Frees the buffer. */
void wsrx_clear(struct wsrx *r);

#endif
