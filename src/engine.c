/* engine.c -- the engine facade (see engine.h): understanding, dialog and
 * store wired together for one turn.
 *
 * A turn runs in one store transaction: the conversation's state, both sides
 * of the turn for the transcript and any case it files are committed together, so a crash
 * loses at most the turn in progress, never half of one.
 */
#include "engine.h"
#include "buf.h"
#include "casefmt.h"
#include "convcache.h"
#include "dialog.h"
#include "entity.h"
#include "nlu.h"
#include "pack.h"
#include "store.h"
#include "text.h"
#include "tree.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define TEXT_MAX 16384               /* bytes of a message kept */
#define ATTACH_MAX_BYTES (5u << 20)
#define ATTACH_MAX_COUNT ENGINE_ATTACH_MAX_COUNT

struct engine {
    pack *pack;
    nlu *nlu;
    store *store;
    convcache *cache;        /* the dialog objects of the last turns, owned */
    cJSON *expects;          /* the question types' input hints (engine_expects), owned */
    char channel[16];        /* recorded with the conversations of the next turns */
    char channel0[16];       /* cfg->channel: what engine_set_channel(NULL) restores */
    bool queue_cases;        /* a remote backend delivers: cases start queued */
    bool batch;              /* a group commit is open (engine_batch_begin) */
    unsigned epoch;          /* the cache's rows are current for this epoch (see conv_open) */
    int64_t version;         /* the store's data version as of the last commit, or -1 */
    char *allow_domains;     /* cfg->allow_domains, owned, or NULL: anyone files cases */
};

struct turn_ctx {            /* what the dialog's hooks need */
    engine *e;
    const char *session;
    const char *user;        /* the person's email, borrowed, or NULL */
};

/* True when no allow-list is set or user's email domain is on it. */
static bool user_may_file(const engine *e, const char *user)
{
    if (!e->allow_domains)
        return true;
    const char *at = user ? strrchr(user, '@') : NULL;
    if (!at || !at[1])
        return false;
    size_t dl = strlen(at + 1);
    for (const char *p = e->allow_domains; *p;) {
        size_t n = strcspn(p, ",");
        const char *q = p;
        size_t m = n;
        while (m && *q == ' ') { q++; m--; }
        while (m && q[m - 1] == ' ') m--;
        if (m == dl && !strncasecmp(q, at + 1, dl))
            return true;
        p += n;
        if (*p == ',') p++;
    }
    return false;
}

