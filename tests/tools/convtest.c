/* convtest.c -- runs conversation files through `provbot chat --jsonl`, strictly.
 *
 * usage: convtest PROVBOT FILE.conv...
 * Each file runs in a fresh data folder. Lines:
 *   # comment (blank lines are skipped; any other line is a harness error)
 *   % KEY=VALUE          environment for the processes started after it, until
 *                        the end of the file (the old value is restored then)
 *   @ ARGS...            (re)starts `PROVBOT chat --jsonl --data DIR ARGS`
 *                        (closing the previous process: a restart);
 *                        $PROVBOT_INTENTS, when set, is passed as --intents
 *                        (and $CONVTEST_CASE_TYPE, when set, is the case type
 *                        every case must have instead of the contract's;
 *                        $CONVTEST_ANY_INTENT set: any intent id is taken)
 *   > TEXT               sends a message and reads its reply (a TEXT that is a
 *                        JSON object with an "id" must come back as reply_to)
 *   < CHECK & CHECK...   checks the reply to the last message; checks are
 *                        separated by " & " and at least one of them must be
 *                        on text, intent or case.FIELD
 *   ! cases N            the store holds N cases (`PROVBOT cases list --json`)
 *   ! case K CHECK       case K (0-based) of that list passes CHECK, which is
 *                        the whole rest of the line (spaces and & included)
 * Checks: key=value (exact; null for JSON null; for buttons, [..] compares
 * the whole array), key!=value, key~regex (PCRE2, caseless, Unicode \w and
 * \b, dot matches newline), key!~regex; keys: type reply_to text lang intent confidence
 * expect buttons (any button; !~ / != : no button) case case.FIELD.
 *
 * Strict by design (each of these fails the file, with the reason):
 * - every reply must be one JSON line with the reply object of
 *   ../shared/contract.md (type, reply_to, text, lang, intent, confidence,
 *   expect, buttons, case; a case with every case field);
 * - a reply must come within 10 s x TEST_SLOWDOWN (poll(), no hang);
 * - every process (chat and cases list) must exit 0 within that deadline,
 *   print nothing on stdout beyond its replies, and leave no sanitizer report
 *   (AddressSanitizer, LeakSanitizer, UndefinedBehaviorSanitizer, "runtime
 *   error:") on its stderr, which is captured to a file and shown on failure;
 *   each chat process gets one TAP line for this when it ends;
 * - `cases list --json` must exit 0 and print a JSON array of valid cases.
 * Prints TAP: one line per check line, one per process, failures of > lines.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pcre2.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ENV 32
#define MAX_LINE (1 << 20) /* a reply line longer than this is an error */

static int ntest, nfail;
static const char *prog;
static long deadline_ms = 10000; /* per reply and per exit, x TEST_SLOWDOWN */

/* One running `provbot chat`. Invariant: pid != 0 iff in/out are open. */
struct proc {
    pid_t pid;          /* 0: none */
    int in, out;        /* its stdin (we write), its stdout (we read) */
    bool dead;          /* it stopped answering or closed its output */
    int start_line;     /* the @ (or first >) line that started it */
    char err_path[128]; /* its stderr, captured */
    char *buf;          /* bytes read from out, not yet taken as a line */
    size_t len, cap;
};

/* What one file run holds. */
struct run {
    const char *file;
    char root[64];    /* temporary folder: data/ and the stderr files */
    char data[96];    /* --data DIR */
    int nproc;        /* processes started (names the stderr files) */
    struct proc p;
    cJSON *last;      /* the last reply, or NULL */
    char *env_key[MAX_ENV], *env_old[MAX_ENV]; /* % lines to undo */
    int nenv;
};

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void report(bool ok, const char *file, int line, const char *what, const char *why)
{
    ntest++;
    if (!ok)
        nfail++;
    printf("%sok %d - %s:%d %s\n", ok ? "" : "not ", ntest, file, line, what);
    if (ok || !why || !*why)
        return;
    fputs("#   ", stdout);
    for (; *why; why++) /* one TAP comment line: newlines shown as \n */
        if (*why == '\n')
            fputs("\\n", stdout);
        else
            putchar(*why);
    putchar('\n');
}

