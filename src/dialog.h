/* dialog.h -- the conversation: facts in, the next step out.
 *
 * A conversation's state is a set of facts (facts.h: line status, edit
 * access, PONR, what was tried, the case's details...), the question asked
 * last and a few counters; it goes in and out as JSON so the store can keep
 * it between turns. Each turn takes what understanding found (intent,
 * language, entities): it reads the answer to the pending question, takes
 * every fact the message tells (the latest statement wins, corrections
 * included), answers side questions first (FAQ and informational intents),
 * then computes the next step from the facts with the decision tree of the
 * pack (tree.h): a known fact is never asked again. Domain guards are rules
 * of the tree (no case after PONR, ask once when PONR is unknown) and again
 * in the engine's file_case hook, from the case type (pack.h). Intents are
 * known by their roles (pack.h), facts by the pack's data. No I/O of its own.
 */
#ifndef PROVBOT_DIALOG_H
#define PROVBOT_DIALOG_H

#include "entity.h"
#include "nlu.h"
#include "pack.h"

typedef struct dialog dialog;

/* What the engine does for the dialog. Each returns 0 or negative. */
struct dialog_hooks {
    void *ctx;
    /* Files a case of type ct from the facts (object of fact: value
     * strings). On success writes the case id and sets *case_json (the
     * hook's caller owns it: the dialog puts it in the reply). Returns
     * DIALOG_EREFUSED when a fact of the type's "refuse_when" holds,
     * DIALOG_ENOTALLOWED when the person may not open cases,
     * DIALOG_EINCOMPLETE when a "required" fact is missing, negative on
     * error. */
    int (*file_case)(void *ctx, const struct pack_case_type *ct, const cJSON *facts,
                     const char *lang, char id[24], cJSON **case_json);
    /* Looks for an open case of this conversation for order_ref: 1 found
     * (its id and status, in lang, written), 0 none, negative on error. */
    int (*find_case)(void *ctx, const char *order_ref, const char *lang,
                     char id[24], char *status, size_t statuslen);
    /* Markdown list of the person's cases, or NULL when none; caller frees. */
    char *(*list_cases)(void *ctx, const char *lang);
};

#define DIALOG_EREFUSED (-100)
#define DIALOG_ENOTALLOWED (-101)
#define DIALOG_EINCOMPLETE (-102)

struct dialog_reply {
    char *text;              /* markdown, owned */
    cJSON *buttons;          /* array of strings, owned */
    const char *expect;      /* static string or NULL */
    int intent;              /* pack intent index or -1 */
    double confidence;       /* -1 when none */
    bool fallback;           /* not understood */
    cJSON *case_obj;         /* owned, or NULL */
};

/* A conversation's state from its stored JSON (NULL or bad: a new one, whose
 * language is default_lang, or the first message's when that is NULL). */
dialog *dialog_load(const pack *p, const char *json, const char *default_lang);
/* The state as JSON; caller frees. */
char *dialog_save(const dialog *d);
void dialog_free(dialog *d);
const char *dialog_lang(const dialog *d);
/* True while the case form is open (attachments are welcome). */
bool dialog_in_form(const dialog *d);
/* Sets a fact unless it is known already (e.g. the channel's user as the
 * requester). */
void dialog_preset(dialog *d, const char *fact, const char *value);

/* One turn. raw is the message as sent (sanitised UTF-8). notices (may be
 * NULL) is text to put before the reply. Fills out (caller frees with
 * dialog_reply_clear()). 0 or negative (out of memory). */
int dialog_turn(dialog *d, const struct nlu_result *nr, const struct ent_result *er,
                const char *raw, const char *notices, const struct dialog_hooks *h,
                struct dialog_reply *out);
void dialog_reply_clear(struct dialog_reply *r);

/* Escapes markdown in s (what a person wrote, echoed back); caller frees. */
char *dialog_md_escape(const char *s);

#endif
