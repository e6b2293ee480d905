/* wx.c -- Webex wire formats (see wx.h). Pure functions over cJSON: no I/O,
 * no global state, so every case is a unit test (tests/unit/test_wx.c).
 */
#include "wx.h"
#include "b64.h"

#include <cJSON.h>

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- helpers */

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = get(o, k);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* Copies s into out; false when s is NULL, empty or does not fit. */
static bool copy(char *out, size_t outlen, const char *s)
{
    if (!s || !*s || strlen(s) >= outlen) {
        if (outlen) out[0] = 0;
        return false;
    }
    memcpy(out, s, strlen(s) + 1);
    return true;
}

/* Copies s cut to fit (never fails; NULL gives ""). */
static void copy_cut(char *out, size_t outlen, const char *s)
{
    snprintf(out, outlen, "%s", s ? s : "");
}

/* The host of an absolute URL ("https://h:1/x" -> "h") into out. */
static void url_host(const char *url, char *out, size_t outlen)
{
    out[0] = 0;
    const char *p = url ? strstr(url, "://") : NULL;
    if (!p) return;
    p += 3;
    size_t n = strcspn(p, ":/?#");
    if (n >= outlen) return;
    memcpy(out, p, n);
    out[n] = 0;
}

/* Length of s cut to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) n--;
    return n;
}

/* A REST GET's object: the body, or its items[0] when the body is a list
 * (the js-sdk reads `res.body.items || res.body`). Borrowed from j. */
static const cJSON *rest_object(const cJSON *j)
{
    const cJSON *items = get(j, "items");
    return cJSON_IsArray(items) ? cJSON_GetArrayItem(items, 0) : j;
}

static char *json_out(cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

/* ---------------------------------------------------------------- U2C */

int wx_u2c_wdm(const char *json, size_t len, char *out, size_t outlen)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    const char *wdm = str(get(j, "serviceLinks"), "wdm");
    int rc = wdm && !strncmp(wdm, "http", 4) && copy(out, outlen, wdm) ? 0 : -1;
    cJSON_Delete(j);
    return rc;
}

/* The id of the hostCatalog entry for host: under the key host, else in any
 * key's entry list (the key and its entries' hosts may differ), as the
 * js-sdk's findClusterId matches. NULL when none. */
static const char *catalog_entry_id(const cJSON *cat, const char *host)
{
    const cJSON *key, *e;
    const char *id = str(cJSON_GetArrayItem(get(cat, host), 0), "id");
    if (id) return id;
    cJSON_ArrayForEach(key, cat) {
        if (!cJSON_IsArray(key)) continue;
        cJSON_ArrayForEach(e, key) {
            const char *h = str(e, "host");
            if (h && !strcasecmp(h, host) && str(e, "id")) return str(e, "id");
        }
    }
    return NULL;
}

int wx_u2c_cluster(const char *json, size_t len, const char *host, char *out, size_t outlen)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    const char *id = host && *host ? catalog_entry_id(get(j, "hostCatalog"), host) : NULL;
    copy_cut(out, outlen, "us");
    if (id && strncmp(id, "urn:TEAM:us-east-2_a", 20) && strncmp(id, "urn:TEAM:us-east-1_int13", 24)) {
        /* the first three ':' parts */
        const char *p = id;
        for (int colons = 0; *p; p++)
            if (*p == ':' && ++colons == 3) break;
        size_t n = (size_t)(p - id);
        if (n > 0 && n < outlen) {
            memcpy(out, id, n);
            out[n] = 0;
        }
    }
    cJSON_Delete(j);
    return id ? 0 : 1;
}