/* Prints a captured stderr file as TAP comments (at most 40 lines). */
static void show_stderr(const char *path)
{
    FILE *f = fopen(path, "r");
    char l[1024];
    int n = 0;
    if (!f)
        return;
    while (fgets(l, sizeof l, f) && n++ < 40)
        printf("#   stderr: %s%s", l, strchr(l, '\n') ? "" : "\n");
    fclose(f);
}

/* True when the file names a sanitizer report; *what gets the line. */
static bool sanitizer_report(const char *path, char *what, size_t whatlen)
{
    static const char *const marks[] = { "AddressSanitizer", "LeakSanitizer",
                                         "UndefinedBehaviorSanitizer", "runtime error:",
                                         "ThreadSanitizer", "MemorySanitizer" };
    FILE *f = fopen(path, "r");
    char l[1024];
    bool found = false;
    if (!f)
        return false;
    while (!found && fgets(l, sizeof l, f))
        for (size_t i = 0; i < sizeof marks / sizeof *marks && !found; i++)
            if (strstr(l, marks[i])) {
                l[strcspn(l, "\n")] = '\0';
                snprintf(what, whatlen, "sanitizer report on stderr: %.200s", l);
                found = true;
            }
    fclose(f);
    return found;
}

/* Waits for pid to exit within the deadline (killing it after); returns
 * its wait status, or -1 when it had to be killed. */
static int wait_exit(pid_t pid)
{
    long end = now_ms() + deadline_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0 && errno != EINTR)
            return -1;
        if (now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        struct timespec ts = { 0, 5 * 1000000L };
        nanosleep(&ts, NULL);
    }
}

/* Describes a wait status that is not a clean exit 0 into why; false then. */
static bool exited_clean(int st, char *why, size_t whylen)
{
    if (st == -1)
        snprintf(why, whylen, "did not exit within %ld ms (killed)", deadline_ms);
    else if (WIFSIGNALED(st))
        snprintf(why, whylen, "killed by signal %d", WTERMSIG(st));
    else if (WEXITSTATUS(st) != 0)
        snprintf(why, whylen, "exit status %d", WEXITSTATUS(st));
    else
        return true;
    return false;
}

/* fork+exec of argv with stdin from in_fd (or /dev/null), stdout to out_fd,
 * stderr appended to err_path. Returns the pid, or -1. */
