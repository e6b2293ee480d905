/* turns.c -- the turn pipeline (see turns.h).
 *
 * The pending turns of the open batch are a FIFO of `struct pending`, each
 * holding its engine result until the commit decides its fate. Invariant:
 * the list is non-empty only while the engine is in a batch that turns
 * opened (t->open). Turns that found the store busy wait, not yet run, in a
 * second FIFO of the same records (whead): non-empty only while no batch
 * is open, and every new turn joins it at the end.
 */
#include "turns.h"

#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

struct pending {
    struct pending *next;
    struct turns_msg m;         /* the message, every string an owned copy (or NULL) */
    int64_t since_ms;           /* when it was submitted (waiting: the give-up clock) */
    struct engine_result res;   /* owned; res.json is the reply */
    turns_done_fn *done;
    void *owner;                /* NULL once cancelled */
    void *arg;
    bool ok;                    /* threaded: the outcome, set by the worker */
    char err[256];              /* threaded: why not ok */
};

/* The worker of a threaded pipeline (turns_start). mu guards the three
 * FIFOs and the flags; the worker owns the engine while it holds a batch
 * (busy non-NULL) and touches nothing else of a record but m, res, ok, err;
 * the owner fields are the loop's (turns_cancel, turns_deliver). */
struct worker {
    pthread_t thr;
    pthread_mutex_t mu;
    pthread_cond_t work;        /* the worker: something submitted, or stop */
    pthread_cond_t idle;        /* turns_flush: nothing submitted and no batch running */
    struct pending *ihead, *itail; /* submitted, not yet taken by the worker */
    struct pending *busy;       /* the batch running now (the worker's) */
    struct pending *ohead, *otail; /* done, to be told on the loop */
    int nin;                    /* submitted, not yet taken */
    bool stop;
    bool woken;                 /* a wake is on its way: the loop will deliver */
    void (*wake)(void *arg);    /* any thread: makes the loop call turns_deliver() */
    void *wake_arg;
};

struct turns {
    engine *eng;                /* borrowed */
    struct turns_ops ops;       /* the batch calls */
    void (*schedule)(void *, int64_t); /* asks the loop for a turns_tick() */
    void *schedule_arg;
    bool open;                  /* a batch is open */
    struct pending *head, *tail; /* turns of the open batch, oldest first */
    struct pending *whead, *wtail; /* turns waiting for a busy store, oldest first;
                                    non-empty only while no batch is open */
    int nwait;                  /* their number */
    struct worker *w;           /* threaded (turns_start), else NULL */
};

turns *turns_open(engine *eng, const struct turns_ops *ops,
                  void (*schedule)(void *arg, int64_t delay_us), void *schedule_arg)
{
    turns *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->eng = eng;
    t->ops.batch_begin = ops && ops->batch_begin ? ops->batch_begin : engine_batch_begin;
    t->ops.batch_commit = ops && ops->batch_commit ? ops->batch_commit : engine_batch_commit;
    t->ops.now_ms = ops && ops->now_ms ? ops->now_ms : store_now_ms;
    t->schedule = schedule;
    t->schedule_arg = schedule_arg;
    return t;
}

static void worker_stop(turns *t);

void turns_close(turns *t)
{
    if (!t)
        return;
    turns_flush(t);
    worker_stop(t);
    free(t);
}

engine *turns_engine(turns *t) { return t->eng; }

int turns_waiting(const turns *t)
{
    if (!t->w)
        return t->nwait;
    pthread_mutex_lock(&t->w->mu);
    int n = t->w->nin;
    pthread_mutex_unlock(&t->w->mu);
    return n;
}

static void tell(turns_done_fn *done, void *owner, void *arg, bool ok,
                 const struct engine_result *res, const char *err, const char *reply_to)
{
    struct turns_outcome o = { .ok = ok, .res = ok ? res : NULL, .err = err, .reply_to = reply_to };
    if (done && owner)
        done(owner, arg, &o);
}

static void pending_free(struct pending *p)
{
    engine_result_free(&p->res);
    free((char *)p->m.session);
    free((char *)p->m.user);
    free((char *)p->m.text);
    free((char *)p->m.reply_to);
    free((char *)p->m.channel);
    free((char *)p->m.settle_key);
    free(p);
}

/* A copy of *in into *out; false when out of memory. */
static bool dup_str(const char **out, const char *in)
{
    *out = in ? strdup(in) : NULL;
    return !in || *out;
}

