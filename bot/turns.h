/* turns.h -- the turn pipeline: the one owner of batching and group commit.
 *
 * Every channel (the web chat, Webex, any later one) hands its messages to
 * turns_submit() and gets each reply back through its callback only after
 * the store commit that makes the turn durable has succeeded. The turns of
 * one event-loop iteration share one store transaction (engine_batch_*):
 * the first submit opens it and asks the loop, through the `schedule` hook,
 * to call turns_flush() once the iteration's input is handled. When that
 * commit fails, exactly the turns of that batch fail: each callback is told
 * so (ok false) and the channel sends an error instead of the reply. Nothing
 * else in the program calls engine_batch_begin/commit; the operations that
 * must be durable on their own (an attachment, an event id marked handled)
 * go through turns_attach() / turns_mark_handled(), which close the open
 * batch first (delivering its outcomes) and then run alone.
 *
 * The loop never waits long for the store's write lock (held a moment by
 * the outbox thread's purge chunks and checkpoints): serve gives the
 * engine's store a busy timeout of a few ms (TURNS_BUSY_MS). When a batch
 * cannot be opened within it, the turn waits in a FIFO (as do the turns
 * submitted after it, so each conversation keeps its order) and
 * turns_tick(), which the loop calls TURNS_RETRY_US later, tries again; a
 * turn that waited TURNS_GIVEUP_MS fails (ok false). Its reply still leaves
 * only after its commit. The synchronous calls (turns_flush, turns_attach,
 * turns_pending_*, ...) run the waiting turns first with the store's long
 * busy timeout, so they keep their "done when it returns" contract.
 *
 * A pipeline made by turns_start() runs the turns on a thread of its own
 * (the worker), so that the loop reads, frames and sends while the engine
 * thinks and the store commits: the worker takes every turn submitted since
 * its last batch as the next batch, runs and commits it, and wakes the loop
 * (the `wake` hook, e.g. lws_cancel_service), which calls turns_deliver()
 * to tell the outcomes, in submission order, on the loop thread. A busy
 * store keeps only the worker waiting (up to TURNS_GIVEUP_MS). The
 * synchronous calls first wait for the worker to finish what was submitted
 * (turns_flush), then use the engine on the loop thread while the worker
 * waits for work: one thread uses the engine at a time.
 *
 * Threads: every function is for the loop thread (the worker is internal).
 * Ownership: turns borrows the engine until turns_close(); callbacks get the
 * reply borrowed for the call.
 */
#ifndef PROVBOT_TURNS_H
#define PROVBOT_TURNS_H

#include "engine.h"

#include <cJSON.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct turns turns;

/* One message from a channel. Strings are borrowed for the call. */
struct turns_msg {
    const char *session;    /* the conversation */
    const char *user;       /* the person's email, or NULL */
    const char *text;       /* the message */
    const char *reply_to;   /* the client's message id, or NULL */
    const char *channel;    /* recorded with the conversation ("webex"), NULL: the engine's */
    const char *settle_key; /* a pending event (store_pending_begin) settled in the turn's own
                               commit: its reply kept, the event marked handled; or NULL */
};

/* What became of one submitted turn. */
struct turns_outcome {
    bool ok;                             /* the reply is durable: send it */
    const struct engine_result *res;     /* ok: the turn's result, borrowed for the call */
    const char *err;                     /* !ok: why, for the log (never for the person) */
    const char *reply_to;                /* the message's reply_to, or NULL */
};

/* Called once per submitted turn, on the loop thread, with the owner and
 * arg given to turns_submit(). */
typedef void turns_done_fn(void *owner, void *arg, const struct turns_outcome *o);

#define TURNS_BUSY_MS 5           /* the loop's busy timeout on the store */
#define TURNS_RETRY_US 2000       /* a busy batch is tried again this much later */
#define TURNS_GIVEUP_MS 2000      /* a turn kept waiting this long fails */

/* The batch calls turns makes; tests substitute them (NULL: the engine's;
 * now_ms NULL: store_now_ms). batch_begin returns STORE_BUSY when busy. */
