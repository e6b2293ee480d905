/* lexicon.c -- concepts, synonyms and the rewrite of a message (lexicon.h).
 *
 * Synonyms are compiled into phrases: a phrase is a run of words, a word a
 * run of alternatives (a folded string with "any beginning" / "any ending"
 * flags), all in flat arrays. Phrases are bucketed by a hash of the first two
 * bytes of their first word's alternatives, so a message's word is only
 * compared with the few phrases that can start there (plus those whose first
 * word may have any beginning or is one letter long).
 */
#include "lexicon.h"
#include "text.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEX_WORD_MAX 64      /* bytes of one folded synonym word */
#define LEX_BUCKETS 1024     /* by the first two bytes; one more for the rest */

struct lex_alt {               /* 8 bytes: most checks end here */
    uint8_t len;
    bool any_start;          /* written "*word": any beginning */
    bool any_end;            /* written "word*": any ending */
    char head;               /* its first byte */
    uint32_t at;             /* its bytes, folded, one word: x->text + at */
};

struct lex_word {             /* (32-bit indexes: fewer cache lines) */
    uint32_t alt, nalt;      /* into alts */
};

struct lex_phrase {
    uint32_t word, nword;    /* into words */
    int concept;
};

struct lex_concept {
    char id[PACK_ID_MAX];
    char token[LEX_TOKEN_MAX];  /* "#" id */
    const cJSON *name;          /* {"en","sv"}, borrowed from the document */
    bool foreign;
};

struct lex_bucket {
    uint32_t *ph;            /* phrase indexes, owned */
    size_t n, cap;
};

/* Invariant: every index in a bucket is < nphrases; every phrase's words and
 * every word's alternatives are inside the arrays. */
struct lex {
    struct lex_concept *concepts;   /* owned */
    size_t nconcepts;
    struct lex_phrase *phrases;     /* owned */
    size_t nphrases, capphrases;
    struct lex_word *words;         /* owned */
    size_t nwords, capwords;
    struct lex_alt *alts;           /* owned */
    size_t nalts, capalts;
    char *text;                     /* the alternatives' bytes, NUL after each; owned */
    size_t ntext, captext;
    struct lex_bucket buckets[LEX_BUCKETS + 1]; /* [LEX_BUCKETS]: the rest */
    bool *task;                     /* per intent of the pack, owned */
    int *refines;                   /* per intent: the intent it refines, or -1; owned */
    size_t nintents;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pack_vfail(err, errlen, LEX_FILE, fmt, ap);
    va_end(ap);
    return -1;
}

/* Makes room for one more element of size sz in *arr (capacity *cap). */
static bool grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 64;
    void *a = realloc(*arr, nc * sz);
    if (!a)
        return false;
    *arr = a;
    *cap = nc;
    return true;
}

static size_t bucket_of(const char *w)
{
    return ((unsigned char)w[0] * 31u + (unsigned char)w[1]) & (LEX_BUCKETS - 1);
}

static int bucket_add(struct lex_bucket *b, uint32_t ph)
{
    if (b->n && b->ph[b->n - 1] == ph)
        return 0;
    if (!grow((void **)&b->ph, &b->cap, b->n, sizeof *b->ph))
        return -1;
    b->ph[b->n++] = ph;
    return 0;
}

/* Parses one alternative ("*word*") of a synonym into x->alts. */
static int add_alt(lex *x, const char *s, size_t n, const char *field, char *err, size_t errlen)
{
    struct lex_alt a = { .any_start = n && s[0] == '*' };
    char w[LEX_WORD_MAX];
    if (a.any_start) {
        s++;
        n--;
    }
    a.any_end = n && s[n - 1] == '*';
    if (a.any_end)
        n--;
    a.len = (uint8_t)text_normalize(s, n, TEXT_FOLD, w, sizeof w); /* < 64 */
    if (a.len == 0)
        return fail(err, errlen, "%s: an empty word (check the spaces, '|' and '*')", field);
    if (memchr(w, ' ', a.len))
        return fail(err, errlen, "%s: \"%.*s\" folds to two words (\"%s\"): write them apart",
                    field, (int)n, s, w);
    if (n >= LEX_WORD_MAX - 1)
        return fail(err, errlen, "%s: a word longer than %d bytes", field, LEX_WORD_MAX - 2);
    a.head = w[0];
    a.at = (uint32_t)x->ntext;
    while (x->ntext + a.len + 1 > x->captext)   /* (its NUL too) */
        if (!grow((void **)&x->text, &x->captext, x->captext, 1))
            return fail(err, errlen, "out of memory");
    memcpy(x->text + x->ntext, w, a.len + 1u);
    x->ntext += a.len + 1u;
    if (!grow((void **)&x->alts, &x->capalts, x->nalts, sizeof *x->alts))
        return fail(err, errlen, "out of memory");
    x->alts[x->nalts++] = a;
    return 0;
}

