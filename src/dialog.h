/* dialog.h -- the dialog engine: flows from the pack, slots, and replies.
 *
 * One conversation's state (language, the question pending, slots, counters)
 * goes in and out as JSON, so the store can keep it between turns. A turn
 * takes what understanding found (intent, language, entities) and walks the
 * flow graph of flows.json: it answers side questions and asks the pending
 * question again, fills slots from any message so nothing is asked twice,
 * validates answers (three tries, then an offer to skip or cancel), handles
 * "cancel" and "start over", offers "did you mean" on low confidence and a
 * case after two misunderstandings, and calls the engine's hooks to file a
 * case or list cases. No I/O of its own.
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
    /* Files a case from the slots (object of strings). On success writes the
     * case id and sets *case_json (caller of the hook owns it: the dialog puts
     * it in the reply). Returns 1 when an equal case existed already (its id
     * in id), DIALOG_EPONR when refused after PONR, DIALOG_ENOTALLOWED when
     * the person may not open cases, negative on error. */
    int (*file_case)(void *ctx, const cJSON *slots, const char *lang,
                     char id[24], cJSON **case_json);
    /* Markdown list of the person's cases, or NULL when none; caller frees. */
    char *(*list_cases)(void *ctx, const char *lang);
};

#define DIALOG_EPONR (-100)
#define DIALOG_ENOTALLOWED (-101)

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
/* Sets a slot unless it has a value already (e.g. the channel's user). */
void dialog_preset(dialog *d, const char *slot, const char *value);

/* One turn. raw is the message as sent (sanitised UTF-8), fold its TEXT_FOLD
 * form. notices (may be NULL) is text to put before the reply. Fills out
 * (caller frees with dialog_reply_clear()). 0 or negative (out of memory). */
int dialog_turn(dialog *d, const struct nlu_result *nr, const struct ent_result *er,
                const char *raw, const char *notices, const struct dialog_hooks *h,
                struct dialog_reply *out);
void dialog_reply_clear(struct dialog_reply *r);

/* Escapes markdown in s (what a person wrote, echoed back); caller frees. */
char *dialog_md_escape(const char *s);

#endif
