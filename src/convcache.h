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
 * Ownership: convcache_take() hands the object over (the entry leaves the
 * cache); convcache_put() takes the object and the JSON. One thread (the
 * engine's).
 */
#ifndef PROVBOT_CONVCACHE_H
#define PROVBOT_CONVCACHE_H

#include "dialog.h"

#include <stddef.h>

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

/* Keeps d and json (the state just committed for session; both taken,
 * freed at once when out of memory), replacing the session's old entry. */
void convcache_put(convcache *c, const char *session, dialog *d, char *json);

/* Entries held now (for tests). */
size_t convcache_count(const convcache *c);

#endif