static pid_t spawn(char **argv, int in_fd, int out_fd, const char *err_path)
{
    int err = open(err_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (err < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        dup2(in_fd >= 0 ? in_fd : nul, 0);
        dup2(out_fd, 1);
        dup2(err, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    close(err);
    return pid;
}

/* Reads what p's stdout has within timeout_ms into p->buf. 1: bytes read;
 * 0: end of output; -1: nothing within the time (or an error). */
static int fill(struct proc *p, long timeout_ms)
{
    struct pollfd pf = { .fd = p->out, .events = POLLIN };
    if (p->len >= MAX_LINE || poll(&pf, 1, (int)(timeout_ms > 0 ? timeout_ms : 0)) <= 0)
        return -1;
    if (p->cap - p->len < 4096) {
        char *nb = realloc(p->buf, p->cap + 65536);
        if (!nb)
            return -1;
        p->buf = nb;
        p->cap += 65536;
    }
    ssize_t r;
    do
        r = read(p->out, p->buf + p->len, p->cap - p->len);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return 0;
    p->len += (size_t)r;
    return 1;
}

/* Reads one line from p's stdout within the deadline into *line (caller
 * frees). 1: a line; 0: end of output; -1: timeout or error. */
static int read_reply_line(struct proc *p, char **line)
{
    long end = now_ms() + deadline_ms;
    for (;;) {
        char *nl = p->len ? memchr(p->buf, '\n', p->len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - p->buf);
            if (!(*line = strndup(p->buf, n)))
                return -1;
            memmove(p->buf, nl + 1, p->len - n - 1);
            p->len -= n + 1;
            return 1;
        }
        int r = fill(p, end - now_ms());
        if (r <= 0)
            return r;
    }
}

static int start_proc(struct run *R, int lineno, char *args)
{
    struct proc *p = &R->p;
    int to[2], from[2];
    char *argv[40];
    int n = 0;
    argv[n++] = (char *)prog;
    argv[n++] = "chat";
    argv[n++] = "--jsonl";
    argv[n++] = "--data";
    argv[n++] = R->data;
    if (getenv("PROVBOT_INTENTS")) {
        argv[n++] = "--intents";
        argv[n++] = getenv("PROVBOT_INTENTS");
    }
    for (char *t = strtok(args, " \t"); t && n < 38; t = strtok(NULL, " \t"))
        argv[n++] = t;
    argv[n] = NULL;
    memset(p, 0, sizeof *p);
    snprintf(p->err_path, sizeof p->err_path, "%s/chat%d.err", R->root, ++R->nproc);
    if (pipe(to))
        return -1;
    if (pipe(from)) {
        close(to[0]);
        close(to[1]);
        return -1;
    }
    fcntl(to[1], F_SETFD, FD_CLOEXEC);
    fcntl(from[0], F_SETFD, FD_CLOEXEC);
    p->pid = spawn(argv, to[0], from[1], p->err_path);
    close(to[0]);
    close(from[1]);
    p->in = to[1];
    p->out = from[0];
    p->start_line = lineno;
    if (p->pid < 0) {
        close(p->in);
        close(p->out);
        p->pid = 0;
        return -1;
    }
    return 0;
}

/* Ends R's process: closes its stdin, reads the rest of its output (there
 * must be none), waits for exit 0, scans its stderr. One TAP line. */
static void stop_proc(struct run *R)
{
    struct proc *p = &R->p;
    char why[512] = "", what[128];
    char *l;
    int stray = 0, r;
    if (!p->pid)
        return;
    close(p->in);
    while ((r = read_reply_line(p, &l)) == 1) {
        if (stray++ == 0)
            snprintf(why, sizeof why, "stray output after the last reply: %.300s", l);
        free(l);
    }
    if (r < 0 && !stray && !p->dead)
        snprintf(why, sizeof why, "its output was not closed within %ld ms", deadline_ms);
    close(p->out);
    int st = wait_exit(p->pid);
    char ewhy[128];
    if (!exited_clean(st, ewhy, sizeof ewhy) && !why[0])
        snprintf(why, sizeof why, "provbot chat %s", ewhy);
    if (!why[0])
        sanitizer_report(p->err_path, why, sizeof why);
    snprintf(what, sizeof what, "provbot chat (started here) exited 0, no stray output, "
             "no sanitizer report");
    report(!why[0], R->file, p->start_line, what, why);
    if (why[0])
        show_stderr(p->err_path);
    free(p->buf);
    memset(p, 0, sizeof *p);
}

static bool rx(const char *re, const char *subject, char *why, size_t whylen)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                                  PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS | PCRE2_DOTALL, &err, &off, NULL);
    if (!c) {
        snprintf(why, whylen, "harness error: bad regex %.200s at offset %zu", re, (size_t)off);
        return false;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    int rc = md ? pcre2_match(c, (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, NULL) : -1;
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    return rc > 0;
}

/* The value of key in object r as text ("null" for JSON null, "(missing)"
 * when absent); caller frees. */
static char *value_of(const cJSON *r, const char *key)
{
    const cJSON *v = r;
    char k[128];
    snprintf(k, sizeof k, "%s", key);
    for (char *save = NULL, *part = strtok_r(k, ".", &save); part && v;
         part = strtok_r(NULL, ".", &save))
        v = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, part) : NULL;
    if (!v)
        return strdup("(missing)");
    if (cJSON_IsNull(v))
        return strdup("null");
    if (cJSON_IsString(v))
        return strdup(v->valuestring);
    return cJSON_PrintUnformatted(v);
}

enum op { OP_EQ, OP_NE, OP_RX, OP_NRX };

/* Splits "key OP value" into its parts (key copied into key[]); false on a
 * malformed check. */
static bool parse_check(const char *chk, char key[128], enum op *op, const char **want)
{
    size_t k = strcspn(chk, "=~!");
    if (!chk[k] || k == 0 || k >= 128)
        return false;
    memcpy(key, chk, k);
    key[k] = '\0';
    const char *o = chk + k;
    if (o[0] == '=')
        *op = OP_EQ, *want = o + 1;
    else if (o[0] == '~')
        *op = OP_RX, *want = o + 1;
    else if (o[0] == '!' && o[1] == '=')
        *op = OP_NE, *want = o + 2;
    else if (o[0] == '!' && o[1] == '~')
        *op = OP_NRX, *want = o + 2;
    else
        return false;
    return true;
}

static bool match(enum op op, const char *want, const char *got, char *why, size_t whylen)
{
    switch (op) {
    case OP_EQ: return strcmp(got, want) == 0;
    case OP_NE: return strcmp(got, want) != 0;
    case OP_RX: return rx(want, got, why, whylen);
    default: return !rx(want, got, why, whylen) && strncmp(why, "harness", 7);
    }
}

/* buttons=X / buttons~R: some button matches; != and !~: none does;
 * buttons=[...]: the whole array. */
static bool check_buttons(const cJSON *r, enum op op, const char *want, char *why, size_t whylen)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(r, "buttons"), *b;
    if (want[0] == '[' && (op == OP_EQ || op == OP_NE)) {
        char *got = value_of(r, "buttons");
        bool ok = match(op, want, got, why, whylen);
        free(got);
        return ok;
    }
    bool any = false;
    enum op pos = op == OP_NE ? OP_EQ : op == OP_NRX ? OP_RX : op;
    cJSON_ArrayForEach(b, arr)
        if (cJSON_IsString(b))
            any |= match(pos, want, b->valuestring, why, whylen);
    return pos == op ? any : !any;
}

