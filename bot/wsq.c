/* wsq.c -- WebSocket frame queue and message reassembly (see wsq.h). */
#include "wsq.h"

#include <stdlib.h>
#include <string.h>

struct wsq_frame {
    struct wsq_frame *next;
    bool slot;                  /* a place kept; len 0 */
    int64_t tag;                /* slot: the caller's */
    size_t len;                 /* payload bytes at buf + LWS_PRE */
    unsigned char buf[];        /* LWS_PRE headroom, then the payload */
};

static struct wsq_frame *frame_new(const char *s, size_t len)
{
    struct wsq_frame *f = malloc(sizeof *f + LWS_PRE + len);
    if (!f)
        return NULL;
    f->next = NULL;
    f->slot = false;
    f->tag = 0;
    f->len = len;
    if (len)
        memcpy(f->buf + LWS_PRE, s, len);
    return f;
}

int wsq_push(struct wsq *q, const char *s, size_t len, int64_t tag)
{
    struct wsq_frame *f = frame_new(s, s ? len : 0);
    if (!f)
        return -1;
    f->slot = s == NULL;
    f->tag = tag;
    if (q->tail) q->tail->next = f; else q->head = f;
    q->tail = f;
    q->len++;
    return 0;
}

int wsq_fill(struct wsq *q, const char *s, size_t len, int64_t *tag)
{
    struct wsq_frame **pp = &q->head;
    while (*pp && !(*pp)->slot)
        pp = &(*pp)->next;
    if (!*pp)
        return 0;
    struct wsq_frame *old = *pp, *f = frame_new(s, len);
    *tag = old->tag;
    if (!f) {
        old->slot = false;
        return -1;
    }
    f->next = old->next;
    *pp = f;
    if (q->tail == old) q->tail = f;
    free(old);
    return 1;
}

bool wsq_ready(const struct wsq *q)
{
    return q->head && !q->head->slot;
}

int wsq_write(struct wsq *q, struct lws *wsi)
{
    struct wsq_frame *f = q->head;
    if (!f || f->slot)
        return 0;
    q->head = f->next;
    if (!q->head) q->tail = NULL;
    q->len--;
    int n = lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
    bool ok = n >= (int)f->len;
    free(f);
    return ok ? 1 : -1;
}

void wsq_clear(struct wsq *q)
{
    while (q->head) {
        struct wsq_frame *f = q->head;
        q->head = f->next;
        free(f);
    }
    q->tail = NULL;
    q->len = 0;
}

enum wsrx_status wsrx_feed(struct wsrx *r, struct lws *wsi, const char *in, size_t len,
                           size_t max, const char **msg, size_t *mlen)
{
    bool first = lws_is_first_fragment(wsi), final = lws_is_final_fragment(wsi);
    if (first) {
        r->len = 0;
        r->over = false;
    }
    if (first && final) {                       /* the usual case: no copy */
        *msg = in;
        *mlen = len;
        return len > max ? WSRX_TOO_LARGE : WSRX_MESSAGE;
    }
    if (!r->over) {
        if (r->len + len > max) {
            r->over = true;
        } else {
            if (!r->buf && !(r->buf = malloc(max + 1)))
                return WSRX_NOMEM;
            memcpy(r->buf + r->len, in, len);
            r->len += len;
        }
    }
    if (!final)
        return WSRX_MORE;
    bool over = r->over;
    *msg = r->buf ? r->buf : "";
    *mlen = r->len;
    r->len = 0;
    r->over = false;
    return over ? WSRX_TOO_LARGE : WSRX_MESSAGE;
}

void wsrx_clear(struct wsrx *r)
{
    free(r->buf);
    r->buf = NULL;
    r->len = 0;
    r->over = false;
}
