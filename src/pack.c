/* pack.c -- loading and validating the knowledge pack (see pack.h).
 *
 * Every file is parsed with cJSON and kept whole: the pack's texts are
 * borrowed pointers into those trees. Validation happens once, here, so the
 * dialog engine can trust every node and text it reads.
 */
#include "pack.h"
#include "casefmt.h"
#include "gate.h"

#define CASES_FILE "cases.json"
#include "tree.h"
#include "lexicon.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PACK_FILES_MAX 128

const char *const pack_langs[PACK_NLANG] = { "en", "sv" };

/* The keys of pack.json "roles", in enum pack_role's order. */
static const char *const role_names[PACK_NROLES] = {
    "affirm", "deny", "thanks", "goodbye", "greeting", "help", "fallback",
    "open_case", "case_status", "problem",
};

#define LABEL_WORDS 1024         /* 65,536 bits: a few thousand texts, few false hits */

struct pack {
    cJSON *docs[PACK_FILES_MAX];   /* every parsed file, owned */
    size_t ndocs;
    struct pack_intent *intents;   /* owned array */
    size_t nintents;
    struct pack_value *values;     /* owned array */
    size_t nvalues;
    const cJSON *messages;         /* pack.json "messages" */
    tree *tree;                    /* flows.json, owned */
    pcre2_code *email_re;          /* owned */
    pcre2_code *order_re;          /* owned */
    pcre2_code *lead_re;           /* owned, or NULL */
    pcre2_code *desc_lead_re;      /* "description_lead", owned, or NULL */
    pcre2_code *cue[PACK_CUES];    /* "requester_cue", "new_cue", "correction_cue",
                                      "retract_cue", "requester_label": owned, or NULL */
    const char *cue_src[PACK_CUES]; /* their text, borrowed from the document */
    int cue_gate[PACK_CUES];       /* their number in the gate, or -1 */
    struct pack_rules domain_fix;  /* "domain_fix" (pack_domain_fix), owned */
    double threshold;              /* below: out_of_scope */
    double temperature;            /* softmax calibration, > 0 */
    pcre2_match_data *md;          /* one thread's match data, owned */
    gate *gate;                    /* literals of the values' and answers'
                                      patterns (gate.h), owned */
    struct scanned *seen;          /* the subject gate_scan() last noted, owned */
    lex *lex;                      /* objects.json, owned; NULL without the file */
    const cJSON *cases;            /* cases.json (casefmt.h), or NULL without the file */
    struct pack_case_type types[PACK_CASE_TYPES_MAX]; /* cases.json "types" */
    size_t ntypes;
    const cJSON *roles_doc;        /* pack.json "roles" */
    int roles[PACK_NROLES];        /* intent index per role, or -1 */
    uint64_t labels[LABEL_WORDS];  /* hashes of every text that may label a
                                      button (pack_may_be_label) */
};

/* A copy of the subject last given to gate_scan(): a turn matches many rule
 * sets against the same folded text, and scans it once. */
struct scanned {
    char *s;
    size_t len, cap;
    bool valid;
};

static int fail(char *err, size_t errlen, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, const char *file, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pack_vfail(err, errlen, file, fmt, ap);
    va_end(ap);
    return -1;
}

int pack_vfail(char *err, size_t errlen, const char *file, const char *fmt, va_list ap)
{
    int n = snprintf(err, errlen, "%s: ", file);
    if (n >= 0 && (size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    return -1;
}

/* Reads and parses dir/name; reports bad JSON with its line and column. */
static cJSON *load_json(const char *dir, const char *name, char *err, size_t errlen)
{
    char path[4096];
    FILE *f = NULL;
    char *buf = NULL;
    cJSON *doc = NULL;
    long size;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f) {
        fail(err, errlen, path, "cannot open: %s", strerror(errno));
        goto out;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fail(err, errlen, path, "cannot read");
        goto out;
    }
    if (size > 16 * 1024 * 1024) {
        fail(err, errlen, path, "file too large");
        goto out;
    }
    buf = malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fail(err, errlen, path, "cannot read");
        goto out;
    }
    buf[size] = '\0';
    const char *end = NULL;
    doc = cJSON_ParseWithLengthOpts(buf, (size_t)size, &end, 0);
    if (!doc) {
        size_t off = end ? (size_t)(end - buf) : 0;
        int line = 1, col = 1;
        for (size_t i = 0; i < off && i < (size_t)size; i++) {
            if (buf[i] == '\n') { line++; col = 1; } else col++;
        }
        fail(err, errlen, path, "bad JSON at line %d, column %d", line, col);
    } else if (!cJSON_IsObject(doc)) {
        fail(err, errlen, path, "bad JSON: the top level must be an object");
        cJSON_Delete(doc);
        doc = NULL;
    }
out:
    if (f)
        fclose(f);
    free(buf);
    return doc;
}

