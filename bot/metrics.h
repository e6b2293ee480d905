/* metrics.h -- the serve loop's counters and their Prometheus text.
 *
 * Counters since start, touched only on the loop thread. Labelled counters
 * hold at most a fixed number of label values; past it the last row counts
 * the rest as "other".
 */
#ifndef PROVBOT_METRICS_H
#define PROVBOT_METRICS_H

#include "engine.h"

#include <stdint.h>

#define METRICS_N_LAT 13        /* latency buckets, 0.1 ms .. 1 s */
#define METRICS_MAX_LABELS 48

struct metrics_counter {
    char name[40];              /* label value */
    uint64_t n;
};

struct metrics {
    uint64_t messages;          /* message frames handed to the engine */
    uint64_t fallbacks;         /* replies where the bot did not understand */
    uint64_t conns_total;       /* chats ever opened */
    uint64_t refused;           /* upgrades refused: max connections or shutting down */
    uint64_t origin_rejected;   /* upgrades refused by the Origin check */
    uint64_t uploads;           /* screenshots accepted */
    struct metrics_counter replies[METRICS_MAX_LABELS];  /* replies by intent */
    int n_replies;
    struct metrics_counter cases[8];    /* cases by status */
    int n_cases;
    struct metrics_counter errors[8];   /* error frames by code */
    int n_errors;
    uint64_t lat[METRICS_N_LAT + 1];    /* histogram, not cumulative; last: above 1 s */
    uint64_t lat_count;
    double lat_sum;
};

/* One reply sent: its intent, fallback, case status and latency (seconds). */
void metrics_turn(struct metrics *m, const struct engine_result *r, double secs);

/* One error frame sent, by code. */
void metrics_error(struct metrics *m, const char *code);

/* A channel's own counter (name and help: static strings), added to the
 * Prometheus text; at most METRICS_EXTRA_MAX of them. Loop thread only. */
#define METRICS_EXTRA_MAX 8
void metrics_extra_add(const char *name, const char *help, uint64_t delta);

/* The Prometheus text (open_conns: the gauge). Caller frees; NULL when out
 * of memory. */
char *metrics_text(const struct metrics *m, int open_conns);

#endif
