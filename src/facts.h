/* facts.h -- what a conversation knows: a set of named facts.
 *
 * Each fact has a value (a string), the turn that set it and a confidence
 * (1.0 the person's direct answer, lower for what was read between the
 * lines). The latest statement wins: a later turn overrides an earlier one,
 * and within one turn a weaker source does not override a stronger one. The
 * set goes in and out as JSON so the store can keep it between turns.
 *
 * Ownership: a facts object owns its strings; facts_get() borrows them until
 * the fact is set again or the object is freed.
 */
#ifndef PROVBOT_FACTS_H
#define PROVBOT_FACTS_H

#include "buf.h"

#include <stdbool.h>
#include <cJSON.h>

typedef struct facts facts;

/* An empty set, or the one in o (a JSON object as facts_json() writes;
 * entries that are not well formed are dropped). NULL when out of memory. */
facts *facts_new(const cJSON *o);
void facts_free(facts *f);
/* The set as a JSON object; caller cJSON_Delete()s. NULL when out of memory. */
cJSON *facts_json(const facts *f);
/* The same object as JSON text, appended to b: 0, or -1 when b failed. */
int facts_write(const facts *f, struct buf *b);
/* How many facts are known. */
size_t facts_count(const facts *f);

/* The value of fact name, or NULL when not known. */
const char *facts_get(const facts *f, const char *name);
/* The confidence it was told with, 0 when not known. */
double facts_conf(const facts *f, const char *name);
/* The turn that set it, or -1. */
int facts_turn(const facts *f, const char *name);
/* Sets (value NULL or "": forgets) a fact told at turn with confidence conf.
 * Returns 1 when the value changed, 0 when not (same value, or a weaker
 * source in the same turn), negative when out of memory. */
int facts_set(facts *f, const char *name, const char *value, int turn, double conf);
/* True when any fact was set or forgotten at turn or later. */
bool facts_changed_since(const facts *f, int turn);
/* The values only, {name: value}, for the case logic; caller deletes. */
cJSON *facts_values(const facts *f);

#endif