int wx_conv_lookup_url(const char *target_url, const char *target_id, const char *act_id,
                       char *out, size_t outlen)
{
    char pat[WX_UUID_MAX + 16];
    snprintf(pat, sizeof pat, "conversations/%s", target_id ? target_id : "");
    const char *at = target_url && target_id && *target_id ? strstr(target_url, pat) : NULL;
    if (!at || !act_id || !*act_id) return -1;
    int n = snprintf(out, outlen, "%.*smessages/%s", (int)(at - target_url), target_url, act_id);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

int wx_id_parse(const char *json, size_t len, char *out, size_t outlen)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    int rc = copy(out, outlen, str(j, "id")) ? 0 : -1;
    cJSON_Delete(j);
    return rc;
}

/* ---------------------------------------------------------------- devices */

static int device_from(const cJSON *o, struct wx_device *d)
{
    memset(d, 0, sizeof *d);
    if (!copy(d->url, sizeof d->url, str(o, "url")) ||
        !copy(d->ws_url, sizeof d->ws_url, str(o, "webSocketUrl")))
        return -1;
    if (!copy(d->user_id, sizeof d->user_id, str(o, "userId"))) d->user_id[0] = 0;
    return 0;
}

int wx_device_parse(const char *json, size_t len, struct wx_device *d)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    int rc = cJSON_IsObject(j) ? device_from(j, d) : -1;
    cJSON_Delete(j);
    return rc;
}

int wx_devices_find(const char *json, size_t len, const char *name, struct wx_device *d)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    const cJSON *list = get(j, "devices"), *it;
    int rc = cJSON_IsArray(list) ? 0 : -1;
    cJSON_ArrayForEach(it, list) {
        const char *n = str(it, "name");
        if (rc == 0 && n && !strcmp(n, name) && device_from(it, d) == 0)
            rc = 1;
    }
    cJSON_Delete(j);
    return rc;
}

/* One device of a list, for sorting by modificationTime. */
struct dev_age {
    const char *url;
    const char *mtime;           /* ISO 8601 (sorts as text), "" when absent: oldest */
};

static int by_age(const void *a, const void *b)
{
    return strcmp(((const struct dev_age *)a)->mtime, ((const struct dev_age *)b)->mtime);
}

int wx_devices_oldest_third(const char *json, size_t len, char (*urls)[WX_URL_MAX], int max)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    const cJSON *list = get(j, "devices"), *it;
    int n = 0, total = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : -1;
    struct dev_age *d = total > 0 ? calloc((size_t)total, sizeof *d) : NULL;
    if (total > 0 && !d) total = -1;
    if (d) {
        cJSON_ArrayForEach(it, list) {
            if (!str(it, "url")) continue;
            d[n].url = str(it, "url");
            d[n].mtime = str(it, "modificationTime") ? str(it, "modificationTime") : "";
            n++;
        }
        qsort(d, (size_t)n, sizeof *d, by_age);
        int k = (n + 2) / 3;                 /* the oldest third, rounded up */
        if (k > max) k = max;
        for (int i = 0; i < k; i++) copy_cut(urls[i], WX_URL_MAX, d[i].url);
        n = k;
    }
    free(d);
    cJSON_Delete(j);
    return total < 0 ? -1 : n;
}

char *wx_device_body(const char *name)
{
    cJSON *o = cJSON_CreateObject();
    if (o && (!cJSON_AddStringToObject(o, "deviceName", name) ||
              !cJSON_AddStringToObject(o, "deviceType", "DESKTOP") ||
              !cJSON_AddStringToObject(o, "localizedModel", "c") ||
              !cJSON_AddStringToObject(o, "model", "c") ||
              !cJSON_AddStringToObject(o, "name", name) ||
              !cJSON_AddStringToObject(o, "systemName", name) ||
              !cJSON_AddStringToObject(o, "systemVersion", "1.0"))) {
        cJSON_Delete(o);
        o = NULL;
    }
    return json_out(o);
}

/* ---------------------------------------------------------------- envelopes */

