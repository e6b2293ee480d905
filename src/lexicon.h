/* lexicon.h -- the objects a request can be about (intents/objects.json).
 *
 * A lexicon holds concepts: domain objects (the provisioning contact, the
 * provisioning email, the order line, PONR...) and foreign objects (quotes,
 * invoices, other contacts of an order, TAC, returns, the person's own
 * account...), each with a display name {"en","sv"} and synonyms in both
 * languages. lex_rewrite() replaces every synonym found in a TEXT_FOLD string
 * by its concept token ("#provisioning_email"), so the classifier sees one
 * feature for "setup mail", "welcome email" and "etableringsmejlet", and it
 * says which domain and foreign objects the message names: a request about a
 * foreign object only is out of scope.
 *
 * Synonym syntax: words apart by spaces; a word may list alternatives with
 * '|', end with '*' (any ending) or start with '*' (any beginning). Synonyms
 * are folded like messages (text.h) when loaded. At each word the longest
 * synonym wins (so "point of no return" is PONR, not a return), a domain one
 * on a tie.
 *
 * lex_build() validates and refuses a bad document with a message naming the
 * file and the field. A lexicon is read-only after building; it borrows the
 * display names from the document, which must outlive it.
 */
#ifndef PROVBOT_LEXICON_H
#define PROVBOT_LEXICON_H

#include <stdbool.h>
#include <stddef.h>
#include <cJSON.h>

#include "pack.h"

#define LEX_FILE "objects.json"
#define LEX_TOKEN_MAX 48     /* bytes of a concept token, '#' included */

typedef struct lex lex;

/* What a rewritten message names. */
struct lex_found {
    int ndomain;             /* domain objects named (with repeats) */
    int nforeign;            /* foreign objects named (with repeats) */
    int foreign;             /* the first foreign concept, or -1 */
};

/* Builds the lexicon of doc (the parsed objects.json). Intent ids in
 * "task_intents" must exist in p. NULL on a bad document or no memory, with
 * the reason in err ("objects.json: foreign[2].synonyms.sv[0]: ..."). */
lex *lex_build(const cJSON *doc, const pack *p, char *err, size_t errlen);
void lex_free(lex *x);

/* Rewrites fold[0..len) (TEXT_FOLD form) into out (capacity cap >= 1) with
 * each synonym replaced by its concept token; returns the output length
 * (NUL-terminated, cut at a word when out is full). found may be NULL.
 * x may be NULL: the text is copied unchanged. With LEX_CONTEXT_FOREIGN, a
 * message that names a domain object loses its foreign objects' tokens: the
 * request is about ours, the others are context. */
#define LEX_CONTEXT_FOREIGN 1u
size_t lex_rewrite(const lex *x, const char *fold, size_t len, char *out, size_t cap,
                   unsigned flags, struct lex_found *found);

/* True when a message of intent i is about an object (task_intents). */
bool lex_is_task(const lex *x, int intent);
/* True when intent specific refines intent generic ("refinements": a
 * scenario that answers the generic request told in its situation). */
bool lex_refines(const lex *x, int specific, int generic);

/* Number of concepts; the display name {"en","sv"} and the id of concept c;
 * NULL for an index out of range. */
size_t lex_count(const lex *x);
const cJSON *lex_name(const lex *x, int c);
const char *lex_id(const lex *x, int c);

#endif
