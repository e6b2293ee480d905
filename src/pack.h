/* pack.h -- the knowledge pack: the domain as data, loaded from intents/.
 *
 * A pack is a folder of JSON files:
 *   pack.json      settings (threshold, languages) and the bot's own messages
 *   entities.json  rules for details taken from any message (emails, order
 *                  references, yes/no, line status, onboarding, commands)
 *   flows.json     the decision tree: facts, questions, steps, FAQ (tree.h)
 *   cases.json     a case's summary template and labels (casefmt.h), optional
 *   *.json         one intent each: id, title, examples per language,
 *                  patterns, answer, and optionally a flow to start
 * pack_load() validates everything and refuses a bad pack with one message
 * naming the file and the field (and pcre2's message and offset, or the JSON
 * line and column). A loaded pack is read-only and owns every string and
 * cJSON node it hands out: they live until pack_free().
 *
 * Patterns are PCRE2 (UTF, UCP, caseless, JIT) and match the TEXT_FOLD form
 * of a message (see text.h), except the email and order reference rules,
 * which match the raw text.
 */
#ifndef PROVBOT_PACK_H
#define PROVBOT_PACK_H

#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <cJSON.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define PACK_ID_MAX 40
#define PACK_NLANG 2

typedef struct pack pack;
typedef struct lex lex;      /* lexicon.h */

extern const char *const pack_langs[PACK_NLANG]; /* "en", "sv" */

/* The intent ids of the outer contract: a pack must define all of them. */
extern const char *const pack_contract_intents[];
extern const size_t pack_contract_count;

struct pack_rules {          /* compiled patterns */
    pcre2_code **re;         /* owned by the pack */
    size_t n;
};

struct pack_intent {
    char id[PACK_ID_MAX];          /* intent id */
    char file[64];                 /* file name, for messages */
    const cJSON *title;            /* {"en","sv"}: button label in "did you mean" */
    const cJSON *answer;           /* {"en","sv"} markdown */
    const cJSON *buttons;          /* {"en":[..],"sv":[..]} or NULL */
    const cJSON *set;              /* {"slot":"value"} set when recognised, or NULL */
    const char *flow;              /* "process": drives the decision tree;
                                      "cases": lists the person's cases; or NULL */
    const cJSON *examples[PACK_NLANG]; /* arrays of strings per language */
    struct pack_rules rules;       /* patterns */
    double boost;                  /* logit a matching pattern adds (default 4) */
};

/* One named value of a slot and the rules that recognise it. */
struct pack_value {
    char slot[PACK_ID_MAX];
    char value[PACK_ID_MAX];
    struct pack_rules rules;
};

pack *pack_load(const char *dir, char *err, size_t errlen);
void pack_free(pack *p);

size_t pack_intent_count(const pack *p);
const struct pack_intent *pack_intent_at(const pack *p, size_t i);
/* Index of intent `id`, or -1. */
int pack_intent_find(const pack *p, const char *id);

double pack_threshold(const pack *p);
/* Softmax temperature that calibrates the confidences (pack.json). */
double pack_temperature(const pack *p);

/* The decision tree of flows.json (see tree.h). */
struct tree;
const struct tree *pack_tree(const pack *p);
/* The lexicon of objects.json (lexicon.h), or NULL when the pack has none. */
const lex *pack_lexicon(const pack *p);

/* cases.json (checked; see casefmt.h), or NULL when the pack has none. */
const cJSON *pack_cases(const pack *p);

/* The message `key` of pack.json ({"en","sv"} object), or NULL. */
const cJSON *pack_message(const pack *p, const char *key);
/* The text for `lang` in a {"en","sv"} object; "" when obj is NULL. */
const char *pack_text(const cJSON *obj, const char *lang);

/* Entity rules. */
size_t pack_value_count(const pack *p);
const struct pack_value *pack_value_at(const pack *p, size_t i);
const pcre2_code *pack_email_rule(const pack *p);
const pcre2_code *pack_order_rule(const pack *p);
/* Words that may stand right before an email address (folded), or NULL. */
const pcre2_code *pack_email_lead_rule(const pack *p);
/* Words marking an address as the person's own (folded text), or NULL. */
const pcre2_code *pack_requester_rule(const pack *p);
/* Words calling an address the new one (folded text), or NULL. */
const pcre2_code *pack_new_cue_rule(const pack *p);

/* Writes "file: message" into err; returns -1 (for the loaders' errors). */
int pack_vfail(char *err, size_t errlen, const char *file, const char *fmt, va_list ap);

/* Compiles an array of patterns (as the pack's, for the folded text) into r,
 * which the caller frees with pack_free_rules(); arr NULL: no rules. On a bad
 * pattern: negative, with file, field, pcre2's message and offset in err. */
int pack_compile_rules(const cJSON *arr, struct pack_rules *r, const char *file,
                       const char *field, char *err, size_t errlen);
void pack_free_rules(struct pack_rules *r);
/* Checks a {"en": S, "sv": S} object (arrays of strings when arrays); 0 or
 * negative with a message naming file and field. */
int pack_check_langs(const cJSON *obj, bool arrays, const char *file,
                     const char *field, char *err, size_t errlen);

/* True when any rule matches subject[0..len). Uses the pack's match data:
 * call from one thread only. */
bool pack_rules_match(const pack *p, const struct pack_rules *r,
                      const char *subject, size_t len);
/* Runs re on subject from `start`; on a match stores capture group `group`
 * (or the whole match when the group is unset) in *so and *eo and returns true. */
bool pack_rule_find(const pack *p, const pcre2_code *re, const char *subject,
                    size_t len, size_t start, int group, size_t *so, size_t *eo);

#endif
