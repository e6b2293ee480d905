/* case.h -- support cases: the record, its JSON, and the outbox's rules.
 *
 * A case is what the bot files for a person the article could not help: its
 * type (a case type's name from intents/cases.json), an order reference, the
 * new contact email, who asks, a summary of what was tried. This module has no I/O: it
 * turns a record into the contract's JSON or a backend's request body, reads
 * a case server's reply, and says when and whether to try again.
 */
#ifndef PROVBOT_CASE_H
#define PROVBOT_CASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cJSON.h>

#define CASE_ID_MAX 24
#define CASE_TYPE_MAX 128

enum case_status { CASE_QUEUED, CASE_FILED, CASE_FAILED };

struct case_rec {
    char id[CASE_ID_MAX];        /* "PB-000123" */
    char session[80];            /* the conversation that opened it */
    enum case_status status;
    char type[CASE_TYPE_MAX];    /* the case type's name (cases.json "name") */
    char order_ref[64];
    char new_email[256];
    char requester[256];         /* "" when unknown (JSON null) */
    char lang[3];
    char *summary;               /* owned; what fails and what was tried */
    char *transcript;            /* owned, may be NULL; recent turns */
    char created_at[32];         /* RFC 3339, UTC */
    char remote_id[128];         /* "" until the backend names it */
    int attempts;                /* deliveries tried */
    int64_t next_attempt_ms;     /* not before (epoch ms) */
    char last_error[200];        /* "" or why the last try failed */
    int nattach;                 /* attachments stored with it */
    char remote_status[32];      /* "" or the remote ticket's status as last read */
};

const char *case_status_name(enum case_status s);
int case_status_parse(const char *s, enum case_status *out);

/* Frees the owned strings of c (not c itself). */
void case_rec_clear(struct case_rec *c);

/* The contract's case object (plus "remote_status" when one was read).
 * Caller cJSON_Delete()s. NULL if out of memory. */
cJSON *case_to_json(const struct case_rec *c);

/* What a delivery attempt's outcome means for the case. */
enum case_verdict {
    CASE_DELIVERED,      /* 2xx: filed (remote id read when given) */
    CASE_RETRY,          /* network error, timeout, 5xx, 429: try again later */
    CASE_REJECTED,       /* other 4xx: failed for good */
};

/* Judges an HTTP outcome. http_status 0 means no answer (network error).
 * retry_after_s >= 0 is a 429/503 Retry-After in seconds. On DELIVERED,
 * remote_id (cap bytes) gets the "id" (or "remote_id", "case_id", "number")
 * of a JSON body, "" when none. */
enum case_verdict case_judge(long http_status, const char *body, size_t len,
                             char *remote_id, size_t cap);

/* Delay before attempt number `attempts` (1 = first retry), in ms:
 * exponential from 1 s, capped at 5 min, with +-20 % jitter from `rnd`
 * (any 32 random bits). A Retry-After (seconds, >= 0) takes precedence. */
int64_t case_backoff_ms(int attempts, long retry_after_s, uint32_t rnd);

/* The JSON body for the http backend. template_json (may be NULL) maps
 * output field names to case fields: {"subject":"{type} {order_ref}", ...};
 * NULL: the contract's case object. Placeholders: {id} {type} {order_ref}
 * {new_email} {requester} {lang} {summary} {created_at} {transcript}.
 * attachments (may be NULL) is added as "attachments". Caller frees. */
char *case_http_body(const struct case_rec *c, const cJSON *template_json,
                     const cJSON *attachments);

#endif
