/* dialog.c -- a turn of conversation over facts and the decision tree (see
 * dialog.h).
 *
 * A turn, in order:
 *   1. the language: the first message sets it; later only a whole sentence
 *      in the other language changes it (a button label, an email, a number
 *      or a short reply never does);
 *   2. "cancel" / "start over";
 *   3. the answer to the pending question, if the message gives one (a value,
 *      "don't know", "skip"), then every fact the message tells;
 *   4. side answers: FAQ entries and informational intents, said first;
 *   5. the next step from the facts (tree_next), when the message answered,
 *      told something new or asked for the process; a step says, sets, acts
 *      and asks, or ends the path;
 *   6. if nothing else was said: the pending question's reminder, the "not
 *      understood" path (after two tries the bot moves on with what it has),
 *      or the social and out-of-scope answers with the main topics as buttons.
 * A reply never repeats a paragraph, and never goes out a third time in a
 * row: the third is replaced by a way out.
 *
 * Invariant: d->pending is "" or the id of the question asked last.
 */
#include "dialog.h"
#include "buf.h"
#include "facts.h"
#include "text.h"
#include "tree.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SURE 0.6                 /* confidence for acting on an intent */
#define ENTITY_CONF 0.9          /* a fact told in words */
#define INTENT_CONF 0.6          /* a fact implied by the intent */
#define MAX_STEPS 8              /* steps one turn may run */
#define MOVE_ON_TRIES 2          /* misunderstood answers before moving on */

struct dialog {
    const pack *pack;
    const tree *tree;
    char lang[3];                /* the conversation's language */
    facts *facts;                /* what is known, owned */
    char pending[PACK_ID_MAX];   /* question asked last, "" when none */
    int tries;                   /* answers to it not understood */
    int turn;                    /* turns so far */
    cJSON *said;                 /* {step id: turn said}, owned */
    unsigned last[2];            /* hashes of the last two replies */
    char alts[2][PACK_ID_MAX];   /* "did you mean" intents offered */
    char last_faq[PACK_ID_MAX];  /* FAQ answered last turn, for "and for X?" */
    bool last_oos;               /* the last reply was the out-of-scope answer */
    bool oom;                    /* a fact could not be stored: the turn fails */
    const char *label_raw;       /* the message of the turn under way, and */
    bool label_maybe;            /* ... whether it may be a label (pack_may_be_label) */
};

struct out {                     /* a reply under construction */
    char *text;
    size_t len, cap;
    bool oom;
};

enum ans { ANS_NONE, ANS_VALUE, ANS_UNKNOWN, ANS_SKIP, ANS_INVALID };

struct turn {                    /* what this turn found, for the helpers */
    const struct nlu_result *nr;
    const struct ent_result *er;
    const struct pack_intent *in; /* the intent acted on */
    const char *raw;
    char fold[1024];
    size_t foldlen;
    bool sure;                   /* in is the classifier's pick, not out_of_scope */
    bool firm;                   /* ... and confident enough to act on (SURE) */
    bool qlike;                  /* the message asks something */
    const struct tree_question *q; /* pending question at the start */
    uint64_t known;              /* form details known at the start (form_known) */
    enum ans ans;
    const char *why;             /* message key or text for ANS_INVALID */
    bool asked;                  /* a question (or its reminder) is in the reply */
    bool answered;               /* the pending question got an answer */
    bool changed;                /* a fact was told or forgotten this turn */
    bool other_case;             /* a case asked for about another topic (dropped) */
    bool covered;                /* a FAQ answer stands for the intent's own */
    bool told_order;             /* a fact of the order was told in words */
    bool offered;                /* "did you mean" offered intents as buttons */
    bool no_case;                /* a question about a case (a FAQ answers it), no request */
    bool dropped;                /* "I didn't ask for a case": the case under way dropped */
    const cJSON *short_steps[2]; /* step ids to say in their short form (FAQ said it) */
    const struct tree_faq *faq[2]; /* FAQ entries answered this turn */
};

/* ---- small helpers ------------------------------------------------------ */

static const cJSON *get(const cJSON *o, const char *k)
{
    return o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = get(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* True when intent in plays role r (pack.json "roles"). */
static bool plays(const dialog *d, const struct pack_intent *in, enum pack_role r)
{
    return pack_plays(d->pack, in, r);
}

static const char *fact(const dialog *d, const char *name)
{
    return facts_get(d->facts, name);
}

static void set_fact(dialog *d, const char *name, const char *value, double conf)
{
    if (facts_set(d->facts, name, value, d->turn, conf) < 0)
        d->oom = true; /* reported by dialog_turn's return */
}

/* Appends n bytes of s to o (kept NUL-terminated). */
static void append(struct out *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        char *p = realloc(o->text, o->cap = (o->len + n + 1) * 2);
        if (!p) {
            o->oom = true;
            return;
        }
        o->text = p;
    }
    memcpy(o->text + o->len, s, n);
    o->text[o->len += n] = '\0';
}

/* True when paragraph s[0..n) is one sentence around a link the reply has
 * already ("... signing in at https://admin.webex.com." said twice). */
static bool link_again(const struct out *o, const char *s, size_t n)
{
    const char *url = o->text ? strstr(s, "https://") : NULL;
    if (!url || url >= s + n || memchr(s, '\n', n))
        return false;
    size_t ul = strcspn(url, " \n)\"");
    while (ul && strchr(".,;:", url[ul - 1]))
        ul--;
    for (const char *c = s; c + 1 < s + n; c++)
        if (strchr(".!?;", *c) && c[1] == ' ' && (c < url || c > url + ul))
            return false; /* more than one sentence: something else is said too */
    char link[256];
    if (ul >= sizeof link)
        return false;
    memcpy(link, url, ul);
    link[ul] = '\0';
    return strstr(o->text, link) != NULL;
}

/* Appends paragraph s[0..n), unless the reply has it already. */
static void put_n(struct out *o, const char *s, size_t n)
{
    if (o->oom || n == 0)
        return;
    if (o->text) {
        char *dup = strndup(s, n);
        bool had = !dup || strstr(o->text, dup);
        free(dup);
        if (had || link_again(o, s, n))
            return;
    }
    if (o->len)
        append(o, "\n\n", 2);
    append(o, s, n);
}

/* Appends text s, paragraph by paragraph (each unless the reply has it). */
static void put(struct out *o, const char *s)
{
    for (const char *p = s; p && *p;) {
        const char *e = strstr(p, "\n\n");
        size_t n = e ? (size_t)(e - p) : strlen(p);
        put_n(o, p, n);
        p = e ? e + 2 : NULL;
    }
}

static void put_all(struct out *o, const struct out *from)
{
    if (from->oom)
        o->oom = true;
    if (from->text)
        put(o, from->text);
}

char *dialog_md_escape(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n * 2 + 1), *o = out;
    if (!out)
        return NULL;
    for (; *s; s++) {
        if (strchr("\\`*_[]<>|~", *s))
            *o++ = '\\';
        *o++ = *s == '\n' ? ' ' : *s;
    }
    *o = '\0';
    return out;
}

/* The value of placeholder key: a fact, or an extra the caller passes. */
static const char *placeholder(const dialog *d, const char *key, const char *const *extra)
{
    for (; extra && extra[0]; extra += 2)
        if (!strcmp(extra[0], key))
            return extra[1];
    const char *v = fact(d, key);
    if (v && !strcmp(v, "-"))
        v = pack_text(pack_message(d->pack, "not_given"), d->lang);
    return v;
}

/* Text with {key} placeholders filled (values escaped); caller frees.
 * extra: NULL or {key, value, ..., NULL} pairs of ready markdown. */
static char *fill(const dialog *d, const char *tpl, const char *const *extra)
{
    struct out o = { 0 };
    char key[PACK_ID_MAX];
    for (const char *s = tpl; *s && !o.oom;) {
        const char *open = strchr(s, '{');
        if (open != s) {                        /* the text up to the next '{' */
            size_t n = open ? (size_t)(open - s) : strlen(s);
            append(&o, s, n);
            s += n;
            continue;
        }
        const char *close = strchr(s, '}');
        size_t kl = close ? (size_t)(close - s - 1) : 0;
        const char *v = NULL;
        if (close && kl > 0 && kl < sizeof key) {
            memcpy(key, s + 1, kl);
            key[kl] = '\0';
            v = placeholder(d, key, extra);
        }
        if (!v) {                               /* a '{' of the text itself */
            append(&o, s++, 1);
            continue;
        }
        s = close + 1;
        char *esc = extra && v != fact(d, key) ? NULL : dialog_md_escape(v);
        const char *piece = esc ? esc : v;
        append(&o, piece, strlen(piece));
        free(esc);
    }
    if (o.oom) {
        free(o.text);
        return NULL;
    }
    return o.text ? o.text : strdup("");
}

static void say_x(const dialog *d, struct out *o, const cJSON *texts, const char *const *extra)
{
    if (!texts)
        return;
    char *t = fill(d, pack_text(texts, d->lang), extra);
    if (!t)
        o->oom = true;
    put(o, t);
    free(t);
}

static void say(const dialog *d, struct out *o, const cJSON *texts)
{
    say_x(d, o, texts, NULL);
}

static void say_msg(const dialog *d, struct out *o, const char *key)
{
    say(d, o, pack_message(d->pack, key));
}

static void set_buttons(const dialog *d, struct dialog_reply *r, const cJSON *texts)
{
    const cJSON *b;
    cJSON_Delete(r->buttons);
    r->buttons = cJSON_CreateArray();
    cJSON_ArrayForEach(b, get(texts, d->lang))
        cJSON_AddItemToArray(r->buttons, cJSON_CreateString(b->valuestring));
}

static void topic_buttons(const dialog *d, struct dialog_reply *r)
{
    cJSON_Delete(r->buttons);
    r->buttons = cJSON_CreateArray();
    for (size_t i = 0; i < tree_topic_count(d->tree); i++)
        cJSON_AddItemToArray(r->buttons, cJSON_CreateString(
            pack_text(tree_topic_at(d->tree, i)->label, d->lang)));
}

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* ---- state ---------------------------------------------------------------- */

dialog *dialog_load(const pack *p, const char *json, const char *default_lang)
{
    dialog *d = calloc(1, sizeof *d);
    cJSON *doc = json ? cJSON_Parse(json) : NULL;
    const char *v;
    if (!d)
        goto fail;
    d->pack = p;
    d->tree = pack_tree(p);
    snprintf(d->lang, sizeof d->lang, "%s", default_lang ? default_lang : "");
    if ((v = str(doc, "lang")) && (!strcmp(v, "en") || !strcmp(v, "sv")))
        snprintf(d->lang, sizeof d->lang, "%s", v);
    d->last_oos = cJSON_IsTrue(get(doc, "last_oos"));
    if ((v = str(doc, "last_faq")))
        snprintf(d->last_faq, sizeof d->last_faq, "%s", v);
    if ((v = str(doc, "pending")) && tree_question(d->tree, v))
        snprintf(d->pending, sizeof d->pending, "%s", v);
    d->tries = cJSON_IsNumber(get(doc, "tries")) ? get(doc, "tries")->valueint : 0;
    d->turn = cJSON_IsNumber(get(doc, "turn")) ? get(doc, "turn")->valueint : 0;
    for (int i = 0; i < 2; i++) {
        const cJSON *h = cJSON_GetArrayItem(get(doc, "last"), i);
        const cJSON *a = cJSON_GetArrayItem(get(doc, "alts"), i);
        d->last[i] = cJSON_IsNumber(h) ? (unsigned)h->valuedouble : 0;
        if (cJSON_IsString(a) && pack_intent_find(p, a->valuestring) >= 0)
            snprintf(d->alts[i], sizeof d->alts[i], "%s", a->valuestring);
    }
    d->said = cJSON_IsObject(get(doc, "said"))
                  ? cJSON_DetachItemFromObjectCaseSensitive(doc, "said") : cJSON_CreateObject();
    if (!d->said || !(d->facts = facts_new(get(doc, "facts"))))
        goto fail;
    cJSON_Delete(doc);
    return d;
fail:
    cJSON_Delete(doc);
    dialog_free(d);
    return NULL;
}

