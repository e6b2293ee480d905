/* convcache.c -- the parsed dialog states of the recent conversations (see
 * convcache.h).
 *
 * A chained hash table over the session ids, and the same entries on a
 * doubly linked list, most recently put first: the last one goes when the
 * cache is full. Invariant: every entry is in exactly one bucket chain and
 * on the list, and n counts them.
 */
#include "convcache.h"

#include <stdlib.h>
#include <string.h>

struct entry {
    struct entry *hnext;         /* next in its bucket */
    struct entry *prev, *next;   /* the recency list, newest first */
    unsigned hash;               /* of session */
    char *session;               /* owned */
    dialog *d;                   /* owned */
    char *json;                  /* owned: the state stored with d */
    struct convcache_row row;    /* where the state is stored, as of row.epoch */
};

struct convcache {
    struct entry **bucket;       /* nbucket chains, owned */
    size_t nbucket;              /* a power of two */
    struct entry *newest, *oldest;
    size_t n, max;
};

static unsigned hash_of(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

convcache *convcache_new(size_t max)
{
    convcache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->max = max ? max : 1;
    for (c->nbucket = 16; c->nbucket < 2 * c->max; c->nbucket *= 2)
        ;
    if (!(c->bucket = calloc(c->nbucket, sizeof *c->bucket))) {
        free(c);
        return NULL;
    }
    return c;
}

/* Takes e out of its chain and the list (not freed). */
static void unlink_entry(convcache *c, struct entry *e)
{
    struct entry **pp = &c->bucket[e->hash & (c->nbucket - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->prev) e->prev->next = e->next; else c->newest = e->next;
    if (e->next) e->next->prev = e->prev; else c->oldest = e->prev;
    c->n--;
}

static void entry_free(struct entry *e)
{
    dialog_free(e->d);
    free(e->json);
    free(e->session);
    free(e);
}

void convcache_free(convcache *c)
{
    if (!c)
        return;
    for (struct entry *e = c->newest, *next; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    free(c->bucket);
    free(c);
}

static struct entry *find(const convcache *c, const char *session, unsigned h)
{
    struct entry *e = c->bucket[h & (c->nbucket - 1)];
    while (e && (e->hash != h || strcmp(e->session, session)))
        e = e->hnext;
    return e;
}

dialog *convcache_take(convcache *c, const char *session, const char *json)
{
    struct entry *e = find(c, session, hash_of(session));
    if (!e)
        return NULL;
    unlink_entry(c, e);
    dialog *d = NULL;
    if (json && !strcmp(e->json, json)) {   /* the row is the one this object wrote */
        d = e->d;
        e->d = NULL;
    }
    entry_free(e);
    return d;
}

dialog *convcache_take_row(convcache *c, const char *session, unsigned epoch,
                           struct convcache_row *row, char **json)
{
    struct entry *e = find(c, session, hash_of(session));
    if (!e || !e->row.rowid || e->row.epoch != epoch)
        return NULL;     /* the entry stays for convcache_take */
    unlink_entry(c, e);
    dialog *d = e->d;
    *row = e->row;
    *json = e->json;
    e->d = NULL;
    e->json = NULL;
    entry_free(e);
    return d;
}

void convcache_put(convcache *c, const char *session, dialog *d, char *json,
                   const struct convcache_row *row)
{
    unsigned h = hash_of(session);
    struct entry *e = find(c, session, h);
    if (!json) {
        dialog_free(d);
        d = NULL;
    }
    if (e) {
        unlink_entry(c, e);
        entry_free(e);
    }
    if (c->n >= c->max) {
        struct entry *old = c->oldest;
        unlink_entry(c, old);
        entry_free(old);
    }
    if (!d || !(e = calloc(1, sizeof *e)) || !(e->session = strdup(session))) {
        free(e);
        dialog_free(d);
        free(json);
        return;
    }
    e->hash = h;
    e->d = d;
    e->json = json;
    if (row)
        e->row = *row;
    e->hnext = c->bucket[h & (c->nbucket - 1)];
    c->bucket[h & (c->nbucket - 1)] = e;
    e->next = c->newest;
    if (c->newest) c->newest->prev = e; else c->oldest = e;
    c->newest = e;
    c->n++;
}

size_t convcache_count(const convcache *c) { return c->n; }
