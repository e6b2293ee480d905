/* main.c -- the provbot command line: classify, eval, chat, serve, cases,
 * outbox. Parses options, reports errors once at the edge (exit 2 for usage
 * or configuration, 1 for other failures), and hands over to the engine or
 * the serve loop.
 */
#include "backend.h"
#include "buf.h"
#include "engine.h"
#include "log.h"
#include "nlu.h"
#include "outbox.h"
#include "pack.h"
#include "serve.h"
#include "webex.h"
#include "store.h"
#include "text.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_BYTES (1u << 20)

struct opts {
    const char *data;
    const char *intents;
    const char *config;
    const char *session;
    const char *user;
    const char *listen;
    const char *origins[16];
    int norigins;
    bool jsonl, json;
    bool webex_unregister;   /* serve: --webex-unregister */
    double min_accuracy;
    int rate_limit, max_conns, idle_secs; /* serve: 0 default, < 0 off */
    const char *args[4];     /* positional arguments after the subcommand */
    int nargs;
};

static const char usage[] =
    "usage: provbot [global options] SUBCOMMAND [options]\n"
    "\n"
    "subcommands:\n"
    "  classify            one utterance per stdin line -> one JSON object per line\n"
    "  eval FILE           accuracy on lines intent<TAB>utterance [--min-accuracy X]\n"
    "  chat                talk in the terminal [--jsonl] [--session ID] [--user EMAIL]\n"
    "  serve               web chat on --listen HOST:PORT (default 127.0.0.1:8080)\n"
    "                      [--allow-origin ORIGIN]... [--rate-limit N/s, default 10]\n"
    "                      [--max-conns N, default 10000] [--idle-timeout S, default 600]\n"
    "                      (0: no limit), and the case outbox; with WEBEX_TOKEN\n"
    "                      also Webex [--webex-unregister: delete the device at exit]\n"
    "  cases list|show ID  the cases in the store [--json]\n"
    "  outbox              deliver queued cases until none is left, then exit\n"
    "\n"
    "global options (before or after the subcommand):\n"
    "  --data DIR          state folder (default $PROVBOT_DATA, else ./var)\n"
    "  --intents DIR       knowledge pack (default ./intents)\n"
    "  --config FILE       KEY=VALUE lines (PROVBOT_*, WEBEX_*) used where the\n"
    "                      environment does not set them\n"
    "  --help              this text\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "provbot: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see provbot --help)\n");
    return 2;
}

/* Applies KEY=VALUE lines of a config file to the environment (without
 * overriding it). Returns 0, or 2 with a message. */
static int load_config(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;
    if (!f) {
        fprintf(stderr, "provbot: --config %s: %s\n", path, strerror(errno));
        return 2;
    }
    struct stat st;
    bool shared = fstat(fileno(f), &st) == 0 && (st.st_mode & 077);
    while (fgets(line, sizeof line, f)) {
        n++;
        char *s = line, *eq;
        while (*s == ' ' || *s == '\t')
            s++;
        s[strcspn(s, "\r\n")] = '\0';
        if (!*s || *s == '#')
            continue;
        if (!(eq = strchr(s, '='))) {
            fprintf(stderr, "provbot: %s:%d: expected KEY=VALUE\n", path, n);
            fclose(f);
            return 2;
        }
        *eq = '\0';
        if (shared && (strstr(s, "TOKEN") || strstr(s, "SECRET") || strstr(s, "PASSWORD"))) {
            fprintf(stderr, "provbot: %s:%d: %s is a secret: the file must be readable by its "
                    "owner only (chmod 0600 %s)\n", path, n, s, path);
            fclose(f);
            return 2;
        }
        setenv(s, eq + 1, 0);
    }
    fclose(f);
    return 0;
}

