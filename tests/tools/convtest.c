/* convtest.c -- runs conversation files through `provbot chat --jsonl`.
 *
 * usage: convtest PROVBOT FILE.conv...
 * Each file runs in a fresh data folder. Lines:
 *   # comment
 *   % KEY=VALUE          environment for the processes started after it
 *   @ ARGS...            (re)starts `PROVBOT chat --jsonl --data DIR ARGS`
 *                        (closing the previous process: a restart);
 *                        $PROVBOT_INTENTS, when set, is passed as --intents
 *   > TEXT               sends a message
 *   < CHECK CHECK...     checks the reply to the last message
 *   ! cases N            the store holds N cases (`PROVBOT cases list --json`)
 *   ! case K FIELD=VAL   case K (0-based) of that list has FIELD = VAL
 * Checks: key=value (exact; null for JSON null), key~regex (PCRE2, caseless),
 * key!~regex; keys: intent expect lang text buttons (any button) case.FIELD.
 * Regexes run to the end of the line or the next " &" separator.
 * Prints TAP: one line per check line.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <cJSON.h>
#include <pcre2.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int ntest, nfail;
static const char *prog;

struct proc { pid_t pid; FILE *in, *out; };

static void stop_proc(struct proc *p)
{
    if (!p->pid)
        return;
    fclose(p->in);
    fclose(p->out);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

static int start_proc(struct proc *p, const char *dir, char *args)
{
    int to[2], from[2];
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)prog;
    argv[n++] = "chat";
    argv[n++] = "--jsonl";
    argv[n++] = "--data";
    argv[n++] = (char *)dir;
    if (getenv("PROVBOT_INTENTS")) {
        argv[n++] = "--intents";
        argv[n++] = getenv("PROVBOT_INTENTS");
    }
    for (char *t = strtok(args, " \t"); t && n < 30; t = strtok(NULL, " \t"))
        argv[n++] = t;
    argv[n] = NULL;
    if (pipe(to) || pipe(from))
        return -1;
    p->pid = fork();
    if (p->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[1]);
        close(from[0]);
        execv(prog, argv);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    p->in = fdopen(to[1], "w");
    p->out = fdopen(from[0], "r");
    return 0;
}

static bool rx(const char *re, const char *subject)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                                  PCRE2_UTF | PCRE2_CASELESS | PCRE2_DOTALL, &err, &off, NULL);
    if (!c) {
        fprintf(stderr, "# bad regex %s\n", re);
        return false;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    int rc = pcre2_match(c, (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    return rc > 0;
}

/* The value of key in reply r as text ("null" for JSON null). */
static char *value_of(const cJSON *r, const char *key, bool *is_array)
{
    const cJSON *v = r;
    char k[128];
    *is_array = false;
    snprintf(k, sizeof k, "%s", key);
    for (char *part = strtok(k, "."); part && v; part = strtok(NULL, "."))
        v = cJSON_GetObjectItemCaseSensitive(v, part);
    if (!v)
        return strdup("(missing)");
    if (cJSON_IsNull(v))
        return strdup("null");
    if (cJSON_IsString(v))
        return strdup(v->valuestring);
    if (cJSON_IsArray(v))
        *is_array = true;
    return cJSON_PrintUnformatted(v);
}

static bool check_one(const cJSON *r, const char *chk, char *why, size_t whylen)
{
    const char *op = strpbrk(chk, "=~!");
    char key[128];
    if (!op) {
        snprintf(why, whylen, "bad check %s", chk);
        return false;
    }
    snprintf(key, sizeof key, "%.*s", (int)(op - chk), chk);
    bool neg = op[0] == '!', is_rx = neg || op[0] == '~';
    const char *want = op + (neg ? 2 : 1);
    bool arr;
    char *got = value_of(r, key, &arr);
    bool ok;
    if (arr && !strcmp(key, "buttons")) {
        ok = false;
        const cJSON *b;
        cJSON_ArrayForEach(b, cJSON_GetObjectItem(r, "buttons"))
            ok |= is_rx ? rx(want, b->valuestring) : !strcmp(want, b->valuestring);
        if (neg)
            ok = !ok;
    } else if (is_rx) {
        ok = rx(want, got) != neg;
    } else {
        ok = strcmp(got, want) == 0;
    }
    if (!ok)
        snprintf(why, whylen, "%s: got %.300s", chk, got);
    free(got);
    return ok;
}