/* The turn m as a pending record (owning copies); NULL when out of memory. */
static struct pending *pending_new(turns *t, const struct turns_msg *m, turns_done_fn *done,
                                   void *owner, void *arg)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (!dup_str(&p->m.session, m->session) || !dup_str(&p->m.user, m->user) ||
        !dup_str(&p->m.text, m->text) || !dup_str(&p->m.reply_to, m->reply_to) ||
        !dup_str(&p->m.channel, m->channel) || !dup_str(&p->m.settle_key, m->settle_key)) {
        pending_free(p);
        return NULL;
    }
    p->since_ms = t->ops.now_ms();
    p->done = done;
    p->owner = owner;
    p->arg = arg;
    return p;
}

/* Opens a batch for the turns to come: 1, 0 when none could be (the turn
 * then commits alone), STORE_BUSY when the store is busy (try later). */
static int batch_open(turns *t)
{
    char err[256] = "";
    if (t->open)
        return 1;
    int rc = t->ops.batch_begin(t->eng, err, sizeof err);
    if (rc < 0)
        return rc == STORE_BUSY ? STORE_BUSY : 0;
    t->open = true;
    if (t->schedule)
        t->schedule(t->schedule_arg, 0);
    return 1;
}

/* Runs p's turn in the engine, and settles its pending event in the same
 * transaction. 0, or -1 with err set (p->res may hold nothing). */
static int turn_exec(turns *t, struct pending *p, char *err, size_t errlen)
{
    const struct turns_msg *m = &p->m;
    engine_set_channel(t->eng, m->channel);
    int rc = engine_turn(t->eng, m->session, m->user, m->text, m->reply_to, &p->res, err, errlen);
    engine_set_channel(t->eng, NULL);
    if (rc < 0 || !p->res.json) {
        if (!err[0]) snprintf(err, errlen, "turn failed");
        return -1;
    }
    /* in the turn's own transaction: a store that fails here fails its commit too */
    if (m->settle_key)
        (void)store_pending_settle(engine_store(t->eng), m->settle_key, p->res.json);
    return 0;
}

/* Runs p's turn: into the open batch (batched; p then waits there for the
 * commit), else committed alone and answered at once. Takes p. */
static void run_turn(turns *t, struct pending *p, bool batched)
{
    char err[256] = "";
    if (turn_exec(t, p, err, sizeof err) < 0) {
        tell(p->done, p->owner, p->arg, false, NULL, err, p->m.reply_to);
        pending_free(p);
        return;
    }
    if (!batched) {                      /* committed alone: durable now */
        tell(p->done, p->owner, p->arg, true, &p->res, NULL, p->m.reply_to);
        pending_free(p);
        return;
    }
    if (t->tail) t->tail->next = p; else t->head = p;
    t->tail = p;
}

static void wait_push(turns *t, struct pending *p)
{
    if (t->wtail) t->wtail->next = p; else t->whead = p;
    t->wtail = p;
    t->nwait++;
}

static void worker_submit(turns *t, struct pending *p);

int turns_submit(turns *t, const struct turns_msg *m, turns_done_fn *done, void *owner, void *arg)
{
    struct pending *p = pending_new(t, m, done, owner, arg);
    if (!p) {
        tell(done, owner, arg, false, NULL, "out of memory", m->reply_to);
        return -1;
    }
    if (t->w) {
        worker_submit(t, p);
        return 0;
    }
    if (t->whead) {                      /* behind the turns already waiting */
        wait_push(t, p);
        return 0;
    }
    int b = batch_open(t);
    if (b == STORE_BUSY) {
        wait_push(t, p);
        if (t->schedule)
            t->schedule(t->schedule_arg, TURNS_RETRY_US);
        return 0;
    }
    run_turn(t, p, b == 1);
    return 0;
}

/* Fails the waiting turns that waited TURNS_GIVEUP_MS (all: every one). */
static void waiting_expire(turns *t, bool all)
{
    int64_t now = t->ops.now_ms();
    while (t->whead && (all || now - t->whead->since_ms >= TURNS_GIVEUP_MS)) {
        struct pending *p = t->whead;
        if (!(t->whead = p->next))
            t->wtail = NULL;
        t->nwait--;
        tell(p->done, p->owner, p->arg, false, NULL, "the store stayed busy", p->m.reply_to);
        pending_free(p);
    }
}

/* Runs the waiting turns once a batch opens. patient: waiting for the lock
 * as long as the store's default allows, and failing them all if even that
 * is not enough; else TURNS_BUSY_MS, and another try scheduled. */
