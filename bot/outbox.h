/* outbox.h -- delivers queued cases to the remote case backend.
 *
 * A worker thread with its own store handle and its own libcurl multi handle
 * picks up every case committed as "queued" (also those an earlier process
 * left), POSTs it to PROVBOT_CASE_URL with the header Idempotency-Key: <case
 * id> (bearer token PROVBOT_CASE_TOKEN when set, body mapped by the template
 * file PROVBOT_CASE_TEMPLATE when set), and records the outcome: filed with
 * the remote id; retried with exponential backoff and jitter on network
 * errors, timeouts and 5xx, after Retry-After on 429; failed on other 4xx.
 * It never touches the event loop: the person learns of a failure at their
 * next turn, from the store.
 *
 * PROVBOT_CASE_BACKEND=rt files into Request Tracker over REST2 instead
 * (PROVBOT_RT_URL, PROVBOT_RT_TOKEN sent as "Authorization: token ...",
 * PROVBOT_RT_QUEUE; see src/rt.h for the requests): each delivery checks the
 * queue and its custom fields, searches RT for a ticket already carrying the
 * case id (RT has no idempotency key: a create whose answer was lost is
 * adopted, never repeated) and creates the ticket only when there is none;
 * the ticket id becomes the case's remote_id. A wrong token, an unknown queue
 * or a missing custom field fails the case; no answer and 5xx retry. The
 * worker also reads back the status of filed cases' tickets, each at most
 * every PROVBOT_RT_STATUS_SECONDS (default 300), into the store.
 *
 * The same worker checkpoints the store's WAL every second (also with the
 * local backend), so that the event loop never waits for a checkpoint's
 * fsync: the engine is opened with no_checkpoint while a worker runs. And it
 * applies the retention policy (PROVBOT_RETENTION_DAYS, default 90; 0 keeps
 * everything) at start and hourly: see store_purge().
 */
#ifndef PROVBOT_OUTBOX_H
#define PROVBOT_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>

typedef struct outbox outbox;

/* True when PROVBOT_CASE_BACKEND names a remote backend (http, rt). */
bool outbox_configured(void);

/* Starts the worker on the store in data_dir: deliveries when a remote
 * backend is configured, WAL checkpoints always. NULL with err on failure. */
outbox *outbox_start(const char *data_dir, void *unused, char *err, size_t errlen);
/* Stops and joins the worker (an attempt in flight is abandoned and stays
 * queued). NULL is fine. */
void outbox_stop(outbox *ob);

/* Delivers in the calling thread until no case is queued (or
 * PROVBOT_OUTBOX_MAX_SECONDS, default 120, pass); with rt also reads back the
 * ticket statuses that are due. 0, or -1 with err. */
int outbox_drain(const char *data_dir, char *err, size_t errlen);

#endif
