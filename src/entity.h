/* entity.h -- details taken from any message.
 *
 * Finds, with the pack's entity rules: email addresses (validated here as
 * whole tokens: "john doe@example.com" is refused, not read as doe@...),
 * an order or subscription reference, and named slot values such as
 * line_status=closed, onboarded=yes, answer=no or command=cancel. The dialog
 * uses them so that nothing already said is asked again.
 */
#ifndef PROVBOT_ENTITY_H
#define PROVBOT_ENTITY_H

#include "pack.h"

#define ENT_EMAIL_MAX 254
#define ENT_REF_MAX 40
#define ENT_VALS_MAX 32
#define ENT_DOMAIN_MAX 80

struct ent_value {
    const char *slot;        /* borrowed from the pack */
    const char *value;       /* borrowed from the pack */
};

struct ent_result {
    char email[2][ENT_EMAIL_MAX + 1]; /* valid addresses; [0] the one meant as new
                                         (in "from a@x to b@y", b@y), then the other */
    int nemail;
    bool new_cue;            /* the message calls an address new ("new email x") */
    int own;                 /* index in email of the person's own address ("my
                                email is ..."), -1 when none is marked so */
    char bad_email[ENT_EMAIL_MAX + 1]; /* first candidate that is not valid, "" if none */
    char bad_email_why[80];  /* why, in English, for logs */
    char order_ref[ENT_REF_MAX + 1];   /* "" when none */
    char domain_to[ENT_DOMAIN_MAX + 1];   /* no address told, but a domain put right
                                             ("the domain is .se not .com": ".se"), or "" */
    char domain_from[ENT_DOMAIN_MAX + 1]; /* ... and the wrong one (".com"), or "" */
    struct ent_value vals[ENT_VALS_MAX];
    int nvals;
};

/* raw: the message as sent; fold: its TEXT_FOLD form. */
void ent_extract(const pack *p, const char *raw, size_t rawlen,
                 const char *fold, size_t foldlen, struct ent_result *r);

/* True when the value `value` of `slot` was found. */
bool ent_has(const struct ent_result *r, const char *slot, const char *value);
/* The value found for slot, or NULL. */
const char *ent_get(const struct ent_result *r, const char *slot);

/* email with its domain put right (domain_to and domain_from as in struct
 * ent_result: an ending such as ".se" replaces the ending from names, or
 * the last label; a whole domain replaces the whole or, when from is an
 * ending, that ending) into out. False when it does not fit: no '@', from not
 * the address's own domain or ending, or no change. */
bool ent_fix_domain(const char *email, const char *to, const char *from, char *out, size_t outlen);

/* Checks an email address; false with a short reason (English) in why. */
bool ent_email_valid(const char *s, char *why, size_t whylen);
/* The pack message that tells a person why (ent_email_valid's English
 * reason): "email_bad_space", "email_bad_at", "email_bad_domain" or
 * "invalid_email". */
const char *ent_email_why_key(const char *why);

#endif