static int parse(int argc, char **argv, int first, struct opts *o)
{
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
#define NEED(field) do { if (i + 1 >= argc) return usage_error("%s needs a value", a); \
                         field = argv[++i]; } while (0)
        if (!strcmp(a, "--data")) NEED(o->data);
        else if (!strcmp(a, "--intents")) NEED(o->intents);
        else if (!strcmp(a, "--config")) NEED(o->config);
        else if (!strcmp(a, "--session")) NEED(o->session);
        else if (!strcmp(a, "--user")) NEED(o->user);
        else if (!strcmp(a, "--listen")) NEED(o->listen);
        else if (!strcmp(a, "--allow-origin")) {
            if (o->norigins == 16)
                return usage_error("%s: at most 16", a);
            NEED(o->origins[o->norigins++]);
        } else if (!strcmp(a, "--min-accuracy")) {
            const char *v;
            char *end;
            NEED(v);
            o->min_accuracy = strtod(v, &end);
            if (*end || o->min_accuracy < 0 || o->min_accuracy > 1)
                return usage_error("--min-accuracy %s: a number from 0 to 1", v);
        } else if (!strcmp(a, "--rate-limit") || !strcmp(a, "--max-conns") ||
                   !strcmp(a, "--idle-timeout")) {
            const char *v;
            char *end;
            NEED(v);
            long k = strtol(v, &end, 10);
            if (*end || !*v || k < 0 || k > 1000000)
                return usage_error("%s: a whole number from 0 (0: no limit)", a);
            int val = k == 0 ? -1 : (int)k;
            if (!strcmp(a, "--rate-limit")) o->rate_limit = val;
            else if (!strcmp(a, "--max-conns")) o->max_conns = k == 0 ? 0 : (int)k;
            else o->idle_secs = val;
        } else if (!strcmp(a, "--jsonl")) o->jsonl = true;
        else if (!strcmp(a, "--json")) o->json = true;
        else if (!strcmp(a, "--webex-unregister")) o->webex_unregister = true;
        else if (a[0] == '-' && a[1]) return usage_error("unknown option %s", a);
        else if (o->nargs < 4) o->args[o->nargs++] = a;
        else return usage_error("too many arguments at %s", a);
#undef NEED
    }
    if (o->config && load_config(o->config))
        return 2;
    if (!o->data)
        o->data = getenv("PROVBOT_DATA") && *getenv("PROVBOT_DATA") ? getenv("PROVBOT_DATA") : "./var";
    if (!o->intents)
        o->intents = "./intents";
    return 0;
}

/* Reads one line of any bytes (NULs included) into *buf; returns its length
 * without the newline, or -1 at the end. Lines past LINE_MAX_BYTES are cut. */
static long read_line(FILE *f, char **buf, size_t *cap)
{
    size_t n = 0;
    int c;
    if (!*buf) {
        *cap = 4096;
        if (!(*buf = malloc(*cap)))
            return -1;
    }
    while ((c = getc(f)) != EOF && c != '\n') {
        if (n + 1 >= *cap && *cap < LINE_MAX_BYTES + 2) {
            size_t nc = *cap * 2;
            char *p = realloc(*buf, nc);
            if (!p)
                return -1;
            *buf = p;
            *cap = nc;
        }
        if (n + 1 < *cap)
            (*buf)[n++] = (char)c;
    }
    if (c == EOF && n == 0)
        return -1;
    if (n && (*buf)[n - 1] == '\r')
        n--;
    (*buf)[n] = '\0';
    return (long)n;
}

static pack *open_pack(const struct opts *o, nlu **m)
{
    char err[512];
    pack *p = pack_load(o->intents, err, sizeof err);
    if (!p) {
        fprintf(stderr, "provbot: %s\n", err);
        return NULL;
    }
    if (!(*m = nlu_train(p, err, sizeof err))) {
        fprintf(stderr, "provbot: %s\n", err);
        pack_free(p);
        return NULL;
    }
    return p;
}

static double round3(double x) { return (double)(long)(x * 1000 + 0.5) / 1000; }