/* Compiles synonym s of concept c into a phrase and files it in its buckets. */
static int add_synonym(lex *x, const char *s, int c, const char *field, char *err, size_t errlen)
{
    if (x->nalts + strlen(s) >= UINT32_MAX / 2 || x->nphrases >= UINT32_MAX / 2)
        return fail(err, errlen, "%s: too many synonyms", field);
    struct lex_phrase ph = { .word = (uint32_t)x->nwords, .concept = c };
    for (const char *p = s; *p;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        struct lex_word w = { .alt = (uint32_t)x->nalts };
        const char *end = p + strcspn(p, " ");
        while (p < end) {
            const char *bar = memchr(p, '|', (size_t)(end - p));
            const char *stop = bar ? bar : end;
            if (add_alt(x, p, (size_t)(stop - p), field, err, errlen) < 0)
                return -1;
            w.nalt++;
            p = bar ? bar + 1 : end;
        }
        if (!grow((void **)&x->words, &x->capwords, x->nwords, sizeof *x->words))
            return fail(err, errlen, "out of memory");
        x->words[x->nwords++] = w;
        ph.nword++;
    }
    if (ph.nword == 0)
        return fail(err, errlen, "%s: an empty synonym", field);
    if (!grow((void **)&x->phrases, &x->capphrases, x->nphrases, sizeof *x->phrases))
        return fail(err, errlen, "out of memory");
    uint32_t id = (uint32_t)x->nphrases;
    x->phrases[x->nphrases++] = ph;
    const struct lex_word *first = &x->words[ph.word];
    for (size_t i = 0; i < first->nalt; i++) {
        const struct lex_alt *a = &x->alts[first->alt + i];
        size_t b = a->any_start || a->len < 2 ? LEX_BUCKETS : bucket_of(x->text + a->at);
        if (bucket_add(&x->buckets[b], id) < 0)
            return fail(err, errlen, "out of memory");
    }
    return 0;
}

/* A {"en": S, "sv": S} object (arrays = false) or {"en": [S..], "sv": [S..]}. */
static int check_langs(const cJSON *o, bool arrays, const char *field, char *err, size_t errlen)
{
    if (!cJSON_IsObject(o))
        return fail(err, errlen, "%s: missing or not an object with \"en\" and \"sv\"", field);
    for (int l = 0; l < PACK_NLANG; l++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, pack_langs[l]);
        if (arrays ? !cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0
                   : !cJSON_IsString(v) || !v->valuestring[0])
            return fail(err, errlen, "%s.%s: missing or not a %s", field, pack_langs[l],
                        arrays ? "non-empty array of strings" : "non-empty string");
    }
    return 0;
}

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n + 2 > PACK_ID_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* One concept: its id, name and synonyms. */
static int add_concept(lex *x, const cJSON *o, bool foreign, const char *field,
                       char *err, size_t errlen)
{
    char f[160];
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (!cJSON_IsObject(o))
        return fail(err, errlen, "%s: not an object", field);
    if (!cJSON_IsString(id) || !valid_id(id->valuestring))
        return fail(err, errlen, "%s.id: missing or not [a-z0-9_], 1 to %d characters",
                    field, PACK_ID_MAX - 2);
    for (size_t i = 0; i < x->nconcepts; i++)
        if (!strcmp(x->concepts[i].id, id->valuestring))
            return fail(err, errlen, "%s.id: \"%s\" is defined twice", field, id->valuestring);
    snprintf(f, sizeof f, "%s.name", field);
    if (check_langs(cJSON_GetObjectItemCaseSensitive(o, "name"), false, f, err, errlen) < 0)
        return -1;
    const cJSON *syn = cJSON_GetObjectItemCaseSensitive(o, "synonyms");
    snprintf(f, sizeof f, "%s.synonyms", field);
    if (check_langs(syn, true, f, err, errlen) < 0)
        return -1;
    int c = (int)x->nconcepts++;
    struct lex_concept *k = &x->concepts[c];
    snprintf(k->id, sizeof k->id, "%s", id->valuestring);
    snprintf(k->token, sizeof k->token, "#%s", id->valuestring);
    k->name = cJSON_GetObjectItemCaseSensitive(o, "name");
    k->foreign = foreign;
    for (int l = 0; l < PACK_NLANG; l++) {
        const cJSON *s;
        int i = 0;
        cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(syn, pack_langs[l])) {
            snprintf(f, sizeof f, "%s.synonyms.%s[%d]", field, pack_langs[l], i++);
            if (!cJSON_IsString(s))
                return fail(err, errlen, "%s: not a string", f);
            if (add_synonym(x, s->valuestring, c, f, err, errlen) < 0)
                return -1;
        }
    }
    return 0;
}