/* See engine_expects. */
static cJSON *expects_json(const pack *p)
{
    cJSON *o = cJSON_CreateObject();
    const char *name;
    for (size_t i = 0; o && (name = tree_expect_at(i)); i++) {
        char key[48];
        snprintf(key, sizeof key, "placeholder_%s", name);
        const cJSON *m = pack_message(p, key);
        cJSON *dup = m ? cJSON_Duplicate(m, 1) : NULL;
        if (m && (!dup || !cJSON_AddItemToObject(o, name, dup))) {
            cJSON_Delete(dup);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

engine *engine_open(const struct engine_config *cfg, char *err, size_t errlen)
{
    engine *e = calloc(1, sizeof *e);

    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(e->channel, sizeof e->channel, "%s", cfg->channel ? cfg->channel : "chat");
    snprintf(e->channel0, sizeof e->channel0, "%s", e->channel);
    e->queue_cases = cfg->queue_cases;
    e->version = -1;         /* no commit yet: the first turn starts an epoch */
    if (cfg->allow_domains && *cfg->allow_domains && !(e->allow_domains = strdup(cfg->allow_domains))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!(e->pack = pack_load(cfg->intents_dir ? cfg->intents_dir : "./intents", err, errlen)))
        goto fail;
    /* the store first: it makes the data folder, where the trained model is
     * cached (or in cfg->model_cache_dir) */
    if (!(e->store = store_open(cfg->data_dir, err, errlen)))
        goto fail;
    const char *cache = cfg->model_cache_dir;
    if (!(e->nlu = nlu_open(e->pack, cache && *cache ? cache : cfg->data_dir, err, errlen)))
        goto fail;
    if (!(e->expects = expects_json(e->pack))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!(e->cache = convcache_new(CONVCACHE_MAX))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (cfg->no_checkpoint)
        store_autocheckpoint(e->store, false);
    return e;
fail:
    engine_close(e);
    return NULL;
}

void engine_close(engine *e)
{
    char err[256];
    if (!e)
        return;
    if (e->batch)
        (void)engine_batch_commit(e, err, sizeof err);   /* see engine.h */
    store_close(e->store);
    convcache_free(e->cache);
    cJSON_Delete(e->expects);
    nlu_free(e->nlu);
    pack_free(e->pack);
    free(e->allow_domains);
    free(e);
}

void engine_new_session(char buf[33])
{
    unsigned char r[16];
    int fd = open("/dev/urandom", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, r, sizeof r) : -1;
    if (fd >= 0)
        close(fd);
    if (n != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof r; i++)
            r[i] = (unsigned char)((ts.tv_nsec >> (i % 4 * 8)) ^ (ts.tv_sec >> i) ^ (long)i * 131);
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(buf + 2 * i, 3, "%02x", r[i]);
}

void engine_result_free(struct engine_result *r)
{
    free(r->json);
    r->json = NULL;
}

static const char *slot_or(const cJSON *slots, const char *k, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(slots, k);
    return cJSON_IsString(v) && *v->valuestring && strcmp(v->valuestring, "-") ? v->valuestring : dflt;
}

/* The type's guards over the facts: DIALOG_EREFUSED when a "refuse_when"
 * fact has its value, DIALOG_EINCOMPLETE when a "required" one is missing. */
static int type_guard(const struct pack_case_type *ct, const cJSON *facts)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, ct->refuse_when)
        if (!strcmp(slot_or(facts, v->string, ""), v->valuestring))
            return DIALOG_EREFUSED; /* e.g. after PONR a case cannot help */
    cJSON_ArrayForEach(v, ct->required)
        if (!slot_or(facts, v->valuestring, NULL))
            return DIALOG_EINCOMPLETE; /* never a case with missing details */
    return 0;
}

static int hook_file_case(void *ctx, const struct pack_case_type *ct, const cJSON *facts,
                          const char *lang, char id[24], cJSON **case_json)
{
    struct turn_ctx *t = ctx;
    store *s = t->e->store;
    struct case_rec c;
    int rc;

    *case_json = NULL;
    if ((rc = type_guard(ct, facts)) < 0)
        return rc;
    if (!user_may_file(t->e, t->user))
        return DIALOG_ENOTALLOWED;
    memset(&c, 0, sizeof c);
    snprintf(c.session, sizeof c.session, "%s", t->session);
    snprintf(c.type, sizeof c.type, "%s", ct->name);
    snprintf(c.order_ref, sizeof c.order_ref, "%s", slot_or(facts, "order_ref", ""));
    snprintf(c.new_email, sizeof c.new_email, "%s", slot_or(facts, "new_email", ""));
    snprintf(c.requester, sizeof c.requester, "%s", slot_or(facts, "requester", ""));
    snprintf(c.lang, sizeof c.lang, "%s", lang);
    rc = store_case_find_same(s, t->session, c.order_ref, c.new_email, id);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        struct case_rec old;
        if (store_case_get(s, id, &old) != 1)
            return -1;
        *case_json = case_to_json(&old);
        case_rec_clear(&old);
        return 0;
    }
    c.status = t->e->queue_cases ? CASE_QUEUED : CASE_FILED;
    c.summary = casefmt_summary(ct->doc, facts);
    c.transcript = store_transcript(s, t->session);
    if (!c.summary || store_case_insert(s, &c) < 0 ||
        store_attach_bind(s, t->session, c.id) < 0) {
        case_rec_clear(&c);
        return -1;
    }
    memcpy(id, c.id, CASE_ID_MAX);
    *case_json = case_to_json(&c);
    case_rec_clear(&c);
    return 0;
}

/* The person-facing name of a case status, in lang: pack.json's message
 * "case_status_<status>", or the status itself. */
static const char *status_name(const engine *e, const char *st, const char *lang)
{
    char key[48];
    snprintf(key, sizeof key, "case_status_%.30s", st);
    const cJSON *m = pack_message(e->pack, key);
    return m ? pack_text(m, lang) : st;
}

static int hook_find_case(void *ctx, const char *order_ref, const char *lang,
                          char id[24], char *status, size_t statuslen)
{
    struct turn_ctx *t = ctx;
    cJSON *arr = store_cases_json(t->e->store, t->session), *c;
    int found = 0;
    if (!arr)
        return -1;
    cJSON_ArrayForEach(c, arr) {
        const char *ref = cJSON_GetStringValue(cJSON_GetObjectItem(c, "order_ref"));
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(c, "status"));
        if (ref && st && order_ref && !strcasecmp(ref, order_ref) && strcmp(st, "failed")) {
            snprintf(id, 24, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(c, "id")));
            snprintf(status, statuslen, "%s", status_name(t->e, st, lang));
            found = 1;
        }
    }
    cJSON_Delete(arr);
    return found;
}