static bool activity_from(const cJSON *a, struct wx_activity *act)
{
    const cJSON *actor = get(a, "actor"), *target = get(a, "target"), *parent = get(a, "parent");
    const cJSON *obj = get(a, "object"), *tags = get(target, "tags"), *it;

    memset(act, 0, sizeof *act);
    if (!cJSON_IsObject(a) || !cJSON_IsObject(actor) || !cJSON_IsObject(target))
        return false;
    if (!copy(act->verb, sizeof act->verb, str(a, "verb")) ||
        !copy(act->id, sizeof act->id, str(a, "id")) ||
        !copy(act->target_id, sizeof act->target_id, str(target, "id")))
        return false;
    const char *aid = str(actor, "entryUUID") ? str(actor, "entryUUID") : str(actor, "id");
    if (!copy(act->actor_id, sizeof act->actor_id, aid))
        return false;
    copy_cut(act->actor_type, sizeof act->actor_type, str(actor, "type"));
    copy_cut(act->actor_email, sizeof act->actor_email,
             str(actor, "emailAddress") ? str(actor, "emailAddress") : str(actor, "entryEmail"));
    url_host(str(target, "url"), act->target_host, sizeof act->target_host);
    if (!copy(act->target_url, sizeof act->target_url, str(target, "url"))) act->target_url[0] = 0;
    if (!cJSON_IsArray(tags)) tags = NULL;
    cJSON_ArrayForEach(it, tags)
        if (cJSON_IsString(it) && !strcmp(it->valuestring, "ONE_ON_ONE"))
            act->one_on_one = true;
    if (cJSON_IsObject(parent)) {
        copy(act->parent_id, sizeof act->parent_id, str(parent, "id"));
        const char *pt = str(parent, "type");
        act->parent_reply = pt && !strcmp(pt, "reply");
        act->parent_edit = pt && !strcmp(pt, "edit");
    }
    cJSON_ArrayForEach(it, get(get(obj, "mentions"), "items")) {
        if (act->n_mentions < WX_MENTIONS_MAX &&
            copy(act->mentions[act->n_mentions], WX_UUID_MAX, str(it, "id")))
            act->n_mentions++;
    }
    return true;
}

enum wx_env_kind wx_envelope_parse(const char *msg, size_t len, struct wx_envelope *env)
{
    cJSON *j = cJSON_ParseWithLength(msg, len);
    memset(env, 0, sizeof *env);
    env->kind = WX_ENV_BAD;
    if (!cJSON_IsObject(j))
        goto out;
    copy(env->id, sizeof env->id, str(j, "id"));
    const char *type = str(j, "type");
    const cJSON *data = get(j, "data");
    if (type && !strcmp(type, "pong")) {
        env->kind = WX_ENV_PONG;
        goto out;
    }
    if (type && !strcmp(type, "shutdown")) {
        env->kind = WX_ENV_SHUTDOWN;
        goto out;
    }
    const char *et = str(data, "eventType");
    if (!et) {
        env->kind = cJSON_IsObject(data) || type ? WX_ENV_OTHER : WX_ENV_BAD;
        goto out;
    }
    copy_cut(env->event_type, sizeof env->event_type, et);
    if (!strcmp(et, "mercury.buffer_state") || !strcmp(et, "mercury.registration_status"))
        env->kind = WX_ENV_READY;
    else if (!strcmp(et, "conversation.activity"))
        env->kind = activity_from(get(data, "activity"), &env->act) ? WX_ENV_ACTIVITY : WX_ENV_BAD;
    else
        env->kind = WX_ENV_OTHER;
out:
    cJSON_Delete(j);
    return env->kind;
}

bool wx_activity_mentions(const struct wx_activity *a, const char *uuid)
{
    for (int i = 0; uuid && *uuid && i < a->n_mentions; i++)
        if (!strcasecmp(a->mentions[i], uuid)) return true;
    return false;
}

