/* wx.h -- Webex wire formats: pure parsers and builders, no I/O.
 *
 * Everything provbot's Webex transport (bot/webex.c) reads from or writes to
 * Webex, as functions of bytes: the U2C service catalog (the WDM base URL and
 * the cluster of a host), the WDM device list and device objects, the Mercury
 * WebSocket envelopes (conversation.activity, the ready signal, pongs), the
 * conversion of Mercury's raw UUIDs into REST ("Hydra") ids and back, REST
 * message objects, mention stripping, the reply body (markdown cut under
 * Webex's 7439-byte limit, same space and thread), Retry-After and the close
 * code policy. Facts and sources: ../shared/webex-protocol.md.
 *
 * Conventions: parsers take (json, len) and fill a caller struct whose
 * strings are fixed-size arrays (cut to fit; an id that does not fit makes
 * the parse fail) unless a field says "owned"; builders return a malloc'd
 * string the caller frees, or NULL when out of memory.
 */
#ifndef PROVBOT_WX_H
#define PROVBOT_WX_H

#include <stdbool.h>
#include <stddef.h>

#define WX_MSG_MAX 7439          /* bytes of text/markdown Webex accepts in one message */
#define WX_UUID_MAX 64           /* a raw UUID (36 chars) with room to spare */
#define WX_ID_MAX 160            /* a Hydra id (base64 of ciscospark://cluster/TYPE/uuid) */
#define WX_URL_MAX 1024
#define WX_EMAIL_MAX 256
#define WX_MENTIONS_MAX 16
#define WX_FILES_MAX 5

/* ---- U2C catalog (format=hostmap) */

/* serviceLinks.wdm into out. 0, or -1 when absent or not JSON. */
int wx_u2c_wdm(const char *json, size_t len, char *out, size_t outlen);
/* The Hydra cluster for a service host (e.g. "conv-a.wbx2.com"): the id of
 * the hostCatalog entry for that host (under the host's key, else any entry
 * whose "host" is it, as the js-sdk's findClusterId), "us" for
 * urn:TEAM:us-east-2_a and urn:TEAM:us-east-1_int13, else its first three
 * ':' parts ("urn:TEAM:eu-central-1_k"). Returns 0, or 1 when the host is
 * in no entry (out is then "us", a guess the caller should log). */
int wx_u2c_cluster(const char *json, size_t len, const char *host, char *out, size_t outlen);
/* webex_bot's way to a REST id without the catalog: the conversation
 * service URL of the activity, target.url with "conversations/<target_id>"
 * replaced by "messages/<act_id>"; its JSON answer's "id" is the REST id
 * (wx_id_parse). 0, or -1 when target_url does not name target_id. */
int wx_conv_lookup_url(const char *target_url, const char *target_id, const char *act_id,
                       char *out, size_t outlen);
/* The "id" string of a JSON object into out. 0, or -1. */
int wx_id_parse(const char *json, size_t len, char *out, size_t outlen);

/* ---- WDM devices */

struct wx_device {
    char url[WX_URL_MAX];        /* the device URL (PUT refresh, DELETE) */
    char ws_url[WX_URL_MAX];     /* webSocketUrl */
    char user_id[WX_UUID_MAX];   /* the bot's person UUID, "" when absent */
};

/* A device object (POST /devices answer). 0, or -1 without url/webSocketUrl. */
int wx_device_parse(const char *json, size_t len, struct wx_device *d);
/* {"devices":[...]}: the first device named `name`. 1 found, 0 none, -1 not a list. */
int wx_devices_find(const char *json, size_t len, const char *name, struct wx_device *d);
/* {"devices":[...]}: the URLs of the oldest third (rounded up, at most
 * max) by modificationTime, oldest first, into urls: what to delete when
 * WDM refuses a new device for "excessive device registrations" (js-sdk
 * device.js). Returns their count, or -1 when json is not a device list. */
int wx_devices_oldest_third(const char *json, size_t len, char (*urls)[WX_URL_MAX], int max);
/* The POST /devices body for a device named `name`. Caller frees. */
char *wx_device_body(const char *name);

/* ---- Mercury frames */

enum wx_env_kind {
    WX_ENV_BAD,                  /* not JSON, not an object, or a malformed activity */
    WX_ENV_READY,                /* data.eventType mercury.buffer_state / registration_status */
    WX_ENV_PONG,                 /* type "pong" */
    WX_ENV_SHUTDOWN,             /* type "shutdown": the server asks us to reconnect */
    WX_ENV_ACTIVITY,             /* conversation.activity */
    WX_ENV_OTHER                 /* anything else (kms messages, featureToggles ...) */
};