static int load_tasks(lex *x, const cJSON *doc, const pack *p, char *err, size_t errlen)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "task_intents"), *s;
    int i = 0;
    if (!cJSON_IsArray(t))
        return fail(err, errlen, "task_intents: missing or not an array of intent ids");
    cJSON_ArrayForEach(s, t) {
        int in = cJSON_IsString(s) ? pack_intent_find(p, s->valuestring) : -1;
        if (in < 0)
            return fail(err, errlen, "task_intents[%d]: not the id of an intent of the pack", i);
        x->task[in] = true;
        i++;
    }
    return 0;
}

/* "refinements": {"generic": ["scenario", ...]}: a scenario intent (a
 * Closed line, PONR, no access) answers a generic request (change the
 * contact) told in its situation. Optional; each scenario refines one. */
static int load_refines(lex *x, const cJSON *doc, const pack *p, char *err, size_t errlen)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(doc, "refinements"), *g;
    for (size_t i = 0; i < x->nintents; i++)
        x->refines[i] = -1;
    if (!r)
        return 0;
    if (!cJSON_IsObject(r))
        return fail(err, errlen, "refinements: not an object of intent id -> [intent ids]");
    cJSON_ArrayForEach(g, r) {
        int gi = pack_intent_find(p, g->string), k = 0;
        const cJSON *s;
        if (gi < 0)
            return fail(err, errlen, "refinements.%s: not the id of an intent of the pack", g->string);
        if (!cJSON_IsArray(g))
            return fail(err, errlen, "refinements.%s: not an array of intent ids", g->string);
        cJSON_ArrayForEach(s, g) {
            int si = cJSON_IsString(s) ? pack_intent_find(p, s->valuestring) : -1;
            if (si < 0 || si == gi)
                return fail(err, errlen, "refinements.%s[%d]: not the id of another intent of the pack",
                            g->string, k);
            if (x->refines[si] >= 0)
                return fail(err, errlen, "refinements.%s[%d]: \"%s\" already refines another intent",
                            g->string, k, s->valuestring);
            x->refines[si] = gi;
            k++;
        }
    }
    return 0;
}

lex *lex_build(const cJSON *doc, const pack *p, char *err, size_t errlen)
{
    static const char *const kinds[2] = { "domain", "foreign" };
    lex *x = calloc(1, sizeof *x);
    size_t n = 0;

    if (!x)
        goto oom;
    x->nintents = pack_intent_count(p);
    x->task = calloc(x->nintents + 1, sizeof *x->task);
    x->refines = calloc(x->nintents + 1, sizeof *x->refines);
    for (int k = 0; k < 2; k++)
        n += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, kinds[k]));
    x->concepts = calloc(n + 1, sizeof *x->concepts);
    if (!x->task || !x->refines || !x->concepts)
        goto oom;
    if (load_tasks(x, doc, p, err, errlen) < 0 || load_refines(x, doc, p, err, errlen) < 0)
        goto fail;
    for (int k = 0; k < 2; k++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, kinds[k]), *o;
        int i = 0;
        if (!cJSON_IsArray(arr)) {
            fail(err, errlen, "%s: missing or not an array of objects", kinds[k]);
            goto fail;
        }
        cJSON_ArrayForEach(o, arr) {
            char field[64];
            snprintf(field, sizeof field, "%s[%d]", kinds[k], i++);
            if (add_concept(x, o, k == 1, field, err, errlen) < 0)
                goto fail;
        }
    }
    return x;
oom:
    snprintf(err, errlen, "%s: out of memory", LEX_FILE);
fail:
    lex_free(x);
    return NULL;
}

void lex_free(lex *x)
{
    if (!x)
        return;
    for (size_t b = 0; b <= LEX_BUCKETS; b++)
        free(x->buckets[b].ph);
    free(x->concepts);
    free(x->phrases);
    free(x->words);
    free(x->alts);
    free(x->text);
    free(x->task);
    free(x->refines);
    free(x);
}

/* Whether word w[0..n) is alternative a of x; the first byte is compared
 * before anything else (most alternatives differ there). */
static inline bool alt_matches(const lex *x, const struct lex_alt *a, const char *w, size_t n)
{
    if (n < a->len || (!a->any_start && w[0] != a->head))
        return false;
    const char *t = x->text + a->at;
    if (a->any_start && a->any_end) {
        for (size_t i = 0; i + a->len <= n; i++)
            if (!memcmp(w + i, t, a->len))
                return true;
        return false;
    }
    if (a->any_start)
        return !memcmp(w + n - a->len, t, a->len);
    if (a->any_end)
        return !memcmp(w, t, a->len);
    return n == a->len && !memcmp(w, t, a->len);
}

