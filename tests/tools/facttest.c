/* facttest.c -- what facts a message tells, as data files (issue 10, item 8).
 *
 * usage: facttest [--all] INTENTS_DIR FILE.tsv...
 * Loads the real knowledge pack from INTENTS_DIR and runs the entity
 * extractor (src/entity.h) on each message, as the engine does (raw text
 * and its TEXT_FOLD form). Lines of a file:
 *   # comment                      (blank lines too)
 *   #fails: MESSAGE<TAB>CHECKS     a line today's rules get wrong: skipped
 *                                  (run with --all; then a pass is reported)
 *   MESSAGE<TAB>CHECKS             checks separated by spaces:
 *     slot=value    the value of slot (answer, access, ponr, ...) is value
 *     slot=-        no value of slot was found
 *     email0=ADDR   the address meant as new (email1: the other one; - none)
 *     nemail=N      N valid addresses
 *     own=N         index of the person's own address (-1: none marked)
 *     bad_email=S   the first refused candidate (- none)
 *                   (in a value, \s stands for a space)
 *     bad_why~WORD  the refusal's reason contains WORD
 *     order=REF     the order reference (- none)
 *     only          no slot values other than the slot=value checks given
 * Prints TAP, one test per message; exits 1 when a check fails.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entity.h"
#include "pack.h"
#include "text.h"

#define LINE_MAX_LEN 2048

static int ntest, nfail;

/* "-" stands for "none" (empty string or NULL). */
static bool same(const char *want, const char *got)
{
    if (strcmp(want, "-") == 0)
        return !got || !got[0];
    return got && strcmp(want, got) == 0;
}

/* Checks one "key=value" / "key~word" against r; false with a note in why. */
static bool check_one(const struct ent_result *r, const char *chk, char *why, size_t wl)
{
    char key[64];
    const char *eq = strpbrk(chk, "=~");
    if (!eq || (size_t)(eq - chk) >= sizeof key) {
        snprintf(why, wl, "bad check '%s'", chk);
        return false;
    }
    memcpy(key, chk, (size_t)(eq - chk));
    key[eq - chk] = '\0';
    char want[LINE_MAX_LEN];
    size_t n = 0;
    for (const char *w = eq + 1; *w && n + 1 < sizeof want; w++)
        if (w[0] == '\\' && w[1] == 's') {
            want[n++] = ' ';
            w++;
        } else
            want[n++] = *w;
    want[n] = '\0';
    const char *got;
    char num[16];
    if (*eq == '~' && strcmp(key, "bad_why") == 0)
        got = strstr(r->bad_email_why, want) ? want : r->bad_email_why;
    else if (strcmp(key, "email0") == 0)
        got = r->nemail > 0 ? r->email[0] : NULL;
    else if (strcmp(key, "email1") == 0)
        got = r->nemail > 1 ? r->email[1] : NULL;
    else if (strcmp(key, "nemail") == 0 || strcmp(key, "own") == 0) {
        snprintf(num, sizeof num, "%d", key[0] == 'n' ? r->nemail : r->own);
        got = num;
    } else if (strcmp(key, "bad_email") == 0)
        got = r->bad_email;
    else if (strcmp(key, "order") == 0)
        got = r->order_ref;
    else if (strcmp(want, "-") != 0 && ent_has(r, key, want))
        return true;
    else
        got = ent_get(r, key);
    if (same(want, got))
        return true;
    snprintf(why, wl, "%s: want %.300s, got %.300s", key, want, got && got[0] ? got : "-");
    return false;
}

/* All values found, "slot=value ...", for a failure's diagnostics. */
static void describe(const struct ent_result *r, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "nemail=%d own=%d email0=%s bad_email=%s order=%s",
                                r->nemail, r->own, r->nemail ? r->email[0] : "-",
                                r->bad_email[0] ? r->bad_email : "-",
                                r->order_ref[0] ? r->order_ref : "-");
    for (int i = 0; i < r->nvals && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, " %s=%s", r->vals[i].slot, r->vals[i].value);
}