static bool known_key(const char *key, bool in_case)
{
    static const char *const reply[] = { "type", "reply_to", "text", "lang", "intent",
                                         "confidence", "expect", "buttons", "case" };
    static const char *const cas[] = { "id", "type", "status", "order_ref", "new_email",
                                       "requester", "lang", "summary", "created_at",
                                       "remote_id" };
    if (!in_case && !strncmp(key, "case.", 5))
        return known_key(key + 5, true);
    const char *const *set = in_case ? cas : reply;
    size_t n = in_case ? sizeof cas / sizeof *cas : sizeof reply / sizeof *reply;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(key, set[i]))
            return true;
    return false;
}

/* One check on object r (a reply, or a case when in_case). */
static bool check_one(const cJSON *r, const char *chk, bool in_case, char *why, size_t whylen)
{
    char key[128];
    enum op op;
    const char *want;
    if (!parse_check(chk, key, &op, &want) || !known_key(key, in_case)) {
        snprintf(why, whylen, "harness error: bad check \"%.200s\"", chk);
        return false;
    }
    why[0] = '\0';
    if (!in_case && !strcmp(key, "buttons")) {
        bool ok = check_buttons(r, op, want, why, whylen);
        if (!ok && !why[0]) {
            char *got = value_of(r, "buttons");
            snprintf(why, whylen, "%.200s: got %.300s", chk, got);
            free(got);
        }
        return ok;
    }
    char *got = value_of(r, key);
    bool ok = match(op, want, got, why, whylen);
    if (!ok && !why[0])
        snprintf(why, whylen, "%.200s: got %.300s", chk, got);
    free(got);
    return ok;
}

static bool is_str_or_null(const cJSON *v)
{
    return cJSON_IsString(v) || cJSON_IsNull(v);
}

static bool one_of(const cJSON *v, const char *const *set)
{
    if (!cJSON_IsString(v))
        return false;
    for (; *set; set++)
        if (!strcmp(v->valuestring, *set))
            return true;
    return false;
}

static const char *const langs[] = { "en", "sv", NULL };

/* A case object as the contract has it; false with the field in why. */
static bool valid_case(const cJSON *c, char *why, size_t whylen)
{
    static const char *const statuses[] = { "queued", "filed", "failed", NULL };
    static const char *const strs[] = { "id", "order_ref", "new_email", "summary", NULL };
    const char *bad = NULL;
    char tmp[8];
    if (!cJSON_IsObject(c))
        bad = "(not an object)";
    for (int i = 0; !bad && strs[i]; i++)
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, strs[i])))
            bad = strs[i];
    if (!bad && !one_of(cJSON_GetObjectItemCaseSensitive(c, "status"), statuses))
        bad = "status";
    if (!bad && !one_of(cJSON_GetObjectItemCaseSensitive(c, "lang"), langs))
        bad = "lang";
    if (!bad && !is_str_or_null(cJSON_GetObjectItemCaseSensitive(c, "requester")))
        bad = "requester";
    if (!bad && !is_str_or_null(cJSON_GetObjectItemCaseSensitive(c, "remote_id")))
        bad = "remote_id";
    if (!bad) {
        /* the contract's type; a test pack's own (tests/packs) in CONVTEST_CASE_TYPE */
        const char *want = getenv("CONVTEST_CASE_TYPE");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "type");
        if (!cJSON_IsString(t) ||
            strcmp(t->valuestring, want && *want ? want : "Change provisioning contact email"))
            bad = "type";
    }
    if (!bad) {
        char *at = value_of(c, "created_at");
        if (!rx("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?(Z|[+-]\\d\\d:\\d\\d)$",
                at, tmp, sizeof tmp))
            bad = "created_at";
        free(at);
    }
    if (bad)
        snprintf(why, whylen, "case object breaks the contract at \"%s\"", bad);
    return !bad;
}

