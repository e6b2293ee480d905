/* buf.h -- one growable byte buffer with a hard cap (curl's dynbuf is the
 * model).
 *
 * struct buf is embedded and set up by buf_init(), which cannot fail; the
 * memory comes with the first byte. Every append either fits under the cap
 * and succeeds, or fails and marks the buffer failed for good (out of
 * memory, or the cap passed: nothing is cut silently), so a caller may
 * append a series and check once. The content is always NUL-terminated.
 * buf_take() hands the bytes over; buf_free() drops them.
 */
#ifndef PROVBOT_BUF_H
#define PROVBOT_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
    char *p;                    /* owned, NUL-terminated once allocated */
    size_t len;                 /* bytes held (without the NUL) */
    size_t cap;                 /* bytes allocated */
    size_t max;                 /* hard cap on len */
    bool failed;                /* an append failed: the content is incomplete */
};

void buf_init(struct buf *b, size_t max);

/* Appends n bytes. 0, or -1 (cap passed or out of memory: b is failed). */
int buf_add(struct buf *b, const void *s, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* JSON values appended: s as a JSON string, quoted and escaped as cJSON
 * does (NULL: null); d as a JSON number, as short as round-trips (integers
 * and thousandths without printf; NaN and infinities: null). 0 or -1. */
int buf_json_str(struct buf *b, const char *s);
int buf_json_num(struct buf *b, double d);

/* The content ("" when empty), borrowed until the next change. */
const char *buf_str(const struct buf *b);

/* Hands the content over (caller frees; "" allocated when empty) and
 * empties b. NULL when b failed (its content is freed) or out of memory. */
char *buf_take(struct buf *b);

/* Frees the content; b is empty (and not failed) again. */
void buf_free(struct buf *b);

#endif
