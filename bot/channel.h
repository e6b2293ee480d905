/* channel.h -- a chat channel as a plug-in of the serve loop.
 *
 * The web chat is built into serve.c; every other channel (Webex today) is
 * one `struct channel` that main.c lists in serve_config.channels. serve.c
 * knows none by name: it adds each channel's lws protocol to its context,
 * calls start() once the loop, the engine and the turn pipeline exist, and
 * stop() before they go. A channel hands its messages to the pipeline
 * (turns.h) and sends a reply only from the pipeline's callback, i.e. once
 * the turn is durable; it never opens or commits a batch itself.
 */
#ifndef PROVBOT_CHANNEL_H
#define PROVBOT_CHANNEL_H

#include "turns.h"

#include <libwebsockets.h>
#include <stdbool.h>

/* What a channel is given at start; all borrowed until its stop(). */
struct channel_env {
    struct lws_context *ctx;    /* the loop's context (client connections, timers) */
    turns *turns;               /* the turn pipeline */
    struct attachq *attach;     /* the attachment writer (attach.h), or NULL: none */
    bool unregister;            /* delete any remote registration at a clean stop */
};

struct channel {
    const char *name;                   /* for the log, e.g. "webex" */
    struct lws_protocols protocol;      /* its lws protocol (never the default);
                                           .name NULL: it needs none */
    /* 0 when started, or when not configured (it then does nothing); -1 on a
     * configuration error, with a one-line message on stderr. */
    int (*start)(const struct channel_env *env);
    /* Stops and frees everything; idempotent. On the loop thread, before
     * the pipeline, the engine and the context go. */
    void (*stop)(void);
};

#endif
