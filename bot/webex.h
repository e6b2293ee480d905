/* webex.h -- provbot in Webex: the Mercury WebSocket client and the REST
 * calls, on serve's event loop.
 *
 * With WEBEX_TOKEN set, webex_start() joins Webex from serve's lws context:
 * GET /people/me, the U2C catalog (the WDM URL and the clusters), the device
 * registered before (by name) or a new one, the device WebSocket with the
 * authorization message, the ready signal, pings and acks. Each message for
 * the bot (1:1 always, group spaces when mentioned, never its own or another
 * bot's) is fetched over REST, run through the engine (session per space, or
 * per space and person in groups; the requester is the person's email) and
 * answered in the same space and thread. A shared screenshot is fetched and
 * attached to the open case form. An activity is pending in the store from
 * its arrival until its reply is committed with its turn (then the reply
 * until it is sent); a restart resumes what is pending, and a redelivered
 * event is never answered twice. Edits (parent.type "edit") are ignored,
 * except while a case-form question is pending (engine_form_pending): then
 * the new text is a correction. The case form and yes/no / line-status
 * questions with quick replies go as Adaptive Cards; a press is read back
 * (GET /attachment/actions) and is the label as if typed; a card answers
 * once. An activity whose ack cannot be queued is not acted on (Mercury
 * delivers it again).
 *
 * Threads: everything here runs on the lws service thread except one libcurl
 * worker (its own CURLM) that performs the REST calls; requests and results
 * travel through mutex-protected queues, wakeups by curl_multi_wakeup() and
 * lws_cancel_service(). 429 Retry-After is honoured on every call; a reply
 * is retried on transport errors and 5xx.
 *
 * Environment: WEBEX_TOKEN (never logged), WEBEX_API_URL (default
 * https://webexapis.com/v1), WEBEX_U2C_URL (default
 * https://u2c.wbx2.com/u2c/api/v1), WEBEX_DEVICE_NAME (default "provbot"),
 * WEBEX_BACKOFF_MS (first reconnect delay, default 1000, doubling to 32 s,
 * +-20 % jitter), WEBEX_PING_MS (default 15000), WEBEX_QUEUE_MAX (REST
 * requests outstanding before new activities are shed, default 256),
 * WEBEX_TIMEOUT_MS (one REST call, default 15000), WEBEX_OUTQ_MAX (socket
 * frames waiting to be written, default 256), https_proxy / HTTPS_PROXY
 * (the WebSocket's proxy too; else http_proxy, lws's default), no_proxy /
 * NO_PROXY (hosts reached directly, the socket's too). TLS is verified; plain
 * http/ws is allowed only when WEBEX_API_URL or WEBEX_U2C_URL is http:// (a
 * local fake).
 */
#ifndef PROVBOT_WEBEX_H
#define PROVBOT_WEBEX_H

#include "channel.h"

/* The Webex channel for serve_config.channels. Its start() joins Webex when
 * WEBEX_TOKEN is set (0 and nothing when it is not; -1 with a one-line
 * message on stderr for a configuration error: a URL that is neither https
 * nor, for tests, http). Its stop(), with env->unregister, DELETEs the
 * device (at most 3 s), joins the worker and frees everything. */
extern const struct channel webex_channel;

#endif