char *wx_auth_frame(const char *id, const char *token)
{
    size_t n = strlen(token) + 8;
    char *bearer = malloc(n);
    cJSON *o = cJSON_CreateObject(), *data = NULL;
    if (!bearer || !o) goto fail;
    snprintf(bearer, n, "Bearer %s", token);
    if (!cJSON_AddStringToObject(o, "id", id) || !cJSON_AddStringToObject(o, "type", "authorization") ||
        !(data = cJSON_AddObjectToObject(o, "data")) || !cJSON_AddStringToObject(data, "token", bearer))
        goto fail;
    free(bearer);
    return json_out(o);
fail:
    free(bearer);
    cJSON_Delete(o);
    return NULL;
}

char *wx_ping_frame(const char *id)
{
    cJSON *o = cJSON_CreateObject();
    if (o && (!cJSON_AddStringToObject(o, "id", id) || !cJSON_AddStringToObject(o, "type", "ping"))) {
        cJSON_Delete(o);
        o = NULL;
    }
    return json_out(o);
}

char *wx_ack_frame(const char *envelope_id)
{
    cJSON *o = cJSON_CreateObject();
    if (o && (!cJSON_AddStringToObject(o, "messageId", envelope_id) ||
              !cJSON_AddStringToObject(o, "type", "ack"))) {
        cJSON_Delete(o);
        o = NULL;
    }
    return json_out(o);
}

void wx_uuid_format(const unsigned char rnd[16], char out[37])
{
    unsigned char b[16];
    memcpy(b, rnd, 16);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
        p += sprintf(p, "%02x", b[i]);
    }
    *p = 0;
}

/* ---------------------------------------------------------------- ids */

int wx_hydra_id(const char *cluster, const char *type, const char *uuid, char *out, size_t outlen)
{
    char plain[WX_ID_MAX];
    if (!strcmp(type, "PEOPLE") || !strcmp(type, "ORGANIZATION")) cluster = "us";
    int n = snprintf(plain, sizeof plain, "ciscospark://%s/%s/%s", cluster && *cluster ? cluster : "us",
                     type, uuid);
    if (n < 0 || (size_t)n >= sizeof plain) return -1;
    return b64_encode(plain, (size_t)n, false, out, outlen) < 0 ? -1 : 0;
}

int wx_hydra_uuid(const char *hydra, const char *type, char *out, size_t outlen)
{
    char plain[WX_ID_MAX];
    if (!hydra || b64_decode(hydra, strlen(hydra), B64_LENIENT, (unsigned char *)plain, sizeof plain) < 0)
        return -1;
    if (strncmp(plain, "ciscospark://", 13)) return -1;
    const char *last = strrchr(plain, '/');
    if (!last || last < plain + 13) return -1;
    if (type) {
        const char *prev = last - 1;
        while (prev > plain && *prev != '/') prev--;
        size_t tl = (size_t)(last - prev - 1);
        if (strlen(type) != tl || strncmp(prev + 1, type, tl)) return -1;
    }
    return copy(out, outlen, last + 1) && last[1] ? 0 : -1;
}

bool wx_is_uuid(const char *s)
{
    size_t n = 0;
    for (; s && s[n]; n++)
        if (!(isxdigit((unsigned char)s[n]) || s[n] == '-')) return false;
    return n == 36;
}

/* ---------------------------------------------------------------- REST objects */

int wx_person_parse(const char *json, size_t len, struct wx_person *p)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    int rc = -1;
    memset(p, 0, sizeof *p);
    if (!cJSON_IsObject(j) || !copy(p->id, sizeof p->id, str(j, "id")))
        goto out;
    if (wx_hydra_uuid(p->id, NULL, p->uuid, sizeof p->uuid) < 0)
        copy_cut(p->uuid, sizeof p->uuid, wx_is_uuid(p->id) ? p->id : "");
    const cJSON *emails = get(j, "emails");
    const cJSON *e0 = cJSON_IsArray(emails) ? cJSON_GetArrayItem(emails, 0) : NULL;
    copy_cut(p->email, sizeof p->email, cJSON_IsString(e0) ? e0->valuestring : NULL);
    copy_cut(p->display_name, sizeof p->display_name, str(j, "displayName"));
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

