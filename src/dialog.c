/* dialog.c -- the flow interpreter (see dialog.h).
 *
 * Nodes (flows.json) are read straight from the pack's cJSON trees, which the
 * loader validated: "say" {en,sv}, "ask" slot + "expect", "buttons",
 * "next" (a node, or {value: node, "*": node}), "branch" slot, "set"
 * {slot: value}, "action", "always" (ask again even when the slot is set),
 * "optional", "form" (part of the case form).
 *
 * Invariant: d->node is "" or the name of an ask node whose question is the
 * last thing the person was asked.
 */
#include "dialog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_STEPS 32
#define MAX_TRIES 3
#define SIDE_CONFIDENCE 0.6

struct dialog {
    const pack *pack;
    char lang[3];            /* the conversation's language */
    char node[64];           /* pending ask node, "" when none */
    int tries;               /* invalid answers to the pending question */
    int misses;              /* misunderstandings in a row */
    char alts[2][PACK_ID_MAX]; /* "did you mean" intents offered, "" when none */
    cJSON *slots;            /* object: slot -> string, owned */
};

struct out {                 /* a reply under construction */
    char *text;
    size_t len, cap;
    bool oom;
};

static void put(struct out *o, const char *s)
{
    size_t n = strlen(s);
    if (o->oom || n == 0)
        return;
    if (o->len + n + 3 > o->cap) {
        size_t nc = (o->len + n + 3) * 2;
        char *p = realloc(o->text, nc);
        if (!p) {
            o->oom = true;
            return;
        }
        o->text = p;
        o->cap = nc;
    }
    if (o->len) {
        memcpy(o->text + o->len, "\n\n", 2);
        o->len += 2;
    }
    memcpy(o->text + o->len, s, n);
    o->len += n;
    o->text[o->len] = '\0';
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

static const char *slot(const dialog *d, const char *name)
{
    const char *v = str(d->slots, name);
    return v && *v ? v : NULL;
}

static void set_slot(dialog *d, const char *name, const char *value)
{
    cJSON_DeleteItemFromObjectCaseSensitive(d->slots, name);
    if (value && *value)
        cJSON_AddStringToObject(d->slots, name, value);
}

dialog *dialog_load(const pack *p, const char *json, const char *default_lang)
{
    dialog *d = calloc(1, sizeof *d);
    cJSON *doc = json ? cJSON_Parse(json) : NULL;
    if (!d)
        goto fail;
    d->pack = p;
    snprintf(d->lang, sizeof d->lang, "%s", default_lang ? default_lang : "");
    if (doc) {
        const char *v;
        const cJSON *alts = get(doc, "alts");
        if ((v = str(doc, "lang")) && (!strcmp(v, "en") || !strcmp(v, "sv")))
            snprintf(d->lang, sizeof d->lang, "%s", v);
        if ((v = str(doc, "node")) && pack_node(p, v))
            snprintf(d->node, sizeof d->node, "%s", v);
        d->tries = cJSON_IsNumber(get(doc, "tries")) ? get(doc, "tries")->valueint : 0;
        d->misses = cJSON_IsNumber(get(doc, "misses")) ? get(doc, "misses")->valueint : 0;
        for (int i = 0; i < 2 && cJSON_IsArray(alts); i++) {
            const cJSON *a = cJSON_GetArrayItem(alts, i);
            if (cJSON_IsString(a) && pack_intent_find(p, a->valuestring) >= 0)
                snprintf(d->alts[i], sizeof d->alts[i], "%s", a->valuestring);
        }
        if (cJSON_IsObject(get(doc, "slots")))
            d->slots = cJSON_DetachItemFromObjectCaseSensitive(doc, "slots");
    }
    if (!d->slots && !(d->slots = cJSON_CreateObject()))
        goto fail;
    cJSON_Delete(doc);
    return d;
fail:
    cJSON_Delete(doc);
    free(d);
    return NULL;
}

char *dialog_save(const dialog *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *alts = cJSON_AddArrayToObject(o, "alts");
    char *s = NULL;
    if (!o || !alts)
        goto out;
    cJSON_AddStringToObject(o, "lang", d->lang);
    cJSON_AddStringToObject(o, "node", d->node);
    cJSON_AddNumberToObject(o, "tries", d->tries);
    cJSON_AddNumberToObject(o, "misses", d->misses);
    for (int i = 0; i < 2; i++)
        if (d->alts[i][0])
            cJSON_AddItemToArray(alts, cJSON_CreateString(d->alts[i]));
    cJSON_AddItemReferenceToObject(o, "slots", d->slots);
    s = cJSON_PrintUnformatted(o);
out:
    cJSON_Delete(o);
    return s;
}

void dialog_free(dialog *d)
{
    if (!d)
        return;
    cJSON_Delete(d->slots);
    free(d);
}

const char *dialog_lang(const dialog *d) { return d->lang[0] ? d->lang : "en"; }

/* True when raw is the label of one of the pending question's buttons: a
 * click, which says nothing about the person's language (CCW's labels are
 * English in both). */
static bool is_button(const dialog *d, const char *raw)
{
    const cJSON *n = pack_node(d->pack, d->node), *b;
    const cJSON *sets[2] = { get(n, "buttons"), pack_message(d->pack, "yes_no_buttons") };
    for (int k = 0; k < 2; k++)
        for (int l = 0; l < PACK_NLANG; l++)
            cJSON_ArrayForEach(b, get(sets[k], pack_langs[l]))
                if (strcasecmp(b->valuestring, raw) == 0)
                    return strcmp(pack_langs[l], d->lang) == 0 || k == 0;
    return false;
}

bool dialog_in_form(const dialog *d)
{
    return d->node[0] && cJSON_IsTrue(get(pack_node(d->pack, d->node), "form"));
}

void dialog_preset(dialog *d, const char *name, const char *value)
{
    if (!slot(d, name))
        set_slot(d, name, value);
}

void dialog_reply_clear(struct dialog_reply *r)
{
    free(r->text);
    cJSON_Delete(r->buttons);
    cJSON_Delete(r->case_obj);
    memset(r, 0, sizeof *r);
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

/* Text with {slot} placeholders filled (values escaped); caller frees. */
static char *fill(const dialog *d, const char *tpl, const char *extra_key, const char *extra)
{
    struct out o = { 0 };
    char key[PACK_ID_MAX];
    size_t cap = strlen(tpl) + 1;
    o.text = malloc(cap);
    if (!o.text)
        return NULL;
    o.cap = cap;
    o.text[0] = '\0';
    for (const char *s = tpl; *s;) {
        const char *close = *s == '{' ? strchr(s, '}') : NULL;
        size_t kl = close ? (size_t)(close - s - 1) : 0;
        const char *v = NULL;
        bool raw = false;
        if (close && kl > 0 && kl < sizeof key) {
            memcpy(key, s + 1, kl);
            key[kl] = '\0';
            if (extra_key && strcmp(key, extra_key) == 0) {
                v = extra;
                raw = true; /* built by the engine, already markdown */
            } else {
                v = slot(d, key);
            }
        }
        char *esc = v && !raw ? dialog_md_escape(v) : NULL;
        const char *piece = esc ? esc : v;
        size_t n = piece ? strlen(piece) : 1;
        if (o.len + n + 1 > o.cap) {
            o.cap = (o.len + n + 1) * 2;
            char *p = realloc(o.text, o.cap);
            if (!p) {
                free(esc);
                free(o.text);
                return NULL;
            }
            o.text = p;
        }
        if (piece) {
            memcpy(o.text + o.len, piece, n);
            s = close + 1;
        } else {
            o.text[o.len] = *s++;
        }
        o.len += n;
        o.text[o.len] = '\0';
        free(esc);
    }
    return o.text;
}

static void say(const dialog *d, struct out *o, const cJSON *texts,
                const char *extra_key, const char *extra)
{
    char *t = fill(d, pack_text(texts, d->lang), extra_key, extra);
    if (t)
        put(o, t);
    else
        o->oom = true;
    free(t);
}

static void say_msg(const dialog *d, struct out *o, const char *key)
{
    say(d, o, pack_message(d->pack, key), NULL, NULL);
}

static void set_buttons(const dialog *d, struct dialog_reply *r, const cJSON *texts)
{
    const cJSON *arr = get(texts, d->lang), *b;
    cJSON_Delete(r->buttons);
    r->buttons = cJSON_CreateArray();
    cJSON_ArrayForEach(b, arr)
        cJSON_AddItemToArray(r->buttons, cJSON_CreateString(b->valuestring));
}

/* Buttons and expect for the pending question. */
static void ask_ui(const dialog *d, const cJSON *n, struct dialog_reply *r)
{
    const char *expect = str(n, "expect");
    static const char *const names[] = { "yes_no", "line_status", "order_ref",
                                         "email", "text", "confirm" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(expect, names[i]) == 0)
            r->expect = names[i];
    if (get(n, "buttons"))
        set_buttons(d, r, get(n, "buttons"));
    else if (!strcmp(expect, "yes_no"))
        set_buttons(d, r, pack_message(d->pack, "yes_no_buttons"));
    else if (!strcmp(expect, "confirm"))
        set_buttons(d, r, pack_message(d->pack, "confirm_buttons"));
    else if (cJSON_IsTrue(get(n, "optional")))
        set_buttons(d, r, pack_message(d->pack, "skip_buttons"));
}

static const char *next_of(const cJSON *n, const char *value)
{
    const cJSON *next = get(n, "next");
    if (cJSON_IsString(next))
        return next->valuestring;
    if (cJSON_IsObject(next)) {
        const char *t = value ? str(next, value) : NULL;
        return t ? t : str(next, "*");
    }
    return NULL;
}

static void apply_set(dialog *d, const cJSON *set)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, set)
        if (cJSON_IsString(v))
            set_slot(d, v->string, v->valuestring);
}