struct turns_ops {
    int (*batch_begin)(engine *e, char *err, size_t errlen);
    int (*batch_commit)(engine *e, char *err, size_t errlen);
    int64_t (*now_ms)(void);
};

/* A pipeline over eng. schedule(arg, delay_us) must make the loop call
 * turns_tick() delay_us from now (0: after the current input; e.g. an lws
 * timer, rescheduled by each call). ops may be NULL. NULL when out of memory. */
turns *turns_open(engine *eng, const struct turns_ops *ops,
                  void (*schedule)(void *arg, int64_t delay_us), void *schedule_arg);

/* A pipeline over eng whose turns run on a worker thread (see above).
 * wake(wake_arg) is called from the worker, with its lock held (so it must
 * not call back into turns), when outcomes wait: it must make the loop call
 * turns_deliver() soon. NULL when out of memory or no thread. */
turns *turns_start(engine *eng, const struct turns_ops *ops, void (*wake)(void *arg), void *wake_arg);

/* Tells the outcomes the worker has ready (a turns_start() pipeline; else
 * nothing). */
void turns_deliver(turns *t);

/* Flushes, and the worker no longer calls wake: before the loop that wake
 * reaches goes away. Outcomes are then told by turns_flush/turns_close. */
void turns_quiet(turns *t);

/* Flushes (turns_flush), ends the worker if any, and frees. NULL is fine. */
void turns_close(turns *t);

/* Runs one turn. done(owner, arg, outcome) is called exactly once: at once
 * when the turn fails or runs alone (no batch could be opened), else from
 * turns_flush() after the commit (threaded: from turns_deliver/turns_flush,
 * never from within turns_submit). Returns 0, or -1 (out of memory; done was
 * called with ok false). */
int turns_submit(turns *t, const struct turns_msg *m, turns_done_fn *done, void *owner, void *arg);

/* Commits the open batch (if any) and calls the callbacks of its turns, in
 * submission order: ok when the commit succeeded, else not. Turns waiting
 * for a busy store run first, waiting for the lock as long as the store's
 * default busy timeout allows (STORE_BUSY_MS): nothing waits afterwards. */
void turns_flush(turns *t);

/* The loop's timer: commits the open batch as turns_flush does, and tries
 * the waiting turns without waiting for the lock longer than TURNS_BUSY_MS
 * (still busy: scheduled again; waited TURNS_GIVEUP_MS: failed). */
void turns_tick(turns *t);

/* Turns waiting for the store now (for /metrics). */
int turns_waiting(const turns *t);

/* The owner (e.g. a chat whose socket closed) goes away: its pending turns'
 * callbacks will not be called. The turns stay in the batch. */
void turns_cancel(turns *t, const void *owner);

/* A channel's pending work (store.h store_pending_*), durable when they
 * return: the open batch is flushed first. list: caller cJSON_Deletes. */
int turns_pending_begin(turns *t, const char *key, const char *data);
int turns_pending_update(turns *t, const char *key, const char *data);
int turns_pending_done(turns *t, const char *key, bool handled);
cJSON *turns_pending_list(turns *t, const char *prefix);

/* The conversation's stored state (JSON), or NULL (none, or an error).
 * Caller frees. */
char *turns_conv_state(turns *t, const char *session);

/* engine_attach / engine_mark_handled, durable when they return: the open
 * batch is flushed first, then the operation commits alone. */
int turns_attach(turns *t, const char *session, const char *name,
                 const void *data, size_t len, char *err, size_t errlen);
int turns_mark_handled(turns *t, const char *event_id);

/* engine_attach_check / engine_form_pending on the state after the turns
 * submitted so far (flushed first). */
int turns_attach_check(turns *t, const char *session, const void *data, size_t len,
                       const char **mime, char *err, size_t errlen);
int turns_form_pending(turns *t, const char *session);

/* The engine, borrowed, for what never changes while serving (its texts,
 * what it expects); everything that reads the store goes through turns. */
engine *turns_engine(turns *t);

#endif