int wx_message_parse(const char *json, size_t len, struct wx_message *m)
{
    cJSON *doc = cJSON_ParseWithLength(json, len);
    const cJSON *it, *j = rest_object(doc);
    int rc = -1;
    memset(m, 0, sizeof *m);
    if (!cJSON_IsObject(j) || !copy(m->id, sizeof m->id, str(j, "id")) ||
        !copy(m->room_id, sizeof m->room_id, str(j, "roomId")))
        goto out;
    copy_cut(m->room_type, sizeof m->room_type, str(j, "roomType"));
    if (!copy(m->parent_id, sizeof m->parent_id, str(j, "parentId"))) m->parent_id[0] = 0;
    copy_cut(m->person_id, sizeof m->person_id, str(j, "personId"));
    copy_cut(m->person_email, sizeof m->person_email, str(j, "personEmail"));
    if (!(m->text = strdup(str(j, "text") ? str(j, "text") : "")))
        goto out;
    cJSON_ArrayForEach(it, get(j, "mentionedPeople"))
        if (m->n_mentioned < WX_MENTIONS_MAX && cJSON_IsString(it) &&
            copy(m->mentioned[m->n_mentioned], WX_ID_MAX, it->valuestring))
            m->n_mentioned++;
    cJSON_ArrayForEach(it, get(j, "files"))
        if (m->n_files < WX_FILES_MAX && cJSON_IsString(it) &&
            copy(m->files[m->n_files], WX_URL_MAX, it->valuestring))
            m->n_files++;
    rc = 0;
out:
    cJSON_Delete(doc);
    return rc;
}

void wx_message_clear(struct wx_message *m)
{
    free(m->text);
    m->text = NULL;
}

bool wx_message_mentions(const struct wx_message *m, const char *person_uuid)
{
    char u[WX_UUID_MAX];
    for (int i = 0; person_uuid && *person_uuid && i < m->n_mentioned; i++) {
        const char *id = m->mentioned[i];
        if (!strcasecmp(id, person_uuid)) return true;
        if (wx_hydra_uuid(id, NULL, u, sizeof u) == 0 && !strcasecmp(u, person_uuid)) return true;
    }
    return false;
}

char *wx_strip_mention(const char *text, const char *display_name)
{
    size_t n = strlen(text);
    char *out = malloc(n + 1);
    char first[128] = "";
    if (!out) return NULL;
    const char *cut = NULL;
    size_t cutlen = 0;
    if (display_name && *display_name) {
        if ((cut = strstr(text, display_name))) {
            cutlen = strlen(display_name);
        } else {            /* a mention shortened to the first name */
            size_t fl = strcspn(display_name, " ");
            if (fl && fl < sizeof first) {
                memcpy(first, display_name, fl);
                first[fl] = 0;
                if ((cut = strstr(text, first))) cutlen = fl;
            }
        }
    }
    size_t o = 0;
    bool space = true;          /* drops leading white space */
    for (size_t i = 0; i < n; i++) {
        if (cut && text + i == cut) {
            i += cutlen - 1;
            continue;
        }
        unsigned char c = (unsigned char)text[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (!space) out[o++] = ' ';
            space = true;
        } else {
            out[o++] = (char)c;
            space = false;
        }
    }
    while (o && out[o - 1] == ' ') o--;
    out[o] = 0;
    return out;
}