/* Walks from node `name` until a question is asked or the flow ends. */
static void run(dialog *d, const char *name, const struct dialog_hooks *h,
                struct out *o, struct dialog_reply *r)
{
    d->node[0] = '\0';
    d->tries = 0;
    for (int step = 0; name && step < MAX_STEPS; step++) {
        const cJSON *n = pack_node(d->pack, name);
        const char *ask = str(n, "ask"), *branch = str(n, "branch");
        const char *action = str(n, "action");
        const char *value = NULL;

        apply_set(d, get(n, "set"));
        if (ask && cJSON_IsTrue(get(n, "always")))
            set_slot(d, ask, NULL);
        if (action && !strcmp(action, "reset")) {
            cJSON_Delete(d->slots);
            d->slots = cJSON_CreateObject();
        }
        if (action && !strcmp(action, "file_case")) {
            char id[24] = "";
            cJSON *cj = NULL;
            int rc = h && h->file_case ? h->file_case(h->ctx, d->slots, d->lang, id, &cj) : -1;
            if (rc == DIALOG_EPONR) {
                say_msg(d, o, "case_refused_ponr");
                return;
            }
            if (rc == DIALOG_ENOTALLOWED) {
                say_msg(d, o, "case_not_allowed");
                return;
            }
            if (rc < 0) {
                say_msg(d, o, "case_error");
                return;
            }
            set_slot(d, "case_id", id);
            cJSON_Delete(r->case_obj);
            r->case_obj = cj;
            if (rc == 1) {
                say_msg(d, o, "case_exists");
                return;
            }
        }
        if (action && !strcmp(action, "list_cases")) {
            char *list = h && h->list_cases ? h->list_cases(h->ctx, d->lang) : NULL;
            if (list)
                say(d, o, get(n, "say"), "cases", list);
            else
                say_msg(d, o, "no_cases");
            free(list);
            name = next_of(n, NULL);
            continue;
        }
        if (ask) {
            if ((value = slot(d, ask)) == NULL) {
                say(d, o, get(n, "say"), NULL, NULL);
                snprintf(d->node, sizeof d->node, "%s", name);
                ask_ui(d, n, r);
                return;
            }
        } else {
            if (get(n, "say"))
                say(d, o, get(n, "say"), NULL, NULL);
            if (get(n, "buttons"))
                set_buttons(d, r, get(n, "buttons"));
            if (branch)
                value = slot(d, branch) ? slot(d, branch) : "none";
        }
        name = next_of(n, value);
    }
}