static int cmd_classify(const struct opts *o)
{
    nlu *m = NULL;
    pack *p = open_pack(o, &m);
    char *line = NULL;
    size_t cap = 0;
    long n;
    if (!p)
        return 2;
    while ((n = read_line(stdin, &line, &cap)) >= 0) {
        struct nlu_result r;
        char *clean = text_sanitize(line, (size_t)n);
        cJSON *obj = cJSON_CreateObject(), *alts;
        char *s;
        if (!clean || !obj)
            goto oom;
        nlu_classify(m, clean, strlen(clean), NULL, &r);
        cJSON_AddStringToObject(obj, "text", clean);
        cJSON_AddStringToObject(obj, "intent", pack_intent_at(p, (size_t)r.intent)->id);
        cJSON_AddNumberToObject(obj, "confidence", round3(r.confidence));
        cJSON_AddStringToObject(obj, "lang", r.lang);
        alts = cJSON_AddArrayToObject(obj, "alternatives");
        for (int i = 0; i < r.nalt; i++) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddStringToObject(a, "intent", pack_intent_at(p, (size_t)r.alt[i].intent)->id);
            cJSON_AddNumberToObject(a, "confidence", round3(r.alt[i].confidence));
            cJSON_AddItemToArray(alts, a);
        }
        if (r.intent2 >= 0) { /* beyond the contract: a second request */
            cJSON *a = cJSON_AddObjectToObject(obj, "second");
            cJSON_AddStringToObject(a, "intent", pack_intent_at(p, (size_t)r.intent2)->id);
            cJSON_AddNumberToObject(a, "confidence", round3(r.confidence2));
        }
        if (r.foreign) /* beyond the contract: the foreign object it is about */
            cJSON_AddStringToObject(obj, "foreign", pack_text(r.foreign, "en"));
        if (!(s = cJSON_PrintUnformatted(obj)))
            goto oom;
        puts(s);
        free(s);
        free(clean);
        cJSON_Delete(obj);
        continue;
oom:
        fprintf(stderr, "provbot: out of memory\n");
        free(clean);
        cJSON_Delete(obj);
        free(line);
        nlu_free(m);
        pack_free(p);
        return 1;
    }
    free(line);
    nlu_free(m);
    pack_free(p);
    return 0;
}

/* What eval counts over a file of intent<TAB>utterance lines. */
struct tally {
    size_t C;                   /* intents */
    int *conf;                  /* owned, conf[truth * C + guess] */
    int oos;                    /* out_of_scope's index */
    int total, right;           /* utterances, correctly classified */
    int in_scope, conf_wrong;   /* not out_of_scope; of those, given another in-scope intent */
    int lang_total[2], lang_right[2]; /* by detected language (en, sv) */
};