char *wx_reply_markdown(const char *reply_json, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(reply_json, len);
    const char *text = str(j, "text");
    const cJSON *buttons = get(j, "buttons"), *b;
    char *out = NULL;
    if (!text) goto done;
    size_t cap = strlen(text) + 64, o;
    cJSON_ArrayForEach(b, buttons)
        if (cJSON_IsString(b)) cap += strlen(b->valuestring) + 8;
    if (!(out = malloc(cap))) goto done;
    o = (size_t)snprintf(out, cap, "%s", text);
    int k = 0;
    cJSON_ArrayForEach(b, buttons) {
        if (!cJSON_IsString(b)) continue;
        o += (size_t)snprintf(out + o, cap - o, "%s**%s**", k++ ? " · " : "\n\n> ", b->valuestring);
    }
    out[utf8_cut(out, WX_MSG_MAX)] = 0;
done:
    cJSON_Delete(j);
    return out;
}

/* The POST /messages object: roomId, parentId, markdown cut to fit. */
static cJSON *reply_obj(const char *room_id, const char *parent_id, const char *markdown)
{
    size_t n = utf8_cut(markdown, WX_MSG_MAX);
    char *md = malloc(n + 1);
    cJSON *o = cJSON_CreateObject();
    if (!md || !o) goto fail;
    memcpy(md, markdown, n);
    md[n] = 0;
    if (!cJSON_AddStringToObject(o, "roomId", room_id) ||
        (parent_id && *parent_id && !cJSON_AddStringToObject(o, "parentId", parent_id)) ||
        !cJSON_AddStringToObject(o, "markdown", md))
        goto fail;
    free(md);
    return o;
fail:
    free(md);
    cJSON_Delete(o);
    return NULL;
}

char *wx_reply_body(const char *room_id, const char *parent_id, const char *markdown)
{
    return json_out(reply_obj(room_id, parent_id, markdown));
}

/* {"type":"Input.Text","id":id,"label":label,"value":value,...}, added to body. */
static bool card_input(cJSON *body, const char *id, const char *label, const char *value,
                       bool multiline, const char *style)
{
    cJSON *i = cJSON_CreateObject();
    if (!i || !cJSON_AddItemToArray(body, i)) {
        cJSON_Delete(i);
        return false;
    }
    return cJSON_AddStringToObject(i, "type", "Input.Text") && cJSON_AddStringToObject(i, "id", id) &&
           cJSON_AddStringToObject(i, "label", label) &&
           cJSON_AddStringToObject(i, "value", value ? value : "") &&
           cJSON_AddBoolToObject(i, "isMultiline", multiline) &&
           cJSON_AddBoolToObject(i, "isRequired", true) &&
           (!style || cJSON_AddStringToObject(i, "style", style));
}

/* {"type":"Action.Submit","title":title,"data":{key:value}}, added to actions. */
static bool card_submit(cJSON *actions, const char *title, const char *key, const char *value)
{
    cJSON *a = cJSON_CreateObject(), *data = cJSON_CreateObject();
    if (!a || !data || !cJSON_AddItemToArray(actions, a)) {
        cJSON_Delete(a);
        cJSON_Delete(data);
        return false;
    }
    if (!cJSON_AddItemToObject(a, "data", data)) {
        cJSON_Delete(data);
        return false;
    }
    return cJSON_AddStringToObject(a, "type", "Action.Submit") &&
           cJSON_AddStringToObject(a, "title", title) && cJSON_AddStringToObject(data, key, value);
}