static void waiting_run(turns *t, bool patient)
{
    if (!t->whead)
        return;
    store *st = engine_store(t->eng);
    int old = patient && st ? store_busy_timeout(st, STORE_BUSY_MS) : 0;
    int b = batch_open(t);
    if (patient && st)
        store_busy_timeout(st, old);
    if (b == STORE_BUSY) {
        waiting_expire(t, patient);
        if (t->whead && t->schedule)
            t->schedule(t->schedule_arg, TURNS_RETRY_US);
        return;
    }
    struct pending *p = t->whead;
    t->whead = t->wtail = NULL;
    t->nwait = 0;
    while (p) {
        struct pending *next = p->next;
        p->next = NULL;
        run_turn(t, p, b == 1);
        p = next;
    }
}

/* Commits the open batch and answers its turns. */
static void batch_commit(turns *t)
{
    char err[256] = "";
    if (!t->open)
        return;
    t->open = false;
    bool ok = t->ops.batch_commit(t->eng, err, sizeof err) == 0;
    struct pending *p = t->head;
    t->head = t->tail = NULL;
    while (p) {
        struct pending *next = p->next;
        tell(p->done, p->owner, p->arg, ok, &p->res, ok ? NULL : (err[0] ? err : "commit failed"),
             p->m.reply_to);
        pending_free(p);
        p = next;
    }
}

static void worker_drain(turns *t);

void turns_flush(turns *t)
{
    if (t->w) {
        worker_drain(t);
        turns_deliver(t);
        return;
    }
    waiting_run(t, true);
    batch_commit(t);
}

void turns_tick(turns *t)
{
    if (t->w) {
        turns_deliver(t);
        return;
    }
    waiting_run(t, false);
    batch_commit(t);
}

static void cancel_in(struct pending *p, const void *owner)
{
    for (; p; p = p->next)
        if (p->owner == owner)
            p->owner = NULL;
}

void turns_cancel(turns *t, const void *owner)
{
    cancel_in(t->head, owner);
    cancel_in(t->whead, owner);
    if (!t->w)
        return;
    pthread_mutex_lock(&t->w->mu);
    cancel_in(t->w->ihead, owner);
    cancel_in(t->w->busy, owner);
    cancel_in(t->w->ohead, owner);
    pthread_mutex_unlock(&t->w->mu);
}

int turns_attach(turns *t, const char *session, const char *name,
                 const void *data, size_t len, char *err, size_t errlen)
{
    turns_flush(t);
    return engine_attach(t->eng, session, name, data, len, err, errlen);
}

int turns_attach_check(turns *t, const char *session, const void *data, size_t len,
                       const char **mime, char *err, size_t errlen)
{
    turns_flush(t);
    return engine_attach_check(t->eng, session, data, len, mime, err, errlen);
}

int turns_form_pending(turns *t, const char *session)
{
    turns_flush(t);
    return engine_form_pending(t->eng, session);
}

int turns_mark_handled(turns *t, const char *event_id)
{
    turns_flush(t);
    return engine_mark_handled(t->eng, event_id);
}

int turns_pending_begin(turns *t, const char *key, const char *data)
{
    turns_flush(t);
    return store_pending_begin(engine_store(t->eng), key, data);
}

int turns_pending_update(turns *t, const char *key, const char *data)
{
    turns_flush(t);
    return store_pending_update(engine_store(t->eng), key, data);
}

int turns_pending_done(turns *t, const char *key, bool handled)
{
    turns_flush(t);
    return store_pending_done(engine_store(t->eng), key, handled);
}

cJSON *turns_pending_list(turns *t, const char *prefix)
{
    turns_flush(t);
    return store_pending_list(engine_store(t->eng), prefix);
}

char *turns_conv_state(turns *t, const char *session)
{
    char *json = NULL;
    turns_flush(t);
    if (store_conv_load(engine_store(t->eng), session, &json) == 1)
        return json;
    free(json);
    return NULL;
}

/* ---- the threaded pipeline (turns_start) ---- */

static void list_append(struct pending **head, struct pending **tail, struct pending *list)
{
    if (!list)
        return;
    if (*tail) (*tail)->next = list; else *head = list;
    while (list->next)
        list = list->next;
    *tail = list;
}

static void nap_us(long us)
{
    struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = us % 1000000 * 1000 };
    nanosleep(&ts, NULL);
}

static void batch_fail(struct pending *batch, const char *why)
{
    for (struct pending *p = batch; p; p = p->next)
        if (p->ok) {
            p->ok = false;
            snprintf(p->err, sizeof p->err, "%s", why);
        }
}

