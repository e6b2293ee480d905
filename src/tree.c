/* tree.c -- parsing, validating and reading the decision tree (see tree.h).
 *
 * Arrays of questions, steps, FAQ entries and topics point into the cJSON
 * document; only the compiled FAQ patterns and the arrays are owned here.
 * Validation checks every name a step or question uses: facts, values,
 * questions, actions, intents, so the dialog can trust what it reads.
 */
#include "tree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_NAME "flows.json"

struct tree {
    const cJSON *facts;              /* {fact: [values] | "value"} */
    const cJSON *process;            /* ["fact", ...] or NULL */
    const cJSON *results;            /* [{"when": {...}, "fact": F}, ...] or NULL */
    const cJSON *implies;            /* [{"when": {...}, "set": {...}}, ...] or NULL */
    const cJSON *start;              /* {fact: value} a started process implies, or NULL */
    struct tree_question *q;         /* owned array */
    size_t nq;
    struct tree_step *steps;         /* owned array, in order */
    size_t nsteps;
    struct tree_faq *faq;            /* owned array */
    size_t nfaq;
    struct tree_topic *topics;       /* owned array */
    size_t ntopics;
};

static const char *const expects[] = {
    "yes_no", "line_status", "order_ref", "email", "text", "confirm", NULL
};
static const char *const actions[] = { "file_case", "find_case", NULL };

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pack_vfail(err, errlen, FILE_NAME, fmt, ap);
    va_end(ap);
    return -1;
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = get(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool in_list(const char *s, const char *const *list)
{
    for (; s && *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

const cJSON *tree_start(const tree *t) { return t->start; }

const char *tree_expect_at(size_t i)
{
    return i < sizeof expects / sizeof *expects - 1 ? expects[i] : NULL;
}

const char *tree_expect(const char *name)
{
    for (const char *const *e = expects; *e; e++)
        if (name && !strcmp(name, *e))
            return *e;
    return NULL;
}

bool tree_is_fact(const tree *t, const char *name)
{
    return name && get(t->facts, name) != NULL;
}

/* True when value may be a value of fact (any value for a "value" fact). */
static bool value_ok(const tree *t, const char *fact, const char *value)
{
    const cJSON *vals = get(t->facts, fact), *v;
    if (cJSON_IsString(vals))
        return true;
    cJSON_ArrayForEach(v, vals)
        if (cJSON_IsString(v) && value && !strcmp(v->valuestring, value))
            return true;
    return false;
}

/* An optional {en,sv} text at o.k; field names it in messages. */
static int opt_text(const cJSON *o, const char *k, const char *field, bool arrays,
                    const cJSON **out, char *err, size_t errlen)
{
    char f[160];
    *out = get(o, k);
    if (!*out)
        return 0;
    snprintf(f, sizeof f, "%s.%s", field, k);
    return pack_check_langs(*out, arrays, FILE_NAME, f, err, errlen);
}

static int check_when(const tree *t, const cJSON *when, const char *field,
                      char *err, size_t errlen);

/* An FAQ entry's "pending": absent, a question id or a list of them. 0, or
 * -1 when it names no question. */
static int check_pending(const tree *t, const cJSON *pending)
{
    const cJSON *v;
    if (!pending)
        return 0;
    if (cJSON_IsString(pending))
        return tree_question(t, pending->valuestring) ? 0 : -1;
    if (!cJSON_IsArray(pending) || !cJSON_GetArraySize(pending))
        return -1;
    cJSON_ArrayForEach(v, pending)
        if (!cJSON_IsString(v) || !tree_question(t, v->valuestring))
            return -1;
    return 0;
}

bool tree_faq_pending_ok(const struct tree_faq *f, const char *qid)
{
    const cJSON *v;
    if (!f->pending)
        return true;
    if (!qid)
        return false;
    if (cJSON_IsString(f->pending))
        return !strcmp(f->pending->valuestring, qid);
    cJSON_ArrayForEach(v, f->pending)
        if (!strcmp(v->valuestring, qid))
            return true;
    return false;
}

static int parse_question(tree *t, const cJSON *o, struct tree_question *q,
                          char *err, size_t errlen)
{
    char field[128];
    snprintf(field, sizeof field, "questions.%s", o->string);
    q->id = o->string;
    q->fact = str(o, "fact");
    q->expect = str(o, "expect");
    q->yes = str(o, "yes");
    q->no = str(o, "no");
    q->unknown_value = str(o, "unknown_value");
    q->form = cJSON_IsTrue(get(o, "form"));
    q->optional = cJSON_IsTrue(get(o, "optional"));
    q->once = cJSON_IsTrue(get(o, "once"));
    if (!q->fact || (strcmp(q->fact, "field") && !tree_is_fact(t, q->fact)))
        return fail(err, errlen, "%s.fact: must name a fact", field);
    if (!in_list(q->expect, expects))
        return fail(err, errlen, "%s.expect: must be one of yes_no, line_status, order_ref, email, text, confirm", field);
    const char *vals[3] = { q->yes, q->no, q->unknown_value };
    for (int i = 0; i < 3; i++)
        if (vals[i] && !value_ok(t, q->fact, vals[i]))
            return fail(err, errlen, "%s: \"%s\" is not a value of fact %s", field, vals[i], q->fact);
    if (pack_check_langs(get(o, "say"), false, FILE_NAME, field, err, errlen) < 0)
        return -1;
    q->say = get(o, "say");
    q->yes_when = get(o, "yes_when");
    if (q->yes_when && !q->yes)
        return fail(err, errlen, "%s.yes_when: needs a \"yes\"", field);
    char yw[160];
    snprintf(yw, sizeof yw, "%s.yes_when", field);
    if (q->yes_when && check_when(t, q->yes_when, yw, err, errlen) < 0)
        return -1;
    if (opt_text(o, "again", field, false, &q->again, err, errlen) < 0 ||
        opt_text(o, "invalid", field, false, &q->invalid, err, errlen) < 0 ||
        opt_text(o, "unknown", field, false, &q->unknown, err, errlen) < 0 ||
        opt_text(o, "buttons", field, true, &q->buttons, err, errlen) < 0)
        return -1;
    return 0;
}

/* A step's condition: every key a fact, every value one of its values,
 * a list of them, null or "*". */
static int check_when(const tree *t, const cJSON *when, const char *field,
                      char *err, size_t errlen)
{
    const cJSON *c, *v;
    if (!cJSON_IsObject(when))
        return fail(err, errlen, "%s.when: must be an object of fact conditions", field);
    cJSON_ArrayForEach(c, when) {
        if (!tree_is_fact(t, c->string))
            return fail(err, errlen, "%s.when: unknown fact \"%s\"", field, c->string);
        if (cJSON_IsNull(c) || (cJSON_IsString(c) && !strcmp(c->valuestring, "*")))
            continue;
        if (cJSON_IsString(c) && value_ok(t, c->string, c->valuestring + (c->valuestring[0] == '!')))
            continue;   /* a value, or "!value": any other or none */
        if (cJSON_IsArray(c)) {
            bool ok = cJSON_GetArraySize(c) > 0;
            cJSON_ArrayForEach(v, c)
                ok = ok && cJSON_IsString(v) && value_ok(t, c->string, v->valuestring);
            if (ok)
                continue;
        }
        return fail(err, errlen, "%s.when.%s: not a value of the fact", field, c->string);
    }
    return 0;
}

/* A file_case step's case type: its "case" (cases.json "types"), or the
 * default type when it names none. */
static int step_case(const pack *p, const cJSON *o, struct tree_step *s, const char *field,
                     char *err, size_t errlen)
{
    const char *key = str(o, "case");
    if (get(o, "case") && (!key || !s->action || strcmp(s->action, "file_case")))
        return fail(err, errlen, "%s.case: only a file_case step names a case type", field);
    if (!s->action || strcmp(s->action, "file_case"))
        return 0;
    if (!(s->case_type = pack_case_type(p, key)))
        return fail(err, errlen, "%s.case: unknown case type \"%s\" (cases.json \"types\")",
                    field, key ? key : "(default)");
    return 0;
}

static int parse_step(tree *t, const pack *p, const cJSON *o, struct tree_step *s, size_t i,
                      char *err, size_t errlen)
{
    char field[128];
    const cJSON *v;
    s->id = str(o, "id");
    snprintf(field, sizeof field, "steps[%zu]", i);
    if (!s->id)
        return fail(err, errlen, "%s.id: missing", field);
    s->when = get(o, "when");
    if (check_when(t, s->when, field, err, errlen) < 0 ||
        opt_text(o, "say", field, false, &s->say, err, errlen) < 0 ||
        opt_text(o, "again", field, false, &s->again, err, errlen) < 0)
        return -1;
    s->set = get(o, "set");
    cJSON_ArrayForEach(v, s->set)
        if (!cJSON_IsString(v) || !tree_is_fact(t, v->string) ||
            !value_ok(t, v->string, v->valuestring))
            return fail(err, errlen, "%s.set.%s: must set a fact to one of its values", field, v->string);
    s->action = str(o, "action");
    if (get(o, "action") && !in_list(s->action, actions))
        return fail(err, errlen, "%s.action: must be file_case or find_case", field);
    if (step_case(p, o, s, field, err, errlen) < 0)
        return -1;
    if (get(o, "ask") && !(s->ask = tree_question(t, str(o, "ask"))))
        return fail(err, errlen, "%s.ask: unknown question", field);
    s->end = cJSON_IsTrue(get(o, "end"));
    s->quiet = cJSON_IsTrue(get(o, "quiet"));
    if (!s->say && !s->ask && !s->action && !s->end)
        return fail(err, errlen, "%s: a step must say, ask, act or end", field);
    return 0;
}

/* An array of intent ids into out[8] (pack indexes); -1 on an unknown one. */
static int intent_list(const pack *p, const cJSON *arr, int out[8], int *n)
{
    const cJSON *in;
    cJSON_ArrayForEach(in, arr) {
        int k = cJSON_IsString(in) ? pack_intent_find(p, in->valuestring) : -1;
        if (k < 0 || *n == 8)
            return -1;
        out[(*n)++] = k;
    }
    return 0;
}

/* True when id names an FAQ entry after entry i. */
static bool later_faq(const tree *t, size_t i, const char *id)
{
    for (size_t k = i + 1; k < t->nfaq; k++)
        if (!strcmp(t->faq[k].id, id))
            return true;
    return false;
}

static int parse_faq(const pack *p, const cJSON *o, struct tree_faq *f, size_t i,
                     char *err, size_t errlen)
{
    char field[128];
    const cJSON *in;
    f->id = str(o, "id");
    snprintf(field, sizeof field, "faq[%zu]", i);
    if (!f->id)
        return fail(err, errlen, "%s.id: missing", field);
    if (pack_check_langs(get(o, "say"), false, FILE_NAME, field, err, errlen) < 0)
        return -1;
    f->say = get(o, "say");
    if (intent_list(p, get(o, "intents"), f->intents, &f->nintents) < 0)
        return fail(err, errlen, "%s.intents: unknown intent or more than 8", field);
    if (intent_list(p, get(o, "covers"), f->covers, &f->ncovers) < 0)
        return fail(err, errlen, "%s.covers: unknown intent or more than 8", field);
    f->any = cJSON_IsTrue(get(o, "any"));
    f->repeat = cJSON_IsTrue(get(o, "repeat"));
    f->pending = get(o, "pending");
    f->when = get(o, "when");
    f->covers_steps = get(o, "covers_steps");
    cJSON_ArrayForEach(in, f->covers_steps)
        if (!cJSON_IsString(in))
            return fail(err, errlen, "%s.covers_steps: must be step ids", field);
    f->instead_of = get(o, "instead_of");
    cJSON_ArrayForEach(in, f->instead_of)
        if (!cJSON_IsString(in))
            return fail(err, errlen, "%s.instead_of: must be FAQ ids", field);
    size_t base = strlen(field);
    strcpy(field + base, ".unless");
    if (pack_compile_rules(get(o, "unless"), &f->unless, FILE_NAME, field, err, errlen) < 0)
        return -1;
    strcpy(field + base, ".match");
    if (pack_compile_rules(get(o, "match"), &f->rules, FILE_NAME, field, err, errlen) < 0)
        return -1;
    return f->rules.n ? 0 : fail(err, errlen, "%s: no patterns", field);
}

static int parse_topics(tree *t, const pack *p, const cJSON *arr, char *err, size_t errlen)
{
    const cJSON *o;
    t->topics = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *t->topics);
    if (!t->topics)
        return fail(err, errlen, "out of memory");
    cJSON_ArrayForEach(o, arr) {
        struct tree_topic *tp = &t->topics[t->ntopics];
        char field[64];
        snprintf(field, sizeof field, "topics[%zu].label", t->ntopics);
        tp->intent = str(o, "intent") ? pack_intent_find(p, str(o, "intent")) : -1;
        if (tp->intent < 0)
            return fail(err, errlen, "topics[%zu].intent: unknown intent", t->ntopics);
        if (pack_check_langs(get(o, "label"), false, FILE_NAME, field, err, errlen) < 0)
            return -1;
        tp->label = get(o, "label");
        t->ntopics++;
    }
    return 0;
}

/* "implies": each entry a condition and the facts ({fact: value}) it sets. */
static int parse_implies(tree *t, const cJSON *doc, char *err, size_t errlen)
{
    const cJSON *v, *f;
    size_t i = 0;
    t->implies = get(doc, "implies");
    cJSON_ArrayForEach(v, t->implies) {
        char field[32];
        snprintf(field, sizeof field, "implies[%zu]", i++);
        if (check_when(t, get(v, "when"), field, err, errlen) < 0)
            return -1;
        if (!cJSON_IsObject(get(v, "set")))
            return fail(err, errlen, "%s.set: must be an object of fact: value", field);
        cJSON_ArrayForEach(f, get(v, "set"))
            if (!cJSON_IsString(f) || !tree_is_fact(t, f->string) || !value_ok(t, f->string, f->valuestring))
                return fail(err, errlen, "%s.set.%s: must set a fact to one of its values", field, f->string);
    }
    return 0;
}

/* "process_facts" names facts; each "results" entry a condition and a fact. */
static int parse_lists(tree *t, const cJSON *doc, char *err, size_t errlen)
{
    const cJSON *v;
    size_t i = 0;
    t->process = get(doc, "process_facts");
    t->results = get(doc, "results");
    t->start = get(doc, "start");
    if (t->start && !cJSON_IsObject(t->start))
        return fail(err, errlen, "start: must be an object of fact: value");
    cJSON_ArrayForEach(v, t->start)
        if (!cJSON_IsString(v) || !tree_is_fact(t, v->string) || !value_ok(t, v->string, v->valuestring))
            return fail(err, errlen, "start.%s: must set a fact to one of its values", v->string);
    cJSON_ArrayForEach(v, t->process)
        if (!cJSON_IsString(v) || !tree_is_fact(t, v->valuestring))
            return fail(err, errlen, "process_facts: every entry must name a fact");
    cJSON_ArrayForEach(v, t->results) {
        char field[32];
        snprintf(field, sizeof field, "results[%zu]", i++);
        if (check_when(t, get(v, "when"), field, err, errlen) < 0)
            return -1;
        if (!tree_is_fact(t, str(v, "fact")))
            return fail(err, errlen, "%s.fact: must name a fact", field);
    }
    return parse_implies(t, doc, err, errlen);
}

/* Every fact an intent sets ("set" in its file) is a fact of the tree. */
static int check_intent_sets(const tree *t, const pack *p, char *err, size_t errlen)
{
    for (size_t i = 0; i < pack_intent_count(p); i++) {
        const struct pack_intent *in = pack_intent_at(p, i);
        const cJSON *v;
        cJSON_ArrayForEach(v, in->set)
            if (!cJSON_IsString(v) || !tree_is_fact(t, v->string) ||
                !value_ok(t, v->string, v->valuestring)) {
                snprintf(err, errlen, "%s: set.%s: not a fact of " FILE_NAME
                         " with that value", in->file, v->string);
                return -1;
            }
    }
    return 0;
}

/* Allocates the four arrays and parses them, questions first (steps refer
 * to them). */
static int parse_all(tree *t, const pack *p, const cJSON *doc, char *err, size_t errlen)
{
    const cJSON *qs = get(doc, "questions"), *steps = get(doc, "steps");
    const cJSON *faq = get(doc, "faq"), *o;
    if (!cJSON_IsObject(qs) || !cJSON_IsArray(steps) || (faq && !cJSON_IsArray(faq)))
        return fail(err, errlen, "questions (object), steps (array) and faq (array) are needed");
    t->q = calloc((size_t)cJSON_GetArraySize(qs) + 1, sizeof *t->q);
    t->steps = calloc((size_t)cJSON_GetArraySize(steps) + 1, sizeof *t->steps);
    t->faq = calloc((size_t)cJSON_GetArraySize(faq) + 1, sizeof *t->faq);
    if (!t->q || !t->steps || !t->faq)
        return fail(err, errlen, "out of memory");
    cJSON_ArrayForEach(o, qs)
        if (parse_question(t, o, &t->q[t->nq++], err, errlen) < 0)
            return -1;
    cJSON_ArrayForEach(o, steps) {
        if (parse_step(t, p, o, &t->steps[t->nsteps], t->nsteps, err, errlen) < 0)
            return -1;
        t->nsteps++;
    }
    cJSON_ArrayForEach(o, faq) {
        if (parse_faq(p, o, &t->faq[t->nfaq], t->nfaq, err, errlen) < 0) {
            t->nfaq++; /* its rules are freed with the rest */
            return -1;
        }
        t->nfaq++;
    }
    if (parse_topics(t, p, get(doc, "topics"), err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < t->nfaq; i++) { /* names that FAQ entries use */
        const cJSON *v;
        char field[32];
        snprintf(field, sizeof field, "faq[%zu]", i);
        if (check_pending(t, t->faq[i].pending) < 0)
            return fail(err, errlen, "faq[%zu].pending: unknown question", i);
        if (t->faq[i].when && check_when(t, t->faq[i].when, field, err, errlen) < 0)
            return -1;
        cJSON_ArrayForEach(v, t->faq[i].covers_steps)
            if (!tree_step(t, v->valuestring))
                return fail(err, errlen, "faq[%zu].covers_steps: unknown step \"%s\"", i, v->valuestring);
        cJSON_ArrayForEach(v, t->faq[i].instead_of)
            if (!later_faq(t, i, v->valuestring))
                return fail(err, errlen, "faq[%zu].instead_of: \"%s\" is no later FAQ entry", i,
                            v->valuestring);
    }
    return check_intent_sets(t, p, err, errlen);
}

tree *tree_parse(const cJSON *doc, const pack *p, char *err, size_t errlen)
{
    tree *t = calloc(1, sizeof *t);
    const cJSON *v = get(doc, "version");
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!cJSON_IsNumber(v) || v->valueint != 2) {
        fail(err, errlen, "version: must be 2 (a decision tree of facts and steps)");
        goto fail;
    }
    t->facts = get(doc, "facts");
    if (!cJSON_IsObject(t->facts)) {
        fail(err, errlen, "facts: missing or not an object");
        goto fail;
    }
    if (parse_all(t, p, doc, err, errlen) < 0 || parse_lists(t, doc, err, errlen) < 0)
        goto fail;
    return t;
fail:
    tree_free(t);
    return NULL;
}

void tree_free(tree *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nfaq; i++) {
        pack_free_rules(&t->faq[i].rules);
        pack_free_rules(&t->faq[i].unless);
    }
    free(t->q);
    free(t->steps);
    free(t->faq);
    free(t->topics);
    free(t);
}

const struct tree_question *tree_question(const tree *t, const char *id)
{
    for (size_t i = 0; id && i < t->nq; i++)
        if (!strcmp(t->q[i].id, id))
            return &t->q[i];
    return NULL;
}

const struct tree_step *tree_step(const tree *t, const char *id)
{
    for (size_t i = 0; id && i < t->nsteps; i++)
        if (!strcmp(t->steps[i].id, id))
            return &t->steps[i];
    return NULL;
}

bool tree_holds(const cJSON *cond, const facts *f)
{
    const cJSON *c, *v;
    cJSON_ArrayForEach(c, cond) {
        const char *have = facts_get(f, c->string);
        bool ok = false;
        if (cJSON_IsNull(c))
            ok = !have;
        else if (cJSON_IsString(c) && c->valuestring[0] == '!')
            ok = !have || strcmp(c->valuestring + 1, have);
        else if (cJSON_IsString(c))
            ok = have && (!strcmp(c->valuestring, "*") || !strcmp(c->valuestring, have));
        else
            cJSON_ArrayForEach(v, c)
                ok = ok || (have && !strcmp(v->valuestring, have));
        if (!ok)
            return false;
    }
    return true;
}

const struct tree_step *tree_next(const tree *t, const facts *f)
{
    for (size_t i = 0; i < t->nsteps; i++)
        if (tree_holds(t->steps[i].when, f))
            return &t->steps[i];
    return NULL;
}

size_t tree_faq_count(const tree *t) { return t->nfaq; }
const struct tree_faq *tree_faq_at(const tree *t, size_t i) { return &t->faq[i]; }
struct pack_rules *tree_faq_rules(tree *t, size_t i) { return &t->faq[i].rules; }
size_t tree_topic_count(const tree *t) { return t->ntopics; }
const struct tree_topic *tree_topic_at(const tree *t, size_t i) { return &t->topics[i]; }
size_t tree_question_count(const tree *t) { return t->nq; }
const struct tree_question *tree_question_at(const tree *t, size_t i) { return &t->q[i]; }

bool tree_is_process_fact(const tree *t, const char *name)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, t->process)
        if (name && !strcmp(v->valuestring, name))
            return true;
    return false;
}

/* The first entry of list ([{"when": {...}, ...}, ...]) whose condition
 * holds for f, or NULL. */
static const cJSON *first_holding(const cJSON *list, const facts *f)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, list)
        if (tree_holds(get(v, "when"), f))
            return v;
    return NULL;
}

const cJSON *tree_implied(const tree *t, const facts *f)
{
    return get(first_holding(t->implies, f), "set");
}

const cJSON *tree_process_facts(const tree *t)
{
    return t->process;
}

const char *tree_result_fact(const tree *t, const facts *f)
{
    return str(first_holding(t->results, f), "fact");
}

bool tree_is_result_fact(const tree *t, const char *name)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, t->results)
        if (name && !strcmp(str(v, "fact"), name))
            return true;
    return false;
}
