/* entity.c -- entity extraction and email validation (see entity.h). */
#include "entity.h"
#include "text.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Bytes between two values that a retraction ("sorry I meant") may span:
 * further apart, the second is another detail, not a correction. */
#define RETRACT_GAP_MAX 40

static bool label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || (unsigned char)s[i] >= 0x80))
            return false; /* (UTF-8 letters: a domain such as företag.se is valid) */
    return true;
}

const char *ent_email_why_key(const char *why)
{
    if (strstr(why, "space"))
        return "email_bad_space";
    if (strstr(why, "@"))
        return "email_bad_at";
    if (strstr(why, "domain"))
        return "email_bad_domain";
    return "invalid_email";
}

bool ent_email_valid(const char *s, char *why, size_t whylen)
{
    const char *at = strchr(s, '@');
    size_t len = strlen(s);

    if (!at || strchr(at + 1, '@')) {
        snprintf(why, whylen, "needs exactly one @");
        return false;
    }
    if (len > ENT_EMAIL_MAX) {
        snprintf(why, whylen, "too long");
        return false;
    }
    size_t local = (size_t)(at - s);
    if (local == 0 || local > 64 || s[0] == '.' || s[local - 1] == '.') {
        snprintf(why, whylen, "the part before @ is empty or malformed");
        return false;
    }
    for (size_t i = 0; i < local; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || strchr(".!#$%&'*+/=?^_`{|}~-", c)) || (c == '.' && s[i + 1] == '.')) {
            snprintf(why, whylen, "the part before @ has a character not allowed");
            return false;
        }
    }
    const char *d = at + 1, *dot;
    int labels = 0;
    const char *last = d;
    while ((dot = strchr(d, '.'))) {
        if (!label_ok(d, (size_t)(dot - d))) {
            snprintf(why, whylen, "the domain is malformed");
            return false;
        }
        labels++;
        d = dot + 1;
        last = d;
    }
    if (!label_ok(d, strlen(d)) || labels == 0) {
        snprintf(why, whylen, "the domain needs a dot and a valid ending");
        return false;
    }
    size_t tld = strlen(last);
    for (size_t i = 0; i < tld; i++)
        if (!isalpha((unsigned char)last[i])) {
            snprintf(why, whylen, "the domain ending must be letters");
            return false;
        }
    if (tld < 2) {
        snprintf(why, whylen, "the domain ending is too short");
        return false;
    }
    return true;
}

static void copy_trim(char *dst, size_t cap, const char *s, size_t n)
{
    while (n && strchr(".,;:!?)>]'\"", s[n - 1]))
        n--;
    while (n && strchr("(<['\"", s[0])) {
        s++;
        n--;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* True when the address at raw[so] is glued by one space to a word that is
 * not one that leads into an address ("use", "to", "is"...): then the person
 * most likely typed a space inside it ("john doe@example.com"). */
static bool space_inside(const pack *p, const char *raw, size_t so)
{
    const pcre2_code *lead = pack_email_lead_rule(p);
    char word[64], fold[128];
    size_t b = so;

    if (!lead || so < 2 || raw[so - 1] != ' ' || raw[so - 2] == ' ')
        return false;
    while (b > 1 && !isspace((unsigned char)raw[b - 2]))
        b--;
    size_t n = so - 1 - (b - 1);
    if (n == 0 || n >= sizeof word)
        return false;
    memcpy(word, raw + b - 1, n);
    word[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)word[i]) && !strchr("._-", word[i]) &&
            !((unsigned char)word[i] & 0x80))
            return false; /* "Hi," or "(new)": punctuation ends a phrase */
    size_t fl = text_normalize(word, n, TEXT_FOLD, fold, sizeof fold);
    return !pack_rule_find(p, lead, fold, fl, 0, 0, &b, &n);
}

/* True when the person's-own cue stands before the first address. */
static bool own_first(const pack *p, const char *raw, const char *first)
{
    const char *at = strstr(raw, first);
    char fold[512];
    size_t so, eo;
    if (!at || at == raw)
        return false;
    size_t n = text_normalize(raw, (size_t)(at - raw), TEXT_FOLD, fold, sizeof fold);
    return pack_rule_find(p, pack_requester_rule(p), fold, n, 0, 0, &so, &eo);
}

/* True when the address at raw + at has a label of the person's own before
 * it ("jag: ulla@firma.se", "me: ines@x"): the words since the last ',', ';',
 * '.' or '(' up to a ':' right before it. */
