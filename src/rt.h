/* rt.h -- Request Tracker 5 REST2: the requests provbot makes and the
 * replies it reads, with no I/O.
 *
 * A case goes to RT in three steps, each one HTTP request the outbox worker
 * (bot/outbox.c) makes with the header "Authorization: token <token>":
 *
 *   1. GET  <base>/REST/2.0/queue/<queue>       the queue exists and has the
 *                                               four ticket custom fields
 *   2. GET  <base>/REST/2.0/tickets?query=...   is there a ticket already
 *                                               carrying the case id?
 *   3. POST <base>/REST/2.0/ticket              create it (only when not)
 *
 * RT has no idempotency key: step 2 before every create is what files a case
 * exactly once even when an earlier create timed out after RT took it. RT
 * ignores a custom field it does not know (it only logs it), so step 1 is
 * what turns a missing field into a plain error instead of a ticket without
 * the case id. A filed case's ticket status is read with
 *
 *   4. GET  <base>/REST/2.0/ticket/<id>
 *
 * Strings returned are malloc'd; the caller frees them. Functions taking a
 * reply body read len bytes (no terminating NUL needed).
 */
#ifndef PROVBOT_RT_H
#define PROVBOT_RT_H

#include "case.h"

#include <stddef.h>
#include <cJSON.h>

/* The ticket custom fields an RT admin creates and applies to the queue
 * (names fixed: the README tells how). */
#define RT_CF_CASE_TYPE "Case Type"
#define RT_CF_ORDER_REF "Order Reference"
#define RT_CF_NEW_EMAIL "New Provisioning Email"
#define RT_CF_CASE_ID   "Provbot Case"
#define RT_NFIELDS 4
extern const char *const rt_fields[RT_NFIELDS];

/* Which request a reply answers (the verdict depends on it). */
enum rt_step {
    RT_STEP_QUEUE,           /* GET queue/<name> */
    RT_STEP_SEARCH,          /* GET tickets?query= */
    RT_STEP_CREATE,          /* POST ticket */
    RT_STEP_STATUS,          /* GET ticket/<id> */
};

/* URLs under base, RT's web root ("https://rt.example.com/rt"; a trailing
 * "/" or "/REST/2.0" is accepted too). NULL when out of memory or when an
 * argument cannot be put in a URL (a case id other than [A-Za-z0-9-], a
 * ticket id other than digits, an empty queue name). */
char *rt_queue_url(const char *base, const char *queue);
char *rt_search_url(const char *base, const char *case_id);
char *rt_create_url(const char *base);
char *rt_ticket_url(const char *base, const char *ticket_id);

/* The TicketSQL that finds the tickets of a case, unencoded:
 * 'CF.{Provbot Case}' = 'PB-000001'. NULL as above. */
char *rt_search_sql(const char *case_id);

/* The ticket-create JSON: Queue, Subject, Requestor (when known), Content
 * (summary, the case's facts and the transcript, text/plain), the four
 * CustomFields, and Attachments converted from store_attach_json()'s
 * [{"name","mime","data"}] (attachments may be NULL). NULL if out of memory. */
char *rt_ticket_body(const struct case_rec *c, const char *queue, const cJSON *attachments);

/* Search reply: 1 with the lowest ticket id found into id (cap bytes),
 * 0 when no ticket carries the case id, -1 when unreadable. */
int rt_parse_search(const char *body, size_t len, char *id, size_t cap);
/* Create reply ({"id":"12","type":"ticket",...}): 0 with the id, -1. */
int rt_parse_created(const char *body, size_t len, char *id, size_t cap);
/* Ticket reply: 0 with its "Status" ("new", "open", ...) into status, -1. */
int rt_parse_status(const char *body, size_t len, char *status, size_t cap);
/* Queue reply: 0 when all rt_fields are among its TicketCustomFields, else
 * -1 with why (cap bytes) naming what is missing. */
int rt_check_queue(const char *body, size_t len, const char *queue, char *why, size_t cap);

/* What an RT answer to `step` means: CASE_DELIVERED for 2xx (the step
 * succeeded: go on), CASE_RETRY for no answer (http_status 0), 408, 429 and
 * 5xx, CASE_REJECTED for the rest, with why (cap bytes) saying plainly what
 * is wrong: the token (401), the queue or the token user's rights (403, 404
 * on the queue), or RT's own message. why is "" on success. */
enum case_verdict rt_judge(enum rt_step step, long http_status, const char *body, size_t len,
                           const char *queue, char *why, size_t cap);

#endif