/* Words of phrase ph matched from s[at..len), the first word ending at e0;
 * returns the end offset of the match (after its last word), or 0 when it
 * does not match. */
static size_t phrase_matches(const lex *x, const struct lex_phrase *ph, const char *s,
                             size_t len, size_t at, size_t e0)
{
    for (size_t k = 0; k < ph->nword; k++) {
        if (at >= len)
            return 0;
        size_t e = at;
        if (k == 0)
            e = e0;
        while (e < len && s[e] != ' ')
            e++;
        const struct lex_word *w = &x->words[ph->word + k];
        bool ok = false;
        for (size_t i = 0; i < w->nalt && !ok; i++)
            ok = alt_matches(x, &x->alts[w->alt + i], s + at, e - at);
        if (!ok)
            return 0;
        at = e + (e < len);
    }
    return at;
}

/* The best phrase starting at the word s[at..e0): the most words, then
 * domain. Returns its concept (-1: none) and stores the end of the match in
 * *end. */
static int best_at(const lex *x, const char *s, size_t len, size_t at, size_t e0, size_t *end)
{
    const struct lex_bucket *bs[2] = {
        at + 1 < len && s[at + 1] != ' ' ? &x->buckets[bucket_of(s + at)] : &x->buckets[LEX_BUCKETS],
        &x->buckets[LEX_BUCKETS] };
    static const struct lex_bucket none = { 0 };
    if (bs[0] == bs[1])
        bs[1] = &none;
    int best = -1;
    size_t bestw = 0;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < bs[k]->n; i++) {
            const struct lex_phrase *ph = &x->phrases[bs[k]->ph[i]];
            if (ph->nword < bestw || (ph->nword == bestw && (!x->concepts[best].foreign ||
                                                             x->concepts[ph->concept].foreign)))
                continue;   /* at the same length a domain synonym wins */
            size_t e = phrase_matches(x, ph, s, len, at, e0);
            if (!e)
                continue;
            best = ph->concept;
            bestw = ph->nword;
            *end = e;
        }
    return best;
}

static size_t put(char *out, size_t o, size_t cap, const char *s, size_t n)
{
    if (o + n + (o > 0) + 1 > cap)
        return o;
    if (o > 0)
        out[o++] = ' ';
    memcpy(out + o, s, n);
    return o + n;
}

/* One pass of lex_rewrite(); drop_foreign leaves the foreign tokens out. */
static size_t rewrite(const lex *x, const char *fold, size_t len, char *out, size_t cap,
                      bool drop_foreign, struct lex_found *fd)
{
    size_t o = 0;
    *fd = (struct lex_found){ 0, 0, -1 };
    for (size_t at = 0; at < len;) {
        size_t e = at, end = 0;
        while (e < len && fold[e] != ' ')
            e++;
        int c = x && e > at ? best_at(x, fold, len, at, e, &end) : -1;
        if (c < 0) {
            o = put(out, o, cap, fold + at, e - at);
            at = e + 1;
            continue;
        }
        const struct lex_concept *k = &x->concepts[c];
        if (!k->foreign || !drop_foreign)
            o = put(out, o, cap, k->token, strlen(k->token));
        if (k->foreign) {
            fd->nforeign++;
            if (fd->foreign < 0)
                fd->foreign = c;
        } else {
            fd->ndomain++;
        }
        at = end;
    }
    out[o] = '\0';
    return o;
}

size_t lex_rewrite(const lex *x, const char *fold, size_t len, char *out, size_t cap,
                   unsigned flags, struct lex_found *found)
{
    struct lex_found fd;
    size_t o = rewrite(x, fold, len, out, cap, false, &fd);
    if ((flags & LEX_CONTEXT_FOREIGN) && fd.ndomain && fd.nforeign)
        o = rewrite(x, fold, len, out, cap, true, &fd);
    if (found)
        *found = fd;
    return o;
}

bool lex_is_task(const lex *x, int intent)
{
    return x && intent >= 0 && (size_t)intent < x->nintents && x->task[intent];
}

bool lex_refines(const lex *x, int specific, int generic)
{
    return x && specific >= 0 && (size_t)specific < x->nintents && generic >= 0 &&
           x->refines[specific] == generic;
}

size_t lex_count(const lex *x)
{
    return x ? x->nconcepts : 0;
}

const cJSON *lex_name(const lex *x, int c)
{
    return x && c >= 0 && (size_t)c < x->nconcepts ? x->concepts[c].name : NULL;
}

const char *lex_id(const lex *x, int c)
{
    return x && c >= 0 && (size_t)c < x->nconcepts ? x->concepts[c].id : NULL;
}