/* A JSON value of the said object (numbers, as dialog_turn writes them). */
static void write_value(struct buf *b, const cJSON *v)
{
    if (cJSON_IsNumber(v)) {
        buf_json_num(b, v->valuedouble);
        return;
    }
    char *s = cJSON_PrintUnformatted(v);   /* not written by this program: kept as read */
    if (!s || buf_adds(b, s) < 0)
        b->failed = true;
    free(s);
}

/* key and s, unless s is empty (dialog_save). */
static void save_str(struct buf *b, const char *key, const char *s)
{
    if (*s) {
        buf_adds(b, key);
        buf_json_str(b, s);
    }
}

/* key and n, unless n is 0 (dialog_save). */
static void save_num(struct buf *b, const char *key, double n)
{
    if (n != 0) {
        buf_adds(b, key);
        buf_json_num(b, n);
    }
}

/* Written straight into a buffer (no cJSON tree, no printf): it runs every
 * turn. The same object as dialog_load reads; a field at its default (an
 * empty string, false, 0, no alternatives) is left out, as dialog_load
 * reads a missing one (a smaller row: two conversations share a page of
 * the store, and a turn writes less WAL). */
char *dialog_save(const dialog *d)
{
    struct buf b;
    const cJSON *v;
    buf_init(&b, 1u << 24);
    buf_adds(&b, "{\"v\":2,\"last\":[");
    buf_json_num(&b, d->last[0]);
    buf_add(&b, ",", 1);
    buf_json_num(&b, d->last[1]);
    buf_adds(&b, "]");
    if (d->alts[0][0] || d->alts[1][0]) {
        buf_adds(&b, ",\"alts\":[");
        for (int i = 0, n = 0; i < 2; i++)
            if (d->alts[i][0]) {
                if (n++)
                    buf_add(&b, ",", 1);
                buf_json_str(&b, d->alts[i]);
            }
        buf_adds(&b, "]");
    }
    buf_adds(&b, ",\"lang\":");
    buf_json_str(&b, d->lang);
    save_str(&b, ",\"pending\":", d->pending);
    save_str(&b, ",\"last_faq\":", d->last_faq);
    if (d->last_oos)
        buf_adds(&b, ",\"last_oos\":true");
    save_num(&b, ",\"tries\":", d->tries);
    save_num(&b, ",\"turn\":", d->turn);
    if (facts_count(d->facts)) {
        buf_adds(&b, ",\"facts\":");
        facts_write(d->facts, &b);
    }
    if (d->said->child) {
        buf_adds(&b, ",\"said\":{");
        cJSON_ArrayForEach(v, d->said) {
            if (v != d->said->child)
                buf_add(&b, ",", 1);
            buf_json_str(&b, v->string ? v->string : "");
            buf_add(&b, ":", 1);
            write_value(&b, v);
        }
        buf_adds(&b, "}");
    }
    buf_adds(&b, "}");
    return buf_take(&b);
}

void dialog_free(dialog *d)
{
    if (!d)
        return;
    facts_free(d->facts);
    cJSON_Delete(d->said);
    free(d);
}

const char *dialog_lang(const dialog *d) { return d->lang[0] ? d->lang : "en"; }

bool dialog_in_form(const dialog *d)
{
    const char *w = fact(d, "want_case");
    return w && !strcmp(w, "yes");
}

void dialog_preset(dialog *d, const char *name, const char *value)
{
    if (!fact(d, name))
        set_fact(d, name, value, 1.0);
}

void dialog_reply_clear(struct dialog_reply *r)
{
    free(r->text);
    cJSON_Delete(r->buttons);
    cJSON_Delete(r->case_obj);
    memset(r, 0, sizeof *r);
}

/* ---- reading the message ---------------------------------------------------- */

/* strcasecmp(a, b) == 0, the first bytes compared inline first (most
 * labels differ there). */
static bool same_label(const char *a, const char *b)
{
    unsigned char x = (unsigned char)a[0], y = (unsigned char)b[0];
    if (x != y && (x | 32) != (y | 32))
        return false;
    return !strcasecmp(a, b);
}

/* True when raw is one of the labels in texts ({"en","sv"}: a string or
 * an array of them each). */
static bool label_in(const dialog *d, const cJSON *texts, const char *raw)
{
    const cJSON *b;
    if (raw == d->label_raw && !d->label_maybe)
        return false;           /* none of the pack's labels: no need to look */
    for (int l = 0; l < PACK_NLANG; l++) {
        const cJSON *v = get(texts, pack_langs[l]);
        if (cJSON_IsString(v) && same_label(v->valuestring, raw))
            return true;
        cJSON_ArrayForEach(b, v)
            if (cJSON_IsString(b) && same_label(b->valuestring, raw))
                return true;
    }
    return false;
}

/* True when raw is the label of one of the tree's question buttons. */
static bool question_label(const dialog *d, const char *raw)
{
    for (size_t i = 0; i < tree_question_count(d->tree); i++)
        if (label_in(d, tree_question_at(d->tree, i)->buttons, raw))
            return true;
    return false;
}

/* True when raw is a button of a question that expects another kind of
 * answer than q (a summary's "Yes, open the case" at a yes/no question). */
static bool label_of_other(const dialog *d, const char *raw, const struct tree_question *q)
{
    bool other = false;
    if (label_in(d, pack_message(d->pack, "yes_no_buttons"), raw))
        return false; /* a plain yes or no answers any question */
    for (size_t i = 0; i < tree_question_count(d->tree); i++) {
        const struct tree_question *o = tree_question_at(d->tree, i);
        if (label_in(d, o->buttons, raw)) {
            if (!strcmp(o->expect, q->expect))
                return false;
            other = true;
        }
    }
    return other;
}

/* True when raw is a button label the bot offers (a click, not words). */
static bool is_label(const dialog *d, const char *raw)
{
    if (question_label(d, raw))
        return true;
    for (size_t i = 0; i < tree_topic_count(d->tree); i++)
        if (label_in(d, tree_topic_at(d->tree, i)->label, raw))
            return true;
    static const char *const sets[] = { "yes_no_buttons", "skip_buttons", "cancel_buttons", NULL };
    for (int i = 0; sets[i]; i++)
        if (label_in(d, pack_message(d->pack, sets[i]), raw))
            return true;
    for (size_t i = 0; i < pack_intent_count(d->pack); i++)
        if (label_in(d, pack_intent_at(d->pack, i)->title, raw))
            return true;
    return false;
}

/* True when raw has no letter or digit at all ("?", an emoji). */
static bool no_content(const char *raw)
{
    for (; *raw; raw++)
        if (isalnum((unsigned char)*raw))
            return false;
    return true;
}

/* Words of letters in raw (emails and numbers are not words here). */
static int words(const char *raw)
{
    int n = 0;
    for (const char *s = raw; *s;) {
        while (*s && isspace((unsigned char)*s))
            s++;
        const char *w = s;
        bool alpha = true;
        while (*s && !isspace((unsigned char)*s)) {
            if (*s == '@' || isdigit((unsigned char)*s))
                alpha = false;
            s++;
        }
        n += s > w && alpha;
    }
    return n;
}

/* True when the message asks something: a "?", or the question cues of
 * entities.json. */
static bool question_like(const char *raw, const struct ent_result *er)
{
    return strchr(raw, '?') || ent_get(er, "question");
}

/* True when the message quotes something ("..." or \u201c...\u201d) and says
 * fewer than five words of its own around it, or, in a Swedish
 * conversation, its own words have a Swedish letter: 'fick en popup när jag
 * tryckte Save: "Provisioning contact can no longer be updated"' is in the
 * language of its own words. */
static bool mostly_quote(const dialog *d, const char *raw)
{
    char own[512];
    size_t n = 0;
    bool in = false, quoted = false;
    for (const char *s = raw; *s && n + 1 < sizeof own; s++) {
        bool curly = !strncmp(s, "\xe2\x80\x9c", 3) || !strncmp(s, "\xe2\x80\x9d", 3);
        if (*s == '"' || curly) {
            in = !in;
            quoted = true;
            s += curly ? 2 : 0;
            own[n++] = ' ';
        } else if (!in) {
            own[n++] = *s;
        }
    }
    own[n] = '\0';
    bool swedish = !strcmp(d->lang, "sv") &&
                   (strstr(own, "\xc3\xa5") || strstr(own, "\xc3\xa4") || strstr(own, "\xc3\xb6"));
    return quoted && (words(own) < 5 || swedish);
}

static void update_lang(dialog *d, const struct nlu_result *nr, const struct ent_result *er,
                        const char *raw)
{
    const struct tree_question *q = d->pending[0] ? tree_question(d->tree, d->pending) : NULL;
    if (!d->lang[0])
        memcpy(d->lang, nr->lang, 3);
    else if (nr->lang_sure && strcmp(nr->lang, d->lang) && words(raw) >= 3 && !is_label(d, raw) &&
             !mostly_quote(d, raw) &&
             !(q && !strcmp(q->expect, "text") && !question_like(raw, er)))
        memcpy(d->lang, nr->lang, 3); /* (a description often quotes an English error) */
}

/* A "did you mean" or topic button pressed: the intent it stands for. */
static int pressed_intent(dialog *d, const char *raw)
{
    int k = -1;
    for (int i = 0; i < 2 && k < 0; i++) {
        int a = d->alts[i][0] ? pack_intent_find(d->pack, d->alts[i]) : -1;
        const struct pack_intent *in = a >= 0 ? pack_intent_at(d->pack, (size_t)a) : NULL;
        if (in && (label_in(d, in->title, raw) || !strcasecmp(in->id, raw)))
            k = a;
    }
    for (size_t i = 0; i < tree_topic_count(d->tree) && k < 0; i++)
        if (label_in(d, tree_topic_at(d->tree, i)->label, raw))
            k = tree_topic_at(d->tree, i)->intent;
    d->alts[0][0] = d->alts[1][0] = '\0';
    return k;
}

/* True when the message tells something before it asks: a sentence ends
 * in '.' or '!' before its first '?' ("I saved and got a success message.
 * does the customer need to do anything?"). */
static bool told_first(const char *raw)
{
    size_t q = strcspn(raw, "?"), e = strcspn(raw, ".!");
    return raw[q] && e < q;
}

