/* store.h -- the durable store: SQLite in WAL mode.
 *
 * Holds conversations (one row of state as JSON, language, user), their
 * turns (appended, one row each: a turn writes little to the WAL), cases
 * with their outbox fields, attachments, and handled event ids. Every turn is
 * committed in one transaction, so a process killed at any moment restarts
 * where the last turn ended. The schema is versioned (PRAGMA user_version)
 * and migrated forward on open; a store written by a newer provbot is refused.
 *
 * One store handle belongs to one thread; each thread opens its own (WAL lets
 * them read and write side by side; writers wait up to 5 s for each other,
 * unless store_busy_timeout() says otherwise: the event loop's handle waits
 * only a few ms and retries a busy turn later, see bot/turns.h).
 * Strings returned are malloc'd and owned by the caller unless said otherwise.
 */
#ifndef PROVBOT_STORE_H
#define PROVBOT_STORE_H

#include "case.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cJSON.h>

#define STORE_SCHEMA_VERSION 5
#define STORE_FILE "provbot.db"

typedef struct store store;

/* Opens (creating) dir/provbot.db; dir NULL: a private in-memory store. */
store *store_open(const char *dir, char *err, size_t errlen);
void store_close(store *s);
const char *store_errmsg(store *s);

/* Automatic WAL checkpoints on commit (on by default). Off, somebody must
 * call store_checkpoint() now and then or the WAL grows without end. */
void store_autocheckpoint(store *s, bool on);
/* Copies the WAL back into the database as far as readers allow (PASSIVE:
 * never blocks writers); then, when the WAL has grown past its bound and all
 * of it was copied, restarts it (RESTART, waiting at most a few ms for the
 * write lock and for readers: a writer of another connection waits that
 * long at most). Returns 0; 1 when the WAL is still past its bound (the
 * RESTART found the lock busy: call again soon); -1 with store_errmsg(). */
int store_checkpoint(store *s);
/* Pages in the WAL after this handle's last commit (0 after a restart). */
int store_wal_pages(const store *s);
/* Bytes of WAL (frames with their headers) committed by all the store
 * handles of this process so far: a figure for benches. */
uint64_t store_wal_bytes_total(void);

/* How long this handle's writers wait for another connection's write lock
 * (STORE_BUSY_MS by default); returns the previous value. */
#define STORE_BUSY_MS 5000
/* An on-disk store's database file grows by this much at a time
 * (SQLITE_FCNTL_CHUNK_SIZE: written blocks, not a hole): a checkpoint's pages
 * then mostly land in blocks the file has already, so the fsync the RESTART
 * makes holding the write lock has data to flush but no new file size to
 * journal (that cost 8 ms a RESTART on this kind of machine, a stall of every
 * chat). The file's size is a multiple of it. */
#define STORE_DB_CHUNK_BYTES (4 << 20)
int store_busy_timeout(store *s, int ms);

/* BEGIN IMMEDIATE: 0, STORE_BUSY when another connection held the write lock
 * for the whole busy timeout (nothing was begun: try again later), or -1. */
#define STORE_BUSY (-2)
int store_begin(store *s);
/* A savepoint inside an open transaction (one turn of a group commit). */
int store_savepoint(store *s);
int store_release(store *s);
void store_rollback_savepoint(store *s);
/* Commits; then, on a handle with automatic checkpoints, when the WAL has
 * grown past its bound, checkpoints it with RESTART (so a store under
 * continuous load keeps a bounded WAL). Without them store_checkpoint(),
 * on another thread, keeps that bound. */
int store_commit(store *s);
void store_rollback(store *s);

/* Conversation state: 1 and *json (caller frees) when found, 0 when new. */
int store_conv_load(store *s, const char *session, char **json);
/* Saves the state (one row a conversation) and appends `turns` ("user:
 * ...\nbot: ...\n", NULL or "": none) as one row of the transcript table. */
int store_conv_save(store *s, const char *session, const char *channel,
                    const char *user, const char *lang, const char *json,
                    const char *turns);
/* What a turn reads of its conversation, in one statement (store_turn_load),
 * and hands back to store_turn_save() in the same transaction. */
struct store_conv {
    char *state;          /* the state JSON, owned (NULL: a new conversation) */
    int64_t rowid;        /* the conversation's row, 0 when none */
    int64_t last_turn;    /* its newest transcript row, 0 when none */
    bool failed;          /* it may have failed cases not yet told (store_cases_take_failed
                             finds some): always true for a conversation without a row */
};
/* A number that changes whenever the database changes, by this connection
 * or (as seen when a transaction begins) another; -1 on error. */