struct wx_activity {
    char verb[24];               /* post, share, cardAction, acknowledge ... */
    char id[WX_UUID_MAX];        /* activity UUID (= message UUID for post/share) */
    char actor_id[WX_UUID_MAX];  /* actor entryUUID, else actor.id */
    char actor_type[16];         /* "PERSON", "" when absent */
    char actor_email[WX_EMAIL_MAX];
    char target_id[WX_UUID_MAX]; /* the conversation (space) UUID */
    char target_host[256];       /* host of target.url, "" when absent */
    char target_url[WX_URL_MAX]; /* target.url, "" when absent or too long */
    bool one_on_one;             /* target.tags has ONE_ON_ONE */
    char parent_id[WX_UUID_MAX]; /* parent.id, "" when none */
    bool parent_reply;           /* parent.type == "reply" (a thread) */
    bool parent_edit;            /* parent.type == "edit": an edit of message parent_id */
    char mentions[WX_MENTIONS_MAX][WX_UUID_MAX]; /* object.mentions.items[].id */
    int n_mentions;
};

struct wx_envelope {
    enum wx_env_kind kind;
    char id[WX_UUID_MAX];        /* envelope id to ack, "" when none */
    char event_type[64];         /* data.eventType, "" when none */
    struct wx_activity act;      /* kind == WX_ENV_ACTIVITY */
};

/* Parses one whole server frame. Returns env->kind. A conversation.activity
 * without verb, id, actor or target is WX_ENV_BAD (its envelope id, when
 * present, is still set so that it can be acked). */
enum wx_env_kind wx_envelope_parse(const char *msg, size_t len, struct wx_envelope *env);
/* True when the activity mentions `uuid` (case-insensitive). */
bool wx_activity_mentions(const struct wx_activity *a, const char *uuid);

/* Client frames. `id` is a fresh UUID the caller makes (wx_uuid4). */
char *wx_auth_frame(const char *id, const char *token);   /* token without "Bearer " */
char *wx_ping_frame(const char *id);
char *wx_ack_frame(const char *envelope_id);
/* A random v4 UUID from 16 random bytes. */
void wx_uuid_format(const unsigned char rnd[16], char out[37]);

/* ---- ids */

/* base64url-free, unpadded base64 of "ciscospark://CLUSTER/TYPE/UUID"
 * (PEOPLE and ORGANIZATION always use cluster "us"). 0, or -1 when it does
 * not fit in out. */
int wx_hydra_id(const char *cluster, const char *type, const char *uuid, char *out, size_t outlen);
/* The UUID inside a Hydra id (padded or not, standard or url-safe base64),
 * into out; with type non-NULL the TYPE must match. 0, or -1. */
int wx_hydra_uuid(const char *hydra, const char *type, char *out, size_t outlen);
/* True when s looks like a raw UUID (hex and dashes, 36 chars). */
bool wx_is_uuid(const char *s);

/* ---- REST objects */

struct wx_person {
    char id[WX_ID_MAX];          /* Hydra person id */
    char uuid[WX_UUID_MAX];      /* the UUID inside it */
    char email[WX_EMAIL_MAX];    /* emails[0] */
    char display_name[128];
};
/* GET /people/me. 0, or -1 without an id. */
int wx_person_parse(const char *json, size_t len, struct wx_person *p);

struct wx_message {
    char id[WX_ID_MAX];
    char room_id[WX_ID_MAX];
    char room_type[16];          /* "direct" or "group" */
    char parent_id[WX_ID_MAX];   /* thread root, "" when not a reply */
    char person_id[WX_ID_MAX];
    char person_email[WX_EMAIL_MAX];
    char *text;                  /* owned, "" when absent */
    char mentioned[WX_MENTIONS_MAX][WX_ID_MAX]; /* mentionedPeople */
    int n_mentioned;
    char files[WX_FILES_MAX][WX_URL_MAX];
    int n_files;
};
/* GET /messages/{id} (the object, or the first of "items" as the js-sdk
 * also takes). 0, or -1 (not an object, no id/roomId, out of memory).
 * Call wx_message_clear afterwards in both cases. */
int wx_message_parse(const char *json, size_t len, struct wx_message *m);
void wx_message_clear(struct wx_message *m);
/* True when the message mentions the person (Hydra id or UUID). */
bool wx_message_mentions(const struct wx_message *m, const char *person_uuid);

/* The text with the first occurrence of the bot's display name (or, when
 * absent, its first word) removed and white space collapsed and trimmed.
 * Caller frees. */
