/* convcache.h -- the parsed dialog states of the recent conversations.
 *
 * A turn used to parse its conversation's stored JSON state every time. The
 * engine keeps, for the last CONVCACHE_MAX conversations it ran a turn of,
 * the dialog object that turn left and the JSON it stored. The next turn
 * still reads the stored state (the store stays the truth), and uses the
 * kept object only when the stored JSON is byte for byte the one kept: a
 * turn rolled back, a group commit that failed, a conversation purged or
 * written by another process all leave a different row (or none), and the
 * state is then parsed as before. dialog_save() is lossless for what a turn
 * reads, so the kept object and the parsed one behave alike.
 *
 * The reading itself can be skipped too: an entry may carry where its state
 * is stored (struct convcache_row) and an epoch, a number the engine keeps
 * and moves on whenever the store may have changed under the cache (a write
 * of another connection or of its own outside a turn, a failed commit).
 * convcache_take_row() gives the object only for the current epoch.
 *
 * Ownership: convcache_take() hands the object over (the entry leaves the
 * cache); convcache_put() takes the object and the JSON. One thread (the
 * engine's).
 */
#ifndef PROVBOT_CONVCACHE_H
#define PROVBOT_CONVCACHE_H

#include "dialog.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONVCACHE_MAX 1024   /* conversations kept, least recently used out first */

typedef struct convcache convcache;

/* An empty cache of at most max entries; NULL when out of memory. */
convcache *convcache_new(size_t max);
/* Frees the cache and every object in it (NULL is fine). */
void convcache_free(convcache *c);

/* The dialog kept for session when the stored state is exactly json (the
 * caller then owns it), else NULL (parse json). Either way the session's
 * entry leaves the cache. json NULL: the conversation is not stored. */
dialog *convcache_take(convcache *c, const char *session, const char *json);

/* Where a kept state is stored, and until when that is known. */
struct convcache_row {
    int64_t rowid;       /* the conversation's row (0: not known, no convcache_take_row) */
    int64_t last_turn;   /* its newest transcript row */
    bool failed;         /* it may have failed cases not yet told */
    unsigned epoch;      /* the engine's epoch when it was put */
};

/* The dialog kept for session, its row and the JSON stored (both then the
 * caller's), when the entry was put with a row in this epoch; else NULL
 * and the entry stays. */
dialog *convcache_take_row(convcache *c, const char *session, unsigned epoch,
                           struct convcache_row *row, char **json);

/* Keeps d and json (the state just committed for session; both taken,
 * freed at once when out of memory) and row (copied; NULL: none), replacing
 * the session's old entry. */
void convcache_put(convcache *c, const char *session, dialog *d, char *json,
                   const struct convcache_row *row);

/* Entries held now (for tests). */
size_t convcache_count(const convcache *c);

#endif