/* The reply object of the contract; want_id: the reply_to it must carry,
 * or NULL (then a string or null). False with the reason in why. */
static bool valid_reply(const cJSON *r, const char *want_id, char *why, size_t whylen)
{
    static const char *const intents[] = {
        "greeting", "help", "thanks", "goodbye", "affirm", "deny", "change_contact_email",
        "email_not_received", "when_email_sent", "resend_email", "no_edit_access", "ponr",
        "closed_line", "provisioning_deadline", "edit_failed", "open_case", "case_status",
        "transaction_history", "out_of_scope", NULL };
    static const char *const expects[] = { "yes_no", "line_status", "order_ref", "email",
                                           "text", "confirm", NULL };
    const cJSON *v, *b;
    const char *bad = NULL;
#define F(k) cJSON_GetObjectItemCaseSensitive(r, k)
    if (!cJSON_IsObject(r) || !cJSON_IsString(F("type")) || strcmp(F("type")->valuestring, "reply"))
        bad = "type";
    else if (!is_str_or_null(v = F("reply_to")) ||
             (want_id && (!cJSON_IsString(v) || strcmp(v->valuestring, want_id))))
        bad = "reply_to";
    else if (!cJSON_IsString(F("text")))
        bad = "text";
    else if (!one_of(F("lang"), langs))
        bad = "lang";
    else if (!cJSON_IsNull(v = F("intent")) && !one_of(v, intents) &&
             !(getenv("CONVTEST_ANY_INTENT") && cJSON_IsString(v) && *v->valuestring))
        bad = "intent"; /* a test pack's own ids (tests/packs): CONVTEST_ANY_INTENT */
    else if (!cJSON_IsNull(v = F("confidence")) &&
             (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1))
        bad = "confidence";
    else if (!cJSON_IsNull(v = F("expect")) && !one_of(v, expects))
        bad = "expect";
    else if (!cJSON_IsArray(v = F("buttons")))
        bad = "buttons";
    else if (!(v = F("case")))
        bad = "case";
    cJSON_ArrayForEach(b, F("buttons"))
        if (!bad && !cJSON_IsString(b))
            bad = "buttons";
    if (bad) {
        snprintf(why, whylen, "reply breaks the contract at \"%s\"", bad);
        return false;
    }
    return cJSON_IsNull(F("case")) || valid_case(F("case"), why, whylen);
#undef F
}

/* The id a JSON message line carries, or NULL; caller frees. */
static char *message_id(const char *text)
{
    char *id = NULL;
    cJSON *m = text[0] == '{' ? cJSON_Parse(text) : NULL;
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(m, "id");
    if (cJSON_IsString(i))
        id = strdup(i->valuestring);
    cJSON_Delete(m);
    return id;
}