char *wx_strip_mention(const char *text, const char *display_name);

/* The markdown to post for an engine reply object ({"text":..,"buttons":[..]}):
 * the text, then the quick replies as a line of choices. Cut to WX_MSG_MAX
 * bytes on a UTF-8 boundary. Caller frees; NULL when reply is not a reply. */
char *wx_reply_markdown(const char *reply_json, size_t len);
/* The POST /messages body: roomId, markdown (cut to WX_MSG_MAX bytes on a
 * UTF-8 boundary) and parentId when non-empty. Caller frees. */
char *wx_reply_body(const char *room_id, const char *parent_id, const char *markdown);

/* ---- the case form as an Adaptive Card */

#define WX_CARD_TYPE "application/vnd.microsoft.card.adaptive"

/* The form's fields (prefill, or what a submission carries). */
struct wx_case_form {
    char order_ref[64];
    char new_email[WX_EMAIL_MAX];
    char description[1024];
};
/* The case form card's words, in the conversation's language (the pack's
 * card_* messages), borrowed. */
struct wx_card_labels {
    const char *order_ref, *new_email, *description, *submit, *cancel;
};
/* The POST /messages body of a reply that carries the case form as an
 * Adaptive Card (schema 1.3): markdown as the fallback for clients without
 * cards, one attachment whose card shows summary, Input.Text order_ref,
 * new_email, description (prefilled from f, labelled by l) and two
 * Action.Submit with data pb_action "confirm" / "cancel". Caller frees. */
char *wx_case_card_body(const char *room_id, const char *parent_id, const char *markdown,
                        const char *summary, const struct wx_case_form *f,
                        const struct wx_card_labels *l);

#define WX_BUTTONS_MAX 8          /* buttons on a question card */
#define WX_ANSWER_MAX 128         /* bytes of a button's label, NUL included */

/* The POST /messages body of a reply that asks a question with quick
 * replies (yes/no, the line status), as an Adaptive Card (schema 1.3): a
 * TextBlock with text, one Action.Submit per label (title the label, data
 * {"pb_answer": label}), markdown the fallback for clients without cards.
 * NULL when n is not 1..WX_BUTTONS_MAX, a label is empty or too long, or
 * out of memory. Caller frees. */
char *wx_buttons_card_body(const char *room_id, const char *parent_id, const char *markdown,
                           const char *text, const char *const *labels, int n);

/* GET /attachment/actions/{id}: the inputs of a submission. */
struct wx_card_action {
    char room_id[WX_ID_MAX];
    char message_id[WX_ID_MAX];  /* the card's message */
    char action[16];             /* inputs.pb_action: "confirm", "cancel", "" */
    char answer[WX_ANSWER_MAX];  /* inputs.pb_answer: a question card's button, "" */
    struct wx_case_form form;
};
/* The object, or the first of "items" (as wx_message_parse). 0, or -1
 * (not an object, no inputs or roomId). */
int wx_card_action_parse(const char *json, size_t len, struct wx_card_action *a);

/* ---- policies */

/* Milliseconds to wait for a Retry-After header value (delta-seconds):
 * missing or malformed: 15 s; at least 1 s, at most 1 hour. */
long wx_retry_after_ms(const char *value);

/* True when the no_proxy list names host, by curl's rules: entries
 * separated by commas or spaces; "*" names every host; a name (a leading
 * dot optional, a ":port" ignored) names that host and every host under it
 * ("example.com" names "a.example.com", not "badexample.com"); no case.
 * IP addresses match as written (no CIDR). NULL or "" list: false. */
bool wx_no_proxy(const char *list, const char *host);

enum wx_close_action {
    WX_CLOSE_RECONNECT,          /* transient: back off and reconnect */
    WX_CLOSE_REPLACED,           /* 4000 "replaced": a newer connection took over: stop */
    WX_CLOSE_AUTH,               /* 4400/4401/4403: credentials: stop, say so */
    WX_CLOSE_REREGISTER          /* 4404: refresh the device, then reconnect */
};
/* The action for a server close code and its reason (NULL: none). 4000
 * stops only with reason "replaced"; 4000 with any other reason (e.g.
 * Mercury rebalancing, webex-js-sdk PR #5106) reconnects. */
enum wx_close_action wx_close_policy(int code, const char *reason);

/* The session id for a Webex conversation: 1:1 spaces by space, group spaces
 * by space and person, so each person has their own conversation there.
 * "wx-" + 32 hex chars. */
void wx_session_id(const char *room, const char *person, bool direct, char out[40]);

#endif
