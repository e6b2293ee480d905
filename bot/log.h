/* log.h -- provbot's one logger: structured lines on stderr.
 *
 * Every part of the program (the serve loop, the channels, the outbox
 * worker) logs through log_event(), one line an event:
 *   ts=2026-11-24T07:00:00.000Z level=LEVEL event=EVENT k=v ...
 * A line is cut at 1 KiB and written with one write(2), so threads may log
 * concurrently. Message texts, tokens and full session ids are never logged
 * (the callers' rule; log_quote() makes any value safe to put in a line).
 */
#ifndef PROVBOT_LOG_H
#define PROVBOT_LOG_H

#include <stddef.h>

/* Sets the threshold from a level name (debug|info|warn|error); NULL or an
 * unknown name: info. Call once at start, before any thread logs. */
void log_set_level(const char *level);

/* Writes one line. level is "debug", "info", "warn" or "error"; fmt
 * (printf-style, may be NULL) adds key=value pairs. Lines below the
 * threshold are dropped. */
void log_event(const char *level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes `in` (may be NULL) as a double-quoted log value into out: quotes,
 * backslashes and control bytes escaped, cut to fit outlen. Returns out. */
const char *log_quote(const char *in, char *out, size_t outlen);

#endif