/* The case form card (schema 1.3): the summary, then the inputs, then submit. */
static cJSON *case_card(const char *summary, const struct wx_case_form *f,
                        const struct wx_card_labels *l)
{
    cJSON *c = cJSON_CreateObject(), *body = cJSON_CreateArray(), *actions = cJSON_CreateArray();
    cJSON *t = cJSON_CreateObject();
    if (!c || !body || !actions || !t || !cJSON_AddItemToObject(c, "body", body)) goto fail;
    body = NULL;
    if (!cJSON_AddItemToObject(c, "actions", actions)) goto fail;
    actions = NULL;
    cJSON *b = cJSON_GetObjectItem(c, "body"), *a = cJSON_GetObjectItem(c, "actions");
    if (!cJSON_AddItemToArray(b, t)) goto fail;
    cJSON *tt = t;
    t = NULL;
    if (!cJSON_AddStringToObject(c, "type", "AdaptiveCard") ||
        !cJSON_AddStringToObject(c, "$schema", "http://adaptivecards.io/schemas/adaptive-card.json") ||
        !cJSON_AddStringToObject(c, "version", "1.3") ||
        !cJSON_AddStringToObject(tt, "type", "TextBlock") ||
        !cJSON_AddStringToObject(tt, "text", summary) || !cJSON_AddBoolToObject(tt, "wrap", true) ||
        !card_input(b, "order_ref", l->order_ref, f->order_ref, false, NULL) ||
        !card_input(b, "new_email", l->new_email, f->new_email, false, "Email") ||
        !card_input(b, "description", l->description, f->description, true, NULL) ||
        !card_submit(a, l->submit, "pb_action", "confirm") ||
        !card_submit(a, l->cancel, "pb_action", "cancel"))
        goto fail;
    return c;
fail:
    cJSON_Delete(c);
    cJSON_Delete(body);
    cJSON_Delete(actions);
    cJSON_Delete(t);
    return NULL;
}

/* The POST /messages body: the reply object with card as its one
 * attachment. Takes card (freed on failure). */
static char *card_body(const char *room_id, const char *parent_id, const char *markdown, cJSON *card)
{
    cJSON *o = reply_obj(room_id, parent_id, markdown);
    cJSON *att = cJSON_CreateArray(), *one = cJSON_CreateObject();
    if (!o || !att || !one || !card || !cJSON_AddItemToObject(o, "attachments", att)) goto fail;
    att = NULL;
    if (!cJSON_AddItemToArray(cJSON_GetObjectItem(o, "attachments"), one)) goto fail;
    cJSON *first = one;
    one = NULL;
    if (!cJSON_AddStringToObject(first, "contentType", WX_CARD_TYPE) ||
        !cJSON_AddItemToObject(first, "content", card))
        goto fail;
    return json_out(o);
fail:
    cJSON_Delete(o);
    cJSON_Delete(att);
    cJSON_Delete(one);
    cJSON_Delete(card);
    return NULL;
}

char *wx_case_card_body(const char *room_id, const char *parent_id, const char *markdown,
                        const char *summary, const struct wx_case_form *f,
                        const struct wx_card_labels *l)
{
    return card_body(room_id, parent_id, markdown, case_card(summary, f, l));
}

/* The question card (schema 1.3): the text, then one submit per button. */
static cJSON *buttons_card(const char *text, const char *const *labels, int n)
{
    cJSON *c = cJSON_CreateObject(), *t = cJSON_CreateObject();
    cJSON *body = cJSON_AddArrayToObject(c, "body"), *actions = cJSON_AddArrayToObject(c, "actions");
    if (!c || !t || !body || !actions || !cJSON_AddItemToArray(body, t)) {
        cJSON_Delete(t);
        goto fail;
    }
    if (!cJSON_AddStringToObject(c, "type", "AdaptiveCard") ||
        !cJSON_AddStringToObject(c, "$schema", "http://adaptivecards.io/schemas/adaptive-card.json") ||
        !cJSON_AddStringToObject(c, "version", "1.3") ||
        !cJSON_AddStringToObject(t, "type", "TextBlock") ||
        !cJSON_AddStringToObject(t, "text", text) || !cJSON_AddBoolToObject(t, "wrap", true))
        goto fail;
    for (int i = 0; i < n; i++)
        if (!card_submit(actions, labels[i], "pb_answer", labels[i])) goto fail;
    return c;
fail:
    cJSON_Delete(c);
    return NULL;
}

char *wx_buttons_card_body(const char *room_id, const char *parent_id, const char *markdown,
                           const char *text, const char *const *labels, int n)
{
    if (n < 1 || n > WX_BUTTONS_MAX) return NULL;
    for (int i = 0; i < n; i++)
        if (!labels[i] || !*labels[i] || strlen(labels[i]) >= WX_ANSWER_MAX) return NULL;
    return card_body(room_id, parent_id, markdown, buttons_card(text, labels, n));
}