/* True when the message opens with a sentence of a word or two ending in
 * '.' or '!' ("ja.", "no!"): a yes or no that answers on its own. */
static bool bare_first(const char *raw)
{
    size_t n = strcspn(raw, ".!?");
    char first[16];
    if (!raw[n] || raw[n] == '?' || n == 0 || n >= sizeof first)
        return false;
    memcpy(first, raw, n);
    first[n] = '\0';
    return words(first) <= 2;
}

/* True when a yes/no in the message is about something else than the
 * pending question: another fact of the process is told, or a longer message
 * makes another request ("ok, I want to change the contact"). */
static bool about_else(const dialog *d, const struct turn *t)
{
    bool no = ent_has(t->er, "answer", "no");
    if (is_label(d, t->raw) || (!ent_has(t->er, "answer", "yes") && !no) ||
        (ent_get(t->er, "result") && tree_is_result_fact(d->tree, t->q->fact)))
        return false; /* a button, or "ok, it works now" answers the question */
    if (bare_first(t->raw))
        return false; /* "ja. kunden är inte registrerad än. hur gör jag ...?" */
    bool result_q = tree_is_result_fact(d->tree, t->q->fact);
    for (int i = 0; i < t->er->nvals; i++) {
        const char *slot = t->er->vals[i].slot;
        if (strcmp(slot, t->q->fact) && tree_is_process_fact(d->tree, slot) &&
            !(no && (result_q || tree_is_result_fact(d->tree, slot))))
            return true; /* "no, they haven't onboarded it" at "shall I open a case?" */
    }
    if (!no && ent_get(t->er, "weak_yes") && t->qlike)
        return true; /* "ok how do I do it then" asks, it does not answer */
    if (no || !ent_get(t->er, "weak_yes") || !t->sure || plays(d, t->in, PACK_ROLE_AFFIRM) ||
        plays(d, t->in, PACK_ROLE_DENY))
        return false; /* a plain "yes ..." answers; an "ok, ..." may start something else */
    return plays(d, t->in, PACK_ROLE_THANKS) || plays(d, t->in, PACK_ROLE_GOODBYE) ||
           (words(t->raw) >= 4 && !cJSON_GetObjectItemCaseSensitive(t->in->set, t->q->fact));
}

/* The text after "description:" or "change the description to" when the
 * message names the description and gives it ("also the description: Save
 * returns error 500", "ändra beskrivningen till ..."), or NULL. */
static const char *typed_description(const struct turn *t)
{
    static const char *const to[] = { " to ", " till " };
    const char *f = ent_get(t->er, "field"), *v = strchr(t->raw, ':');
    if (!f || strcmp(f, "description"))
        return NULL;
    for (size_t i = 0; !v && i < sizeof to / sizeof *to; i++) {
        const char *at = strstr(t->raw, to[i]); /* (the pattern put it right after the name) */
        v = at && at - t->raw <= 40 ? at + strlen(to[i]) - 1 : NULL;
    }
    if (!v)
        return NULL;
    v += 1 + strspn(v + 1, " ");
    return *v ? v : NULL;
}

/* True when the message itself tells fact = value (value "*": any), in
 * words or by the intent acted on; a result fact also by the "result" the
 * words tell. */
static bool tells(const dialog *d, const struct turn *t, const char *fact, const char *value)
{
    const char *v = ent_get(t->er, fact);
    if (!v && tree_is_result_fact(d->tree, fact))
        v = ent_get(t->er, "result");
    const cJSON *set = t->firm && t->in ? get(t->in->set, fact) : NULL;
    if (!v && cJSON_IsString(set))
        v = set->valuestring;
    return v && (!strcmp(value, "*") || !strcmp(v, value));
}

/* True when the message tells every fact of q's yes_when. */
static bool tells_yes(const dialog *d, const struct turn *t, const struct tree_question *q)
{
    const cJSON *c, *v;
    bool all = q->yes_when != NULL;
    cJSON_ArrayForEach(c, q->yes_when) {
        bool one = cJSON_IsString(c) && tells(d, t, c->string, c->valuestring);
        const cJSON *list = cJSON_IsArray(c) ? c : NULL;
        cJSON_ArrayForEach(v, list)
            one = one || (cJSON_IsString(v) && tells(d, t, c->string, v->valuestring));
        all = all && one;
    }
    return all;
}

/* The yes/no reading of the message for question q. */
static enum ans read_yes_no(const dialog *d, struct turn *t, const char **value)
{
    const struct tree_question *q = t->q;
    const char *a = ent_get(t->er, "answer"), *res = ent_get(t->er, "result");
    bool failed_fix = res && !strcmp(res, "failed");

    const char *told = ent_get(t->er, q->fact);
    if (told && q->unknown_value && !strcmp(told, q->unknown_value))
        return ANS_UNKNOWN; /* "not sure if onboarded": the question's "don't know" */
    if (told)
        return *value = told, ANS_VALUE; /* told in words */
    if (tells_yes(d, t, q))
        return *value = q->yes, ANS_VALUE; /* "no, Save gives error 500" at "do you see
                                            * Edit?": they saw it */
    if (!strcmp(q->expect, "confirm") && !is_label(d, t->raw) &&
        (t->er->nemail || t->er->order_ref[0] || ent_get(t->er, "field")))
        return ANS_NONE; /* "no, the new contact should be x": corrected in place */
    bool other = label_of_other(d, t->raw, q);
    bool open_case = t->firm && plays(d, t->in, PACK_ROLE_OPEN_CASE) && !is_label(d, t->raw);
    if (open_case && !strcmp(q->expect, "confirm") && !ent_has(t->er, "answer", "no"))
        return *value = q->yes, ANS_VALUE; /* "yes open the case" at the summary */
    bool case_again = open_case && strcmp(q->fact, "want_case");
    if ((other || (case_again && ent_has(t->er, "answer", "yes"))) && q->once && q->unknown_value)
        return ANS_UNKNOWN; /* asked once, "yes, open the case" again: "don't know", it goes on */
    if (other)
        return ANS_NONE; /* "Yes, open the case" pressed late is no answer to this */
    if (case_again)
        return ANS_NONE; /* "no, I want a real person" at the PONR question */
    if (about_else(d, t))
        return ANS_NONE; /* "yes I have edit access" at the PONR question */
    bool result_q = tree_is_result_fact(d->tree, q->fact);
    if (res && !failed_fix && !result_q && strcmp(q->fact, "want_case"))
        return ANS_NONE; /* "done, got the confirmation" says nothing about PONR */
    if (ent_get(t->er, "later") && !(a && !strcmp(a, "no") && !strcmp(q->fact, "want_case")))
        return q->unknown ? ANS_UNKNOWN : ANS_NONE; /* "ok, trying now" is not a yes; but
                                                     * "no thanks, I'll try again tomorrow"
                                                     * declines the case */
    if (res && (!t->qlike || ent_get(t->er, "result_lead") || told_first(t->raw)) && result_q)
        a = failed_fix ? "no" : "yes"; /* "no wait, now it shows the new one: it worked" */
    if (!a && t->firm && plays(d, t->in, PACK_ROLE_AFFIRM))
        a = "yes";
    if (!a && t->firm && plays(d, t->in, PACK_ROLE_DENY))
        a = "no";
    if (a && !strcmp(a, "unknown"))
        return ANS_UNKNOWN;
    if (a && !strcmp(a, "no") && failed_fix && !strcmp(q->fact, "want_case"))
        return ANS_NONE; /* "no, it didn't help" is not "no case" */
    if (a && !strcmp(a, "yes"))
        *value = q->yes;
    else if (a && !strcmp(a, "no"))
        *value = q->no;
    if (*value)
        return ANS_VALUE;
    t->why = q->unknown_value ? "not_yes_no" : "not_yes_no_plain";
    return ANS_INVALID;
}

static const char *email_why(const struct ent_result *er)
{
    return er->bad_email[0] ? ent_email_why_key(er->bad_email_why) : NULL;
}

/* True when email is the address fact `name` holds with a typo fixed (at
 * most two letters apart, not the same). */
static bool typo_of(const dialog *d, const char *name, const char *email)
{
    const char *old = fact(d, name);
    size_t n = old ? strlen(old) : 0, m = strlen(email);
    if (!old || n > 255 || m > 255 || !strcasecmp(old, email) || (n > m ? n - m : m - n) > 2)
        return false;
    unsigned char row[257]; /* one row of the edit distance, capped at 3 */
    for (size_t j = 0; j <= m; j++)
        row[j] = (unsigned char)(j < 3 ? j : 3);
    for (size_t i = 1; i <= n; i++) {
        unsigned char diag = row[0], best;
        row[0] = best = (unsigned char)(i < 3 ? i : 3);
        for (size_t j = 1; j <= m; j++) {
            unsigned char up = row[j];
            int c = diag + (tolower((unsigned char)old[i - 1]) != tolower((unsigned char)email[j - 1]));
            c = c < up + 1 ? c : up + 1;
            c = c < row[j - 1] + 1 ? c : row[j - 1] + 1;
            row[j] = (unsigned char)(c < 3 ? c : 3);
            diag = up;
            best = row[j] < best ? row[j] : best;
        }
        if (best >= 3)
            return false;
    }
    return row[m] <= 2;
}

/* The known new address with a typo fixed: "wait typo, it's x" at "your own
 * email?". */
static bool typo_fix(const dialog *d, const char *email)
{
    return typo_of(d, "new_email", email);
}

/* Free text for q (a description): anything but a control word, a label, a
 * bare yes/no, an address or reference alone, or a question to the bot. */
static enum ans read_text(dialog *d, struct turn *t, const char **value)
{
    size_t n = strlen(t->raw);
    bool bare = ent_get(t->er, "answer") && (n < 20 || words(t->raw) <= 6); /* "yes open it, thanks" */
    if (ent_has(t->er, "command", "skip") || (t->q->optional && bare))
        return t->q->optional ? ANS_SKIP : ANS_INVALID; /* "no" or "yes, open it": nothing to add */
    if (is_label(d, t->raw) || words(t->raw) == 0 || t->qlike || /* a question is no description */
        (t->er->nemail && (t->er->new_cue || !fact(d, "new_email"))) || t->er->order_ref[0] ||
        (t->er->nemail && t->er->own >= 0 && words(t->raw) <= 8) || /* "min mejl är k@x" */
        t->er->domain_to[0] || /* ("the domain is .se not .com" puts an address right) */
        (t->firm && (plays(d, t->in, PACK_ROLE_OPEN_CASE) || plays(d, t->in, PACK_ROLE_CASE_STATUS) ||
                     ((plays(d, t->in, PACK_ROLE_GOODBYE) || plays(d, t->in, PACK_ROLE_THANKS)) &&
                      words(t->raw) <= 4)))) /* ("bye" is no description) */
        return t->q->optional && is_label(d, t->raw) ? ANS_SKIP : ANS_NONE;
    *value = t->raw;
    return ANS_VALUE;
}

