/* backend.h -- case backends behind one ops table: local, http, rt.
 *
 * The outbox (outbox.c) delivers queued cases without knowing any backend:
 * it asks the backend to prepare each request of a delivery (a "step": http
 * has one, rt three), performs it with libcurl, hands the answer back to be
 * judged, and records the verdict in the store (filed, failed, retried with
 * backoff), or prepares the next step. A backend that reads the remote
 * status of filed cases also has a status step. The names of the backends
 * are in this file's table only (backend.c), and so are the variables each
 * reads (configure): PROVBOT_CASE_URL / _TOKEN / _TEMPLATE for http,
 * PROVBOT_RT_URL / _TOKEN / _QUEUE / _STATUS_SECONDS for rt.
 *
 * Threads: a backend's state is used by the outbox worker thread only.
 */
#ifndef PROVBOT_BACKEND_H
#define PROVBOT_BACKEND_H

#include "case.h"

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define BACKEND_HEADERS 3

/* One request a step makes; prepare() fills it. */
struct backend_request {
    char *url;                              /* owned (free()) */
    bool post;                              /* a POST of body() (else a GET) */
    char headers[BACKEND_HEADERS][1200];    /* extra header lines, "" unused; never logged */
};

/* The answer to it. */
struct backend_answer {
    long status;                /* HTTP status, 0: no answer */
    const char *body;           /* borrowed */
    size_t len;
    bool too_big;               /* the answer passed the cap and was cut off */
    const char *error;          /* status 0: the transport's error text */
};

enum backend_verdict {
    BACKEND_FILED,              /* remote_id names the remote case */
    BACKEND_REJECTED,           /* failed for good: why */
    BACKEND_RETRY,              /* try again later: why */
    BACKEND_NEXT,               /* prepare the next step (*step was advanced) */
    BACKEND_STATUS,             /* a status read ended: remote_status ("" unread: why) */
};

struct backend_result {
    enum backend_verdict v;
    char remote_id[128];        /* FILED */
    char how[80];               /* FILED: a note for the log, or "" */
    char why[240];              /* REJECTED, RETRY, STATUS unread */
    bool retry_after;           /* RETRY: honour the answer's Retry-After */
    char remote_status[32];     /* STATUS */
};

struct backend_ops {
    const char *name;           /* the PROVBOT_CASE_BACKEND value */
    bool delivers;              /* cases start queued and the outbox delivers them */
    int first_step;             /* a delivery's first step */
    int status_step;            /* the status read's step, -1: none */
    /* Reads the backend's variables; its state, or NULL with err. */
    void *(*configure)(char *err, size_t errlen);
    void (*release)(void *st);
    /* The request of `step` for case `id` (ticket: the remote id, for a
     * status read). 0, or -1 (out of memory, or a ticket id it cannot use). */
    int (*prepare)(void *st, int step, const char *id, const char *ticket,
                   struct backend_request *out);
    /* The POST body for case c (attachments may be NULL). Caller frees. */
    char *(*body)(void *st, const struct case_rec *c, const cJSON *attachments);
    /* Judges the answer to `*step`; on BACKEND_NEXT *step is the next one. */
    void (*judge)(void *st, int *step, const struct backend_answer *a,
                  struct backend_result *res);
    /* With a status step: how often a filed case's status is read, in ms. */
    long long (*status_every_ms)(void *st);
};

/* The backend named `name` (NULL or "": local); NULL when there is none. */
const struct backend_ops *backend_find(const char *name);

/* "local, http or rt", for messages. */
extern const char backend_names[];

extern const struct backend_ops backend_http, backend_rt;

#endif
