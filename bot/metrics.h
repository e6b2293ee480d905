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
    uint64_t upload_shed_bytes; /* uploads refused: the in-flight memory cap */
    uint64_t upload_shed_rate;  /* uploads refused: the client's upload rate */
    uint64_t upload_shed_conns; /* uploads refused: the connection limit */
    uint64_t outq_shed;         /* chats closed: their frame queue was full (client not reading) */
    uint64_t chat_rate_shed;    /* messages refused: the chat's message rate (too_fast) */
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

/* A limit and how much of it is used now (use < 0: a rate, no gauge), with
 * how often it shed (refused or closed something). */
struct metrics_bound {
    const char *name;           /* the label value, e.g. "upload_bytes" */
    double use, limit;
    uint64_t shed;
};

/* The Prometheus text (open_conns: the gauge; bounds[0..n_bounds): the
 * provbot_bound_* families). Caller frees; NULL when out of memory. */
char *metrics_text(const struct metrics *m, int open_conns, const struct metrics_bound *bounds,
                   int n_bounds);

#endif