/* The answer to the pending question t->q, into *value. */
static enum ans read_answer(dialog *d, struct turn *t, const char **value)
{
    const struct tree_question *q = t->q;
    const char *e = q->expect;
    *value = NULL;
    if (!strcmp(e, "yes_no") || !strcmp(e, "confirm"))
        return read_yes_no(d, t, value);
    if (ent_has(t->er, "answer", "unknown") && q->unknown_value)
        return ANS_UNKNOWN;
    if (!strcmp(e, "line_status")) {
        if (ent_get(t->er, q->fact))
            return *value = ent_get(t->er, q->fact), ANS_VALUE;
        return t->why = "invalid", ANS_INVALID;
    }
    if (!strcmp(e, "email")) {
        bool mine = !strcmp(q->fact, "requester");
        /* of two, the own one; or the one not called new ("sam@x - sorry, the new contact
         * should be v@y" at "your email?") */
        int k = t->er->nemail == 2 && mine &&
                (t->er->own == 1 || (t->er->own < 0 && t->er->new_cue)) ? 1 : 0;
        if (t->er->nemail == 1 && (mine ? t->er->new_cue || typo_fix(d, t->er->email[0])
                                        : t->er->own == 0))
            return ANS_NONE; /* "new email x" at "your email?", or "my email is x" at "new email?" */
        if (t->er->nemail > 0)
            return *value = t->er->email[k], ANS_VALUE;
        t->why = email_why(t->er);
        return t->why ? ANS_INVALID : (t->why = "invalid", ANS_INVALID);
    }
    if (!strcmp(e, "order_ref")) {
        if (t->er->order_ref[0])
            return *value = t->er->order_ref, ANS_VALUE;
        return t->why = "invalid", ANS_INVALID;
    }
    if (!strcmp(q->fact, "field")) {
        const char *f = ent_get(t->er, "field");
        return f ? (*value = f, ANS_VALUE) : (t->why = "invalid", ANS_INVALID);
    }
    return read_text(d, t, value);
}

/* The facts starting the process implies (flows.json "start"), unless known. */
static void start_process(dialog *d)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, tree_start(d->tree))
        if (!fact(d, v->string))
            set_fact(d, v->string, v->valuestring, INTENT_CONF);
}

/* True when the process was started before this turn. */
static bool started_before(const dialog *d)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, tree_start(d->tree))
        if (fact(d, v->string) && facts_turn(d->facts, v->string) != d->turn)
            return true;
    return false;
}

/* Emails, order reference and the facts told in words. */
/* True when the message is sure of a request of the article (no social
 * role such as yes, no, thanks or hello): asking it is no failed answer. */
static bool task_request(const dialog *d, const struct turn *t)
{
    static const enum pack_role social[] = { PACK_ROLE_AFFIRM, PACK_ROLE_DENY, PACK_ROLE_THANKS,
                                             PACK_ROLE_GOODBYE, PACK_ROLE_GREETING, PACK_ROLE_HELP,
                                             PACK_ROLE_FALLBACK };
    if (!t->sure)
        return false;
    for (size_t i = 0; i < sizeof social / sizeof *social; i++)
        if (plays(d, t->in, social[i]))
            return false;
    return true;
}

/* True when the message is sure of an answer-only request (no flow, no
 * conversational role: "how do I resend it?"), which starts no path. */
/* True when the message's second request is a path ("how do I change it?
 * ... not onboarded": the path is asked for beside the PONR statement). */
static bool path_asked_too(const dialog *d, const struct nlu_result *nr)
{
    const struct pack_intent *in2 = nr->intent2 >= 0 && nr->confidence2 >= 0.6
                                        ? pack_intent_at(d->pack, (size_t)nr->intent2) : NULL;
    return in2 && in2->flow && !strcmp(in2->flow, "process");
}

static bool side_request(const dialog *d, const struct turn *t)
{
    if (!t->sure || t->in->flow || path_asked_too(d, t->nr))
        return false;
    for (int r = 0; r < PACK_NROLES; r++)
        if (plays(d, t->in, (enum pack_role)r))
            return false;
    return true;
}

/* Sets detail name (the new address, the order) to value; a description
 * that quoted the value it replaces quotes this one instead, so that the
 * case does not contradict itself. */
static void set_detail(dialog *d, const char *name, const char *value)
{
    const char *old = fact(d, name), *desc = fact(d, "description");
    const char *at = old && desc ? strstr(desc, old) : NULL;
    char *fixed = NULL;
    if (at && strcmp(old, value)) {
        size_t n = strlen(desc) - strlen(old) + strlen(value) + 1;
        if ((fixed = malloc(n)))
            snprintf(fixed, n, "%.*s%s%s", (int)(at - desc), desc, value, at + strlen(old));
        else
            d->oom = true;
    }
    if (fixed) /* (with the confidence it had: a weaker source may still replace it) */
        set_fact(d, "description", fixed, facts_conf(d->facts, "description"));
    free(fixed);
    set_fact(d, name, value, ENTITY_CONF);
}

static void set_new_email(dialog *d, const char *email)
{
    set_detail(d, "new_email", email);
}

/* "The domain is .se not .com": the known address it fits, the new one
 * first, with its domain put right. */
static void take_domain_fix(dialog *d, const struct ent_result *er)
{
    static const char *const fields[] = { "new_email", "requester" };
    char fixed[ENT_EMAIL_MAX + 1], why[80];
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        const char *old = fact(d, fields[i]);
        if (!old || !ent_fix_domain(old, er->domain_to, er->domain_from, fixed, sizeof fixed) ||
            !ent_email_valid(fixed, why, sizeof why))
            continue;
        if (i == 0)
            set_new_email(d, fixed);
        else
            set_fact(d, fields[i], fixed, ENTITY_CONF);
        return;
    }
}

static void take_details(dialog *d, struct turn *t)
{
    const struct ent_result *er = t->er;
    const char *pf = t->q ? t->q->fact : "";
    int process = 0;
    if (ent_has(er, "retract", "popup") && fact(d, "popup")) {
        set_fact(d, "popup", NULL, 1.0); /* "the pop-up was on another order" */
        set_fact(d, "ponr", NULL, 1.0);  /* (what it implied goes with it) */
    }
    for (int i = 0; i < er->nvals; i++)
        if (tree_is_fact(d->tree, er->vals[i].slot) &&
            !(t->no_case && !strcmp(er->vals[i].slot, "want_case"))) {
            set_fact(d, er->vals[i].slot, er->vals[i].value, ENTITY_CONF);
            t->told_order |= !side_request(d, t); /* "resend it, it's closed": no path */
            process += tree_is_process_fact(d->tree, er->vals[i].slot);
        }
    if (process >= 2 && !t->qlike)
        t->told_order = true; /* "line is Awaiting ..., I see Edit, not onboarded": their order */
    const char *w = fact(d, "want_case");
    if (process && w && !strcmp(w, "no") && facts_turn(d->facts, "want_case") < d->turn)
        set_fact(d, "want_case", NULL, 1.0); /* "no case for now" earlier; a new fact goes on */
    for (int i = 0; i < er->nemail; i++) {
        /* a second address, not called new, once the new one is known: the person's own */
        bool second = er->nemail == 1 && !er->new_cue && fact(d, "new_email") &&
                      strcmp(pf, "new_email") &&
                      !fact(d, "requester") && strcasecmp(fact(d, "new_email"), er->email[0]) &&
                      !typo_fix(d, er->email[0]);
        bool own = i == er->own || second ||
                   (!strcmp(pf, "requester") && er->nemail == 1 && !er->new_cue &&
                    !typo_fix(d, er->email[0])) ||
                   (!strcmp(pf, "requester") && er->nemail == 2 && i == 1 && er->new_cue &&
                    er->own < 0) || /* "sam@x - sorry, the new contact should be v@y" */
                   (er->nemail == 1 && !er->new_cue && typo_of(d, "requester", er->email[0]) &&
                    !typo_fix(d, er->email[0])); /* "sorry, mo@x, not me@x" */
        bool in_text = t->q && !strcmp(t->q->expect, "text") && strcmp(pf, "field") && !er->new_cue &&
                       fact(d, "new_email"); /* (at "which detail?" an address is the right value) */
        if (own)
            set_fact(d, "requester", er->email[i], ENTITY_CONF);
        else if (i == 0 && !in_text) /* ("the orderer was x@y, he left": a description) */
            set_new_email(d, er->email[i]);
    }
    if (!er->nemail && er->domain_to[0])
        take_domain_fix(d, er);
    const char *field = ent_get(er, "field");
    if (t->q && !strcmp(t->q->expect, "confirm") && typed_description(t)) {
        set_fact(d, "description", typed_description(t), 1.0); /* at the summary */
    } else if (t->q && !strcmp(t->q->expect, "confirm") && field && !er->nemail && !er->order_ref[0] &&
               tree_is_fact(d->tree, field)) {
        set_fact(d, field, NULL, 1.0); /* "my email is wrong": asked again */
        set_fact(d, "confirmed", NULL, 1.0);
    }
    if (er->order_ref[0]) {
        const char *old = fact(d, "order_ref");
        if (old && strcmp(old, er->order_ref))
            set_fact(d, "dup", NULL, 1.0); /* another order: look again */
        set_detail(d, "order_ref", er->order_ref);
    }
}

/* "It worked" / "still fails" said in passing: the fact the tree's
 * "results" name for now (none while nothing is under way). */
static void take_result(dialog *d, struct turn *t)
{
    const char *res = ent_get(t->er, "result");
    if (!res || (t->qlike && !ent_get(t->er, "result_lead")) ||
        (t->q && tree_is_result_fact(d->tree, t->q->fact)))
        return; /* ("done, and how do I check it?" tells the result first) */
    const char *f = tree_result_fact(d->tree, d->facts);
    if (f)
        set_fact(d, f, res, ENTITY_CONF);
}

/* The facts flows.json "implies" fixes, set again whatever the message told
 * ("not onboarded" after the pop-up: PONR stays). */
static void take_implied(dialog *d)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, tree_implied(d->tree, d->facts))
        set_fact(d, f->string, f->valuestring, 1.0);
}

/* Forgets every fact but those the case types keep (the person's own email). */
static void forget_all(dialog *d)
{
    cJSON *keep = cJSON_CreateObject();
    const cJSON *v;
    for (size_t i = 0; keep && i < pack_case_type_count(d->pack); i++)
        cJSON_ArrayForEach(v, pack_case_type_at(d->pack, i)->keep)
            if (fact(d, v->valuestring) && !cJSON_AddStringToObject(keep, v->valuestring,
                                                                    fact(d, v->valuestring)))
                d->oom = true;
    facts *f = keep ? facts_new(NULL) : NULL;
    if (!f) {
        cJSON_Delete(keep);
        d->oom = true;
        return;
    }
    facts_free(d->facts);
    d->facts = f;
    cJSON_Delete(d->said);
    d->said = cJSON_CreateObject();
    d->pending[0] = '\0';
    d->tries = 0;
    cJSON_ArrayForEach(v, keep)
        set_fact(d, v->string, v->valuestring, 1.0);
    cJSON_Delete(keep);
}

/* True when a sentence's details (er) are only what the case lists apart
 * (an address, the order, the line's status, access, PONR) or it is a
 * greeting of a few words, and it tells no failure. */
static bool detail_only(const dialog *d, const struct ent_result *er, const char *s, size_t n)
{
    if (ent_has(er, "edit", "failed") || ent_has(er, "result", "failed"))
        return false;
    bool facts = false;
    for (int i = 0; i < er->nvals; i++)
        facts |= tree_is_process_fact(d->tree, er->vals[i].slot);
    char w[64];
    snprintf(w, sizeof w, "%.*s", (int)(n < 63 ? n : 63), s);
    return er->nemail || er->order_ref[0] || facts || (n < 63 && words(w) <= 3);
}

