/* tree.h -- the article's decision tree, as data (intents/flows.json).
 *
 * The tree names the facts a conversation can know and their values, the
 * questions the bot can ask (the fact each sets, what it expects, its texts),
 * the steps in order (the first whose condition over the facts holds is the
 * next step), the questions answered at any point (FAQ, matched by patterns)
 * and the main topics offered as buttons. tree_parse() validates it all and
 * refuses a bad tree with one message naming the field; a parsed tree is
 * read-only and borrows every text from the cJSON document it was parsed
 * from, which must outlive it (the pack keeps both).
 */
#ifndef PROVBOT_TREE_H
#define PROVBOT_TREE_H

#include "facts.h"
#include "pack.h"

typedef struct tree tree;

struct tree_question {
    const char *id;          /* key in "questions" */
    const char *fact;        /* the fact its answer sets */
    const char *expect;      /* yes_no line_status order_ref email text confirm */
    const char *yes, *no;    /* values a yes / a no set (yes_no, confirm), or NULL */
    const char *unknown_value; /* value "don't know" sets, NULL: the fact stays open */
    const cJSON *say;        /* {en,sv} the question */
    const cJSON *again;      /* {en,sv} a one-line reminder, or NULL */
    const cJSON *invalid;    /* {en,sv} said for an answer that is not valid, or NULL */
    const cJSON *unknown;    /* {en,sv} said for "don't know", or NULL */
    const cJSON *buttons;    /* {en:[..],sv:[..]} or NULL */
    const cJSON *yes_when;   /* {fact: value}: a message telling these is a yes
                                whatever its yes or no says, or NULL */
    bool form;               /* part of the case form */
    bool optional;           /* may be skipped */
    bool once;               /* asked once: not answered, the bot goes on */
};

struct tree_step {
    const char *id;
    const cJSON *when;       /* {fact: value | [values] | null | "*"} */
    const cJSON *say;        /* {en,sv} or NULL */
    const cJSON *again;      /* {en,sv} said instead when the step comes again, or NULL */
    const cJSON *set;        /* {fact: value} set when the step runs, or NULL */
    const struct tree_question *ask; /* the question it asks, or NULL */
    const char *action;      /* "file_case", "find_case" or NULL */
    const struct pack_case_type *case_type; /* file_case: the type it files ("case") */
    bool end;                /* closes the path */
    bool quiet;              /* details told once it ended are not acknowledged */
};

struct tree_faq {
    const char *id;
    struct pack_rules rules; /* on the folded text; owned by the tree */
    struct pack_rules unless; /* ... the entry does not answer a text one of these
                                 matches ("unless"; n 0 when none); owned */
    int intents[8];          /* only with these intents (pack indexes), when nintents > 0 */
    int nintents;
    const cJSON *say;        /* {en,sv} */
    int covers[8];           /* intents whose own answer this one replaces */
    int ncovers;
    bool any;                /* answered on a statement too, not only a question */
    bool repeat;             /* the step that asked the pending question is said
                                again after it ("how do I do that?" at "did it work?") */
    const cJSON *pending;    /* only while this question (id) or one of these
                                (a list of ids) is pending, or NULL */
    const cJSON *when;       /* only while these facts hold ({fact: value...}), or NULL */
    const cJSON *covers_steps; /* array of step ids that say their "again" (short)
                                  form when this answer was given, or NULL */
    const cJSON *instead_of; /* array of ids of later FAQ entries that this one, when
                                it answers, stands for (not said beside it), or NULL */
};

struct tree_topic {
    int intent;              /* pack index */
    const cJSON *label;      /* {en,sv} button label */
};

/* Parses and validates doc (flows.json) against pack p's intents. NULL with
 * a message naming the field in err. */
tree *tree_parse(const cJSON *doc, const pack *p, char *err, size_t errlen);
void tree_free(tree *t);

/* True when name is a fact of the tree. */
bool tree_is_fact(const tree *t, const char *name);
const struct tree_question *tree_question(const tree *t, const char *id);
size_t tree_question_count(const tree *t);
const struct tree_question *tree_question_at(const tree *t, size_t i);
const struct tree_step *tree_step(const tree *t, const char *id);
/* The first step whose condition holds for f, or NULL. */
const struct tree_step *tree_next(const tree *t, const facts *f);
/* True when cond ({fact: value...}) holds for f. */
bool tree_holds(const cJSON *cond, const facts *f);

/* flows.json "start": the facts ({fact: value}) that starting the process
 * implies (a process intent, or a process fact told), or NULL. */
const cJSON *tree_start(const tree *t);
/* The question type `name` as a static string (its one table), or NULL when
 * it is none of yes_no line_status order_ref email text confirm. */
const char *tree_expect(const char *name);
/* The i-th question type of that table (0-based), NULL past its end. */
const char *tree_expect_at(size_t i);

/* True when name is one of the process facts (a "yes" may be about one of
 * them rather than the question asked). */
bool tree_is_process_fact(const tree *t, const char *name);
/* flows.json "implies": the facts ({fact: value}) of the first entry whose
 * condition holds for f (a fact that fixes others whatever is said later),
 * or NULL. */
const cJSON *tree_implied(const tree *t, const facts *f);
/* flows.json "process_facts" (["fact", ...]), or NULL. */
const cJSON *tree_process_facts(const tree *t);
/* The fact that a result told in passing ("it worked", "still fails") sets
 * now: the first entry of "results" whose condition holds, or NULL. */
const char *tree_result_fact(const tree *t, const facts *f);
/* True when name is a fact some entry of "results" sets. */
bool tree_is_result_fact(const tree *t, const char *name);

size_t tree_faq_count(const tree *t);
const struct tree_faq *tree_faq_at(const tree *t, size_t i);
/* The i-th answer's patterns, for the pack's loader to put in its gate. */
struct pack_rules *tree_faq_rules(tree *t, size_t i);
/* True when FAQ entry f may answer while question qid (NULL: none) is
 * pending: it names no question, or qid is one of those it names. */
bool tree_faq_pending_ok(const struct tree_faq *f, const char *qid);
size_t tree_topic_count(const tree *t);
const struct tree_topic *tree_topic_at(const tree *t, size_t i);

#endif