static char *hook_list_cases(void *ctx, const char *lang)
{
    struct turn_ctx *t = ctx;
    cJSON *arr = store_cases_json(t->e->store, t->session), *c;
    struct buf list;
    char *out = NULL;

    buf_init(&list, 1u << 20);
    if (!arr || cJSON_GetArraySize(arr) == 0)
        goto done;
    cJSON_ArrayForEach(c, arr) {
        const char *st = cJSON_GetObjectItem(c, "status")->valuestring;
        char *ref = dialog_md_escape(cJSON_GetObjectItem(c, "order_ref")->valuestring);
        char *em = dialog_md_escape(cJSON_GetObjectItem(c, "new_email")->valuestring);
        /* the remote ticket's status, as the outbox last read it (cached) */
        const cJSON *rid = cJSON_GetObjectItem(c, "remote_id");
        const cJSON *rst = cJSON_GetObjectItem(c, "remote_status");
        char remote[200] = "";
        if (cJSON_IsString(rid) && cJSON_IsString(rst)) {
            char *rs = dialog_md_escape(rst->valuestring);
            snprintf(remote, sizeof remote, " · #%.40s: %.40s", rid->valuestring, rs ? rs : "");
            free(rs);
        }
        char line[1100];
        int n = snprintf(line, sizeof line, "- **%s**: %s (%s, %s)%s\n",
                         cJSON_GetObjectItem(c, "id")->valuestring,
                         status_name(t->e, st, lang), ref ? ref : "", em ? em : "", remote);
        free(ref);
        free(em);
        if (n > 0)
            buf_add(&list, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
    if (list.len && list.p[list.len - 1] == '\n')
        list.p[--list.len] = '\0';
    out = buf_take(&list);
done:
    cJSON_Delete(arr);
    return out;
}

/* Notices of cases that failed since the person's last turn (none to look
 * for when the turn's load said so: !maybe). */
static char *failed_notices(engine *e, const char *session, bool maybe, const char *lang)
{
    char ids[4][CASE_ID_MAX];
    int n = maybe ? store_cases_take_failed(e->store, session, ids, 4) : 0;
    if (n <= 0)
        return NULL;
    const char *tpl = pack_text(pack_message(e->pack, "case_failed"), lang);
    struct buf b;
    buf_init(&b, 64 * 1024);
    for (int i = 0; i < n; i++) {
        if (i)
            buf_printf(&b, "\n\n");
        /* every {case_id} of the notice is the case's reference */
        for (const char *t = tpl, *p; *t; t = p + 9) {
            if (!(p = strstr(t, "{case_id}"))) {
                buf_printf(&b, "%s", t);
                break;
            }
            buf_printf(&b, "%.*s%s", (int)(p - t), t, ids[i]);
        }
    }
    return buf_take(&b);
}

/* Appends the JSON of v as cJSON prints it (the rare parts of a reply). */
static void add_printed(struct buf *b, const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    if (!s || buf_adds(b, s) < 0)
        b->failed = true;
    free(s);
}

/* The reply object (the contract's), written straight into a buffer: it
 * runs every turn (no cJSON tree, no printf of the confidence). The same
 * bytes as cJSON_PrintUnformatted of the object, key for key. Caller frees;
 * NULL when out of memory. */
static char *reply_json(const engine *e, const struct dialog_reply *dr,
                        const char *lang, const char *reply_to)
{
    struct buf b;
    const cJSON *v;
    buf_init(&b, 1u << 26);
    buf_adds(&b, "{\"type\":\"reply\",\"reply_to\":");
    buf_json_str(&b, reply_to);
    buf_adds(&b, ",\"text\":");
    buf_json_str(&b, dr->text);
    buf_adds(&b, ",\"lang\":");
    buf_json_str(&b, lang);
    buf_adds(&b, ",\"intent\":");
    if (dr->intent >= 0) {
        buf_json_str(&b, pack_intent_at(e->pack, (size_t)dr->intent)->id);
        buf_adds(&b, ",\"confidence\":");
        buf_json_num(&b, (double)(int)(dr->confidence * 1000 + 0.5) / 1000);
    } else {
        buf_adds(&b, "null,\"confidence\":null");
    }
    buf_adds(&b, ",\"expect\":");
    buf_json_str(&b, dr->expect);
    buf_adds(&b, ",\"buttons\":[");
    cJSON_ArrayForEach(v, dr->buttons) {
        if (v != dr->buttons->child)
            buf_add(&b, ",", 1);
        if (cJSON_IsString(v))
            buf_json_str(&b, v->valuestring);
        else
            add_printed(&b, v);
    }
    buf_adds(&b, "],\"case\":");
    if (dr->case_obj)
        add_printed(&b, dr->case_obj);
    else
        buf_adds(&b, "null");
    buf_add(&b, "}", 1);
    return buf_take(&b);
}

/* The first place of needle (lower case ASCII) in s, ignoring case, or NULL. */
static const char *find_nocase(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++)
        if ((*s | 0x20) == (needle[0] | 0x20) && !strncasecmp(s, needle, n))
            return s;
    return NULL;
}

/* Two questions joined in one sentence ("what is PONR, and which sender
 * should IT allow?"): the clause after the join is classified on its own and
 * becomes the second request when it asks something else. */
static void second_clause(engine *e, const char *msg, const char *lang, struct nlu_result *nr)
{
    static const char *const joins[] = { ", and ", " and ", ", och ", " och ", NULL };
    if (nr->intent2 >= 0 || strlen(msg) > 600)
        return;
    for (int i = 0; joins[i]; i++) {
        const char *j = find_nocase(msg, joins[i]);
        if (!j || j - msg < 12 || strlen(j + strlen(joins[i])) < 12)
            continue;
        /* each side on its own: the one that asks something else is second */
        char head[640];
        snprintf(head, sizeof head, "%.*s", (int)(j - msg), msg);
        const char *side[2] = { head, j + strlen(joins[i]) };
        for (int k = 0; k < 2 && nr->intent2 < 0; k++) {
            struct nlu_result r2;
            nlu_classify(e->nlu, side[k], strlen(side[k]), lang, &r2);
            if (r2.intent != nr->intent && r2.confidence >= 0.6 &&
                r2.intent != pack_role(e->pack, PACK_ROLE_FALLBACK)) {
                nr->intent2 = r2.intent;
                nr->confidence2 = r2.confidence;
            }
        }
        return;
    }
}

/* s without its surrounding white space (cut in place). */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    for (size_t n = strlen(s); n && strchr(" \t\r\n", s[n - 1]); n--)
        s[n - 1] = '\0';
    return s;
}