/* True when every slot value found is named by a slot=value check. */
static bool only_listed(const struct ent_result *r, char *checks, char *why, size_t wl)
{
    for (int i = 0; i < r->nvals; i++) {
        char want[128];
        snprintf(want, sizeof want, "%s=%s", r->vals[i].slot, r->vals[i].value);
        bool listed = false;
        for (char *c = checks; c && *c; c += strlen(c) + 1)
            listed = listed || strcmp(c, want) == 0;
        if (!listed) {
            snprintf(why, wl, "unexpected %s", want);
            return false;
        }
    }
    return true;
}

/* Runs one line "MESSAGE\tCHECKS"; prints its TAP line. */
static void run_line(const pack *p, const char *file, int lineno, char *line, bool todo)
{
    char *tab = strchr(line, '\t');
    char fold[LINE_MAX_LEN], why[1024] = "", all[1024];
    struct ent_result r;

    ntest++;
    if (!tab) {
        nfail++;
        printf("not ok %d - %s:%d no TAB between message and checks\n", ntest, file, lineno);
        return;
    }
    *tab = '\0';
    size_t flen = text_normalize(line, strlen(line), TEXT_FOLD, fold, sizeof fold);
    ent_extract(p, line, strlen(line), fold, flen, &r);
    /* the checks as a NUL-separated list ending in an empty string */
    char checks[LINE_MAX_LEN + 2], *c = checks;
    bool ok = true, only = false;
    for (char *t = strtok(tab + 1, " \t\r"); t; t = strtok(NULL, " \t\r")) {
        if (strcmp(t, "only") == 0) {
            only = true;
            continue;
        }
        if (ok && !check_one(&r, t, why, sizeof why))
            ok = false;
        c += sprintf(c, "%s", t) + 1;
    }
    *c = '\0';
    if (ok && only)
        ok = only_listed(&r, checks, why, sizeof why);
    if (!ok && !todo)
        nfail++;
    printf("%s %d - %s:%d %s%s\n", ok ? "ok" : "not ok", ntest, file, lineno, line,
           todo ? (ok ? " # now passes: remove its #fails: mark" : " # TODO fails with today's rules") : "");
    if (!ok) {
        describe(&r, all, sizeof all);
        printf("#   %s\n#   found: %s\n", why, all);
    }
}

static int run_file(const pack *p, const char *file, bool with_todo)
{
    FILE *f = fopen(file, "r");
    char line[LINE_MAX_LEN];
    int lineno = 0;

    if (!f) {
        perror(file);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        bool todo = strncmp(line, "#fails: ", 8) == 0;
        if (todo && !with_todo)
            printf("# skipped (fails today) %s:%d %s\n", file, lineno, line + 8);
        if (todo && with_todo)
            run_line(p, file, lineno, line + 8, true);
        if (!line[0] || line[0] == '#')
            continue;
        run_line(p, file, lineno, line, false);
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    char err[512];
    bool all = argc > 1 && strcmp(argv[1], "--all") == 0;
    int first = all ? 2 : 1;

    if (argc < first + 2) {
        fprintf(stderr, "usage: facttest [--all] INTENTS_DIR FILE.tsv...\n");
        return 2;
    }
    pack *p = pack_load(argv[first], err, sizeof err);
    if (!p) {
        fprintf(stderr, "facttest: %s\n", err);
        return 2;
    }
    int rc = 0;
    for (int i = first + 1; i < argc; i++)
        if (run_file(p, argv[i], all) < 0)
            rc = 2;
    printf("1..%d\n", ntest);
    pack_free(p);
    if (ntest == 0) {
        fprintf(stderr, "facttest: no test lines\n");
        return 2;
    }
    return rc ? rc : nfail ? 1 : 0;
}