/* Classifies every line of f (named path) into t. 0, or 2 with a message. */
static int eval_read(FILE *f, const char *path, const pack *p, nlu *m, struct tally *t)
{
    char *line = NULL;
    size_t cap = 0;
    long n;
    int lineno = 0, rc = 0;
    while (rc == 0 && (n = read_line(f, &line, &cap)) >= 0) {
        lineno++;
        if (n == 0 || line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        int truth = tab ? (*tab = '\0', pack_intent_find(p, line)) : -1;
        if (!tab)
            fprintf(stderr, "provbot: %s:%d: expected intent<TAB>utterance\n", path, lineno);
        else if (truth < 0)
            fprintf(stderr, "provbot: %s:%d: unknown intent \"%s\"\n", path, lineno, line);
        if (truth < 0) {
            rc = 2;
            break;
        }
        struct nlu_result r;
        nlu_classify(m, tab + 1, strlen(tab + 1), NULL, &r);
        t->conf[(size_t)truth * t->C + (size_t)r.intent]++;
        t->total++;
        t->right += r.intent == truth;
        int li = strcmp(r.lang, "sv") == 0;
        t->lang_total[li]++;
        t->lang_right[li] += r.intent == truth;
        if (truth != t->oos) {
            t->in_scope++;
            t->conf_wrong += r.intent != truth && r.intent != t->oos;
        }
    }
    free(line);
    if (rc == 0 && t->total == 0) {
        fprintf(stderr, "provbot: eval %s: no utterances\n", path);
        rc = 2;
    }
    return rc;
}

/* Accuracy, per language, and per intent precision / recall / F1. */
static void eval_report(const struct tally *t, const pack *p)
{
    const size_t C = t->C;
    printf("utterances: %d\naccuracy: %.4f\n", t->total, (double)t->right / t->total);
    for (int l = 0; l < 2; l++)
        if (t->lang_total[l])
            printf("accuracy_%s: %.4f (%d)\n", pack_langs[l], (double)t->lang_right[l] / t->lang_total[l],
                   t->lang_total[l]);
    printf("in_scope_confidently_wrong: %.4f (%d of %d)\n",
           t->in_scope ? (double)t->conf_wrong / t->in_scope : 0.0, t->conf_wrong, t->in_scope);
    printf("\n%-24s %9s %9s %9s %7s\n", "intent", "precision", "recall", "f1", "support");
    for (size_t c = 0; c < C; c++) {
        int tp = t->conf[c * C + c], fp = 0, fn = 0;
        for (size_t k = 0; k < C; k++)
            if (k != c) {
                fp += t->conf[k * C + c];
                fn += t->conf[c * C + k];
            }
        double pr = tp + fp ? (double)tp / (tp + fp) : 0, re = tp + fn ? (double)tp / (tp + fn) : 0;
        if (tp + fn == 0 && fp == 0)
            continue;
        printf("%-24s %9.3f %9.3f %9.3f %7d\n", pack_intent_at(p, c)->id, pr, re,
               pr + re ? 2 * pr * re / (pr + re) : 0, tp + fn);
    }
}

/* The ten most frequent confusions (marks them in t->conf as shown). */
static void eval_confusions(struct tally *t, const pack *p)
{
    const size_t C = t->C;
    printf("\nconfusions (truth -> guess: count):\n");
    for (int shown = 0; shown < 10; shown++) {
        size_t bt = 0, bg = 0;
        int best = 0;
        for (size_t i = 0; i < C; i++)
            for (size_t g = 0; g < C; g++)
                if (i != g && t->conf[i * C + g] > best) {
                    best = t->conf[i * C + g];
                    bt = i;
                    bg = g;
                }
        if (!best)
            break;
        printf("  %s -> %s: %d\n", pack_intent_at(p, bt)->id, pack_intent_at(p, bg)->id, best);
        t->conf[bt * C + bg] = -t->conf[bt * C + bg];
    }
}

static int cmd_eval(const struct opts *o)
{
    nlu *m = NULL;
    pack *p;
    FILE *f;
    int rc;

    if (o->nargs < 2)
        return usage_error("eval needs a FILE%s", "");
    if (!(f = fopen(o->args[1], "r"))) {
        fprintf(stderr, "provbot: eval %s: %s\n", o->args[1], strerror(errno));
        return 2;
    }
    if (!(p = open_pack(o, &m))) {
        fclose(f);
        return 2;
    }
    struct tally t = { .C = pack_intent_count(p), .oos = pack_role(p, PACK_ROLE_FALLBACK) };
    if (!(t.conf = calloc(t.C * t.C, sizeof *t.conf))) {
        fprintf(stderr, "provbot: out of memory\n");
        rc = 1;
    } else if ((rc = eval_read(f, o->args[1], p, m, &t)) == 0) {
        double acc = (double)t.right / t.total;
        eval_report(&t, p);
        eval_confusions(&t, p);
        if (o->min_accuracy > 0 && acc < o->min_accuracy) {
            fprintf(stderr, "provbot: accuracy %.4f is below --min-accuracy %.4f\n", acc, o->min_accuracy);
            rc = 1;
        }
    }
    free(t.conf);
    fclose(f);
    nlu_free(m);
    pack_free(p);
    return rc;
}

/* The engine's configuration: the options, and the environment the engine
 * does not read itself (the case backend, the allow-list, the model cache). 0, or 2 with a
 * message on stderr. */
static int engine_cfg(const struct opts *o, const char *channel, struct engine_config *cfg)
{
    const char *name = getenv("PROVBOT_CASE_BACKEND");
    const struct backend_ops *b = backend_find(name);
    if (!b) {
        fprintf(stderr, "provbot: PROVBOT_CASE_BACKEND=%s: must be %s\n", name, backend_names);
        return 2;
    }
    *cfg = (struct engine_config){
        .intents_dir = o->intents,
        .data_dir = o->data,
        .model_cache_dir = getenv("PROVBOT_MODEL_CACHE"),
        .channel = channel,
        .no_checkpoint = true,
        .queue_cases = b->delivers,
        .allow_domains = getenv("PROVBOT_ALLOW_DOMAINS"),
    };
    return 0;
}

static engine *open_engine(const struct opts *o, const char *channel)
{
    char err[512];
    struct engine_config cfg;
    if (engine_cfg(o, channel, &cfg))
        return NULL;
    engine *e = engine_open(&cfg, err, sizeof err);
    if (!e)
        fprintf(stderr, "provbot: %s\n", err);
    return e;
}

/* Prints a reply for a person at a terminal: text, then numbered buttons. */
static void print_human(const char *json, cJSON **buttons)
{
    cJSON *r = cJSON_Parse(json), *b;
    int i = 1;
    cJSON_Delete(*buttons);
    *buttons = NULL;
    if (!r)
        return;
    printf("\nprovbot: %s\n", cJSON_GetObjectItem(r, "text")->valuestring);
    const cJSON *c = cJSON_GetObjectItem(r, "case");
    if (cJSON_IsObject(c))
        printf("  [case %s: %s]\n", cJSON_GetObjectItem(c, "id")->valuestring,
               cJSON_GetObjectItem(c, "status")->valuestring);
    cJSON_ArrayForEach(b, cJSON_GetObjectItem(r, "buttons"))
        printf("  %d) %s\n", i++, b->valuestring);
    *buttons = cJSON_DetachItemFromObject(r, "buttons");
    cJSON_Delete(r);
}

/* What /attach (or, in --jsonl, a line {"attach": PATH}) did: plain text, or
 * one object {"type":"attached","name":S} / {"type":"error","code":"attach",
 * "message":S} so that --jsonl stays one line out per line in. */
static void attach_report(bool jsonl, const char *name, const char *problem)
{
    cJSON *o = jsonl ? cJSON_CreateObject() : NULL;
    char *txt = NULL;
    if (o) {
        cJSON_AddStringToObject(o, "type", problem ? "error" : "attached");
        if (problem) {
            cJSON_AddStringToObject(o, "code", "attach");
            cJSON_AddStringToObject(o, "message", problem);
        } else {
            cJSON_AddStringToObject(o, "name", name);
        }
        txt = cJSON_PrintUnformatted(o);
    }
    printf("%s\n", txt ? txt : problem ? problem : "attached.");
    free(txt);
    cJSON_Delete(o);
}

static int attach_file(engine *e, const char *session, const char *path, bool jsonl)
{
    FILE *f = fopen(path, "rb");
    char err[256];
    struct buf b;
    char chunk[65536];
    size_t k;
    if (!f) {
        snprintf(err, sizeof err, "cannot open %s: %s", path, strerror(errno));
        attach_report(jsonl, path, err);
        return -1;
    }
    buf_init(&b, 6u << 20);   /* past the engine's 5 MiB limit, so it says "too large" */
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0 && buf_add(&b, chunk, k) == 0)
        ;
    fclose(f);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int rc = engine_attach(e, session, base, buf_str(&b), b.len, err, sizeof err);
    attach_report(jsonl, base, rc == 0 ? NULL : err);
    buf_free(&b);
    return rc;
}