/* The message's intent (with a second clause's question) and its details.
 * lang: the conversation's language so far, or NULL. */
static void understand(engine *e, const char *msg, const char *lang, struct nlu_result *nr,
                       struct ent_result *er)
{
    char fold[NLU_INPUT_MAX + 8];
    size_t mlen = strlen(msg);
    nlu_classify(e->nlu, msg, mlen, lang, nr);
    second_clause(e, msg, nr->lang, nr);
    size_t flen = text_normalize(msg, mlen > NLU_INPUT_MAX ? NLU_INPUT_MAX : mlen,
                                 TEXT_FOLD, fold, sizeof fold);
    ent_extract(e->pack, msg, mlen, fold, flen, er);
}

/* The turn's lines for the transcript. Caller frees; NULL: out of memory. */
static char *turn_lines(const char *msg, const char *reply)
{
    size_t n = strlen(msg) + strlen(reply) + 16;
    char *t = malloc(n);
    if (t)
        snprintf(t, n, "user: %s\nbot: %s\n", msg, reply);
    return t;
}

/* What the turn produced beside the JSON (intent iid may be NULL). */
static void result_fill(struct engine_result *out, const char *iid, const struct dialog_reply *dr,
                        const char *lang)
{
    snprintf(out->intent, sizeof out->intent, "%s", iid ? iid : "");
    out->confidence = dr->intent >= 0 ? dr->confidence : -1;
    out->fallback = dr->fallback;
    memcpy(out->lang, lang, 3);
    if (dr->case_obj)
        snprintf(out->case_id, sizeof out->case_id, "%s",
                 cJSON_GetObjectItem(dr->case_obj, "id")->valuestring);
}