static bool own_label(const pack *p, const char *raw, const char *at)
{
    const char *e = at;
    if (!at)
        return false;
    while (e > raw && e[-1] == ' ')
        e--;
    if (e == raw || e[-1] != ':')
        return false;
    const char *b = --e;
    while (b > raw && !strchr(",;.(\n", b[-1]) && e - b < 40)
        b--;
    char fold[128];
    size_t n = text_normalize(b, (size_t)(e - b), TEXT_FOLD, fold, sizeof fold);
    return pack_cue_match(p, PACK_CUE_OWN_LABEL, fold, n);
}

static void swap_emails(struct ent_result *r)
{
    char t[ENT_EMAIL_MAX + 1];
    memcpy(t, r->email[0], sizeof t);
    memcpy(r->email[0], r->email[1], sizeof t);
    memcpy(r->email[1], t, sizeof t);
}

/* Orders the two addresses so the new one comes first ("from a to b"), and
 * marks the person's own one. */
static void email_roles(const pack *p, const char *raw, const char *fold, size_t foldlen,
                        struct ent_result *r)
{
    bool own = pack_cue_match(p, PACK_CUE_REQUESTER, fold, foldlen);

    r->own = -1;
    if (r->nemail == 2) {
        const char *a = strstr(raw, r->email[0]), *b = strstr(raw, r->email[1]);
        if (a && b && a < b) {
            size_t gap = (size_t)(b - a);
            char between[256], bfold[256];
            snprintf(between, sizeof between, "%.*s", (int)(gap < 255 ? gap : 255), a);
            size_t bn = text_normalize(between, strlen(between), TEXT_FOLD, bfold, sizeof bfold);
            if (strstr(between, " to ") || strstr(between, " till ") || strstr(between, "->") ||
                pack_cue_match(p, PACK_CUE_NEW, bfold, bn))
                swap_emails(r); /* "from a to b"; "a, sorry, the new contact should be b" */
        }
    }
    r->new_cue = pack_cue_match(p, PACK_CUE_NEW, fold, foldlen) ||
                 (!own && pack_cue_match(p, PACK_CUE_CORRECTION, fold, foldlen));
    /* ("my email is wrong, it should be x": the correction is of the own one) */
    if (own && !(r->new_cue && r->nemail == 1))
        r->own = r->nemail == 1 ? 0 : r->nemail == 2 ? 1 : -1;
    for (int i = 0; i < r->nemail && r->own < 0; i++)
        if (own_label(p, raw, strstr(raw, r->email[i]))) {
            r->own = i;
            own = true;
        }
    if (own && r->nemail == 2 && (own_first(p, raw, r->email[0]) || r->own == 0)) {
        swap_emails(r); /* "my email is a@x and the new one is b@y": a@x is the person's own */
        r->own = 1;
    }
}

/* True when raw[from..to), the text between two values of a kind, takes
 * the first back ("44556677, sorry I meant 44556678"): short, with the
 * pack's retract cue in it and no requester cue. */
static bool retracted(const pack *p, const char *raw, size_t from, size_t to)
{
    char fold[128];
    if (to < from || to - from > RETRACT_GAP_MAX)
        return false;
    size_t n = text_normalize(raw + from, to - from, TEXT_FOLD, fold, sizeof fold);
    /* ("b@y, no, not mine: mine is a@x": the second has a role of its own) */
    return pack_cue_match(p, PACK_CUE_RETRACT, fold, n) &&
           !pack_cue_match(p, PACK_CUE_REQUESTER, fold, n);
}

/* The order reference into r->order_ref: the one told, the second of two
 * when a retraction stands between them, none of several others ("10101010,
 * 20202020 and 30303030": which one a case is about is asked). */
static void order_refs(const pack *p, const char *raw, size_t rawlen, struct ent_result *r)
{
    size_t so, eo, start = 0, first_end = 0;
    char ref[ENT_REF_MAX + 1];
    while (start < rawlen &&
           pack_rule_find(p, pack_order_rule(p), raw, rawlen, start, 1, &so, &eo)) {
        /* a number inside an email address is not a reference */
        bool in_email = false;
        for (size_t i = so; i > 0 && !isspace((unsigned char)raw[i - 1]); i--)
            if (raw[i - 1] == '@')
                in_email = true;
        for (size_t i = eo; i < rawlen && !isspace((unsigned char)raw[i]); i++)
            if (raw[i] == '@')
                in_email = true;
        start = eo > so ? eo : so + 1;
        if (in_email)
            continue;
        copy_trim(ref, sizeof ref, raw + so, eo - so);
        if (r->order_ref[0] && !strcasecmp(ref, r->order_ref))
            continue; /* the same one again */
        if (r->order_ref[0] && !retracted(p, raw, first_end, so)) {
            r->order_ref[0] = '\0';
            return;
        }
        memcpy(r->order_ref, ref, sizeof ref);
        if (first_end)
            return;
        first_end = eo;
    }
}

