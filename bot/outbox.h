/* outbox.h -- delivers queued cases to the remote case backend.
 *
 * A worker thread with its own store handle and its own libcurl multi handle
 * picks up every case committed as "queued" (also those an earlier process
 * left) and delivers it through the backend PROVBOT_CASE_BACKEND names
 * (backend.h: http POSTs the case with an Idempotency-Key, rt files an RT
 * ticket; local delivers nothing), then records the outcome: filed with the
 * remote id; retried with exponential backoff and jitter on network errors,
 * timeouts and 5xx, after Retry-After on 429; failed on what the backend
 * judges final. A backend with a status step also has the status of filed
 * cases read back into the store. It never touches the event loop: the
 * person learns of a failure at their next turn, from the store.
 *
 * Common variables: PROVBOT_CASE_TIMEOUT_MS (default 10000),
 * PROVBOT_OUTBOX_BACKOFF_MS (the first retry's delay, default 1000).
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