/* The conversation's dialog and where it is stored, in the open
 * transaction. The cache's entry of this epoch is used as it is: nothing
 * but this engine's own turns wrote the store since the version recorded at
 * the last commit (another write moves the epoch on, so that no entry put
 * before it is trusted without reading the row). Else the row is read, and
 * the kept object used when the stored JSON is its own. 0, -1 (the store)
 * or -2 (out of memory). */
static int conv_open(engine *e, const char *session, struct store_conv *conv, dialog **d)
{
    int64_t v = store_data_version(e->store);
    if (v < 0 || v != e->version) {
        e->epoch++;
        e->version = v;
    }
    struct convcache_row row;
    if ((*d = convcache_take_row(e->cache, session, e->epoch, &row, &conv->state))) {
        conv->rowid = row.rowid;
        conv->last_turn = row.last_turn;
        conv->failed = row.failed;
        return 0;
    }
    if (store_turn_load(e->store, session, conv) < 0)
        return -1;
    if (!(*d = convcache_take(e->cache, session, conv->state)) &&
        !(*d = dialog_load(e->pack, conv->state, NULL)))
        return -2;
    return 0;
}

/* After a commit: the version this engine's own writes led to; after a
 * failed one none, so that the next turn starts a new epoch (the cache may
 * hold what was rolled back). */
static void note_commit(engine *e, bool ok)
{
    e->version = ok ? store_data_version(e->store) : -1;
}

/* Longer than ~60 lines on purpose: the turn's transaction (begin or
 * savepoint, load, save, commit or release, rollback on every failure) is
 * kept in one function so that its one exit path is visible at once. */
int engine_turn(engine *e, const char *session, const char *user,
                const char *text, const char *reply_to,
                struct engine_result *out, char *err, size_t errlen)
{
    size_t len = strlen(text);
    char *raw = text_sanitize(text, len > TEXT_MAX ? TEXT_MAX : len);
    char *saved = NULL, *notices = NULL, *turns = NULL;
    struct store_conv conv = { 0 };
    dialog *d = NULL;
    struct nlu_result nr;
    struct ent_result er;
    struct dialog_reply dr = { 0 };
    struct turn_ctx tc = { e, session, user };
    struct dialog_hooks hooks = { &tc, hook_file_case, hook_find_case, hook_list_cases };
    bool in_tx = false;

    memset(out, 0, sizeof *out);
    if (!raw) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char *msg = trim(raw);

    if ((e->batch ? store_savepoint(e->store) : store_begin(e->store)) < 0)
        goto sqlfail;
    in_tx = true;
    int rc = conv_open(e, session, &conv, &d);
    if (rc == -1)
        goto sqlfail;
    if (rc < 0)
        goto oom;
    if (user && *user) {
        char why[80];
        if (ent_email_valid(user, why, sizeof why))
            dialog_preset(d, "requester", user);
    }
    understand(e, msg, conv.state ? dialog_lang(d) : NULL, &nr, &er);
    notices = failed_notices(e, session, conv.failed, nr.lang_sure ? nr.lang : dialog_lang(d));
    if (dialog_turn(d, &nr, &er, msg, notices, &hooks, &dr) < 0)
        goto oom;
    if (!(out->json = reply_json(e, &dr, dialog_lang(d), reply_to)) || !(saved = dialog_save(d)))
        goto oom;
    const char *iid = dr.intent >= 0 ? pack_intent_at(e->pack, (size_t)dr.intent)->id : NULL;
    if (!(turns = turn_lines(msg, dr.text)))
        goto oom;
    if (store_turn_save(e->store, &conv, session, e->channel, user, dialog_lang(d), saved,
                        turns) < 0 ||
        (e->batch ? store_release(e->store) : store_commit(e->store)) < 0)
        goto sqlfail;
    in_tx = false;
    if (!e->batch)
        note_commit(e, true);
    result_fill(out, iid, &dr, dialog_lang(d));
    /* failed cases may be left only when some were told now (at most 4 a turn) */
    struct convcache_row row = { conv.rowid, conv.last_turn, conv.failed && notices, e->epoch };
    convcache_put(e->cache, session, d, saved, &row);   /* both taken */
    d = NULL;
    saved = NULL;
    goto done;
sqlfail:
    snprintf(err, errlen, "store: %s", store_errmsg(e->store));
    goto fail;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    if (in_tx && e->batch)
        store_rollback_savepoint(e->store);
    else if (in_tx)
        store_rollback(e->store);
    free(out->json);
    out->json = NULL;
done:
    dialog_reply_clear(&dr);
    dialog_free(d);
    free(conv.state);
    free(saved);
    free(notices);
    free(turns);
    free(raw);
    return out->json ? 0 : -1;
}