/* One input line of `chat`: a JSON message or attachment (--jsonl), a
 * /attach command, a button's number, or text; runs its turn and prints
 * the reply. *buttons holds the last reply's buttons (terminal). 0, or 1
 * when the turn failed. */
static int chat_line(const struct opts *o, engine *e, const char *session, const char *line,
                     cJSON **buttons)
{
    char err[512];
    const char *text = line, *id = NULL;
    cJSON *in = NULL;
    int rc = 0;
    if (o->jsonl && line[0] == '{' && (in = cJSON_Parse(line))) {
        const cJSON *t = cJSON_GetObjectItem(in, "text"), *i = cJSON_GetObjectItem(in, "id");
        const cJSON *a = cJSON_GetObjectItem(in, "attach");
        if (cJSON_IsString(t))
            text = t->valuestring;
        if (cJSON_IsString(i))
            id = i->valuestring;
        if (cJSON_IsString(a)) { /* {"attach": PATH}: a screenshot, no turn */
            attach_file(e, session, a->valuestring, true);
            fflush(stdout);
            goto out;
        }
    }
    if (!o->jsonl) {
        if (!strncmp(text, "/attach ", 8)) {
            attach_file(e, session, text + 8, false);
            goto out;
        }
        char *end;
        long k = strtol(text, &end, 10);
        if (*text && !*end && *buttons && k >= 1 && k <= cJSON_GetArraySize(*buttons))
            text = cJSON_GetArrayItem(*buttons, (int)k - 1)->valuestring;
    }
    struct engine_result r;
    if (engine_turn(e, session, o->user, text, id, &r, err, sizeof err) < 0) {
        fprintf(stderr, "provbot: %s\n", err);
        if (o->jsonl) /* one line out per line in, even now */
            printf("{\"type\":\"error\",\"code\":\"internal\",\"message\":\"the turn failed\"}\n");
        rc = 1;
        goto out;
    }
    if (o->jsonl)
        puts(r.json);
    else
        print_human(r.json, buttons);
    fflush(stdout);
    engine_result_free(&r);
out:
    cJSON_Delete(in);
    return rc;
}