/* > TEXT: sends it, reads and validates the reply into R->last. */
static void do_send(struct run *R, int lineno, const char *text)
{
    struct proc *p = &R->p;
    char why[600] = "", *l = NULL, args[1] = "";
    cJSON_Delete(R->last);
    R->last = NULL;
    if (!p->pid && start_proc(R, lineno, args) < 0) {
        report(false, R->file, lineno, "start", "cannot start provbot");
        return;
    }
    if (p->dead) {
        report(false, R->file, lineno, text, "provbot is no longer answering");
        return;
    }
    while (fill(p, 0) == 1) /* whatever came unasked is stray output */
        ;
    if (p->len)
        snprintf(why, sizeof why, "stray output before this message: %.*s",
                 (int)(p->len < 300 ? p->len : 300), p->buf);
    size_t n = strlen(text);
    char *msg = malloc(n + 2);
    if (!msg) {
        report(false, R->file, lineno, text, "out of memory");
        return;
    }
    memcpy(msg, text, n);
    msg[n++] = '\n';
    bool sent = write(p->in, msg, n) == (ssize_t)n;
    free(msg);
    int r = sent ? read_reply_line(p, &l) : 0;
    if (r != 1) {
        p->dead = true;
        snprintf(why, sizeof why, r < 0 ? "no reply within %ld ms" : "provbot closed its output "
                 "without a reply (see the process line)", deadline_ms);
    } else if (!(R->last = cJSON_Parse(l)) && !why[0]) {
        snprintf(why, sizeof why, "reply is not JSON: %.300s", l);
    } else if (R->last && !why[0]) {
        char *id = message_id(text);
        if (!valid_reply(R->last, id, why, sizeof why))
            snprintf(why + strlen(why), sizeof why - strlen(why), ": %.300s", l);
        free(id);
    }
    free(l);
    if (why[0])
        report(false, R->file, lineno, text, why);
}

/* < CHECK & CHECK...: every check on the last reply; one of them must be on
 * text, intent or case.FIELD. */
static void do_expect(struct run *R, int lineno, const char *arg)
{
    char why[600] = "no reply", *copy = strdup(arg);
    bool ok = R->last != NULL, content = false;
    char *c = copy;
    while (ok && c) {
        char *sep = strstr(c, " & ");
        if (sep)
            *sep = '\0';
        while (*c == ' ')
            c++;
        size_t n = strlen(c);
        while (n && c[n - 1] == ' ')
            c[--n] = '\0';
        /* case=null (no case filed in this reply) is a check of the case too */
        content |= !strncmp(c, "text", 4) || !strncmp(c, "intent", 6) ||
                   !strncmp(c, "case.", 5) || !strncmp(c, "case=", 5) || !strncmp(c, "case!", 5);
        ok = check_one(R->last, c, false, why, sizeof why);
        c = sep ? sep + 3 : NULL;
    }
    if (ok && !content) {
        ok = false;
        snprintf(why, sizeof why, "harness error: a < line must check text, intent or case (case=null or case.FIELD)");
    }
    report(ok, R->file, lineno, arg, why);
    free(copy);
}

/* `PROVBOT cases list --json`: the array, or NULL with the reason in why. */
static cJSON *cases_list(struct run *R, char *why, size_t whylen)
{
    char err_path[128], *l;
    char *argv[] = { (char *)prog, "cases", "list", "--json", "--data", R->data, NULL };
    int from[2];
    struct proc q = { 0 };
    cJSON *arr = NULL;
    snprintf(err_path, sizeof err_path, "%s/cases%d.err", R->root, ++R->nproc);
    if (pipe(from)) {
        snprintf(why, whylen, "pipe failed");
        return NULL;
    }
    fcntl(from[0], F_SETFD, FD_CLOEXEC);
    q.pid = spawn(argv, -1, from[1], err_path);
    close(from[1]);
    q.out = from[0];
    char *all = NULL;
    size_t alen = 0;
    int r;
    while (q.pid > 0 && (r = read_reply_line(&q, &l)) == 1) {
        char *na = realloc(all, alen + strlen(l) + 2);
        if (!na)
            break;
        all = na;
        alen += (size_t)sprintf(all + alen, "%s\n", l);
        free(l);
    }
    if (q.pid > 0 && q.len && !memchr(q.buf, '\n', q.len)) { /* a last line without \n */
        char *na = realloc(all, alen + q.len + 1);
        if (na) {
            all = na;
            memcpy(all + alen, q.buf, q.len);
            alen += q.len;
            all[alen] = '\0';
        }
    }
    close(q.out);
    free(q.buf);
    int st = q.pid > 0 ? wait_exit(q.pid) : -1;
    char ewhy[128];
    if (!exited_clean(st, ewhy, sizeof ewhy))
        snprintf(why, whylen, "cases list --json %s", ewhy);
    else if (sanitizer_report(err_path, why, whylen))
        ;
    else if (!all || !(arr = cJSON_Parse(all)) || !cJSON_IsArray(arr))
        snprintf(why, whylen, "cases list --json printed no JSON array: %.200s", all ? all : "");
    free(all);
    if (why[0]) {
        cJSON_Delete(arr);
        show_stderr(err_path);
        return NULL;
    }
    return arr;
}

