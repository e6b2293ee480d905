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

#include <stdlib.h>
#include <string.h>

struct pending {
    struct pending *next;
    struct turns_msg m;         /* the message, every string an owned copy (or NULL) */
    int64_t since_ms;           /* when it was submitted (waiting: the give-up clock) */
    struct engine_result res;   /* owned; res.json is the reply */
    turns_done_fn *done;
    void *owner;                /* NULL once cancelled */
    void *arg;
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

void turns_close(turns *t)
{
    if (!t)
        return;
    turns_flush(t);
    free(t);
}

engine *turns_engine(turns *t) { return t->eng; }
int turns_waiting(const turns *t) { return t->nwait; }

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

/* Runs p's turn: into the open batch (batched; p then waits there for the
 * commit), else committed alone and answered at once. Takes p. */
static void run_turn(turns *t, struct pending *p, bool batched)
{
    char err[256] = "";
    const struct turns_msg *m = &p->m;
    engine_set_channel(t->eng, m->channel);
    int rc = engine_turn(t->eng, m->session, m->user, m->text, m->reply_to, &p->res, err, sizeof err);
    engine_set_channel(t->eng, NULL);
    if (rc < 0 || !p->res.json) {
        tell(p->done, p->owner, p->arg, false, NULL, err[0] ? err : "turn failed", m->reply_to);
        pending_free(p);
        return;
    }
    /* in the turn's own transaction: a store that fails here fails its commit too */
    if (m->settle_key)
        (void)store_pending_settle(engine_store(t->eng), m->settle_key, p->res.json);
    if (!batched) {                      /* committed alone: durable now */
        tell(p->done, p->owner, p->arg, true, &p->res, NULL, m->reply_to);
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

int turns_submit(turns *t, const struct turns_msg *m, turns_done_fn *done, void *owner, void *arg)
{
    struct pending *p = pending_new(t, m, done, owner, arg);
    if (!p) {
        tell(done, owner, arg, false, NULL, "out of memory", m->reply_to);
        return -1;
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

void turns_flush(turns *t)
{
    waiting_run(t, true);
    batch_commit(t);
}

void turns_tick(turns *t)
{
    waiting_run(t, false);
    batch_commit(t);
}

void turns_cancel(turns *t, const void *owner)
{
    for (struct pending *p = t->head; p; p = p->next)
        if (p->owner == owner)
            p->owner = NULL;
    for (struct pending *p = t->whead; p; p = p->next)
        if (p->owner == owner)
            p->owner = NULL;
}

int turns_attach(turns *t, const char *session, const char *name,
                 const void *data, size_t len, char *err, size_t errlen)
{
    turns_flush(t);
    return engine_attach(t->eng, session, name, data, len, err, errlen);
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