/* What fails, from a message of several sentences that told it: the
 * message without the sentences that only carried the details the case
 * lists apart (detail_only()). A new malloc'd string, or NULL when there is
 * nothing to leave out, or nothing else (the whole message then stands). */
static char *failure_sentences(const dialog *d, const char *raw)
{
    struct text_span sp[8];
    size_t n = text_sentences(raw, strlen(raw), sp, 8), left = 0;
    struct ent_result *er = n >= 2 ? malloc(sizeof *er) : NULL;
    struct buf b;
    char fold[512];
    buf_init(&b, 4096);
    for (size_t i = 0; er && i < n; i++) {
        size_t fl = text_normalize(raw + sp[i].off, sp[i].len, TEXT_FOLD, fold, sizeof fold);
        ent_extract(d->pack, raw + sp[i].off, sp[i].len, fold, fl, er);
        if (detail_only(d, er, raw + sp[i].off, sp[i].len) && ++left)
            continue;
        const char *a = raw + sp[i].off, *e = a + sp[i].len;
        while (a < e && isspace((unsigned char)*a))
            a++;
        while (e > a && isspace((unsigned char)e[-1]))
            e--;
        if (b.len)
            buf_adds(&b, " ");
        buf_add(&b, a, (size_t)(e - a));
    }
    free(er);
    return b.len && left ? buf_take(&b) : (buf_free(&b), NULL);
}

/* s without what leads it and is no part of what fails (a greeting, the
 * answer to "did it work?": the pack's description_lead), its first letter
 * upper-cased: a new malloc'd string, or NULL when nothing leads it, too
 * little would be left, or out of memory. */
static char *without_lead(const dialog *d, const char *s)
{
    const pcre2_code *lead = pack_description_lead_rule(d->pack);
    size_t so, eo;
    if (!lead || !pack_rule_find(d->pack, lead, s, strlen(s), 0, 0, &so, &eo) || so != 0 ||
        eo == 0 || words(s + eo) < 3)
        return NULL;
    unsigned char *c = (unsigned char *)strdup(s + eo);
    if (c && c[0] >= 'a' && c[0] <= 'z')
        c[0] -= 32;
    else if (c && c[0] == 0xC3 && c[1] >= 0xA0 && c[1] <= 0xBE && c[1] != 0xB7)
        c[1] -= 32;   /* å ä ö é ... (Latin-1's letters) */
    return (char *)c;
}

/* Sets the description from message raw (failure_sentences() of it when
 * they can be told apart, without_lead()); with add, after the one there
 * (an error text told at the summary adds to what was told before). */
static void set_description(dialog *d, const char *raw, double conf, bool add)
{
    char *part = failure_sentences(d, raw), *both = NULL;
    char *bare = without_lead(d, part ? part : raw);
    const char *now = bare ? bare : part ? part : raw, *old = fact(d, "description");
    if (add && old && strcmp(old, "-") && !strstr(now, old) && !strstr(old, now)) {
        size_t n = strlen(old) + strlen(now) + 3;
        if ((both = malloc(n)))
            snprintf(both, n, "%s%s %s", old, strchr(".!?", old[strlen(old) - 1]) ? "" : ".", now);
        else
            d->oom = true;
    }
    set_fact(d, "description", both ? both : now, conf);
    free(both);
    free(bare);
    free(part);
}

/* Facts the intent implies, unless the message told otherwise. */
static void take_intent(dialog *d, struct turn *t)
{
    const cJSON *v;
    if (!t->sure)
        return;
    if (side_request(d, t) && ent_get(t->er, "instead") && started_before(d)) {
        cJSON_ArrayForEach(v, tree_start(d->tree)) /* "I just want to resend it instead" */
            set_fact(d, v->string, NULL, 1.0);
        d->pending[0] = '\0';
        d->tries = 0;
        t->q = NULL;
    }
    if (t->in->flow && !strcmp(t->in->flow, "process") && !t->covered)
        start_process(d);
    bool detail = t->q && (t->q->form || !strcmp(t->q->expect, "confirm")) &&
                  (t->er->nemail || t->er->order_ref[0]); /* "the order is actually Sub 5566" */
    cJSON_ArrayForEach(v, t->in->set) /* only from a confident reading, not from a detail told */
        if (t->firm && !t->covered && !detail && facts_turn(d->facts, v->string) != d->turn &&
            !(t->no_case && !strcmp(v->string, "want_case")))
            set_fact(d, v->string, v->valuestring, INTENT_CONF);
    if (facts_turn(d->facts, "want_case") == d->turn && !strcmp(fact(d, "want_case"), "yes"))
        set_fact(d, "dup", NULL, 1.0); /* asked again: look for an open case again */
    /* a long first message of a failing edit keeps its words for support */
    bool told = ent_has(t->er, "edit", "failed");
    if (told && t->q && !strcmp(t->q->expect, "confirm") && !ent_get(t->er, "answer") &&
        !typed_description(t)) {
        set_description(d, t->raw, 1.0, true); /* "it says Something went wrong" at the summary */
        return;
    }
    bool failed_now = ent_has(t->er, "result", "failed") && t->q && words(t->raw) >= 6 &&
                      tree_is_result_fact(d->tree, t->q->fact); /* "no, it says ..." at "did it work?"
                                                                 * (not a bare "no, it didn't help") */
    if ((!fact(d, "description") || (told && facts_conf(d->facts, "description") < 1.0)) &&
        strlen(t->raw) >= 20 &&
        (told || failed_now || (!t->qlike && plays(d, t->in, PACK_ROLE_PROBLEM))))
        set_description(d, t->raw, ENTITY_CONF, false);
}

/* True when a detail of a case form (cases.json) was told this turn. */
static bool form_changed(const dialog *d)
{
    for (size_t i = 0; i < pack_case_type_count(d->pack); i++) {
        const cJSON *v;
        cJSON_ArrayForEach(v, pack_case_type_at(d->pack, i)->form)
            if (facts_turn(d->facts, v->valuestring) == d->turn)
                return true;
    }
    return false;
}

/* A case asked for right after an out-of-scope question is about that other
 * topic: not a case of this bot's type. True when so (the request dropped). */
static bool other_topic_case(dialog *d, const struct turn *t)
{
    const char *w = fact(d, "want_case");
    bool goal_before = started_before(d);
    bool foreign = ent_get(t->er, "foreign") && !ent_get(t->er, "ours");
    if ((!d->last_oos && !foreign) || goal_before || !w || strcmp(w, "yes") ||
        facts_turn(d->facts, "want_case") != d->turn || fact(d, "order_ref"))
        return false;
    set_fact(d, "want_case", NULL, 1.0);
    const cJSON *v;
    cJSON_ArrayForEach(v, tree_start(d->tree))
        set_fact(d, v->string, NULL, 1.0);
    return true;
}

/* Bit i set when the i-th detail of the case forms (cases.json, type after
 * type, in form order) is known; details past the 64th are never set. */
static uint64_t form_known(const dialog *d)
{
    uint64_t m = 0;
    unsigned i = 0;
    for (size_t k = 0; k < pack_case_type_count(d->pack); k++) {
        const cJSON *v;
        cJSON_ArrayForEach(v, pack_case_type_at(d->pack, k)->form) {
            if (i < 64 && fact(d, v->valuestring))
                m |= (uint64_t)1 << i;
            i++;
        }
    }
    return m;
}

/* What was told this turn beside the answer, acknowledged: for each form
 * detail (form order) "noted_<fact>" when it was not known before, else
 * "updated_<fact>" ("Updated: the new provisioning contact is now x."); then
 * for each other fact of the process told, "noted_<fact>_<value>" where the
 * pack has one ("Noted: the order line shows ..."). With generic, "updated"
 * when nothing else was said ("Updated." alone only where the summary
 * follows). */
static void say_noted(dialog *d, const struct turn *t, struct out *o, bool generic)
{
    bool any = false;
    unsigned i = 0;
    for (size_t k = 0; k < pack_case_type_count(d->pack); k++) {
        const cJSON *v;
        cJSON_ArrayForEach(v, pack_case_type_at(d->pack, k)->form) {
            char key[PACK_ID_MAX + 16];
            bool was = i < 64 && (t->known >> i & 1);
            i++;
            snprintf(key, sizeof key, "%s_%s", was ? "updated" : "noted", v->valuestring);
            if (facts_turn(d->facts, v->valuestring) == d->turn && pack_message(d->pack, key)) {
                say_msg(d, o, key);
                any = true;
            }
        }
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, tree_process_facts(d->tree)) {
        const char *name = f->valuestring, *val = fact(d, name);
        char key[2 * PACK_ID_MAX + 8];
        if (!val || (t->q && !strcmp(t->q->fact, name)) || facts_turn(d->facts, name) != d->turn ||
            facts_conf(d->facts, name) < ENTITY_CONF)
            continue; /* (told in words, not implied by the intent) */
        snprintf(key, sizeof key, "noted_%s_%s", name, val);
        if (pack_message(d->pack, key))
            say_msg(d, o, key);
    }
    if (!any && generic)
        say_msg(d, o, "updated");
}

/* Applies the answer to the pending question. */
static void take_answer(dialog *d, struct turn *t, const char *value)
{
    const struct tree_question *q = t->q;
    if (t->ans == ANS_VALUE && !strcmp(q->fact, "field") && typed_description(t)) {
        set_fact(d, "description", typed_description(t), 1.0); /* typed right away */
        set_fact(d, "confirmed", NULL, 1.0);
    } else if (t->ans == ANS_VALUE && !strcmp(q->fact, "field")) {
        set_fact(d, value, NULL, 1.0);
        set_fact(d, "confirmed", NULL, 1.0);
    } else if (t->ans == ANS_VALUE) {
        set_fact(d, q->fact, value, 1.0);
    } else if (t->ans == ANS_SKIP) {
        set_fact(d, q->fact, "-", 1.0);
    } else if (t->ans == ANS_UNKNOWN && q->unknown_value) {
        set_fact(d, q->fact, q->unknown_value, 1.0);
    }
    if (t->ans != ANS_NONE && t->ans != ANS_INVALID) {
        d->pending[0] = '\0';
        d->tries = 0;
    }
}

/* ---- what the bot says ------------------------------------------------------- */

static void ask(dialog *d, struct turn *t, const struct tree_question *q, bool again,
                struct out *o, struct dialog_reply *r)
{
    const char *why = !strcmp(q->expect, "email") ? email_why(t->er) : NULL;
    if (why) /* an address told in passing that is not valid: say why first */
        say_msg(d, o, why);
    say(d, o, again && q->again ? q->again : q->say);
    if (strcmp(d->pending, q->id))
        d->tries = 0;
    snprintf(d->pending, sizeof d->pending, "%s", q->id);
    r->expect = tree_expect(q->expect);
    cJSON_Delete(r->buttons);
    r->buttons = NULL;
    if (q->buttons)
        set_buttons(d, r, q->buttons);
    t->asked = true;
}

