/* turns.c -- the turn pipeline (see turns.h).
 *
 * The pending turns of the open batch are a FIFO of `struct pending`, each
 * holding its engine result until the commit decides its fate. Invariant:
 * the list is non-empty only while the engine is in a batch that turns
 * opened (t->open).
 */
#include "turns.h"

#include "store.h"

#include <stdlib.h>
#include <string.h>

struct pending {
    struct pending *next;
    struct engine_result res;   /* owned; res.json is the reply */
    char *reply_to;             /* owned copy, or NULL */
    turns_done_fn *done;
    void *owner;                /* NULL once cancelled */
    void *arg;
};

struct turns {
    engine *eng;                /* borrowed */
    struct turns_ops ops;       /* the batch calls */
    void (*schedule)(void *);   /* asks the loop for a turns_flush() */
    void *schedule_arg;
    bool open;                  /* a batch is open */
    struct pending *head, *tail; /* turns of the open batch, oldest first */
};

turns *turns_open(engine *eng, const struct turns_ops *ops,
                  void (*schedule)(void *arg), void *schedule_arg)
{
    turns *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->eng = eng;
    t->ops.batch_begin = ops && ops->batch_begin ? ops->batch_begin : engine_batch_begin;
    t->ops.batch_commit = ops && ops->batch_commit ? ops->batch_commit : engine_batch_commit;
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

static void tell(turns_done_fn *done, void *owner, void *arg, bool ok,
                 const struct engine_result *res, const char *err, const char *reply_to)
{
    struct turns_outcome o = { .ok = ok, .res = ok ? res : NULL, .err = err, .reply_to = reply_to };
    if (done && owner)
        done(owner, arg, &o);
}

/* Opens a batch for the turns to come; false when none could be (the turn
 * then commits alone). */
static bool batch_open(turns *t)
{
    char err[256] = "";
    if (t->open)
        return true;
    if (t->ops.batch_begin(t->eng, err, sizeof err) < 0)
        return false;
    t->open = true;
    if (t->schedule)
        t->schedule(t->schedule_arg);
    return true;
}

int turns_submit(turns *t, const struct turns_msg *m, turns_done_fn *done, void *owner, void *arg)
{
    char err[256] = "";
    struct pending *p = calloc(1, sizeof *p);
    if (!p || (m->reply_to && !(p->reply_to = strdup(m->reply_to)))) {
        free(p);
        tell(done, owner, arg, false, NULL, "out of memory", m->reply_to);
        return -1;
    }
    bool batched = batch_open(t);
    engine_set_channel(t->eng, m->channel);
    int rc = engine_turn(t->eng, m->session, m->user, m->text, m->reply_to, &p->res, err, sizeof err);
    engine_set_channel(t->eng, NULL);
    if (rc < 0 || !p->res.json) {
        tell(done, owner, arg, false, NULL, err[0] ? err : "turn failed", m->reply_to);
        goto drop;
    }
    /* in the turn's own transaction: a store that fails here fails its commit too */
    if (m->settle_key)
        (void)store_pending_settle(engine_store(t->eng), m->settle_key, p->res.json);
    if (!batched) {                      /* committed alone: durable now */
        tell(done, owner, arg, true, &p->res, NULL, m->reply_to);
        goto drop;
    }
    p->done = done;
    p->owner = owner;
    p->arg = arg;
    if (t->tail) t->tail->next = p; else t->head = p;
    t->tail = p;
    return 0;
drop:
    engine_result_free(&p->res);
    free(p->reply_to);
    free(p);
    return 0;
}

void turns_flush(turns *t)
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
             p->reply_to);
        engine_result_free(&p->res);
        free(p->reply_to);
        free(p);
        p = next;
    }
}

void turns_cancel(turns *t, const void *owner)
{
    for (struct pending *p = t->head; p; p = p->next)
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