static bool is_command(const struct ent_result *er, const char *cmd)
{
    return ent_has(er, "command", cmd);
}

/* Tries to answer the pending question from this message. Returns the
 * value, or NULL; sets *why to a message key when the answer is invalid. */
static const char *answer(dialog *d, const cJSON *n, const struct nlu_result *nr,
                          const struct ent_result *er, const char *raw,
                          const char **why)
{
    const char *expect = str(n, "expect"), *ask = str(n, "ask");
    const struct pack_intent *in = pack_intent_at(d->pack, (size_t)nr->intent);

    *why = NULL;
    if (!strcmp(expect, "yes_no") || !strcmp(expect, "confirm")) {
        const char *v = ent_get(er, "answer");
        if (!v && nr->confidence >= SIDE_CONFIDENCE && !strcmp(in->id, "affirm"))
            v = "yes";
        if (!v && nr->confidence >= SIDE_CONFIDENCE && !strcmp(in->id, "deny"))
            v = "no";
        if (!v)
            v = slot(d, ask); /* told in other words, e.g. "no edit button" */
        if (!v)
            *why = "not_yes_no";
        return v;
    }
    if (!strcmp(expect, "line_status")) {
        const char *v = slot(d, ask);
        if (!v)
            *why = "not_line_status";
        return v;
    }
    if (!strcmp(expect, "email")) {
        if (er->nemail > 0)
            return er->email[0];
        *why = er->bad_email[0] ? "invalid_email" : "no_email";
        return NULL;
    }
    if (!strcmp(expect, "order_ref")) {
        if (er->order_ref[0])
            return er->order_ref;
        *why = "invalid_order_ref";
        return NULL;
    }
    /* text: anything but a bare yes/no or a question the bot can answer */
    if (ent_get(er, "answer") && strlen(raw) < 12) {
        *why = "not_understood";
        return NULL;
    }
    if (strchr(raw, '?') && nr->intent != pack_intent_find(d->pack, "out_of_scope") &&
        nr->confidence >= SIDE_CONFIDENCE)
        return NULL;
    return raw[0] ? raw : NULL;
}

