/* attach.h -- screenshot writes off the event loop.
 *
 * An upload of up to 5 MiB is thousands of WAL pages: written on the loop
 * it would hold every chat for tens of ms. The loop checks the upload
 * (engine_attach_check), then hands it here: one worker thread with its own
 * store handle writes it (checking the per-case count again inside its
 * transaction) and reports back by id through a locked queue and
 * lws_cancel_service(); the loop answers the HTTP request then, so the
 * upload is still acknowledged only once it is durable.
 *
 * Bounded: at most ATTACH_QUEUE_MAX jobs waiting or being written (beyond:
 * attach_submit refuses, the caller sheds with a log line and a metric);
 * their bytes are the uploads' own, already counted by serve's in-flight cap.
 *
 * Threads: attach_submit / attach_take / attach_stop from the loop thread
 * only; the worker touches only the queues and its store handle. The web
 * chat's uploads and a channel's files (Webex) share it.
 */
#ifndef PROVBOT_ATTACH_H
#define PROVBOT_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ATTACH_QUEUE_MAX 8

typedef struct attachq attachq;

/* One write to do, then its outcome. */
struct attach_job {
    struct attach_job *next;    /* private: the queue */
    uint64_t id;                /* the caller's id for the answer */
    char session[65];
    char name[101];
    const char *mime;           /* static ("image/png" / "image/jpeg") */
    unsigned char *data;        /* owned by the job (freed with it) */
    size_t len;
    size_t held;                /* the caller's accounting: bytes reserved for it */
    size_t cap;                 /* ... and allocated */
    int rc;                     /* outcome: 0 written, -1 not */
    char err[256];              /* !rc: why, for the person */
    /* A channel's own job (not an HTTP upload): the loop calls done(arg, j)
     * with the outcome when it takes it, or done(arg, NULL) when the job is
     * dropped at attach_stop (free what arg holds); NULL for HTTP uploads. */
    void (*done)(void *arg, const struct attach_job *j);
    void *arg;
};

/* Starts the worker on the store in data_dir; wake(ctx) is called (from the
 * worker) when an outcome is ready. NULL with err on failure. */
attachq *attach_start(const char *data_dir, void (*wake)(void *), void *ctx,
                      char *err, size_t errlen);
/* Queues j (taken on success). 0, or -1 when ATTACH_QUEUE_MAX are in flight. */
int attach_submit(attachq *q, struct attach_job *j);
/* The next finished job, or NULL; caller attach_job_free()s it. */
struct attach_job *attach_take(attachq *q);
/* Jobs queued or being written, not yet taken (for /metrics). */
int attach_inflight(attachq *q);
void attach_job_free(struct attach_job *j);
/* Stops and joins the worker after the queued writes; the outcomes not yet
 * taken are dropped. NULL is fine. */
void attach_stop(attachq *q);

#endif