/* PROVBOT_PCRE2_JIT=0 turns JIT off, for valgrind, which cannot follow JIT
 * code. The one environment read left in src/, on purpose: a debugging
 * switch that every program loading a pack (the unit tests and tools too)
 * must honour without each passing it in. */
static bool jit_wanted(void)
{
    const char *jit = getenv("PROVBOT_PCRE2_JIT");
    return !jit || strcmp(jit, "0") != 0;
}

/* Compiles re (its JIT code too when jit: a JIT failure only slows). */
static pcre2_code *compile(const char *re, const char *file, const char *field, bool jit,
                           char *err, size_t errlen)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                                  PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS |
                                  PCRE2_MATCH_INVALID_UTF,
                                  &code, &off, NULL);
    if (!c) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        fail(err, errlen, file, "%s: pattern error at offset %zu: %s",
             field, (size_t)off, (const char *)msg);
        return NULL;
    }
    if (jit && jit_wanted())
        (void)pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
    return c;
}

static int compile_rules(const cJSON *arr, struct pack_rules *r, const char *file,
                         const char *field, char *err, size_t errlen)
{
    char f[160];
    int i = 0;
    const cJSON *it;

    r->n = 0;
    r->re = NULL;
    r->src = NULL;
    r->jit = NULL;
    r->gate = -1;
    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr))
        return fail(err, errlen, file, "%s: must be an array of strings", field);
    r->re = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *r->re);
    r->src = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *r->src);
    r->jit = calloc((size_t)cJSON_GetArraySize(arr) + 1, 1);
    if (!r->re || !r->src || !r->jit)
        return fail(err, errlen, file, "out of memory");
    if (!jit_wanted())
        memset(r->jit, 1, (size_t)cJSON_GetArraySize(arr) + 1);   /* never */
    cJSON_ArrayForEach(it, arr) {
        snprintf(f, sizeof f, "%s[%d]", field, i++);
        if (!cJSON_IsString(it))
            return fail(err, errlen, file, "%s: must be a string", f);
        r->re[r->n] = compile(it->valuestring, file, f, false, err, errlen);
        if (!r->re[r->n])
            return -1;
        r->src[r->n++] = it->valuestring;
    }
    return 0;
}

int pack_compile_rules(const cJSON *arr, struct pack_rules *r, const char *file,
                       const char *field, char *err, size_t errlen)
{
    return compile_rules(arr, r, file, field, err, errlen);
}

static void free_rules(struct pack_rules *r)
{
    for (size_t i = 0; i < r->n; i++)
        pcre2_code_free(r->re[i]);
    free(r->re);
    free(r->src);
    free(r->jit);
    r->re = NULL;
    r->src = NULL;
    r->jit = NULL;
    r->n = 0;
}

/* A {"en": S, "sv": S} object (or arrays of strings when `arrays`). */
static int check_langs(const cJSON *obj, bool arrays, const char *file,
                       const char *field, char *err, size_t errlen)
{
    if (!cJSON_IsObject(obj))
        return fail(err, errlen, file, "%s: missing or not an object with \"en\" and \"sv\"", field);
    for (int l = 0; l < PACK_NLANG; l++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, pack_langs[l]);
        if (!v)
            return fail(err, errlen, file, "%s: missing language \"%s\"", field, pack_langs[l]);
        if (arrays) {
            const cJSON *s;
            if (!cJSON_IsArray(v))
                return fail(err, errlen, file, "%s.%s: must be an array", field, pack_langs[l]);
            cJSON_ArrayForEach(s, v)
                if (!cJSON_IsString(s) || !*s->valuestring)
                    return fail(err, errlen, file, "%s.%s: must hold non-empty strings", field, pack_langs[l]);
        } else if (!cJSON_IsString(v) || !*v->valuestring) {
            return fail(err, errlen, file, "%s.%s: must be a non-empty string", field, pack_langs[l]);
        }
    }
    return 0;
}

void pack_free_rules(struct pack_rules *r) { free_rules(r); }

