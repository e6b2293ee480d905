/* engine.h -- provbot's engine facade.
 *
 * One object holds the knowledge pack, the trained classifier, the dialog
 * engine and the SQLite store, and turns one user message into one reply
 * object (the contract's JSON). It opens no socket and starts no thread: the
 * transports in bot/ call it from their one event-loop thread.
 *
 * Ownership: every char * an engine_ call hands out is malloc'd and owned by
 * the caller (free()). Strings passed in are borrowed for the call only.
 */
#ifndef PROVBOT_ENGINE_H
#define PROVBOT_ENGINE_H

#include <stddef.h>
#include <cJSON.h>
#include <stdbool.h>

typedef struct engine engine;

struct engine_config {
    const char *intents_dir;   /* knowledge pack folder, e.g. "./intents" */
    const char *data_dir;      /* store folder (SQLite file inside), NULL: no store (in memory) */
    const char *model_cache_dir; /* an existing folder for the trained model's cache;
                                  NULL or "": data_dir (no cache without one) */
    const char *channel;       /* "chat", "web", "webex": recorded with each conversation */
    bool no_checkpoint;        /* the caller checkpoints the WAL from another thread
                                  (store_checkpoint), so no turn ever waits for one */
    bool queue_cases;          /* a remote backend delivers cases: they start "queued"
                                  (false: "filed" at once, the local backend) */
    const char *allow_domains; /* comma list of email domains whose people may file
                                  cases; NULL or "": anyone */
};

/* What one turn produced, beside the reply JSON. */
struct engine_result {
    char *json;                /* the reply object, one line of JSON; caller frees */
    char intent[40];           /* the intent the reply answered, "" when none */
    double confidence;         /* its confidence, -1 when none */
    bool fallback;             /* the bot did not understand (out_of_scope or clarification) */
    char case_id[24];          /* set when this turn filed or queued a case */
    char lang[3];              /* "en" or "sv" */
};

/* Opens the pack and the store and trains the classifier. NULL on failure,
 * with a one-line message naming the problem in err. */
engine *engine_open(const struct engine_config *cfg, char *err, size_t errlen);
/* Closes e (NULL is fine). A batch still open is committed; its failure
 * cannot be reported here: commit first (engine_batch_commit) to learn it. */
void engine_close(engine *e);

/* Runs one turn of conversation `session` (created when new). `user` is the
 * person's email when the channel knows it (else NULL), `reply_to` the
 * client's message id (NULL: JSON null). With cfg->allow_domains set at
 * engine_open, only a `user` with an email in one of them may file a case; others get answers and the pack's
 * "case_not_allowed" message instead of a case. Commits the conversation to the store
 * before returning. 0 on success, negative on failure (message in err). */
int engine_turn(engine *e, const char *session, const char *user,
                const char *text, const char *reply_to,
                struct engine_result *out, char *err, size_t errlen);

/* Group commit. Between engine_batch_begin() and engine_batch_commit() the
 * turns share one store transaction (each turn in its own savepoint, so a
 * failed turn leaves the others). A caller that batches must hold every
 * reply of the batch until engine_batch_commit() returns 0: only then are
 * those turns durable. On failure the whole batch is rolled back and its
 * replies must not be sent. Without a batch, each turn commits alone.
 * engine_batch_begin returns STORE_BUSY (store.h, -2) when another
 * connection held the write lock for the store's whole busy timeout: no
 * batch was opened, try again later. */
int engine_batch_begin(engine *e, char *err, size_t errlen);
int engine_batch_commit(engine *e, char *err, size_t errlen);
bool engine_in_batch(const engine *e);

/* Attaches an image (PNG or JPEG, checked by content, at most 5 MiB, at most 5
 * a case) to the case form open in `session`. Returns 0, or negative with a
 * message for the person in err (wrong type, too large, too many, no form). */
int engine_attach(engine *e, const char *session, const char *name,
                  const void *data, size_t len, char *err, size_t errlen);
/* engine_attach's checks alone (the form, the type, the size, the count),
 * writing nothing: 0 with *mime ("image/png" or "image/jpeg"; static), or
 * negative with the message in err. For a caller that writes the
 * attachment elsewhere (bot/attach.h, off the event loop). */
int engine_attach_check(engine *e, const char *session, const void *data, size_t len,
                        const char **mime, char *err, size_t errlen);
#define ENGINE_ATTACH_MAX_COUNT 5  /* attachments a case */

/* 1 when the conversation's pending question (the one its last reply
 * asked) is part of the case form: the order reference, the new email, the
 * description, the confirmation...; 0 when not (no question pending,
 * another question, no such conversation); <0 on a store error. A channel
 * uses it to take an edited message as a correction while the form is open. */
int engine_form_pending(engine *e, const char *session);

/* The question types with the input hint a chat page shows for each, from
 * the pack's "placeholder_<type>" messages: {"email": {"en": S, "sv": S},
 * ...} (types without one are left out). Built once at engine_open;
 * borrowed until engine_close. */
const cJSON *engine_expects(const engine *e);

/* The pack message key in lang (the channel's own wording, e.g. a card's
 * labels), borrowed; "" when the pack has no such message. */
const char *engine_text(const engine *e, const char *key, const char *lang);

/* Marks an external event id (e.g. a Webex activity) handled, in its own
 * commit (or in the open batch). 1 when new, 0 when seen before, <0 error. */
int engine_mark_handled(engine *e, const char *event_id);

/* The channel recorded with the conversations of the next turns ("webex");
 * NULL: the configured one again. */
void engine_set_channel(engine *e, const char *channel);

/* The engine's store, borrowed (for a channel's pending work, store.h
 * store_pending_*; only outside a batch, or for the batch's own turn). */
struct store *engine_store(engine *e);

/* Writes a new random session id (32 hex chars + NUL) into buf. */
void engine_new_session(char buf[33]);

/* Frees what engine_turn put in r. */
void engine_result_free(struct engine_result *r);

#endif
