/* buf.c -- a growable buffer with a hard cap (see buf.h). */
#include "buf.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

/* grow() when the room is not there yet. */
static int grow_slow(struct buf *b, size_t n)
{
    if (b->failed)
        return -1;
    if (n > b->max - b->len) {
        b->failed = true;
        return -1;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Room for n more bytes and the NUL (cap <= max + 1 always, so room in cap
 * is room under the cap). */
static inline int grow(struct buf *b, size_t n)
{
    return !b->failed && n < b->cap - b->len ? 0 : grow_slow(b, n);
}

int buf_add(struct buf *b, const void *s, size_t n)
{
    if (grow(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int buf_adds(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || grow(b, (size_t)n) < 0) {
        b->failed = true;
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

/* buf_json_str() from s on, after the opening quote, escaping. */
static int json_str_tail(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 32 && c != '"' && c != '\\')
            continue;
        buf_add(b, run, (size_t)(s - run));   /* the bytes that need no escape */
        if (!c)
            break;
        char e[6] = { '\\', (char)c };
        size_t n = 2;
        switch (c) {
        case '"': case '\\': break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            memcpy(e + 1, "u00", 3);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            n = 6;
        }
        buf_add(b, e, n);
        run = s + 1;
    }
    return buf_add(b, "\"", 1);
}

/* How many bytes of s[0..n) come before the first that JSON escapes (a
 * control byte, '"' or a backslash): eight at a time, with the bit tests
 * for "a byte under 32" and "a byte equal to c" on a 64-bit word. */
static size_t plain_prefix(const char *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v, q, bs;
        memcpy(&v, s + i, 8);
        q = v ^ (ones * '"');
        bs = v ^ (ones * '\\');
        if (((v - ones * 32) | (q - ones) | (bs - ones)) & ~v & high)
            break;   /* one of these eight: found below */
    }
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 32 || c == '"' || c == '\\')
            break;
        i++;
    }
    return i;
}

/* Room for the string and its quotes at once, the bytes copied while none
 * needs an escape (most strings: names, values, replies). */
int buf_json_str(struct buf *b, const char *s)
{
    if (!s)
        return buf_add(b, "null", 4);
    size_t n = strlen(s), i = plain_prefix(s, n);
    if (grow(b, n + 2) < 0)
        return -1;
    b->p[b->len] = '"';
    memcpy(b->p + b->len + 1, s, i);
    b->len += 1 + i;
    if (i < n) {
        b->p[b->len] = '\0';
        return json_str_tail(b, s + i);
    }
    b->p[b->len++] = '"';
    b->p[b->len] = '\0';
    return 0;
}

/* The decimal digits of v (< 10^19) into the end of out; returns their start. */
static char *digits(uint64_t v, char *end)
{
    do
        *--end = (char)('0' + v % 10);
    while (v /= 10);
    return end;
}

int buf_json_num(struct buf *b, double d)
{
    char tmp[40], *const stop = tmp + sizeof tmp, *end = stop, *p;
    if (isnan(d) || isinf(d))
        return buf_add(b, "null", 4);
    double a = fabs(d);
    if (a < 1e15 && a == (double)(uint64_t)a) {   /* an integer %1.15g writes in full */
        p = digits((uint64_t)a, end);
    } else if (a < 1e12 && (double)(uint64_t)(a * 1000 + 0.5) / 1000 == a) { /* thousandths */
        uint64_t k = (uint64_t)(a * 1000 + 0.5);
        int frac = (int)(k % 1000), keep = frac % 10 ? 3 : frac % 100 ? 2 : 1;
        char f[3] = { (char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
                      (char)('0' + frac % 10) };
        end -= keep;
        memcpy(end, f, (size_t)keep);
        *--end = '.';
        p = digits(k / 1000, end);
    } else {                       /* anything else: cJSON's way (15 digits if exact) */
        int n = snprintf(tmp, sizeof tmp, "%1.15g", d);
        double back = strtod(tmp, NULL), big = fabs(back) > a ? fabs(back) : a;
        if (fabs(back - d) > big * DBL_EPSILON)   /* cJSON's compare_double */
            n = snprintf(tmp, sizeof tmp, "%1.17g", d);
        return buf_add(b, tmp, (size_t)n);
    }
    if (signbit(d))
        *--p = '-';                /* -0 too, as cJSON writes it */
    return buf_add(b, p, (size_t)(stop - p));
}

const char *buf_str(const struct buf *b)
{
    return b->p ? b->p : "";
}

char *buf_take(struct buf *b)
{
    char *p = b->failed ? NULL : b->p ? b->p : strdup("");
    if (b->failed)
        free(b->p);
    size_t max = b->max;
    buf_init(b, max);
    return p;
}

void buf_free(struct buf *b)
{
    free(b->p);
    buf_init(b, b->max);
}
