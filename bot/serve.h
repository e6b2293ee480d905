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
 * Logs go to stderr, one line an event, "ts=... level=... event=... k=v ...".
 * The environment variable PROVBOT_LOG (debug|info|warn|error, default info)
 * sets the threshold. Message texts and full session ids are never logged.
 */
#ifndef PROVBOT_SERVE_H
#define PROVBOT_SERVE_H

#include <stdbool.h>

struct serve_config {
    const char *listen;                /* "HOST:PORT"; NULL: "127.0.0.1:8080"; "[::1]:8080" for IPv6 */
    const char *intents_dir;           /* knowledge pack folder, for engine_open */
    const char *data_dir;              /* store folder; NULL: no store (in memory) */
    const char *const *allow_origins;  /* WebSocket Origin allow list; NULL / 0 entries: allow all */
    int n_allow_origins;               /* entries in allow_origins */
    int max_conns;                     /* open chats at most; 0: 10000 */
    int idle_secs;                     /* close a chat silent this long; 0: 600, <0: never */
    int rate_per_sec;                  /* messages a chat may send per second (burst 2x);
                                          0: 10, <0: no limit */
    volatile int *stop;                /* optional: the loop ends soon after *stop becomes non-zero */
    bool checkpoint_elsewhere;         /* another thread checkpoints the store's WAL */
    bool webex_unregister;             /* Webex: DELETE the device on a clean shutdown */
};

/* Runs the server until SIGINT/SIGTERM or *cfg->stop. Returns 0 after a clean
 * shutdown, 2 on a configuration error (a malformed listen address, or
 * engine_open failing on the pack or the store), 1 on another failure (the
 * address cannot be bound, out of memory); for 1 and 2 a one-line message is
 * on stderr.
 * Installs SIGINT/SIGTERM handlers for its duration and raises RLIMIT_NOFILE
 * (soft limit) to fit max_conns. */
int serve_run(const struct serve_config *cfg);

/* Writes one structured log line to stderr:
 *   ts=2026-11-24T07:00:00Z level=LEVEL event=EVENT <fmt...>
 * level is "debug", "info", "warn" or "error"; fmt (printf-style, may be
 * NULL) adds key=value pairs. Lines below the PROVBOT_LOG threshold are
 * dropped; a line is cut at 1 KiB. Thread-safe (one write(2) a line). */
void serve_log(const char *level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