static int cmd_chat(const struct opts *o)
{
    char session[80], err[512];
    char *line = NULL;
    size_t cap = 0;
    cJSON *buttons = NULL;
    engine *e = open_engine(o, "chat");
    outbox *ob = NULL;
    int rc = 0;

    if (!e)
        return 2;
    if (o->session)
        snprintf(session, sizeof session, "%s", o->session);
    else
        engine_new_session(session);
    if (!(ob = outbox_start(o->data, NULL, err, sizeof err))) {
        fprintf(stderr, "provbot: %s\n", err);
        engine_close(e);
        return 2;
    }
    bool tty = !o->jsonl && isatty(0);
    if (tty)
        printf("provbot chat (session %s). Type your question; a number picks a choice; "
               "/attach FILE adds a screenshot; Ctrl-D ends.\n", session);
    for (;;) {
        if (tty) {
            printf("\nyou> ");
            fflush(stdout);
        }
        if (read_line(stdin, &line, &cap) < 0)
            break;
        if (chat_line(o, e, session, line, &buttons))
            rc = 1;
    }
    cJSON_Delete(buttons);
    free(line);
    outbox_stop(ob);
    engine_close(e);
    return rc;
}

static int cmd_cases(const struct opts *o)
{
    char err[512];
    store *s;
    int rc = 0;
    if (o->nargs < 2 || (strcmp(o->args[1], "list") && strcmp(o->args[1], "show")))
        return usage_error("cases needs list or show ID%s", "");
    if (!strcmp(o->args[1], "show") && o->nargs < 3)
        return usage_error("cases show needs an ID%s", "");
    if (!(s = store_open(o->data, err, sizeof err))) {
        fprintf(stderr, "provbot: %s\n", err);
        return 2;
    }
    if (!strcmp(o->args[1], "list")) {
        cJSON *arr = store_cases_json(s, NULL), *c;
        if (!arr) {
            fprintf(stderr, "provbot: store: %s\n", store_errmsg(s));
            rc = 1;
        } else if (o->json) {
            char *t = cJSON_PrintUnformatted(arr);
            puts(t ? t : "[]");
            free(t);
        } else {
            printf("%-10s %-7s %-20s %-32s %s\n", "ID", "STATUS", "CREATED", "NEW EMAIL", "ORDER");
            cJSON_ArrayForEach(c, arr)
                printf("%-10s %-7s %-20s %-32s %s\n", cJSON_GetObjectItem(c, "id")->valuestring,
                       cJSON_GetObjectItem(c, "status")->valuestring,
                       cJSON_GetObjectItem(c, "created_at")->valuestring,
                       cJSON_GetObjectItem(c, "new_email")->valuestring,
                       cJSON_GetObjectItem(c, "order_ref")->valuestring);
        }
        cJSON_Delete(arr);
    } else {
        struct case_rec c;
        int found = store_case_get(s, o->args[2], &c);
        if (found < 0) {
            fprintf(stderr, "provbot: store: %s\n", store_errmsg(s));
            rc = 1;
        } else if (found == 0) {
            fprintf(stderr, "provbot: no case %s\n", o->args[2]);
            rc = 1;
        } else {
            cJSON *j = case_to_json(&c);
            if (o->json) {
                char *t = cJSON_PrintUnformatted(j);
                puts(t ? t : "{}");
                free(t);
            } else {
                char *t = cJSON_Print(j);
                printf("%s\nattachments: %d\nattempts: %d\n%s%s%s", t ? t : "", c.nattach, c.attempts,
                       c.last_error[0] ? "last error: " : "", c.last_error, c.last_error[0] ? "\n" : "");
                free(t);
            }
            cJSON_Delete(j);
            case_rec_clear(&c);
        }
    }
    store_close(s);
    return rc;
}