/* Runs a step's action. False when the step must not go on (refused). */
static bool act(dialog *d, const struct tree_step *s, const struct dialog_hooks *h,
                struct out *o, struct dialog_reply *r, char status[80])
{
    char id[24] = "";
    if (!strcmp(s->action, "find_case")) {
        int rc = h && h->find_case ? h->find_case(h->ctx, fact(d, "order_ref"), d->lang, id,
                                                  status, 80) : 0;
        set_fact(d, "dup", rc == 1 ? id : "none", 1.0);
        if (rc == 1)
            set_fact(d, "want_case", "dup", 1.0);
        return true;
    }
    cJSON *facts = facts_values(d->facts), *cj = NULL;
    int rc = h && h->file_case && facts
                 ? h->file_case(h->ctx, s->case_type, facts, d->lang, id, &cj) : -1;
    cJSON_Delete(facts);
    const struct { int rc; const char *msg; } refusals[] = {
        { DIALOG_EREFUSED, s->case_type->refused }, { DIALOG_ENOTALLOWED, "case_not_allowed" },
        { DIALOG_EINCOMPLETE, "case_incomplete" },
    };
    if (rc < 0) {
        const char *msg = "case_error";
        for (size_t i = 0; i < sizeof refusals / sizeof *refusals; i++)
            if (rc == refusals[i].rc)
                msg = refusals[i].msg;
        say_msg(d, o, msg);
        set_fact(d, "confirmed", NULL, 1.0);
        return false;
    }
    set_fact(d, "case_id", id, 1.0);
    cJSON_Delete(r->case_obj);
    r->case_obj = cj;
    return true;
}

/* After a case of type ct is filed: its details (but those it keeps) and
 * the form's confirmation are cleared for the next one. */
static void close_form(dialog *d, const struct pack_case_type *ct)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, ct->form)
        if (!pack_is_kept_fact(d->pack, v->valuestring))
            set_fact(d, v->valuestring, NULL, 1.0);
    set_fact(d, "confirmed", NULL, 1.0);
    set_fact(d, "dup", NULL, 1.0);
    set_fact(d, "want_case", "filed", 1.0);
}

/* True when a FAQ answer given this turn already said what step id says. */
static bool said_short(const struct turn *t, const char *id)
{
    const cJSON *v;
    for (int i = 0; i < 2; i++)
        cJSON_ArrayForEach(v, t->short_steps[i])
            if (!strcmp(v->valuestring, id))
                return true;
    return false;
}

/* True when a fact the condition names was told this turn. */
static bool told_now(const dialog *d, const cJSON *when)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, when)
        if (facts_turn(d->facts, c->string) == d->turn)
            return true;
    return false;
}

/* True when an FAQ entry answered this turn asks for the step that asked
 * the pending question again ("repeat"). */
static bool faq_repeat(const struct turn *t)
{
    return (t->faq[0] && t->faq[0]->repeat) || (t->faq[1] && t->faq[1]->repeat);
}

/* Says again the text of the step said last of those that ask q (the steps
 * the question is about), if one was said. */
static void say_asker(dialog *d, struct out *o, const struct tree_question *q)
{
    const struct tree_step *best = NULL;
    double at = -1;
    const cJSON *v;
    cJSON_ArrayForEach(v, d->said) {
        const struct tree_step *s = tree_step(d->tree, v->string);
        if (s && s->ask == q && s->say && v->valuedouble > at) {
            best = s;
            at = v->valuedouble;
        }
    }
    if (best)
        say(d, o, best->say);
}

/* Says and asks what the facts lead to (tree_next), step after step. */
static void run_steps(dialog *d, struct turn *t, const struct dialog_hooks *h,
                      struct out *o, struct dialog_reply *r)
{
    char status[80] = "";
    for (int i = 0; i < MAX_STEPS; i++) {
        const struct tree_step *s = tree_next(d->tree, d->facts);
        if (!s)
            return;
        bool before = get(d->said, s->id) != NULL;
        if (s->end && before && !told_now(d, s->when)) {
            /* the path ended and what led there is unchanged: a corrected detail is
             * acknowledged, then the step's short form (its whole text only when
             * nothing else is said) */
            bool updated = form_changed(d) && !s->quiet;
            if (updated)
                say_noted(d, t, o, true);
            else if (t->faq[0])
                return; /* a side question answered: the end said before is not repeated */
            if (s->again || !updated)
                say(d, o, s->again ? s->again : s->say);
            return;
        }
        if (s->action && !act(d, s, h, o, r, status))
            return;
        if (s->say && !(before && s->ask && !s->end)) { /* an explanation is said once */
            const char *extra[] = { "dup_status", status, NULL };
            say_x(d, o, s->again && said_short(t, s->id) ? s->again : s->say, extra);
        }
        const cJSON *v;
        cJSON_ArrayForEach(v, s->set)
            set_fact(d, v->string, v->valuestring, 1.0);
        cJSON_DeleteItemFromObjectCaseSensitive(d->said, s->id);
        cJSON_AddNumberToObject(d->said, s->id, d->turn);
        if (s->case_type)
            close_form(d, s->case_type);
        if (s->ask && faq_repeat(t) && (before || !s->say))
            say_asker(d, o, s->ask); /* "how do I do that?": the steps again */
        if (s->ask) { /* the pending question again after a detail: its reminder */
            if (s->ask == t->q && !t->answered)
                say_noted(d, t, o, false); /* what was told instead, acknowledged */
            ask(d, t, s->ask, s->ask == t->q && !t->answered && strcmp(s->ask->expect, "confirm"),
                o, r); /* (the summary to confirm is shown whole again) */
            return;
        }
        if (s->end) {
            d->pending[0] = '\0';
            return;
        }
    }
}

/* A short "and for ...?" / "och för ...?" after an answer: the same topic. */
static bool follow_up(const struct turn *t)
{
    return !t->firm && words(t->raw) <= 6 && ent_get(t->er, "follow_up"); /* "och om det inte är A-Flex?" */
}

/* True when an FAQ entry already answered this turn stands for f (instead_of). */
static bool stood_for(const struct turn *t, int n, const struct tree_faq *f)
{
    const cJSON *v;
    for (int k = 0; k < n; k++)
        cJSON_ArrayForEach(v, t->faq[k]->instead_of)
            if (!strcmp(v->valuestring, f->id))
                return true;
    return false;
}

/* Questions answered at any point: the FAQ entries that match (two at most)
 * go into t->faq; t->covered is set when one replaces the intent's own
 * answer (and what the intent implies). */
static void faq_match(dialog *d, struct turn *t)
{
    int n = 0;
    const bool at_text = t->q && !strcmp(t->q->expect, "text") && !t->qlike;
    for (size_t i = 0; i < tree_faq_count(d->tree) && n < 2; i++) {
        const struct tree_faq *f = tree_faq_at(d->tree, i);
        bool intent_ok = f->nintents == 0;
        for (int k = 0; k < f->nintents; k++)
            intent_ok |= t->sure && pack_intent_at(d->pack, (size_t)f->intents[k]) == t->in;
        bool follow = d->last_faq[0] && !strcmp(f->id, d->last_faq) && follow_up(t);
        if ((!follow && !(intent_ok && (t->qlike || f->any))) || /* (the cheap tests first) */
            (f->any && at_text) || !tree_faq_pending_ok(f, t->q ? t->q->id : NULL) ||
            (f->when && !tree_holds(f->when, d->facts)) || stood_for(t, n, f))
            continue; /* only while its question is pending, or its facts hold; not
                         beside an entry that stands for it */
        if (follow || (pack_rules_match(d->pack, &f->rules, t->fold, t->foldlen) &&
                       !pack_rules_match(d->pack, &f->unless, t->fold, t->foldlen))) {
            t->short_steps[n] = f->covers_steps;
            t->faq[n++] = f;
            for (int k = 0; k < f->ncovers; k++)
                t->covered |= pack_intent_at(d->pack, (size_t)f->covers[k]) == t->in;
        }
    }
}

/* An informational intent's own answer (a question about the domain). */
static bool info_answer(dialog *d, struct turn *t, bool told, const struct dialog_hooks *h,
                        struct out *o, struct dialog_reply *r)
{
    const struct pack_intent *in = t->in;
    if (!t->sure || (in->flow && !strcmp(in->flow, "process")) || plays(d, in, PACK_ROLE_AFFIRM) ||
        plays(d, in, PACK_ROLE_DENY) || (told && (!t->qlike || path_asked_too(d, t->nr))) ||
        question_label(d, t->raw) ||
        (t->er->bad_email[0] && !t->qlike && t->q && !strcmp(t->q->expect, "email")))
        return false; /* ("new email is x@customer" at the address question: its typo, no FAQ) */
    if (in->flow && !strcmp(in->flow, "cases")) {
        char *list = h && h->list_cases ? h->list_cases(h->ctx, d->lang) : NULL;
        if (list) {
            const char *extra[] = { "cases", list, NULL };
            say_x(d, o, pack_message(d->pack, "case_list"), extra);
        } else {
            say_msg(d, o, "no_cases");
        }
        free(list);
        return true;
    }
    if (plays(d, in, PACK_ROLE_THANKS) && d->pending[0] && pack_message(d->pack, "thanks_pending")) {
        say_msg(d, o, "thanks_pending"); /* "thanks" in the case form: the question follows */
        return true;
    }
    if (plays(d, in, PACK_ROLE_GOODBYE) && t->qlike && !t->firm)
        return false; /* "vad gör jag nu då?" is a question, not a goodbye */
    say(d, o, in->answer);
    if (in->buttons)
        set_buttons(d, r, in->buttons);
    else if (plays(d, in, PACK_ROLE_GREETING) || plays(d, in, PACK_ROLE_HELP))
        topic_buttons(d, r);
    if (plays(d, in, PACK_ROLE_GOODBYE)) {
        const char *w = fact(d, "want_case");
        const struct tree_step *next = tree_next(d->tree, d->facts);
        if (w && !strcmp(w, "yes") && next && !next->end)
            say_msg(d, o, "bye_case_open"); /* a case under way (not refused) was not filed */
        d->pending[0] = '\0';
    }
    return true;
}

/* A second question in the same message gets its answer too, unless a FAQ
 * answer given this turn covers it. */
static void second_answer(dialog *d, struct turn *t, struct out *o)
{
    const struct nlu_result *nr = t->nr;
    if (nr->intent2 < 0 || nr->intent2 == nr->intent || !t->qlike ||
        (t->sure && plays(d, t->in, PACK_ROLE_OPEN_CASE)))
        return; /* (beside a case asked for, "nothing happened" is context, not a question) */
    for (int i = 0; i < 2 && t->faq[i]; i++)
        for (int k = 0; k < t->faq[i]->ncovers; k++)
            if (t->faq[i]->covers[k] == nr->intent2)
                return;
    const struct pack_intent *in = pack_intent_at(d->pack, (size_t)nr->intent2);
    if (in->flow || plays(d, in, PACK_ROLE_AFFIRM) || plays(d, in, PACK_ROLE_DENY) ||
        plays(d, in, PACK_ROLE_FALLBACK) || plays(d, in, PACK_ROLE_GREETING) || plays(d, in, PACK_ROLE_THANKS))
        return;
    say(d, o, in->answer);
}