/* The worker's batch: one transaction for all its turns, then the commit
 * that decides their outcomes. A store busy for TURNS_GIVEUP_MS fails them
 * all; a batch that cannot be opened runs each turn alone (as turns_submit
 * does). Runs on the worker, which owns the engine meanwhile. */
static void worker_batch(turns *t, struct pending *batch)
{
    char err[256] = "";
    int64_t t0 = t->ops.now_ms();
    int rc;
    while ((rc = t->ops.batch_begin(t->eng, err, sizeof err)) == STORE_BUSY &&
           t->ops.now_ms() - t0 < TURNS_GIVEUP_MS)
        nap_us(TURNS_RETRY_US);
    for (struct pending *p = batch; p; p = p->next)
        p->ok = rc != STORE_BUSY;
    if (rc == STORE_BUSY) {
        batch_fail(batch, "the store stayed busy");
        return;
    }
    for (struct pending *p = batch; p; p = p->next) {
        err[0] = 0;
        if (turn_exec(t, p, err, sizeof err) < 0) {
            p->ok = false;
            snprintf(p->err, sizeof p->err, "%s", err);
        }
    }
    err[0] = 0;
    if (rc >= 0 && t->ops.batch_commit(t->eng, err, sizeof err) != 0)
        batch_fail(batch, err[0] ? err : "commit failed");
}

static void *worker_main(void *arg)
{
    turns *t = arg;
    struct worker *w = t->w;
    (void)prctl(PR_SET_NAME, "provbot-turns"); /* for top and perf */
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->ihead && !w->stop)
            pthread_cond_wait(&w->work, &w->mu);
        if (!w->ihead)
            break;
        w->busy = w->ihead;
        w->ihead = w->itail = NULL;
        w->nin = 0;
        pthread_mutex_unlock(&w->mu);
        worker_batch(t, w->busy);
        pthread_mutex_lock(&w->mu);
        list_append(&w->ohead, &w->otail, w->busy);
        w->busy = NULL;
        if (!w->woken && w->wake) {      /* under mu: turns_quiet() waits for it */
            w->woken = true;
            w->wake(w->wake_arg);
        }
        if (!w->ihead)
            pthread_cond_broadcast(&w->idle);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void worker_submit(turns *t, struct pending *p)
{
    struct worker *w = t->w;
    pthread_mutex_lock(&w->mu);
    list_append(&w->ihead, &w->itail, p);
    w->nin++;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
}

/* Waits until every submitted turn has run and been committed (or failed). */
static void worker_drain(turns *t)
{
    struct worker *w = t->w;
    pthread_mutex_lock(&w->mu);
    while (w->ihead || w->busy)
        pthread_cond_wait(&w->idle, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

void turns_deliver(turns *t)
{
    if (!t || !t->w)
        return;
    struct worker *w = t->w;
    pthread_mutex_lock(&w->mu);
    struct pending *p = w->ohead;
    w->ohead = w->otail = NULL;
    w->woken = false;
    pthread_mutex_unlock(&w->mu);
    while (p) {
        struct pending *next = p->next;
        tell(p->done, p->owner, p->arg, p->ok, &p->res, p->ok ? NULL : p->err, p->m.reply_to);
        pending_free(p);
        p = next;
    }
}

void turns_quiet(turns *t)
{
    if (!t || !t->w)
        return;
    turns_flush(t);
    pthread_mutex_lock(&t->w->mu);
    t->w->wake = NULL;
    pthread_mutex_unlock(&t->w->mu);
}

turns *turns_start(engine *eng, const struct turns_ops *ops, void (*wake)(void *arg), void *wake_arg)
{
    turns *t = turns_open(eng, ops, NULL, NULL);
    struct worker *w = t ? calloc(1, sizeof *w) : NULL;
    if (!w)
        goto fail;
    w->wake = wake;
    w->wake_arg = wake_arg;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->idle, NULL);
    t->w = w;
    if (pthread_create(&w->thr, NULL, worker_main, t) != 0) {
        t->w = NULL;
        goto fail;
    }
    return t;
fail:
    if (w) {
        pthread_cond_destroy(&w->idle);
        pthread_cond_destroy(&w->work);
        pthread_mutex_destroy(&w->mu);
    }
    free(w);
    free(t);
    return NULL;
}

/* Ends the worker (after turns_flush: nothing left to run) and frees it. */
static void worker_stop(turns *t)
{
    struct worker *w = t->w;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thr, NULL);
    turns_deliver(t);                /* nothing, unless a turn came in between */
    pthread_cond_destroy(&w->idle);
    pthread_cond_destroy(&w->work);
    pthread_mutex_destroy(&w->mu);
    free(w);
    t->w = NULL;
}