int engine_batch_begin(engine *e, char *err, size_t errlen)
{
    if (e->batch)
        return 0;
    int rc = store_begin(e->store);
    if (rc < 0) {
        snprintf(err, errlen, "store: %s", store_errmsg(e->store));
        return rc;
    }
    e->batch = true;
    return 0;
}

int engine_batch_commit(engine *e, char *err, size_t errlen)
{
    if (!e->batch)
        return 0;
    e->batch = false;
    if (store_commit(e->store) < 0) {
        snprintf(err, errlen, "store: %s", store_errmsg(e->store));
        store_rollback(e->store);
        note_commit(e, false);
        return -1;
    }
    note_commit(e, true);
    return 0;
}

bool engine_in_batch(const engine *e) { return e->batch; }

int engine_mark_handled(engine *e, const char *event_id)
{
    return store_mark_handled(e->store, event_id);
}

void engine_set_channel(engine *e, const char *channel)
{
    snprintf(e->channel, sizeof e->channel, "%s", channel ? channel : e->channel0);
}

struct store *engine_store(engine *e) { return e->store; }

int engine_form_pending(engine *e, const char *session)
{
    char *state = NULL;
    if (store_conv_load(e->store, session, &state) < 0)
        return -1;
    cJSON *doc = state ? cJSON_Parse(state) : NULL;
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "pending"));
    const struct tree_question *q = id && *id ? tree_question(pack_tree(e->pack), id) : NULL;
    int rc = q && q->form;
    cJSON_Delete(doc);
    free(state);
    return rc;
}

static const char *image_type(const unsigned char *d, size_t n)
{
    if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "image/png";
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF)
        return "image/jpeg";
    return NULL;
}

int engine_attach_check(engine *e, const char *session, const void *data, size_t len,
                        const char **mime, char *err, size_t errlen)
{
    char *state = NULL;
    dialog *d = NULL;
    const char *key = NULL;
    int rc = -1;

    *mime = image_type(data, len);
    if (store_conv_load(e->store, session, &state) < 0) {
        snprintf(err, errlen, "store: %s", store_errmsg(e->store));
        return -1;
    }
    d = dialog_load(e->pack, state, "en");
    if (!d) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (!dialog_in_form(d))
        key = "attach_no_form";
    else if (!*mime)
        key = "attach_bad_type";
    else if (len > ATTACH_MAX_BYTES)
        key = "attach_too_large";
    else if (store_attach_count(e->store, session, NULL) >= ATTACH_MAX_COUNT)
        key = "attach_too_many";
    if (key) {
        snprintf(err, errlen, "%s", pack_text(pack_message(e->pack, key), dialog_lang(d)));
        goto out;
    }
    rc = 0;
out:
    dialog_free(d);
    free(state);
    return rc;
}

int engine_attach(engine *e, const char *session, const char *name,
                  const void *data, size_t len, char *err, size_t errlen)
{
    const char *mime;
    if (engine_attach_check(e, session, data, len, &mime, err, errlen) < 0)
        return -1;
    if (store_attach_add(e->store, session, name && *name ? name : "screenshot", mime, data, len) < 0) {
        snprintf(err, errlen, "store: %s", store_errmsg(e->store));
        return -1;
    }
    return 0;
}

const cJSON *engine_expects(const engine *e) { return e->expects; }

const char *engine_text(const engine *e, const char *key, const char *lang)
{
    const cJSON *m = pack_message(e->pack, key);
    const char *t = m ? pack_text(m, lang && *lang ? lang : "en") : NULL;
    return t ? t : "";
}