/* Nothing else was said and a question is pending: it was not understood. */
static void not_understood(dialog *d, struct turn *t, const struct dialog_hooks *h,
                           struct out *o, struct dialog_reply *r)
{
    const struct tree_question *q = t->q;
    const cJSON *why = t->why && strcmp(t->why, "invalid") ? pack_message(d->pack, t->why) : NULL;
    r->fallback = true;
    if (d->tries >= MOVE_ON_TRIES && q->unknown_value) {
        set_fact(d, q->fact, q->unknown_value, 0.5);
        d->pending[0] = '\0';
        if (q->unknown)
            say(d, o, q->unknown);
        else
            say_msg(d, o, "moving_on");
        run_steps(d, t, h, o, r);
        return;
    }
    if (d->tries >= MOVE_ON_TRIES && q->unknown && !q->form) {
        say(d, o, q->unknown);
        d->pending[0] = '\0';
        return;
    }
    bool generic = why && (!strncmp(t->why, "not_yes_no", 10));
    say(d, o, why && !(generic && q->invalid) ? why
              : q->invalid ? q->invalid : pack_message(d->pack, "not_understood"));
    if (d->tries >= MOVE_ON_TRIES && q->form) {
        say_msg(d, o, "form_needs");
        ask(d, t, q, true, o, r);
        const cJSON *c = cJSON_GetArrayItem(get(pack_message(d->pack, "cancel_buttons"), d->lang), 0);
        if (!r->buttons)
            r->buttons = cJSON_CreateArray();
        if (cJSON_IsString(c))
            cJSON_AddItemToArray(r->buttons, cJSON_CreateString(c->valuestring));
        return;
    }
    ask(d, t, q, false, o, r);
}

/* True for an intent about the domain (not small talk, yes/no or out of scope). */
static bool domain(const dialog *d, int intent)
{
    static const enum pack_role social[] = { PACK_ROLE_GREETING, PACK_ROLE_THANKS,
                                             PACK_ROLE_GOODBYE, PACK_ROLE_AFFIRM, PACK_ROLE_DENY,
                                             PACK_ROLE_HELP, PACK_ROLE_FALLBACK };
    const struct pack_intent *in = pack_intent_at(d->pack, (size_t)intent);
    for (size_t i = 0; i < sizeof social / sizeof *social; i++)
        if (plays(d, in, social[i]))
            return false;
    return true;
}

/* Nothing was said and nothing is pending: social answers, out of scope. */
static void fallback(dialog *d, struct turn *t, struct out *o, struct dialog_reply *r)
{
    const struct nlu_result *nr = t->nr;
    const int oos = pack_role(d->pack, PACK_ROLE_FALLBACK);
    r->fallback = true;
    if (t->sure && (plays(d, t->in, PACK_ROLE_AFFIRM) || plays(d, t->in, PACK_ROLE_DENY))) {
        r->fallback = false;
        say(d, o, t->in->answer); /* a yes or a no with nothing asked */
        topic_buttons(d, r);
        return;
    }
    if ((nr->intent == oos || !t->sure) && form_changed(d) && pack_message(d->pack, "noted_what_next")) {
        r->fallback = false;  /* "my email is x" alone: noted, and what it is about */
        say_noted(d, t, o, false);
        say_msg(d, o, "noted_what_next");
        topic_buttons(d, r);
        return;
    }
    if (nr->intent == oos && !nr->foreign && !nr->about && !ent_get(t->er, "foreign") && nr->nalt >= 2 &&
        nr->alt[0].confidence >= 0.2 &&
        domain(d, nr->alt[0].intent) && domain(d, nr->alt[1].intent)) {
        say_msg(d, o, "did_you_mean");
        cJSON_Delete(r->buttons);
        r->buttons = cJSON_CreateArray();
        t->offered = true;
        for (int i = 0; i < 2; i++) {
            const struct pack_intent *a = pack_intent_at(d->pack, (size_t)nr->alt[i].intent);
            snprintf(d->alts[i], sizeof d->alts[i], "%s", a->id);
            cJSON_AddItemToArray(r->buttons, cJSON_CreateString(
                pack_text(a->title ? a->title : a->answer, d->lang)));
        }
        return;
    }
    if (no_content(t->raw)) {
        r->fallback = false;
        say_msg(d, o, "ack"); /* an emoji or a "?" with nothing pending */
    } else if (nr->foreign || (d->last_oos && nr->about)) { /* (again: which object, shortly) */
        const char *extra[] = { "foreign", pack_text(nr->foreign ? nr->foreign : nr->about, d->lang),
                                NULL };
        const cJSON *again = d->last_oos ? pack_message(d->pack, "oos_foreign_again") : NULL;
        say_x(d, o, again ? again : pack_message(d->pack, "oos_foreign"), extra);
    } else {
        say(d, o, d->last_oos ? pack_message(d->pack, "oos_again")
                              : pack_intent_at(d->pack, (size_t)oos)->answer);
    }
    topic_buttons(d, r);
}

/* The last turn of the reply: the third identical reply in a row is replaced
 * by a way out. */
static void no_third_time(dialog *d, struct out *o, struct dialog_reply *r)
{
    unsigned h = hash(o->text);
    if (o->text && h == d->last[0] && h == d->last[1] && !d->pending[0]) {
        if (r->fallback) { /* out of scope a third time: other words */
            free(o->text);
            memset(o, 0, sizeof *o);
            say_msg(d, o, "oos_third");
        } else {
            say_msg(d, o, "repeat_hint"); /* the answer again, but not word for word */
        }
        topic_buttons(d, r);
        h = hash(o->text);
    } else if (o->text && h == d->last[0] && h == d->last[1]) {
        free(o->text);
        memset(o, 0, sizeof *o);
        say_msg(d, o, "stuck");
        topic_buttons(d, r);
        r->expect = NULL;
        d->pending[0] = '\0';
        h = hash(o->text);
    }
    d->last[1] = d->last[0];
    d->last[0] = h;
}

/* Drops the case under way (asked for, not filed) and its pending
 * question; the facts of the order stay. False when there is none. */
static bool forget_case(dialog *d)
{
    const char *wc = fact(d, "want_case");
    if (!wc || !strcmp(wc, "filed"))
        return false;
    set_fact(d, "want_case", NULL, 1.0);
    set_fact(d, "confirmed", NULL, 1.0);
    d->pending[0] = '\0';
    d->tries = 0;
    return true;
}

/* Forgets what the conversation knew ("cancel", "start over"), but the
 * person's own email. */
/* "cancel" while a case is under way drops the case and keeps what the
 * person told about the order; otherwise, and for "start over", all goes. */
static void reset(dialog *d, bool restart, struct out *o)
{
    if (!restart && forget_case(d)) {
        say_msg(d, o, "cancelled");
        return;
    }
    forget_all(d);
    if (!d->said)
        o->oom = true;
    say_msg(d, o, restart ? "restarted" : "cancelled");
}

/* The question with a "don't know" whose fact the previous message told
 * (the one a "not sure after all" takes back), or NULL. */
static const struct tree_question *taken_back(const dialog *d)
{
    for (size_t i = 0; i < tree_question_count(d->tree); i++) {
        const struct tree_question *q = tree_question_at(d->tree, i);
        const char *v = fact(d, q->fact);
        if (q->unknown_value && !strcmp(q->expect, "yes_no") && v &&
            strcmp(v, q->unknown_value) && facts_turn(d->facts, q->fact) == d->turn - 1)
            return q;
    }
    return NULL;
}

/* True when an out-of-scope message only lacks its object, which the
 * conversation gives ("I want to change it" after talking about the contact):
 * it names it by a pronoun (entities.json "refers_back"), the last reply was
 * in scope, and the classifier's next best is a path (a "process" intent). */
static bool refers_back(const dialog *d, const struct nlu_result *nr, const struct ent_result *er)
{
    if (nr->foreign || !ent_get(er, "refers_back") || d->turn <= 1 || d->last_oos ||
        nr->nalt < 1 || nr->alt[0].intent < 0)
        return false;
    const struct pack_intent *in = pack_intent_at(d->pack, (size_t)nr->alt[0].intent);
    return in && in->flow && !strcmp(in->flow, "process");
}

static void start_turn(dialog *d, struct turn *t, const struct nlu_result *nr,
                       const struct ent_result *er, const char *raw, struct dialog_reply *r)
{
    int forced = pressed_intent(d, raw);
    const int oos = pack_role(d->pack, PACK_ROLE_FALLBACK);
    memset(t, 0, sizeof *t);
    t->nr = nr;
    t->er = er;
    t->raw = raw;
    t->foldlen = text_normalize(raw, strlen(raw), TEXT_FOLD, t->fold, sizeof t->fold);
    t->known = form_known(d);
    r->intent = forced >= 0 ? forced : nr->intent;
    r->confidence = forced >= 0 ? 1.0 : nr->confidence;
    if (forced < 0 && r->intent == oos && ent_get(er, "asks_status") && fact(d, "case_id") &&
        question_like(raw, er) && pack_role(d->pack, PACK_ROLE_CASE_STATUS) >= 0) {
        /* "any news?" once a case is filed: its status */
        forced = r->intent = pack_role(d->pack, PACK_ROLE_CASE_STATUS);
        r->confidence = 1.0;
    }
    if (forced < 0 && r->intent == oos && refers_back(d, nr, er)) {
        r->intent = nr->alt[0].intent; /* "ok, I want to change it": it is the contact */
        r->confidence = nr->alt[0].confidence;
    }
    if (forced < 0 && ent_get(er, "foreign") && !ent_get(er, "ours") && r->intent != oos &&
        pack_intent_at(d->pack, (size_t)r->intent)->flow) {
        r->intent = oos; /* "the end customer contact", "a TAC case for a router": not ours */
        r->confidence = 1.0;
    }
    t->in = pack_intent_at(d->pack, (size_t)r->intent);
    t->sure = r->intent != oos;
    t->firm = t->sure && r->confidence >= SURE;
    t->qlike = question_like(raw, er);
    t->q = d->pending[0] ? tree_question(d->tree, d->pending) : NULL;
    if (!t->q && started_before(d) && !label_in(d, pack_message(d->pack, "yes_no_buttons"), raw)) {
        /* a question's button pressed after the path moved on answers it */
        for (size_t i = 0; i < tree_question_count(d->tree) && !t->q; i++)
            if (label_in(d, tree_question_at(d->tree, i)->buttons, raw))
                t->q = tree_question_at(d->tree, i);
    }
    if (!t->q && ent_has(er, "answer", "unknown") && words(raw) <= 10)
        t->q = taken_back(d); /* "hmm, not sure after all": the answer just given */
}

/* "What case? I didn't ask for one": no case from this message, and the
 * one under way (not filed) is dropped; the path goes on. */
static void drop_case(dialog *d, struct turn *t)
{
    t->no_case = true;
    if (forget_case(d)) {
        t->q = NULL;
        t->dropped = true; /* (said before the path's next step) */
    }
}

/* Reads the message: the answer to the pending question and every fact it
 * tells (steps 3 of the top of the file). */
