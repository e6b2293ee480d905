/* log.c -- structured log lines on stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* 0 debug .. 3 error; atomic: the Webex and outbox threads log while the
 * main thread may set it */
static atomic_int log_threshold = 1;

static int log_rank(const char *level)
{
    if (!level) return 1;
    if (!strcmp(level, "debug")) return 0;
    if (!strcmp(level, "info")) return 1;
    if (!strcmp(level, "warn")) return 2;
    if (!strcmp(level, "error")) return 3;
    return 1;
}

void log_set_level(const char *level)
{
    atomic_store_explicit(&log_threshold, log_rank(level), memory_order_relaxed);
}

void log_event(const char *level, const char *event, const char *fmt, ...)
{
    if (log_rank(level) < atomic_load_explicit(&log_threshold, memory_order_relaxed)) return;

    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "ts=%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, ".%03ldZ level=%s event=%s",
                  ts.tv_nsec / 1000000, level, event);
    if (fmt && n < (int)sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
        if (m > 0) n += m;
    }
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

const char *log_quote(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen < 3) { if (outlen) out[0] = 0; return out; }
    out[o++] = '"';
    for (; in && *in && o + 5 < outlen; in++) {
        unsigned char ch = (unsigned char)*in;
        if (ch == '"' || ch == '\\') { out[o++] = '\\'; out[o++] = (char)ch; }
        else if (ch < 0x20 || ch == 0x7f) o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", ch);
        else out[o++] = (char)ch;
    }
    out[o++] = '"';
    out[o] = 0;
    return out;
}
