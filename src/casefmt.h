/* casefmt.h -- a case's summary for support, rendered from intents/cases.json.
 *
 * The wording of a case (what fails, what was tried, the labels of the
 * facts' values) is data of the pack, not C. cases.json holds
 *   "summary": {
 *     "text":   "... {fact} ... {part} ...",
 *     "labels": {fact: {value: label, "*": any other value, "": absent}},
 *     "parts":  {name: {"items": [ITEM...], "none": S?, "last": S?}}
 *   }
 * An ITEM is a clause {"if": {fact: "*"|value|[values]}, "text": S} (no
 * "if": always) or an array of clauses of which the first that holds is
 * taken. A part is its items' texts joined ("none" when empty; "last"
 * replaces its last character). In any text, {name} is a part or a fact
 * (its label, else its value, else ""), and {fact.} its value ending in a
 * full stop. A fact is absent when missing, "" or "-".
 */
#ifndef PROVBOT_CASEFMT_H
#define PROVBOT_CASEFMT_H

#include <stddef.h>
#include <cJSON.h>

/* Checks the cases.json document; 0, or negative with a message naming the
 * file and the field in err. */
int casefmt_check(const cJSON *doc, char *err, size_t errlen);

/* The summary for the facts ({"fact": "value"}). doc is a checked
 * cases.json (NULL: ""). Caller frees; NULL when out of memory. */
char *casefmt_summary(const cJSON *doc, const cJSON *facts);

#endif