static void report(bool ok, const char *file, int line, const char *what, const char *why)
{
    ntest++;
    if (!ok)
        nfail++;
    printf("%sok %d - %s:%d %s\n", ok ? "" : "not ", ntest, file, line, what);
    if (!ok)
        printf("#   %s\n", why);
}

static cJSON *cases_list(const char *dir)
{
    char cmd[8192], buf[1 << 16];
    snprintf(cmd, sizeof cmd, "'%s' cases list --json --data '%s'", prog, dir);
    FILE *f = popen(cmd, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        pclose(f);
    buf[n] = '\0';
    return cJSON_Parse(buf);
}

static void run_file(const char *file)
{
    FILE *f = fopen(file, "r");
    char line[8192], dir[] = "/tmp/convtest.XXXXXX", reply[1 << 16];
    struct proc p = { 0 };
    cJSON *last = NULL;
    int lineno = 0;
    if (!f || !mkdtemp(dir)) {
        report(false, file, 0, "open", "cannot open the file or make a folder");
        if (f)
            fclose(f);
        return;
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        char *arg = line + 2;
        if (strlen(line) < 2 && line[0] != '@')
            continue;
        switch (line[0]) {
        case '%':
            putenv(strdup(arg));
            break;
        case '@':
            stop_proc(&p);
            if (start_proc(&p, dir, strlen(line) > 1 ? arg : line + 1) < 0)
                report(false, file, lineno, "start", "cannot start provbot");
            break;
        case '>':
            if (!p.pid) {
                char none[1] = "";
                start_proc(&p, dir, none);
            }
            fprintf(p.in, "%s\n", arg);
            fflush(p.in);
            cJSON_Delete(last);
            last = NULL;
            if (fgets(reply, sizeof reply, p.out))
                last = cJSON_Parse(reply);
            if (!last)
                report(false, file, lineno, "reply", "no reply line, or not JSON");
            break;
        case '<': {
            bool ok = last != NULL;
            char why[512] = "no reply";
            char *save = NULL;
            /* checks separated by " & " */
            for (char *c = strtok_r(arg, "&", &save); c && ok; c = strtok_r(NULL, "&", &save)) {
                while (*c == ' ')
                    c++;
                size_t n = strlen(c);
                while (n && c[n - 1] == ' ')
                    c[--n] = '\0';
                ok = check_one(last, c, why, sizeof why);
            }
            report(ok, file, lineno, arg, why);
            break;
        }
        case '!': {
            cJSON *arr = cases_list(dir);
            char why[512] = "";
            bool ok = false;
            int want, k;
            char fv[512];
            if (sscanf(arg, "cases %d", &want) == 1) {
                ok = cJSON_GetArraySize(arr) == want;
                snprintf(why, sizeof why, "%d cases", cJSON_GetArraySize(arr));
            } else if (sscanf(arg, "case %d %511s", &k, fv) == 2) {
                cJSON *c = cJSON_GetArrayItem(arr, k);
                ok = c && check_one(c, fv, why, sizeof why);
                if (!c)
                    snprintf(why, sizeof why, "no case %d", k);
            }
            report(ok, file, lineno, arg, why);
            cJSON_Delete(arr);
            break;
        }
        default:
            break;
        }
    }
    stop_proc(&p);
    cJSON_Delete(last);
    fclose(f);
    char rm[256];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm) != 0)
        fprintf(stderr, "# could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: convtest PROVBOT FILE.conv...\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    prog = argv[1];
    for (int i = 2; i < argc; i++)
        run_file(argv[i]);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