/* Slots told in passing by any message. */
static void take_entities(dialog *d, const struct nlu_result *nr,
                          const struct ent_result *er, const char *raw)
{
    const cJSON *pending = pack_node(d->pack, d->node);
    const char *expect = str(pending, "expect");
    const struct pack_intent *in = pack_intent_at(d->pack, (size_t)nr->intent);
    bool sure = nr->confidence >= SIDE_CONFIDENCE;

    for (int i = 0; i < er->nvals; i++)
        if (strcmp(er->vals[i].slot, "answer") && strcmp(er->vals[i].slot, "command"))
            set_slot(d, er->vals[i].slot, er->vals[i].value);
    if (er->nemail > 0 && !(expect && !strcmp(expect, "email")) && !slot(d, "new_email"))
        set_slot(d, "new_email", er->email[0]);
    if (er->order_ref[0] && !(expect && !strcmp(expect, "order_ref")))
        set_slot(d, "order_ref", er->order_ref);
    if (sure)
        apply_set(d, in->set);
    /* a long first message of a case keeps its words as the description */
    if (nr->intent != pack_intent_find(d->pack, "out_of_scope") && in->flow &&
        !slot(d, "description") && strlen(raw) >= 40 &&
        (!strcmp(in->id, "open_case") || !strcmp(in->id, "edit_failed")))
        set_slot(d, "description", raw);
}

static void reask(dialog *d, struct out *o, struct dialog_reply *r)
{
    const cJSON *n = pack_node(d->pack, d->node);
    say(d, o, get(n, "say"), NULL, NULL);
    ask_ui(d, n, r);
}

static bool title_is(const struct pack_intent *in, const char *raw)
{
    for (int l = 0; l < PACK_NLANG; l++) {
        const char *t = pack_text(in->title, pack_langs[l]);
        if (*t && strcasecmp(t, raw) == 0)
            return true;
    }
    return !strcasecmp(in->id, raw);
}

/* Answers an intent outside the pending question: its answer, then its flow. */
static void answer_intent(dialog *d, int intent, const struct dialog_hooks *h,
                          struct out *o, struct dialog_reply *r)
{
    const struct pack_intent *in = pack_intent_at(d->pack, (size_t)intent);
    say(d, o, in->answer, NULL, NULL);
    if (in->buttons)
        set_buttons(d, r, in->buttons);
    if (in->flow)
        run(d, in->flow, h, o, r);
}

int dialog_turn(dialog *d, const struct nlu_result *nr, const struct ent_result *er,
                const char *raw, const char *notices, const struct dialog_hooks *h,
                struct dialog_reply *r)
{
    struct out o = { 0 };
    const int oos = pack_intent_find(d->pack, "out_of_scope");
    struct nlu_result res = *nr;

    memset(r, 0, sizeof *r);
    r->intent = -1;
    r->confidence = -1;
    if (!d->lang[0] || (nr->lang_sure && !is_button(d, raw)))
        memcpy(d->lang, nr->lang, 3);
    if (notices && *notices)
        put(&o, notices);

    /* a "did you mean" button pressed */
    for (int i = 0; i < 2; i++) {
        int k = d->alts[i][0] ? pack_intent_find(d->pack, d->alts[i]) : -1;
        if (k >= 0 && title_is(pack_intent_at(d->pack, (size_t)k), raw)) {
            res.intent = k;
            res.confidence = 1.0;
        }
    }
    d->alts[0][0] = d->alts[1][0] = '\0';
    r->intent = res.intent;
    r->confidence = res.confidence;

