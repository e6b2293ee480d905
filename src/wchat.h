/* wchat.h -- the web chat's wire format: parsing client frames and building
 * the bot's frames (see the contract's "Web chat" section).
 *
 * Pure functions, no I/O: the transport in bot/serve.c hands over a whole,
 * reassembled message and sends what comes back. Everything a client can
 * send is bounded and checked here: strict UTF-8, a JSON object, a known
 * "type", strings where strings belong.
 */
#ifndef PROVBOT_WCHAT_H
#define PROVBOT_WCHAT_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define WCHAT_SESSION_MAX 64
#define WCHAT_USER_MAX 254

enum wchat_kind {
    WCHAT_BAD,               /* not understood: error says why (code bad_json) */
    WCHAT_HELLO,             /* {"type":"hello","session"?,"user"?,"token"?} */
    WCHAT_MESSAGE,           /* {"type":"message","text","id"?} */
};

struct wchat_frame {
    enum wchat_kind kind;
    const char *error;                  /* WCHAT_BAD: a static message for the client */
    char session[WCHAT_SESSION_MAX + 1]; /* hello: a valid session id, "" when none */
    char user[WCHAT_USER_MAX + 1];      /* hello: "" when none (self-asserted) */
    char *token;                        /* hello: the identity token (a JWT, unchecked here),
                                           owned, or NULL when none or not a string */
    char *text;                         /* message: owned (wchat_frame_clear) */
    char *id;                           /* message (or bad) frame's string id, owned, or NULL */
};

/* Parses one whole client message (binary: it came in a binary frame).
 * Always fills f; returns its kind. */
enum wchat_kind wchat_parse(const char *msg, size_t len, bool binary, struct wchat_frame *f);
void wchat_frame_clear(struct wchat_frame *f);

/* A session id the bot accepts from a client: [A-Za-z0-9_-]{1,64}. */
bool wchat_session_valid(const char *s);

/* The bot's frames, as malloc'd JSON text (caller frees); NULL when out of
 * memory. reply_to may be NULL; expects (may be NULL) is the question types'
 * input hints (engine_expects), copied into the welcome as "expects". */
char *wchat_welcome(const char *session, const cJSON *expects);
char *wchat_error(const char *code, const char *message, const char *reply_to);

#endif
