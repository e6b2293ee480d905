/* pack.h -- the knowledge pack: the domain as data, loaded from intents/.
 *
 * A pack is a folder of JSON files:
 *   pack.json      settings (threshold, languages) and the bot's own messages
 *   entities.json  rules for details taken from any message (emails, order
 *                  references, yes/no, line status, onboarding, commands)
 *   flows.json     the decision tree: facts, questions, steps, FAQ (tree.h)
 *   cases.json     the case types: each one's name, form, guards and summary
 *                  template (casefmt.h), optional
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

/* The conversational acts the dialog knows, each played by one intent that
 * pack.json's "roles" names ({"affirm": ID, "fallback": ID,
 * ...}); C refers to roles only, never to an intent id. "fallback" (the
 * out-of-scope answer) is required; a role left out is played by no intent. */
enum pack_role {
    PACK_ROLE_AFFIRM, PACK_ROLE_DENY, PACK_ROLE_THANKS, PACK_ROLE_GOODBYE,
    PACK_ROLE_GREETING, PACK_ROLE_HELP, PACK_ROLE_FALLBACK,
    PACK_ROLE_OPEN_CASE,   /* asks for a case */
    PACK_ROLE_CASE_STATUS, /* asks about a case */
    PACK_ROLE_PROBLEM,     /* reports that the article's task fails */
    PACK_NROLES
};

/* A case type of cases.json "types" (key -> object). Every fact it names is a
 * fact of flows.json. Borrowed from the pack. */
struct pack_case_type {
    const char *key;         /* its key in "types" (a flows.json step's "case") */
    const char *name;        /* "name": the case's "type" for support */
    const cJSON *doc;        /* the whole object; its "summary" is casefmt.h's */
    const cJSON *form;       /* "form": [fact...], the details the case carries,
                                in the order the "Updated" notes are said */
    const cJSON *keep;       /* "keep": form facts kept for the next case, or NULL */
    const cJSON *required;   /* "required": [fact...] no case without them, or NULL */
    const cJSON *refuse_when;/* "refuse_when": {fact: value}, refused when one holds, or NULL */
    const char *refused;     /* "refused": message key said when refused ("case_refused") */
};
#define PACK_CASE_TYPES_MAX 8

struct pack_rules {          /* compiled patterns */
    pcre2_code **re;         /* owned by the pack */
    const char **src;        /* their text (for gate.h), borrowed from the
                                pack's documents; the array is owned */
    size_t n;
    unsigned char *jit;      /* n flags, owned: 0 while re[i] waits for its JIT
                                code (compiled when first run: pack_rule_ready) */
    int gate;                /* number of re[0] in the pack's literal gate
                                (gate.h; re[i] is gate + i), or -1: no gate */
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

/* The case types of cases.json, in file order (none without the file). */
size_t pack_case_type_count(const pack *p);
const struct pack_case_type *pack_case_type_at(const pack *p, size_t i);
/* The type with key `key` (NULL: the first, the default), or NULL. */
const struct pack_case_type *pack_case_type(const pack *p, const char *key);
/* True when fact is in the form of any case type. */
bool pack_is_form_fact(const pack *p, const char *fact);
/* True when fact is one the case types keep for the next case. */
bool pack_is_kept_fact(const pack *p, const char *fact);

/* The intent index playing role r, or -1 when none does. */
int pack_role(const pack *p, enum pack_role r);
/* True when intent `in` plays role r. */
bool pack_plays(const pack *p, const struct pack_intent *in, enum pack_role r);

/* The message `key` of pack.json ({"en","sv"} object), or NULL. */
const cJSON *pack_message(const pack *p, const char *key);
/* False when raw (ASCII letters caseless) is none of the pack's texts that
 * label buttons (the messages', flows.json's, the intents' titles); true
 * when it may be one: a filter before comparing labels one by one. */
bool pack_may_be_label(const pack *p, const char *raw);
/* The text for `lang` in a {"en","sv"} object; "" when obj is NULL. */
const char *pack_text(const cJSON *obj, const char *lang);

/* Entity rules. */
size_t pack_value_count(const pack *p);
const struct pack_value *pack_value_at(const pack *p, size_t i);
const pcre2_code *pack_email_rule(const pack *p);
const pcre2_code *pack_order_rule(const pack *p);
/* Words that may stand right before an email address (folded), or NULL. */
const pcre2_code *pack_email_lead_rule(const pack *p);
/* entities.json "description_lead" (on the raw text), or NULL: what may
 * lead a description without being part of it (a greeting, the answer
 * to "did it work?"). */
const pcre2_code *pack_description_lead_rule(const pack *p);
/* entities.json's cues, patterns on the folded text: PACK_CUE_REQUESTER
 * marks an address as the person's own, PACK_CUE_NEW calls it the new one,
 * PACK_CUE_CORRECTION ("should be", "actually") calls it the new one where
 * no requester cue names it the person's own; PACK_CUE_RETRACT ("sorry I
 * meant", "no wait"), standing between two values of a kind, takes the first
 * back; PACK_CUE_OWN_LABEL is a label ending in ':' right before an address
 * that makes it the person's own ("jag: ulla@firma.se"). */
enum pack_cue { PACK_CUE_REQUESTER, PACK_CUE_NEW, PACK_CUE_CORRECTION, PACK_CUE_RETRACT,
                PACK_CUE_OWN_LABEL, PACK_CUES };
/* True when cue c is in the pack and matches fold[0..len) (the pack's gate
 * spares the run where the cue's words are missing). */
bool pack_cue_match(const pack *p, enum pack_cue c, const char *fold, size_t len);
/* The requester cue as a pattern (for a part of a folded text), or NULL. */
const pcre2_code *pack_requester_rule(const pack *p);
/* entities.json "domain_fix": patterns on the raw text of a correction of
 * an address's domain alone ("the domain is .se not .com"), with the named
 * groups "to" (the right domain or ending) and, when told, "from" (the wrong
 * one). True when one matches, with both copied into to and from (cap bytes
 * each; "" for a group not told). */
bool pack_domain_fix(const pack *p, const char *raw, size_t len, char *to, char *from, size_t cap);

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

/* Gives r->re[i] its JIT code the first time it is about to run (most of a
 * pack's patterns are never run in a conversation: the gates rule them out;
 * compiling them all at load was two thirds of loading). One thread only. */
void pack_rule_ready(const struct pack_rules *r, size_t i);
/* True when any rule matches subject[0..len). Uses the pack's match data:
 * call from one thread only. */
bool pack_rules_match(const pack *p, const struct pack_rules *r,
                      const char *subject, size_t len);
/* Runs re on subject from `start`; on a match stores capture group `group`
 * (or the whole match when the group is unset) in *so and *eo and returns true. */
bool pack_rule_find(const pack *p, const pcre2_code *re, const char *subject,
                    size_t len, size_t start, int group, size_t *so, size_t *eo);

#endif