void ent_extract(const pack *p, const char *raw, size_t rawlen,
                 const char *fold, size_t foldlen, struct ent_result *r)
{
    size_t so, eo, start = 0, last_end = 0;

    memset(r, 0, sizeof *r);
    while (start < rawlen &&
           pack_rule_find(p, pack_email_rule(p), raw, rawlen, start, 0, &so, &eo)) {
        char cand[ENT_EMAIL_MAX + 1];
        char why[80] = "too long";
        copy_trim(cand, sizeof cand, raw + so, eo - so);
        bool ok = eo - so <= ENT_EMAIL_MAX + 2 && ent_email_valid(cand, why, sizeof why);
        if (ok && space_inside(p, raw, so)) {
            ok = false;
            snprintf(why, sizeof why, "has a space in it");
            size_t b = so - 1;
            while (b > 0 && !isspace((unsigned char)raw[b - 1]))
                b--;
            copy_trim(cand, sizeof cand, raw + b, eo - b);
        }
        if (ok) {
            /* "a@x, no wait, b@y": b@y in a@x's place */
            int k = r->nemail == 1 && retracted(p, raw, last_end, so) ? 0 : r->nemail;
            if (k < 2 && (r->nemail == 0 || strcasecmp(r->email[0], cand) != 0)) {
                memcpy(r->email[k], cand, sizeof cand);
                r->nemail = k + 1 > r->nemail ? k + 1 : r->nemail;
                last_end = eo;
            }
        } else if (!r->bad_email[0]) {
            memcpy(r->bad_email, cand, sizeof cand);
            memcpy(r->bad_email_why, why, sizeof why);
        }
        start = eo > so ? eo : so + 1;
    }
    email_roles(p, raw, fold, foldlen, r);
    if (!r->nemail && pack_domain_fix(p, raw, rawlen, r->domain_to, r->domain_from, sizeof r->domain_to))
        r->bad_email[0] = '\0';   /* ("@kundab.se, not @kundab.com" is no address) */
    order_refs(p, raw, rawlen, r);
    const char *claimed[ENT_VALS_MAX]; /* slots a "not" value took without a value */
    int nclaimed = 0;
    for (size_t i = 0; i < pack_value_count(p) && r->nvals < ENT_VALS_MAX; i++) {
        const struct pack_value *v = pack_value_at(p, i);
        bool taken = ent_get(r, v->slot) != NULL;
        for (int k = 0; k < nclaimed && !taken; k++)
            taken = strcmp(claimed[k], v->slot) == 0;
        if (taken || !pack_rules_match(p, &v->rules, fold, foldlen))
            continue; /* the first value of a slot wins */
        if (strcmp(v->value, "not") == 0) {
            if (nclaimed < ENT_VALS_MAX)
                claimed[nclaimed++] = v->slot;
        } else {
            r->vals[r->nvals++] = (struct ent_value){ v->slot, v->value };
        }
    }
}

/* d without a leading '@'. */
static const char *bare_domain(const char *d)
{
    return d[0] == '@' ? d + 1 : d;
}

/* True when domain ends with the ending end (".com") at a label's start. */
static bool ends_with(const char *domain, const char *end)
{
    size_t n = strlen(domain), k = strlen(end);
    return k < n && !strcasecmp(domain + n - k, end);
}

bool ent_fix_domain(const char *email, const char *to, const char *from, char *out, size_t outlen)
{
    const char *at = strrchr(email, '@');
    if (!at || !to[0])
        return false;
    const char *dom = at + 1, *t = bare_domain(to), *f = bare_domain(from);
    size_t keep;                        /* bytes of the domain kept before the new part */
    if (f[0] == '.') {
        if (!ends_with(dom, f))
            return false;
        keep = strlen(dom) - strlen(f);
    } else if (f[0]) {
        if (strcasecmp(dom, f))
            return false;
        keep = 0;
    } else {
        const char *dot = strrchr(dom, '.');
        keep = t[0] == '.' && dot ? (size_t)(dot - dom) : 0;
    }
    if (t[0] != '.')
        keep = 0;                       /* a whole domain replaces the whole */
    int n = snprintf(out, outlen, "%.*s%.*s%s", (int)(dom - email), email, (int)keep, dom, t);
    return n > 0 && (size_t)n < outlen && strcasecmp(out, email) != 0;
}

const char *ent_get(const struct ent_result *r, const char *slot)
{
    for (int i = 0; i < r->nvals; i++)
        if (strcmp(r->vals[i].slot, slot) == 0)
            return r->vals[i].value;
    return NULL;
}

bool ent_has(const struct ent_result *r, const char *slot, const char *value)
{
    const char *v = ent_get(r, slot);
    return v && strcmp(v, value) == 0;
}
