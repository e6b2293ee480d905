/* attach.c -- the screenshot writer thread (see attach.h).
 *
 * Two FIFOs under one mutex: todo (loop -> worker, signalled by a condition
 * variable) and done (worker -> loop, announced by wake()). n counts the
 * jobs in either or in the worker's hands, so that the bound covers them all.
 */
#include "attach.h"
#include "engine.h"
#include "store.h"
#include "thread.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct fifo { struct attach_job *head, *tail; };

struct attachq {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* todo got a job, or stop */
    struct fifo todo, done;     /* guarded by mu */
    int n;                      /* jobs submitted and not yet taken, guarded by mu */
    bool stop;                  /* guarded by mu */
    store *store;               /* the worker's own handle */
    void (*wake)(void *);
    void *ctx;
};

static void fifo_push(struct fifo *f, struct attach_job *j)
{
    j->next = NULL;
    if (f->tail) f->tail->next = j; else f->head = j;
    f->tail = j;
}

static struct attach_job *fifo_pop(struct fifo *f)
{
    struct attach_job *j = f->head;
    if (j && !(f->head = j->next))
        f->tail = NULL;
    return j;
}

void attach_job_free(struct attach_job *j)
{
    if (!j)
        return;
    free(j->data);
    free(j);
}

/* Writes j in one transaction, the count checked again inside it (two
 * uploads of one form may have passed the loop's check together). */
static void write_job(attachq *q, struct attach_job *j)
{
    store *s = q->store;
    j->rc = -1;
    if (store_begin(s) < 0)
        goto sqlfail;
    int n = store_attach_count(s, j->session, NULL);
    if (n < 0)
        goto rollback;
    if (n >= ENGINE_ATTACH_MAX_COUNT) {
        snprintf(j->err, sizeof j->err, "at most %d screenshots a case", ENGINE_ATTACH_MAX_COUNT);
        store_rollback(s);
        return;
    }
    if (store_attach_add(s, j->session, j->name[0] ? j->name : "screenshot", j->mime,
                         j->data, j->len) < 0 || store_commit(s) < 0)
        goto rollback;
    j->rc = 0;
    return;
rollback:
    snprintf(j->err, sizeof j->err, "store: %s", store_errmsg(s));
    store_rollback(s);
    return;
sqlfail:
    snprintf(j->err, sizeof j->err, "store: %s", store_errmsg(s));
}

static void *worker(void *arg)
{
    attachq *q = arg;
    thread_background("provbot-attach");
    pthread_mutex_lock(&q->mu);
    for (;;) {
        struct attach_job *j = fifo_pop(&q->todo);
        if (!j) {
            if (q->stop)
                break;
            pthread_cond_wait(&q->cv, &q->mu);
            continue;
        }
        pthread_mutex_unlock(&q->mu);
        write_job(q, j);
        pthread_mutex_lock(&q->mu);
        fifo_push(&q->done, j);
        pthread_mutex_unlock(&q->mu);
        q->wake(q->ctx);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

attachq *attach_start(const char *data_dir, void (*wake)(void *), void *ctx,
                      char *err, size_t errlen)
{
    attachq *q = calloc(1, sizeof *q);
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    q->wake = wake;
    q->ctx = ctx;
    if (!(q->store = store_open(data_dir, err, errlen)))
        goto fail;
    store_autocheckpoint(q->store, false);   /* the outbox thread checkpoints */
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if (pthread_create(&q->thread, NULL, worker, q) != 0) {
        snprintf(err, errlen, "cannot start the attachment thread");
        pthread_cond_destroy(&q->cv);
        pthread_mutex_destroy(&q->mu);
        goto fail;
    }
    return q;
fail:
    store_close(q->store);
    free(q);
    return NULL;
}

int attach_submit(attachq *q, struct attach_job *j)
{
    int rc = -1;
    pthread_mutex_lock(&q->mu);
    if (q->n < ATTACH_QUEUE_MAX && !q->stop) {
        q->n++;
        fifo_push(&q->todo, j);
        pthread_cond_signal(&q->cv);
        rc = 0;
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

struct attach_job *attach_take(attachq *q)
{
    pthread_mutex_lock(&q->mu);
    struct attach_job *j = fifo_pop(&q->done);
    if (j)
        q->n--;
    pthread_mutex_unlock(&q->mu);
    return j;
}

int attach_inflight(attachq *q)
{
    pthread_mutex_lock(&q->mu);
    int n = q->n;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void attach_stop(attachq *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    struct attach_job *j;
    while ((j = fifo_pop(&q->done))) {
        if (j->done)
            j->done(j->arg, NULL); /* dropped: its owner frees what it holds */
        attach_job_free(j);
    }
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    store_close(q->store);
    free(q);
}