static int cmd_outbox(const struct opts *o)
{
    char err[512];
    if (!outbox_configured()) {
        fprintf(stderr, "provbot: outbox: no remote case backend configured (PROVBOT_CASE_BACKEND)\n");
        return 2;
    }
    int rc = outbox_drain(o->data, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "provbot: %s\n", err);
    return rc < 0 ? 1 : 0;
}

/* The channels `serve` runs beside the web chat: add one here. */
static const struct channel *const channels[] = { &webex_channel };

static int cmd_serve(const struct opts *o)
{
    char err[512];
    struct engine_config ec;
    if (engine_cfg(o, "web", &ec))
        return 2;
    outbox *ob = outbox_start(o->data, NULL, err, sizeof err);
    if (!ob) {
        fprintf(stderr, "provbot: %s\n", err);
        return 2;
    }
    struct serve_config cfg = {
        .listen = o->listen ? o->listen : "127.0.0.1:8080",
        .engine = &ec,
        .allow_origins = o->origins,
        .n_allow_origins = o->norigins,
        .max_conns = o->max_conns,
        .idle_secs = o->idle_secs,
        .rate_per_sec = o->rate_limit,
        .web_jwt_secret = getenv("PROVBOT_WEB_JWT_SECRET"),
        .unregister_at_stop = o->webex_unregister,
        .channels = channels,
        .n_channels = (int)(sizeof channels / sizeof channels[0]),
    };
    int rc = serve_run(&cfg);
    outbox_stop(ob);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o = { 0 };
    int rc;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
    /* Global options may come before the subcommand or after it (as git
     * and docker take them): the first positional argument is the
     * subcommand, the ones after it are its arguments. */
    if ((rc = parse(argc, argv, 1, &o)))
        return rc;
    if (o.nargs == 0)
        return usage_error("%s", "no subcommand");
    log_set_level(getenv("PROVBOT_LOG"));   /* after --config, which may set it */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    const char *cmd = o.args[0];
    if (!strcmp(cmd, "classify")) rc = cmd_classify(&o);
    else if (!strcmp(cmd, "eval")) rc = cmd_eval(&o);
    else if (!strcmp(cmd, "chat")) rc = cmd_chat(&o);
    else if (!strcmp(cmd, "serve")) rc = cmd_serve(&o);
    else if (!strcmp(cmd, "cases")) rc = cmd_cases(&o);
    else if (!strcmp(cmd, "outbox")) rc = cmd_outbox(&o);
    else rc = usage_error("unknown subcommand %s", cmd);
    curl_global_cleanup();
    return rc;
}