int wx_card_action_parse(const char *json, size_t len, struct wx_card_action *a)
{
    cJSON *doc = cJSON_ParseWithLength(json, len);
    const cJSON *j = rest_object(doc), *in = get(j, "inputs");
    memset(a, 0, sizeof *a);
    int rc = cJSON_IsObject(in) && copy(a->room_id, sizeof a->room_id, str(j, "roomId")) ? 0 : -1;
    if (rc == 0) {
        copy_cut(a->action, sizeof a->action, str(in, "pb_action"));
        copy_cut(a->answer, sizeof a->answer, str(in, "pb_answer"));
        copy_cut(a->form.order_ref, sizeof a->form.order_ref, str(in, "order_ref"));
        copy_cut(a->form.new_email, sizeof a->form.new_email, str(in, "new_email"));
        copy_cut(a->form.description, sizeof a->form.description, str(in, "description"));
        copy_cut(a->message_id, sizeof a->message_id, str(j, "messageId"));
    }
    cJSON_Delete(doc);
    return rc;
}

/* ---------------------------------------------------------------- policies */

long wx_retry_after_ms(const char *value)
{
    char *end = NULL;
    if (!value) return 15000;
    while (*value == ' ') value++;
    long s = strtol(value, &end, 10);
    if (end == value || s < 0) return 15000;
    while (*end == ' ' || *end == '\r' || *end == '\n') end++;
    if (*end) return 15000;
    if (s < 1) s = 1;
    if (s > 3600) s = 3600;
    return s * 1000;
}

/* One no_proxy entry [tok, tok + n) against host (of length hn). */
static bool no_proxy_entry(const char *tok, size_t n, const char *host, size_t hn)
{
    if (n == 1 && *tok == '*') return true;
    if (n && *tok == '.') { tok++; n--; }
    const char *colon = memchr(tok, ':', n);
    if (colon && !memchr(colon + 1, ':', n - (size_t)(colon + 1 - tok))) n = (size_t)(colon - tok);
    if (!n || n > hn) return false;
    if (strncasecmp(tok, host + hn - n, n)) return false;
    bool ip = strspn(host, "0123456789.") >= hn || memchr(host, ':', hn);
    return n == hn || (!ip && host[hn - n - 1] == '.');     /* an address only as written */
}

bool wx_no_proxy(const char *list, const char *host)
{
    if (!list || !host || !*host) return false;
    size_t hn = strlen(host);
    while (hn && host[hn - 1] == '.') hn--;     /* "example.com." is example.com */
    for (const char *p = list; *p;) {
        p += strspn(p, ", \t");
        size_t n = strcspn(p, ", \t");
        if (n && no_proxy_entry(p, n, host, hn)) return true;
        p += n;
    }
    return false;
}

enum wx_close_action wx_close_policy(int code, const char *reason)
{
    switch (code) {
    case 4000:
        return reason && !strcasecmp(reason, "replaced") ? WX_CLOSE_REPLACED : WX_CLOSE_RECONNECT;
    case 4400:
    case 4401:
    case 4403: return WX_CLOSE_AUTH;
    case 4404: return WX_CLOSE_REREGISTER;
    default: return WX_CLOSE_RECONNECT;
    }
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

void wx_session_id(const char *room, const char *person, bool direct, char out[40])
{
    uint64_t a = fnv1a(0xcbf29ce484222325ULL, room);
    uint64_t b = fnv1a(0x84222325cbf29ce4ULL, room);
    if (!direct) {
        a = fnv1a(fnv1a(a, "\x01"), person);
        b = fnv1a(fnv1a(b, "\x01"), person);
    }
    snprintf(out, 40, "wx-%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}