    if (is_command(er, "cancel") || is_command(er, "restart")) {
        bool restart = is_command(er, "restart");
        const char *kept = slot(d, "requester");
        char *keep = kept ? strdup(kept) : NULL;
        d->node[0] = '\0';
        d->tries = d->misses = 0;
        cJSON_Delete(d->slots);
        d->slots = cJSON_CreateObject();
        if (keep)
            set_slot(d, "requester", keep);
        free(keep);
        say_msg(d, &o, restart ? "restarted" : "cancelled");
        r->intent = -1;
        r->confidence = -1;
        goto done;
    }

    take_entities(d, &res, er, raw);

    if (d->node[0]) {
        const cJSON *n = pack_node(d->pack, d->node);
        const char *why = NULL;
        bool optional = cJSON_IsTrue(get(n, "optional"));
        if ((is_command(er, "skip") && (optional || d->tries >= MAX_TRIES)) ||
            (optional && ent_has(er, "answer", "no") && strlen(raw) < 12)) {
            set_slot(d, str(n, "ask"), "-");
            run(d, next_of(n, "-"), h, &o, r);
            goto done;
        }
        const char *value = is_command(er, "skip") ? NULL : answer(d, n, &res, er, raw, &why);
        if (is_command(er, "skip"))
            why = "not_understood";
        const struct pack_intent *in = pack_intent_at(d->pack, (size_t)res.intent);
        bool sure = res.intent != oos && res.confidence >= SIDE_CONFIDENCE &&
                    strcmp(in->id, "affirm") && strcmp(in->id, "deny");

        if (value) {
            char *v = strdup(value);
            if (res.intent == oos) { /* an answer, not a question */
                r->intent = -1;
                r->confidence = -1;
            }
            set_slot(d, str(n, "ask"), v);
            d->misses = 0;
            run(d, next_of(n, v), h, &o, r);
            free(v);
            goto done;
        }
        if (sure && !why) {
            bool form = cJSON_IsTrue(get(n, "form"));
            if (in->flow && !form) {
                answer_intent(d, res.intent, h, &o, r);
            } else {
                if (!(in->flow && form))
                    say(d, &o, in->answer, NULL, NULL);
                reask(d, &o, r);
            }
            goto done;
        }
        if (sure && why && res.confidence >= 0.8 && !in->flow) {
            say(d, &o, in->answer, NULL, NULL);
            reask(d, &o, r);
            goto done;
        }
        d->tries++;
        if (d->tries >= MAX_TRIES) {
            say_msg(d, &o, "skip_or_cancel");
            set_buttons(d, r, pack_message(d->pack, "skip_cancel_buttons"));
            r->expect = NULL;
            r->fallback = true;
            goto done;
        }
        say_msg(d, &o, why ? why : "not_understood");
        reask(d, &o, r);
        goto done;
    }

    if (res.intent == oos) {
        r->fallback = true;
        d->misses++;
        if (d->misses >= 2) {
            d->misses = 0;
            say_msg(d, &o, "misunderstood_twice");
            run(d, str(pack_message(d->pack, "fallback_node"), "en"), h, &o, r);
            goto done;
        }
        if (nr->nalt >= 2 && nr->alt[0].confidence >= 0.2 && nr->alt[0].intent != oos) {
            char *t = fill(d, pack_text(pack_message(d->pack, "did_you_mean"), d->lang), NULL, NULL);
            put(&o, t ? t : "");
            free(t);
            cJSON_Delete(r->buttons);
            r->buttons = cJSON_CreateArray();
            for (int i = 0; i < 2; i++) {
                const struct pack_intent *a = pack_intent_at(d->pack, (size_t)nr->alt[i].intent);
                snprintf(d->alts[i], sizeof d->alts[i], "%s", a->id);
                cJSON_AddItemToArray(r->buttons, cJSON_CreateString(
                    pack_text(a->title ? a->title : a->answer, d->lang)));
            }
            goto done;
        }
        say(d, &o, pack_intent_at(d->pack, (size_t)oos)->answer, NULL, NULL);
        goto done;
    }
    d->misses = 0;
    answer_intent(d, res.intent, h, &o, r);
done:
    if (o.oom) {
        free(o.text);
        dialog_reply_clear(r);
        return -1;
    }
    r->text = o.text ? o.text : strdup("");
    if (!r->buttons)
        r->buttons = cJSON_CreateArray();
    return r->text && r->buttons ? 0 : -1;
}