int64_t store_data_version(store *s);
/* 1 (found) or 0 (new: c->state NULL), <0 on error; free c->state. */
int store_turn_load(store *s, const char *session, struct store_conv *c);
/* store_conv_save() for the conversation c was loaded for, in the same
 * transaction: the row updated by its id, the turn appended after
 * c->last_turn (which then names the new one), without looking either up
 * again. */
int store_turn_save(store *s, struct store_conv *c, const char *session,
                    const char *channel, const char *user, const char *lang,
                    const char *json, const char *turns);
/* The recent turns (the last 2,000 characters, from a whole turn); caller
 * frees ("" when none, NULL on error). */
char *store_transcript(store *s, const char *session);

/* Inserts c as a new case: assigns c->id ("PB-%06d") and created_at. */
int store_case_insert(store *s, struct case_rec *c);
/* Loads case id into c (caller case_rec_clear()s). 1 found, 0 not, <0 error. */
int store_case_get(store *s, const char *id, struct case_rec *c);
/* The id of a case of this session for the same order and email that is not
 * failed, into id (CASE_ID_MAX); 1 found, 0 none. */
int store_case_find_same(store *s, const char *session, const char *order_ref,
                         const char *new_email, char *id);
/* Cases as a JSON array (contract objects), newest last; session NULL: all. */
cJSON *store_cases_json(store *s, const char *session);
/* Queued cases due at now_ms, oldest first, at most max; ids into ids. */
int store_cases_due(store *s, int64_t now_ms, char (*ids)[CASE_ID_MAX], int max);
/* Outcome of a delivery attempt. */
int store_case_delivered(store *s, const char *id, const char *remote_id);
int store_case_retry(store *s, const char *id, int64_t next_ms, const char *why);
int store_case_failed(store *s, const char *id, const char *why);
/* Filed cases with a remote id whose remote status was last read before
 * before_ms (never: 0), least recently read first; ids into ids. Cases whose
 * ticket is resolved, rejected or deleted come up only a day later. */
int store_cases_stale(store *s, int64_t before_ms, char (*ids)[CASE_ID_MAX], int max);
/* Records the remote ticket's status read at now_ms (status NULL or "":
 * keeps the last one known, only the time is recorded). */
int store_case_remote_status(store *s, const char *id, const char *status, int64_t now_ms);
/* Failed cases of a session not yet told to the person; marks them told.
 * Writes up to max ids; returns how many. */
int store_cases_take_failed(store *s, const char *session, char (*ids)[CASE_ID_MAX], int max);

/* Attachments: pending ones belong to a session until a case takes them. */
int store_attach_add(store *s, const char *session, const char *name,
                     const char *mime, const void *data, size_t len);
int store_attach_count(store *s, const char *session, const char *case_id);
int store_attach_bind(store *s, const char *session, const char *case_id);
/* The case's attachments as [{"name","mime","data"(base64)}]. */
cJSON *store_attach_json(store *s, const char *case_id);

/* Retention: forgets what people wrote, older than cutoff_ms (epoch ms):
 * conversations untouched since then (their state), turns older than
 * then, the transcripts and attachments of cases created before then that
 * are no longer queued, old handled event ids and old pending channel work
 * (store_pending_*). The cases themselves (id, status, order, emails,
 * summary) stay. Returns rows changed, or -1. */
int store_purge(store *s, int64_t cutoff_ms);

/* Marks an external event id handled: 1 when new, 0 when seen before. */
int store_mark_handled(store *s, const char *event_id);

/* A channel's work in progress, keyed by its event id (e.g. "webex:<uuid>"):
 * an activity being read (kind "activity", data: the channel's JSON), then,
 * once its turn is committed, its reply waiting to be sent (kind "reply").
 * begin: 1 when new, 0 when already pending or handled, -1. settle (inside
 * the turn's transaction): the reply (the engine's reply JSON) kept and the
 * event marked handled. done: the row removed, the event marked handled
 * when `handled`. list: [{key, kind, data, reply?}] of keys starting with
 * prefix, oldest first; NULL when out of memory. */
int store_pending_begin(store *s, const char *key, const char *data);
int store_pending_update(store *s, const char *key, const char *data);
int store_pending_settle(store *s, const char *key, const char *reply);
int store_pending_done(store *s, const char *key, bool handled);
cJSON *store_pending_list(store *s, const char *prefix);

/* Current time helpers. */
int64_t store_now_ms(void);
void store_rfc3339(int64_t ms, char out[32]);

#endif
