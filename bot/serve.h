/* serve.h -- provbot's web chat server: HTTP and WebSocket on libwebsockets.
 *
 * One event loop on the calling thread serves the chat page (compiled in from
 * bot/www), /healthz, /metrics (Prometheus text), POST /upload (a screenshot
 * for the case form) and the WebSocket chat at /chat, and calls the engine for
 * every message. The engine is opened and closed here and only ever called
 * from the loop thread. SIGINT / SIGTERM (or *stop becoming non-zero) end the
 * loop gracefully: close frames to every chat, then engine_close() flushes the
 * store.
 *
 * Logs go through bot/log.h. Message texts and full session ids are never
 * logged.
 */
#ifndef PROVBOT_SERVE_H
#define PROVBOT_SERVE_H

#include "channel.h"
#include "engine.h"

#include <stdbool.h>

struct serve_config {
    const char *listen;                /* "HOST:PORT"; NULL: "127.0.0.1:8080"; "[::1]:8080" for IPv6 */
    const struct engine_config *engine; /* for engine_open, borrowed (its channel: "web") */
    const char *const *allow_origins;  /* WebSocket Origin allow list; NULL / 0 entries: allow all */
    int n_allow_origins;               /* entries in allow_origins */
    int max_conns;                     /* open chats at most; 0: 10000 */
    int idle_secs;                     /* close a chat silent this long; 0: 600, <0: never */
    int rate_per_sec;                  /* messages a chat may send per second (burst 2x);
                                          0: 10, <0: no limit */
    const char *web_jwt_secret;        /* PROVBOT_WEB_JWT_SECRET: a hello's "token" (HS256 JWT) gives
                                          the chat its person, and nothing else does; NULL or "":
                                          the hello's "user" is taken as it is (self-asserted) */
    volatile int *stop;                /* optional: the loop ends soon after *stop becomes non-zero */
    bool unregister_at_stop;           /* channels delete their remote registration
                                          (Webex: the device) at a clean shutdown */
    const struct channel *const *channels; /* the channels beside the web chat, borrowed */
    int n_channels;                    /* entries in channels */
};

/* Runs the server until SIGINT/SIGTERM or *cfg->stop. Returns 0 after a clean
 * shutdown, 2 on a configuration error (a malformed listen address, or
 * engine_open failing on the pack or the store), 1 on another failure (the
 * address cannot be bound, out of memory); for 1 and 2 a one-line message is
 * on stderr.
 * Installs SIGINT/SIGTERM handlers for its duration and raises RLIMIT_NOFILE
 * (soft limit) to fit max_conns. */
int serve_run(const struct serve_config *cfg);

#endif