int pack_check_langs(const cJSON *obj, bool arrays, const char *file,
                     const char *field, char *err, size_t errlen)
{
    return check_langs(obj, arrays, file, field, err, errlen);
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static int load_intent(pack *p, cJSON *doc, const char *file, char *err, size_t errlen)
{
    struct pack_intent *in = &p->intents[p->nintents];
    const cJSON *id = get(doc, "id");
    const cJSON *ex = get(doc, "examples");

    memset(in, 0, sizeof *in);
    snprintf(in->file, sizeof in->file, "%s", file);
    if (!cJSON_IsString(id) || !*id->valuestring || strlen(id->valuestring) >= PACK_ID_MAX)
        return fail(err, errlen, file, "id: missing or not a short string");
    for (const char *c = id->valuestring; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || *c == '_' || (*c >= '0' && *c <= '9')))
            return fail(err, errlen, file, "id: \"%s\" must be lower-case letters, digits and _", id->valuestring);
    if (pack_intent_find(p, id->valuestring) >= 0)
        return fail(err, errlen, file, "id: intent \"%s\" is defined twice", id->valuestring);
    snprintf(in->id, sizeof in->id, "%s", id->valuestring);
    if (check_langs(ex, true, file, "examples", err, errlen) < 0)
        return -1;
    for (int l = 0; l < PACK_NLANG; l++) {
        in->examples[l] = get(ex, pack_langs[l]);
        if (cJSON_GetArraySize(in->examples[l]) == 0)
            return fail(err, errlen, file, "examples.%s: no examples", pack_langs[l]);
    }
    in->answer = get(doc, "answer");
    if (check_langs(in->answer, false, file, "answer", err, errlen) < 0)
        return -1;
    in->title = get(doc, "title");
    if (in->title && check_langs(in->title, false, file, "title", err, errlen) < 0)
        return -1;
    in->buttons = get(doc, "buttons");
    if (in->buttons && check_langs(in->buttons, true, file, "buttons", err, errlen) < 0)
        return -1;
    in->set = get(doc, "set");
    if (in->set && !cJSON_IsObject(in->set))
        return fail(err, errlen, file, "set: must be an object of slot values");
    const cJSON *boost = get(doc, "boost");
    if (boost && (!cJSON_IsNumber(boost) || boost->valuedouble < 0 || boost->valuedouble > 20))
        return fail(err, errlen, file, "boost: must be a number from 0 to 20");
    in->boost = boost ? boost->valuedouble : 4.0;
    const cJSON *flow = get(doc, "flow");
    if (flow) {
        if (!cJSON_IsString(flow) || (strcmp(flow->valuestring, "process") &&
                                       strcmp(flow->valuestring, "cases")))
            return fail(err, errlen, file, "flow: must be \"process\" (the decision tree) or \"cases\" (the person's cases)");
        in->flow = flow->valuestring;
    }
    p->nintents++;
    return compile_rules(get(doc, "patterns"), &in->rules, file, "patterns", err, errlen);
}

/* The pattern of entities.json's optional string field key into *out
 * (left NULL when there is none). -1 on a bad pattern. */
static int optional_rule(const cJSON *doc, const char *key, pcre2_code **out, char *err,
                         size_t errlen)
{
    const cJSON *v = get(doc, key);
    if (!cJSON_IsString(v))
        return 0;
    return (*out = compile(v->valuestring, "entities.json", key, true, err, errlen)) ? 0 : -1;
}

/* The cue rules (pack_cue_match), their text kept for the gate. */
static int load_cues(pack *p, const cJSON *doc, char *err, size_t errlen)
{
    static const char *const key[PACK_CUES] = { "requester_cue", "new_cue", "correction_cue",
                                                "retract_cue", "requester_label" };
    for (int c = 0; c < PACK_CUES; c++) {
        const cJSON *v = get(doc, key[c]);
        p->cue_gate[c] = -1;
        if (optional_rule(doc, key[c], &p->cue[c], err, errlen) < 0)
            return -1;
        p->cue_src[c] = p->cue[c] ? v->valuestring : NULL;
    }
    return 0;
}