static void take_message(dialog *d, struct turn *t, struct dialog_reply *r)
{
    const char *value = NULL;
    if (ent_has(t->er, "command", "no_case"))
        drop_case(d, t);
    if (t->q)
        t->ans = read_answer(d, t, &value);
    char *v = value ? strdup(value) : NULL; /* value may point into the facts */
    const char *w = fact(d, "want_case");
    if (t->firm && t->in->flow && !strcmp(t->in->flow, "process") && w && !strcmp(w, "filed") &&
        !plays(d, t->in, PACK_ROLE_OPEN_CASE))
        forget_all(d); /* a new request after a filed case: a new path */
    bool form = t->q && (t->q->form || !strcmp(t->q->expect, "confirm"));
    bool alien = !form && /* (in the case form "my email is x" is a detail, not another topic) */
                 (t->nr->foreign || (!t->sure && ent_get(t->er, "foreign") && !ent_get(t->er, "ours")));
    if (t->sure && plays(d, t->in, PACK_ROLE_OPEN_CASE)) {
        faq_match(d, t); /* "could you open a case then?" answered as a question asks for none */
        t->no_case = t->covered;
        memset(t->faq, 0, sizeof t->faq);
        memset(t->short_steps, 0, sizeof t->short_steps);
        t->covered = false;
    }
    if (!alien) /* "Save fails on the start date": nothing of ours is told */
        take_details(d, t);
    take_implied(d);
    faq_match(d, t);
    if (t->told_order && !(t->covered && t->qlike))
        start_process(d); /* the person talks about their order (not a side question about it) */
    take_intent(d, t);
    if (!alien) /* (after the path started: "I already changed it, got the success message") */
        take_result(d, t);
    t->other_case = other_topic_case(d, t);
    if (t->q)
        take_answer(d, t, v);
    free(v);
    take_implied(d); /* (again: the answer may have told otherwise) */
    if (t->q && !strcmp(t->q->fact, "field") && t->ans != ANS_VALUE && form_changed(d)) {
        set_fact(d, "confirmed", NULL, 1.0); /* the right value typed straight away */
        t->ans = ANS_VALUE;
        d->pending[0] = '\0';
    }
    t->changed = facts_changed_since(d->facts, d->turn);
    bool social = t->sure && (plays(d, t->in, PACK_ROLE_GOODBYE) || plays(d, t->in, PACK_ROLE_THANKS));
    if (t->q && (t->ans == ANS_NONE || t->ans == ANS_INVALID) && !t->qlike && !t->changed &&
        !task_request(d, t) && !no_content(t->raw) && !social && !t->faq[0] &&
        !(t->er->bad_email[0] && strcmp(t->q->expect, "email")))
        d->tries++; /* (a request, a detail told, a goodbye, a side question answered or an
                     * address with a typo is no try at it) */
    if (t->q && !strcmp(t->q->expect, "text") && t->ans == ANS_VALUE && r->intent >= 0 &&
        r->intent == pack_role(d->pack, PACK_ROLE_FALLBACK)) {
        r->intent = -1; /* an answer, not a question */
        r->confidence = -1;
    }
    t->answered = t->ans != ANS_NONE && t->ans != ANS_INVALID;
}

/* Side answers into side, the steps the facts lead to into steps (steps 4
 * and 5 of the top of the file). */
static void speak(dialog *d, struct turn *t, const struct dialog_hooks *h,
                  struct out *side, struct out *steps, struct dialog_reply *r)
{
    const struct tree_question *q = t->q;
    if (t->dropped)
        say_msg(d, side, "no_case_dropped");
    for (int i = 0; i < 2 && t->faq[i]; i++)
        say(d, side, t->faq[i]->say);
    snprintf(d->last_faq, sizeof d->last_faq, "%s", t->faq[0] ? t->faq[0]->id : "");
    bool where = false; /* a FAQ of the pending question answered ("where do I see it?") */
    for (int i = 0; i < 2 && t->faq[i]; i++)
        where |= t->faq[i]->pending != NULL;
    if (t->ans == ANS_UNKNOWN && where) {
        /* "not sure, where do I see that?": told where, the question stays */
        set_fact(d, q->fact, NULL, 1.0);
        snprintf(d->pending, sizeof d->pending, "%s", q->id);
        t->ans = ANS_NONE;
        t->answered = false;
        t->changed = facts_changed_since(d->facts, d->turn);
    }
    if (t->ans == ANS_UNKNOWN)
        say(d, side, q->unknown);
    if (q && q->form && !t->answered && form_changed(d))
        say_noted(d, t, steps, false); /* a detail corrected while another is asked */
    bool process = !t->no_case && ((t->sure && t->in->flow && !strcmp(t->in->flow, "process")) ||
                                   ent_get(t->er, "want_case"));
    if (q && !t->answered && d->tries >= (q->once ? 1 : MOVE_ON_TRIES) && q->unknown_value) {
        set_fact(d, q->fact, q->unknown_value, 0.5); /* two tries: go on without it */
        d->pending[0] = '\0';
        t->changed = true; /* the next step follows */
        if (q->unknown)
            say(d, steps, q->unknown);
        else
            say_msg(d, steps, "moving_on");
    }
    if (t->other_case)
        say_msg(d, side, "case_other_topic");
    if (t->answered || t->changed || process || faq_repeat(t))
        run_steps(d, t, h, steps, r);
    if (!t->covered)
        info_answer(d, t, (t->answered || t->changed) && steps->text, h, side, r);
    second_answer(d, t, side);
}

/* Off topic while a question is pending: the fallback, then the question's
 * reminder; intents offered as "did you mean" keep their buttons, before
 * the question's own. */
static void fallback_then_ask(dialog *d, struct turn *t, struct out *o, struct dialog_reply *r)
{
    fallback(d, t, o, r);
    cJSON *alts = t->offered ? r->buttons : NULL;
    if (alts)
        r->buttons = NULL;
    ask(d, t, tree_question(d->tree, d->pending), true, o, r);
    if (!alts)
        return;
    const cJSON *b;
    cJSON_ArrayForEach(b, r->buttons)
        cJSON_AddItemToArray(alts, cJSON_CreateString(b->valuestring));
    cJSON_Delete(r->buttons);
    r->buttons = alts;
}

/* When nothing else was said: the pending question in full or as a
 * reminder, "not understood", or the fallback (step 6). */
static void close_reply(dialog *d, struct turn *t, const struct dialog_hooks *h, bool said,
                        bool side_said, struct out *o, struct dialog_reply *r)
{
    bool yes_no = t->sure && (plays(d, t->in, PACK_ROLE_AFFIRM) || plays(d, t->in, PACK_ROLE_DENY));
    bool off_topic = t->qlike || (words(t->raw) >= 4 && !(t->q && t->q->form) && !yes_no);
    /* (a longer "no, it isn't ..." at a question a yes or no does not answer
     * is a try at it, not a new topic) */
    bool social = t->sure && ((plays(d, t->in, PACK_ROLE_THANKS) && !d->pending[0]) ||
                              plays(d, t->in, PACK_ROLE_GOODBYE));
    if (!t->asked && d->pending[0] && !said && t->q && no_content(t->raw)) {
        ask(d, t, t->q, false, o, r); /* "?" or an emoji: the question again, in full */
    } else if (!t->asked && d->pending[0] && side_said && !social) {
        ask(d, t, tree_question(d->tree, d->pending), true, o, r);
    } else if (!said && d->pending[0] && t->er->bad_email[0] && email_why(t->er)) {
        say_msg(d, o, email_why(t->er)); /* "john@" at another question: what is wrong */
        ask(d, t, tree_question(d->tree, d->pending), true, o, r);
    } else if (!said && d->pending[0]) {
        if (t->q && !t->answered && !t->changed && !off_topic)
            not_understood(d, t, h, o, r);
        else if (!off_topic)
            ask(d, t, tree_question(d->tree, d->pending), false, o, r);
        else
            fallback_then_ask(d, t, o, r);
    } else if (!said) {
        fallback(d, t, o, r);
    }
}

/* True when the message ends with a goodbye ("..., bye") and nothing was
 * filed: what it told is kept, a question the steps would ask is dropped
 * (an ended path is still said: "it worked, bye"), the goodbye follows (a
 * goodbye alone is its own intent). */
static bool leaving(dialog *d, const struct turn *t, struct dialog_reply *r)
{
    const char *w = fact(d, "want_case");
    if (!ent_get(t->er, "bye_end") || r->case_obj || pack_role(d->pack, PACK_ROLE_GOODBYE) < 0 ||
        (w && !strcmp(w, "yes")) || /* (a case under way is confirmed, not dropped) */
        (t->sure && plays(d, t->in, PACK_ROLE_GOODBYE) && !t->changed))
        return false;
    d->pending[0] = '\0';
    r->expect = NULL;
    cJSON_Delete(r->buttons);
    r->buttons = NULL;
    return true;
}

/* The turn (see the top of the file). */
int dialog_turn(dialog *d, const struct nlu_result *nr, const struct ent_result *er,
                const char *raw, const char *notices, const struct dialog_hooks *h,
                struct dialog_reply *r)
{
    struct out o = { 0 }, side = { 0 }, steps = { 0 };
    struct turn t;

    memset(r, 0, sizeof *r);
    d->turn++;
    d->label_raw = raw;
    d->label_maybe = pack_may_be_label(d->pack, raw);
    update_lang(d, nr, er, raw);
    start_turn(d, &t, nr, er, raw, r);
    if (notices && *notices)
        put(&o, notices);
    const char *wc = fact(d, "want_case");
    if (ent_has(er, "command", "cancel") && !ent_has(er, "command", "restart") && wc &&
        !strcmp(wc, "filed") && fact(d, "case_id") && pack_message(d->pack, "cancel_filed")) {
        say_msg(d, &o, "cancel_filed"); /* "cancel it" after filing: not withdrawn by the bot */
        r->intent = -1;
        r->confidence = -1;
        goto done;
    }
    if (ent_has(er, "command", "cancel") || ent_has(er, "command", "restart")) {
        reset(d, ent_has(er, "command", "restart"), &o);
        r->intent = -1;
        r->confidence = -1;
        goto done;
    }
    take_message(d, &t, r);
    speak(d, &t, h, &side, &steps, r);
    bool asked = d->pending[0] != '\0', bye = leaving(d, &t, r);
    if (bye && asked) { /* "no, not onboarded. I'll ask them, bye": no next question */
        free(steps.text);
        steps = (struct out){ 0 };
    }
    put_all(&o, &side);
    put_all(&o, &steps);
    if (bye)
        say(d, &o, pack_intent_at(d->pack, (size_t)pack_role(d->pack, PACK_ROLE_GOODBYE))->answer);
    else
        close_reply(d, &t, h, side.text || steps.text, side.text != NULL, &o, r);
    d->last_oos = r->fallback && r->intent >= 0 &&
                  r->intent == pack_role(d->pack, PACK_ROLE_FALLBACK) && !d->pending[0];
    if (!o.oom)
        no_third_time(d, &o, r);
done:
    d->label_raw = NULL;
    free(side.text);
    free(steps.text);
    if (o.oom || d->oom) {
        d->oom = false;
        free(o.text);
        dialog_reply_clear(r);
        return -1;
    }
    r->text = o.text ? o.text : strdup("");
    if (!r->buttons)
        r->buttons = cJSON_CreateArray();
    return r->text && r->buttons ? 0 : -1;
}