/* ! cases N / ! case K CHECK */
static void do_store(struct run *R, int lineno, const char *arg)
{
    char why[600] = "";
    bool ok = false;
    int want, k, used = 0;
    cJSON *arr = cases_list(R, why, sizeof why), *c;
    cJSON_ArrayForEach(c, arr)
        if (!valid_case(c, why, sizeof why))
            break;
    if (!arr || why[0]) {
        ok = false;
    } else if (sscanf(arg, "cases %d %n", &want, &used) == 1 && !arg[used]) {
        ok = cJSON_GetArraySize(arr) == want;
        snprintf(why, sizeof why, "%d cases", cJSON_GetArraySize(arr));
    } else if (sscanf(arg, "case %d %n", &k, &used) == 1 && arg[used]) {
        c = cJSON_GetArrayItem(arr, k);
        if (!c)
            snprintf(why, sizeof why, "no case %d (%d cases)", k, cJSON_GetArraySize(arr));
        else
            ok = check_one(c, arg + used, true, why, sizeof why);
    } else {
        snprintf(why, sizeof why, "harness error: ! cases N or ! case K CHECK");
    }
    report(ok, R->file, lineno, arg, why);
    cJSON_Delete(arr);
}

/* % KEY=VALUE: set until the end of the file. */
static void do_env(struct run *R, int lineno, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || R->nenv == MAX_ENV) {
        report(false, R->file, lineno, arg, "harness error: % KEY=VALUE");
        return;
    }
    char *key = strndup(arg, (size_t)(eq - arg));
    const char *old = getenv(key);
    R->env_key[R->nenv] = key;
    R->env_old[R->nenv++] = old ? strdup(old) : NULL;
    setenv(key, eq + 1, 1);
}

static void undo_env(struct run *R)
{
    while (R->nenv > 0) {
        R->nenv--;
        if (R->env_old[R->nenv])
            setenv(R->env_key[R->nenv], R->env_old[R->nenv], 1);
        else
            unsetenv(R->env_key[R->nenv]);
        free(R->env_key[R->nenv]);
        free(R->env_old[R->nenv]);
    }
}

static void do_line(struct run *R, int lineno, char *line)
{
    char *arg = line[1] == ' ' ? line + 2 : line + 1;
    switch (line[0]) {
    case '#':
        break;
    case '%':
        do_env(R, lineno, arg);
        break;
    case '@':
        stop_proc(R);
        if (start_proc(R, lineno, arg) < 0)
            report(false, R->file, lineno, "start", "cannot start provbot");
        break;
    case '>':
        do_send(R, lineno, arg);
        break;
    case '<':
        do_expect(R, lineno, arg);
        break;
    case '!':
        do_store(R, lineno, arg);
        break;
    default:
        report(false, R->file, lineno, line, "harness error: a line starts with # % @ > < or !");
    }
}

static void run_file(const char *file)
{
    struct run R = { .file = file };
    FILE *f = fopen(file, "r");
    char line[8192];
    int lineno = 0;
    snprintf(R.root, sizeof R.root, "/tmp/convtest.XXXXXX");
    if (!f || !mkdtemp(R.root)) {
        report(false, file, 0, "open", "cannot open the file or make a folder");
        if (f)
            fclose(f);
        return;
    }
    snprintf(R.data, sizeof R.data, "%s/data", R.root);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[strspn(line, " \t")])
            do_line(&R, lineno, line);
    }
    stop_proc(&R);
    cJSON_Delete(R.last);
    undo_env(&R);
    fclose(f);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", R.root);
    if (system(rm) != 0)
        fprintf(stderr, "# could not remove %s\n", R.root);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: convtest PROVBOT FILE.conv...\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    prog = argv[1];
    const char *slow = getenv("TEST_SLOWDOWN");
    if (slow && atof(slow) > 0)
        deadline_ms = (long)(deadline_ms * atof(slow));
    for (int i = 2; i < argc; i++)
        run_file(argv[i]);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