static int load_entities(pack *p, const cJSON *doc, char *err, size_t errlen)
{
    const char *file = "entities.json";
    const cJSON *email = get(doc, "email"), *order = get(doc, "order_ref");
    const cJSON *values = get(doc, "values"), *slot;
    size_t n = 0;

    if (!cJSON_IsString(email))
        return fail(err, errlen, file, "email: missing pattern");
    if (!cJSON_IsString(order))
        return fail(err, errlen, file, "order_ref: missing pattern");
    if (!(p->email_re = compile(email->valuestring, file, "email", true, err, errlen)))
        return -1;
    if (!(p->order_re = compile(order->valuestring, file, "order_ref", true, err, errlen)))
        return -1;
    if (optional_rule(doc, "email_lead", &p->lead_re, err, errlen) < 0 ||
        load_cues(p, doc, err, errlen) < 0 ||
        optional_rule(doc, "description_lead", &p->desc_lead_re, err, errlen) < 0)
        return -1;
    if (compile_rules(get(doc, "domain_fix"), &p->domain_fix, file, "domain_fix", err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < p->domain_fix.n; i++)
        if (pcre2_substring_number_from_name(p->domain_fix.re[i], (PCRE2_SPTR) "to") < 0)
            return fail(err, errlen, file, "domain_fix[%zu]: needs a group named \"to\"", i);
    if (!cJSON_IsObject(values))
        return fail(err, errlen, file, "values: missing or not an object");
    cJSON_ArrayForEach(slot, values)
        n += (size_t)cJSON_GetArraySize(slot);
    p->values = calloc(n + 1, sizeof *p->values);
    if (!p->values)
        return fail(err, errlen, file, "out of memory");
    cJSON_ArrayForEach(slot, values) {
        const cJSON *v;
        if (!cJSON_IsObject(slot))
            return fail(err, errlen, file, "values.%s: must be an object of value: [patterns]", slot->string);
        cJSON_ArrayForEach(v, slot) {
            struct pack_value *pv = &p->values[p->nvalues];
            char field[160];
            snprintf(pv->slot, sizeof pv->slot, "%s", slot->string);
            snprintf(pv->value, sizeof pv->value, "%s", v->string);
            snprintf(field, sizeof field, "values.%s.%s", slot->string, v->string);
            p->nvalues++;
            if (compile_rules(v, &pv->rules, file, field, err, errlen) < 0)
                return -1;
            if (pv->rules.n == 0)
                return fail(err, errlen, file, "%s: no patterns", field);
        }
    }
    return 0;
}

static int load_settings(pack *p, const cJSON *doc, char *err, size_t errlen)
{
    const cJSON *t = get(doc, "threshold"), *m;

    if (!cJSON_IsNumber(t) || t->valuedouble <= 0 || t->valuedouble >= 1)
        return fail(err, errlen, "pack.json", "threshold: must be a number between 0 and 1");
    p->threshold = t->valuedouble;
    t = get(doc, "temperature");
    if (t && (!cJSON_IsNumber(t) || t->valuedouble <= 0 || t->valuedouble > 10))
        return fail(err, errlen, "pack.json", "temperature: must be a number between 0 and 10");
    p->temperature = t ? t->valuedouble : 1.0;
    p->roles_doc = get(doc, "roles");
    if (!cJSON_IsObject(p->roles_doc))
        return fail(err, errlen, "pack.json", "roles: missing or not an object of role: intent id");
    p->messages = get(doc, "messages");
    if (!cJSON_IsObject(p->messages))
        return fail(err, errlen, "pack.json", "messages: missing or not an object");
    cJSON_ArrayForEach(m, p->messages) {
        char field[160];
        snprintf(field, sizeof field, "messages.%s", m->string);
        if (check_langs(m, cJSON_IsArray(get(m, "en")), "pack.json", field, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static cJSON *keep(pack *p, cJSON *doc)
{
    if (doc)
        p->docs[p->ndocs++] = doc;
    return doc;
}

/* objects.json, when the pack has one (see lexicon.h). */
static int load_lexicon(pack *p, const char *dir, char *err, size_t errlen)
{
    char path[4096];
    cJSON *doc;
    snprintf(path, sizeof path, "%s/%s", dir, LEX_FILE);
    if (access(path, F_OK) != 0)
        return 0;
    if (!(doc = keep(p, load_json(dir, LEX_FILE, err, errlen))))
        return -1;
    p->lex = lex_build(doc, p, err, errlen);
    return p->lex ? 0 : -1;
}

/* An optional array of fact names at type.key; 0 or -1 with a message. */
static int fact_list(const cJSON *type, const char *key, const cJSON **out,
                     const char *tkey, char *err, size_t errlen)
{
    const cJSON *v;
    *out = get(type, key);
    if (!*out)
        return 0;
    if (!cJSON_IsArray(*out))
        return fail(err, errlen, CASES_FILE, "types.%s.%s: must be an array of fact names", tkey, key);
    cJSON_ArrayForEach(v, *out)
        if (!cJSON_IsString(v) || !*v->valuestring)
            return fail(err, errlen, CASES_FILE, "types.%s.%s: must hold fact names", tkey, key);
    return 0;
}

static bool in_array(const cJSON *arr, const char *s)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, arr)
        if (cJSON_IsString(v) && !strcmp(v->valuestring, s))
            return true;
    return false;
}

/* One entry of cases.json "types" (its facts are checked against the tree
 * later, by check_case_facts). */
static int load_case_type(pack *p, const cJSON *o, char *err, size_t errlen)
{
    struct pack_case_type *t = &p->types[p->ntypes];
    const char *k = o->string;
    const cJSON *v;
    t->key = k;
    t->doc = o;
    t->name = cJSON_GetStringValue(get(o, "name"));
    if (!cJSON_IsObject(o) || !t->name || !*t->name || strlen(t->name) >= 128)
        return fail(err, errlen, CASES_FILE, "types.%s.name: missing or not a string of 1 to 127 bytes", k);
    if (fact_list(o, "form", &t->form, k, err, errlen) < 0 ||
        fact_list(o, "keep", &t->keep, k, err, errlen) < 0 ||
        fact_list(o, "required", &t->required, k, err, errlen) < 0)
        return -1;
    if (cJSON_GetArraySize(t->form) == 0)
        return fail(err, errlen, CASES_FILE, "types.%s.form: missing or empty", k);
    cJSON_ArrayForEach(v, t->keep)
        if (!in_array(t->form, v->valuestring))
            return fail(err, errlen, CASES_FILE, "types.%s.keep: \"%s\" is not in the form", k, v->valuestring);
    t->refuse_when = get(o, "refuse_when");
    if (t->refuse_when && !cJSON_IsObject(t->refuse_when))
        return fail(err, errlen, CASES_FILE, "types.%s.refuse_when: must be an object of fact: value", k);
    cJSON_ArrayForEach(v, t->refuse_when)
        if (!cJSON_IsString(v))
            return fail(err, errlen, CASES_FILE, "types.%s.refuse_when.%s: must be a value", k, v->string);
    t->refused = get(o, "refused") ? cJSON_GetStringValue(get(o, "refused")) : "case_refused";
    if (!t->refused || !pack_message(p, t->refused))
        return fail(err, errlen, CASES_FILE, "types.%s.refused: no such message in pack.json", k);
    if (casefmt_check(o, err, errlen) < 0) {
        char why[256];
        snprintf(why, sizeof why, "%s", err + (strncmp(err, CASES_FILE ": ", 12) ? 0 : 12));
        return fail(err, errlen, CASES_FILE, "types.%s.%s", k, why);
    }
    p->ntypes++;
    return 0;
}

/* cases.json, when the pack has one: its case types (see casefmt.h). */
static int load_cases(pack *p, const char *dir, char *err, size_t errlen)
{
    char path[4096];
    const cJSON *types, *o;
    snprintf(path, sizeof path, "%s/%s", dir, CASES_FILE);
    if (access(path, F_OK) != 0)
        return 0;
    if (!(p->cases = keep(p, load_json(dir, CASES_FILE, err, errlen))))
        return -1;
    types = get(p->cases, "types");
    if (!cJSON_IsObject(types) || !types->child)
        return fail(err, errlen, CASES_FILE, "types: missing or not an object of case types");
    cJSON_ArrayForEach(o, types) {
        if (p->ntypes == PACK_CASE_TYPES_MAX)
            return fail(err, errlen, CASES_FILE, "types: at most %d", PACK_CASE_TYPES_MAX);
        if (load_case_type(p, o, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Every fact a case type names is a fact of flows.json. */
static int check_case_facts(const pack *p, char *err, size_t errlen)
{
    for (size_t i = 0; i < p->ntypes; i++) {
        const struct pack_case_type *t = &p->types[i];
        const cJSON *lists[] = { t->form, t->required, t->refuse_when };
        static const char *const names[] = { "form", "required", "refuse_when" };
        for (int l = 0; l < 3; l++) {
            const cJSON *v;
            cJSON_ArrayForEach(v, lists[l]) {
                const char *f = l == 2 ? v->string : v->valuestring;
                if (!tree_is_fact(p->tree, f))
                    return fail(err, errlen, CASES_FILE, "types.%s.%s: \"%s\" is not a fact of flows.json",
                                t->key, names[l], f);
            }
        }
    }
    return 0;
}

size_t pack_case_type_count(const pack *p) { return p->ntypes; }
const struct pack_case_type *pack_case_type_at(const pack *p, size_t i) { return &p->types[i]; }

const struct pack_case_type *pack_case_type(const pack *p, const char *key)
{
    for (size_t i = 0; i < p->ntypes; i++)
        if (!key || !strcmp(p->types[i].key, key))
            return &p->types[i];
    return NULL;
}

bool pack_is_form_fact(const pack *p, const char *fact)
{
    for (size_t i = 0; i < p->ntypes; i++)
        if (in_array(p->types[i].form, fact))
            return true;
    return false;
}

bool pack_is_kept_fact(const pack *p, const char *fact)
{
    for (size_t i = 0; i < p->ntypes; i++)
        if (in_array(p->types[i].keep, fact))
            return true;
    return false;
}

/* pack.json "roles": each a known role naming an intent; "fallback" required. */
static int load_roles(pack *p, char *err, size_t errlen)
{
    const cJSON *v;
    for (int r = 0; r < PACK_NROLES; r++)
        p->roles[r] = -1;
    cJSON_ArrayForEach(v, p->roles_doc) {
        int r = 0;
        while (r < PACK_NROLES && strcmp(role_names[r], v->string))
            r++;
        if (r == PACK_NROLES)
            return fail(err, errlen, "pack.json", "roles.%s: not a role the dialog knows", v->string);
        if (!cJSON_IsString(v) || (p->roles[r] = pack_intent_find(p, v->valuestring)) < 0)
            return fail(err, errlen, "pack.json", "roles.%s: intent \"%s\" of the contract is missing (no file has it as id)",
                        v->string, cJSON_IsString(v) ? v->valuestring : "?");
    }
    if (p->roles[PACK_ROLE_FALLBACK] < 0)
        return fail(err, errlen, "pack.json", "roles.fallback: missing (the intent that answers what is out of scope)");
    return 0;
}

int pack_role(const pack *p, enum pack_role r) { return p->roles[r]; }

bool pack_plays(const pack *p, const struct pack_intent *in, enum pack_role r)
{
    return in && p->roles[r] >= 0 && in == &p->intents[p->roles[r]];
}

/* The *.json file names in dir, sorted, into names (caller frees each). 0,
 * or -1 with a message. */
static int list_files(const char *dir, char *names[PACK_FILES_MAX], size_t *n,
                      char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = 0;
    *n = 0;
    if (!d)
        return fail(err, errlen, dir, "cannot open the knowledge pack: %s", strerror(errno));
    while (rc == 0 && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0 || de->d_name[0] == '.')
            continue;
        if (*n == PACK_FILES_MAX - 3)
            rc = fail(err, errlen, dir, "too many files (at most %d)", PACK_FILES_MAX - 3);
        else if (!(names[*n] = strdup(de->d_name)))
            rc = fail(err, errlen, dir, "out of memory");
        else
            (*n)++;
    }
    closedir(d);
    qsort(names, *n, sizeof *names, cmp_str);
    return rc;
}

/* Every intent file among names (the pack's other files skipped). 0, or -1
 * with a message. */
static int load_intents(pack *p, const char *dir, char *const *names, size_t n,
                        char *err, size_t errlen)
{
    cJSON *doc;
    if (!(p->intents = calloc(n + 1, sizeof *p->intents))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(names[i], "pack.json") || !strcmp(names[i], "entities.json") ||
            !strcmp(names[i], "flows.json") || !strcmp(names[i], LEX_FILE) ||
            !strcmp(names[i], CASES_FILE))
            continue;
        if (!(doc = keep(p, load_json(dir, names[i], err, errlen))) ||
            load_intent(p, doc, names[i], err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Puts r's patterns in the pack's gate, numbered r->gate, r->gate + 1, ...
 * 0, or -1 when out of memory. */
static int gate_rules(pack *p, struct pack_rules *r)
{
    for (size_t i = 0; i < r->n; i++) {
        int k = gate_add(p->gate, r->src[i]);
        if (k < 0)
            return -1;
        if (i == 0)
            r->gate = k;
    }
    return 0;
}

/* The gate over the patterns pack_rules_match() and pack_cue_match() run:
 * the values', the tree's answers' and the cues' (the intents' have the
 * classifier's own gate). */
static int gate_all(pack *p)
{
    if (!(p->gate = gate_new(GATE_EAGER)) || !(p->seen = calloc(1, sizeof *p->seen)))
        return -1;
    for (size_t i = 0; i < p->nvalues; i++)
        if (gate_rules(p, &p->values[i].rules) < 0)
            return -1;
    for (size_t i = 0; i < tree_faq_count(p->tree); i++)
        if (gate_rules(p, tree_faq_rules(p->tree, i)) < 0)
            return -1;
    for (int c = 0; c < PACK_CUES; c++)
        if (p->cue[c] && (p->cue_gate[c] = gate_add(p->gate, p->cue_src[c])) < 0)
            return -1;
    return 0;
}

/* FNV-1a of s, ASCII letters lower-cased (as strcasecmp() compares). */
static uint32_t label_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint32_t)tolower((unsigned char)*s)) * 16777619u;
    return h % (LABEL_WORDS * 64);
}

/* Notes every string under o (a superset of the labels: the texts of the
 * messages, of flows.json and the intents' titles). */
static void note_labels(pack *p, const cJSON *o)
{
    if (cJSON_IsString(o)) {
        uint32_t h = label_hash(o->valuestring);
        p->labels[h / 64] |= 1ull << (h % 64);
    }
    for (const cJSON *c = o ? o->child : NULL; c; c = c->next)
        note_labels(p, c);
}

static void note_all_labels(pack *p, const cJSON *flows)
{
    note_labels(p, p->messages);
    note_labels(p, flows);
    for (size_t i = 0; i < p->nintents; i++)
        note_labels(p, p->intents[i].title);
}

bool pack_may_be_label(const pack *p, const char *raw)
{
    uint32_t h = label_hash(raw);
    return p->labels[h / 64] >> (h % 64) & 1;
}

pack *pack_load(const char *dir, char *err, size_t errlen)
{
    pack *p = calloc(1, sizeof *p);
    char *names[PACK_FILES_MAX];
    size_t nnames = 0;
    cJSON *doc, *flows;

    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (list_files(dir, names, &nnames, err, errlen) < 0)
        goto fail;
    if (!(doc = keep(p, load_json(dir, "pack.json", err, errlen))) ||
        load_settings(p, doc, err, errlen) < 0)
        goto fail;
    if (!(doc = keep(p, load_json(dir, "entities.json", err, errlen))) ||
        load_entities(p, doc, err, errlen) < 0)
        goto fail;
    if (!(flows = keep(p, load_json(dir, "flows.json", err, errlen))))
        goto fail;
    if (load_intents(p, dir, names, nnames, err, errlen) < 0 || load_roles(p, err, errlen) < 0)
        goto fail;
    if (load_cases(p, dir, err, errlen) < 0 || !(p->tree = tree_parse(flows, p, err, errlen)) ||
        check_case_facts(p, err, errlen) < 0)
        goto fail;
    note_all_labels(p, flows);
    if (load_lexicon(p, dir, err, errlen) < 0)
        goto fail;
    if (!(p->md = pcre2_match_data_create(16, NULL)) || gate_all(p) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    return p;
fail:
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    pack_free(p);
    return NULL;
}

void pack_free(pack *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nintents; i++)
        free_rules(&p->intents[i].rules);
    for (size_t i = 0; i < p->nvalues; i++)
        free_rules(&p->values[i].rules);
    free(p->intents);
    free(p->values);
    pcre2_code_free(p->email_re);
    pcre2_code_free(p->order_re);
    pcre2_code_free(p->lead_re);
    pcre2_code_free(p->desc_lead_re);
    for (int c = 0; c < PACK_CUES; c++)
        pcre2_code_free(p->cue[c]);
    free_rules(&p->domain_fix);
    tree_free(p->tree);
    pcre2_match_data_free(p->md);
    gate_free(p->gate);
    if (p->seen)
        free(p->seen->s);
    free(p->seen);
    lex_free(p->lex);
    for (size_t i = 0; i < p->ndocs; i++)
        cJSON_Delete(p->docs[i]);
    free(p);
}

size_t pack_intent_count(const pack *p) { return p->nintents; }
const struct pack_intent *pack_intent_at(const pack *p, size_t i) { return &p->intents[i]; }
double pack_threshold(const pack *p) { return p->threshold; }
double pack_temperature(const pack *p) { return p->temperature; }
const lex *pack_lexicon(const pack *p) { return p->lex; }
size_t pack_value_count(const pack *p) { return p->nvalues; }
const struct pack_value *pack_value_at(const pack *p, size_t i) { return &p->values[i]; }
const pcre2_code *pack_email_rule(const pack *p) { return p->email_re; }
const pcre2_code *pack_order_rule(const pack *p) { return p->order_re; }

int pack_intent_find(const pack *p, const char *id)
{
    for (size_t i = 0; i < p->nintents; i++)
        if (strcmp(p->intents[i].id, id) == 0)
            return (int)i;
    return -1;
}

const tree *pack_tree(const pack *p) { return p->tree; }
const pcre2_code *pack_email_lead_rule(const pack *p) { return p->lead_re; }
const pcre2_code *pack_description_lead_rule(const pack *p) { return p->desc_lead_re; }
const pcre2_code *pack_requester_rule(const pack *p) { return p->cue[PACK_CUE_REQUESTER]; }

/* Copies the named group of the last match into out[0..cap) ("" when it
 * did not take part). */
static void copy_group(const pack *p, const char *name, char *out, size_t cap)
{
    PCRE2_SIZE n = cap;
    if (pcre2_substring_copy_byname(p->md, (PCRE2_SPTR)name, (PCRE2_UCHAR *)out, &n) < 0)
        out[0] = '\0';
}

bool pack_domain_fix(const pack *p, const char *raw, size_t len, char *to, char *from, size_t cap)
{
    for (size_t i = 0; i < p->domain_fix.n; i++) {
        pack_rule_ready(&p->domain_fix, i);   /* (JIT code, as for the other rules) */
        if (pcre2_match(p->domain_fix.re[i], (PCRE2_SPTR)raw, len, 0, 0, p->md, NULL) < 0)
            continue;
        copy_group(p, "to", to, cap);
        copy_group(p, "from", from, cap);
        if (to[0])
            return true;
    }
    to[0] = from[0] = '\0';
    return false;
}

const cJSON *pack_message(const pack *p, const char *key)
{
    return get(p->messages, key);
}

const char *pack_text(const cJSON *obj, const char *lang)
{
    const cJSON *v = obj ? get(obj, lang) : NULL;
    if (!cJSON_IsString(v))
        v = obj ? get(obj, "en") : NULL;
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* gate_scan() of subject unless it was the last one scanned. False when
 * the copy cannot be kept (then every pattern runs). */
static bool scan(const pack *p, const char *subject, size_t len)
{
    struct scanned *c = p->seen;
    if (c->valid && c->len == len && memcmp(c->s, subject, len) == 0)
        return true;
    if (len + 1 > c->cap) {
        char *n = realloc(c->s, len + 64);
        if (!n)
            return c->valid = false;
        c->s = n;
        c->cap = len + 64;
    }
    memcpy(c->s, subject, len);
    c->len = len;
    gate_scan(p->gate, subject, len);
    return c->valid = true;
}

void pack_rule_ready(const struct pack_rules *r, size_t i)
{
    if (!r->jit[i]) {
        r->jit[i] = 1;
        (void)pcre2_jit_compile(r->re[i], PCRE2_JIT_COMPLETE);
    }
}

bool pack_rules_match(const pack *p, const struct pack_rules *r,
                      const char *subject, size_t len)
{
    bool gated = r->gate >= 0 && scan(p, subject, len);
    if (gated && !gate_may_any(p->gate, r->gate, r->n))
        return false;
    for (size_t i = 0; i < r->n; i++) {
        if (gated && !gate_may_match(p->gate, r->gate + (int)i))
            continue;
        pack_rule_ready(r, i);
        if (pcre2_match(r->re[i], (PCRE2_SPTR)subject, len, 0, 0, p->md, NULL) > 0)
            return true;
    }
    return false;
}

bool pack_cue_match(const pack *p, enum pack_cue c, const char *fold, size_t len)
{
    if (!p->cue[c])
        return false;
    if (p->cue_gate[c] >= 0 && scan(p, fold, len) && !gate_may_match(p->gate, p->cue_gate[c]))
        return false;
    return pcre2_match(p->cue[c], (PCRE2_SPTR)fold, len, 0, 0, p->md, NULL) > 0;
}

bool pack_rule_find(const pack *p, const pcre2_code *re, const char *subject,
                    size_t len, size_t start, int group, size_t *so, size_t *eo)
{
    int rc = pcre2_match(re, (PCRE2_SPTR)subject, len, start, 0, p->md, NULL);
    if (rc <= 0)
        return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
    if (group > 0 && group < rc && ov[2 * group] != PCRE2_UNSET) {
        *so = ov[2 * group];
        *eo = ov[2 * group + 1];
    } else {
        *so = ov[0];
        *eo = ov[1];
    }
    return true;
}
