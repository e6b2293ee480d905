/* bench_engine.c -- figures for the understanding and the dialog engine.
 *
 * usage: bench_engine INTENTS_DIR HELDOUT.tsv [--turns | --classify]
 *        (--turns: the turns alone; --classify: start-up and a longer classification)
 * Prints: start-up (pack load + pattern compile + training, and with the
 * model read from a warm cache instead of trained), classification
 * throughput on one thread over >= 100,000 utterances, peak RSS, conversation
 * turns per second through the engine with the SQLite store on (each turn
 * committed alone, and in group commits of 8 as `serve` makes under load; WAL
 * checkpoints run in another thread, as in `serve`), and memory
 * per live conversation (the state kept in the store; the engine keeps none
 * in RAM between turns).
 */
#include "engine.h"
#include "nlu.h"
#include "pack.h"

#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time of this process: on a machine shared with other work, what the
 * classification costs, not how long it waited for a core. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_kb(const char *which)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, which, strlen(which)))
            kb = atol(line + strlen(which));
    if (f)
        fclose(f);
    return kb;
}

/* The bytes of the database's pages in use (page_count x page_size), 0 when
 * it cannot be read. */
static long db_bytes(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long n = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT page_count * page_size FROM pragma_page_count(),"
                           " pragma_page_size()", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static atomic_bool stop_ckpt;

/* Checkpoints the WAL every second from its own connection, as the outbox
 * worker does beside `serve`. */
static void *checkpointer(void *dir)
{
    char err[256];
    store *s = store_open(dir, err, sizeof err);
    while (s && !atomic_load(&stop_ckpt)) {
        store_checkpoint(s);
        for (int i = 0; i < 100 && !atomic_load(&stop_ckpt); i++)
            nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
    }
    store_close(s);
    return NULL;
}

/* Runs nconv scripted conversations, `width` of them side by side (turn k
 * of each, then turn k + 1 of each: a chat server's order); batch > 1 groups
 * that many turns a commit. */
static int run_turns(engine *e, int nconv, int width, int batch, const char *tag, int *turns)
{
    static const char *script[] = {
        "hi", "I need to change the provisioning contact email", "Awaiting Provisioning Details",
        "yes", "no", "no", "no", "what is PONR?", "no", "thanks",
    };
    const int nscript = sizeof script / sizeof *script;
    char session[40], err[256];
    *turns = 0;
    for (int c0 = 0; c0 < nconv; c0 += width)
        for (int k = 0; k < nscript; k++)
            for (int c = c0; c < c0 + width && c < nconv; c++) {
            struct engine_result res;
            snprintf(session, sizeof session, "%s-%d", tag, c);
            if (batch > 1 && *turns % batch == 0 && engine_batch_begin(e, err, sizeof err) < 0)
                goto fail;
            if (engine_turn(e, session, NULL, script[k], NULL, &res, err, sizeof err) < 0)
                goto fail;
            engine_result_free(&res);
            ++*turns;
            if (batch > 1 && *turns % batch == 0 && engine_batch_commit(e, err, sizeof err) < 0)
                goto fail;
        }
    return engine_batch_commit(e, err, sizeof err) < 0 ? -1 : 0;
fail:
    fprintf(stderr, "turn: %s\n", err);
    return -1;
}

/* run_turns() timed: prints turns/s and the WAL bytes a turn wrote. */
static int timed_turns(engine *e, int nconv, int width, int batch, const char *tag,
                       const char *what)
{
    int turns;
    uint64_t w0 = store_wal_bytes_total();
    double t0 = now(), c0 = cpu_now();
    if (run_turns(e, nconv, width, batch, tag, &turns) < 0)
        return -1;
    double dt = now() - t0, dc = cpu_now() - c0;
    printf("conversation turns, store on, %s: %d turns in %.3f s = %.0f turns/s on one core"
           " (CPU %.1f us a turn, all threads);"
           " WAL written %.0f bytes a turn\n",
           what, turns, dt, turns / dt, dc / turns * 1e6,
           (double)(store_wal_bytes_total() - w0) / turns);
    return 0;
}

/* Conversation turns with the store on: the three commit patterns, then the
 * store's size. 0, or -1 with a message on stderr. */
static int bench_turns(const char *intents)
{
    char err[512];
    char dir[] = "/tmp/bench_engine.XXXXXX";
    if (!mkdtemp(dir))
        return -1;
    struct engine_config cfg = { .intents_dir = intents, .data_dir = dir, .channel = "bench",
                                 .no_checkpoint = true };
    engine *e = engine_open(&cfg, err, sizeof err);
    pthread_t ck;
    if (!e || pthread_create(&ck, NULL, checkpointer, dir) != 0) {
        fprintf(stderr, "%s\n", e ? "cannot start the checkpointer" : err);
        return -1;
    }
    const int nconv = 3000;
    long rss0 = rss_kb("VmRSS:");
    long rss1 = rss0;
    if (timed_turns(e, nconv, 1, 1, "one", "one commit a turn") < 0)
        return -1;
    rss1 = rss_kb("VmRSS:");
    if (timed_turns(e, nconv, 1, 8, "group", "group commits of 8 (serve under load)") < 0 ||
        timed_turns(e, nconv, 100, 100, "wide",
                    "100 chats side by side, one commit a round (ws_load's closed loop)") < 0)
        return -1;
    atomic_store(&stop_ckpt, true);
    pthread_join(ck, NULL);
    engine_close(e);
    struct stat st;
    char path[128];
    snprintf(path, sizeof path, "%s/provbot.db", dir);
    long db = db_bytes(path); /* (the pages in use: the file grows in chunks) */
    snprintf(path, sizeof path, "%s/provbot.db-wal", dir);
    long wal = stat(path, &st) == 0 ? (long)st.st_size : 0;
    printf("memory per live conversation: %.0f bytes in the store (state + turns; %d conversations, db %.1f MiB + wal %.1f MiB); RSS grew %.1f MiB over them (SQLite page cache)\n",
           (double)db / (3 * nconv), 3 * nconv, db / 1048576.0, wal / 1048576.0, (rss1 - rss0) / 1024.0);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    return system(path) == 0 ? 0 : -1;
}

/* Start-up, best of 5 trained (cold) and from a model cache (warm): prints
 * it and leaves the last pack and model in *pp, *mp. 0, or -1. */
static int bench_startup(const char *intents, pack **pp, nlu **mp)
{
    char err[512], cmd[128];
    char cdir[] = "/tmp/bench_cache.XXXXXX";
    if (!mkdtemp(cdir))
        return -1;
    double best[2] = { 1e9, 1e9 };
    pack *p = NULL;
    nlu *m = NULL;
    for (int i = 0; i < 10; i++) {
        nlu_free(m);
        pack_free(p);
        double t0 = now();
        p = pack_load(intents, err, sizeof err);
        m = !p ? NULL : i < 5 ? nlu_train(p, err, sizeof err) : nlu_open(p, cdir, err, sizeof err);
        double dt = now() - t0;
        if (!m) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
        if (i == 4) {   /* fills the cache */
            nlu *c = nlu_open(p, cdir, err, sizeof err);
            if (!c)
                return -1;
            nlu_free(c);
        }
        if (i >= 5 && !nlu_from_cache(m)) {
            fprintf(stderr, "bench_engine: the model cache was not used\n");
            return -1;
        }
        if (dt < best[i >= 5])
            best[i >= 5] = dt;
    }
    printf("startup (load, compile, train): %.1f ms cold, %.1f ms with a warm model cache (best of 5);"
           " model %.1f KiB\n", best[0] * 1000, best[1] * 1000, nlu_model_bytes(m) / 1024.0);
    *pp = p;
    *mp = m;
    snprintf(cmd, sizeof cmd, "rm -rf %s", cdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The held-out file's utterances (the text after the tab), into *out; their
 * number, 0 when none. */
static size_t read_utterances(const char *file, char ***out)
{
    FILE *f = fopen(file, "r");
    char line[4096];
    char **u = NULL;
    size_t n = 0, cap = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || !tab)
            continue;
        tab[strcspn(tab, "\n")] = '\0';
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            u = realloc(u, cap * sizeof *u);
        }
        u[n++] = strdup(tab + 1);
    }
    if (f)
        fclose(f);
    *out = u;
    return n;
}

/* Classification throughput over >= `at_least` utterances of file on this
 * thread, in CPU time. 0, or -1. */
static int bench_classify(nlu *m, const char *file, size_t at_least)
{
    char **u;
    size_t n = read_utterances(file, &u);
    if (!n) {
        fprintf(stderr, "no utterances in %s\n", file);
        return -1;
    }
    size_t total = 0, bytes = 0;
    struct nlu_result r;
    double t0 = now(), c0 = cpu_now();
    while (total < at_least) {
        for (size_t i = 0; i < n; i++) {
            nlu_classify(m, u[i], strlen(u[i]), NULL, &r);
            bytes += strlen(u[i]);
        }
        total += n;
    }
    double dt = cpu_now() - c0, wall = now() - t0;
    printf("classification: %zu utterances (avg %.0f bytes) in %.3f s of CPU time = %.0f utterances/s on one core (%.2f us each; %.3f s wall)\n",
           total, (double)bytes / total, dt, total / dt, dt / total * 1e6, wall);
    for (size_t i = 0; i < n; i++)
        free(u[i]);
    free(u);
    return 0;
}

int main(int argc, char **argv)
{
    pack *p;
    nlu *m;
    if (argc < 3) {
        fprintf(stderr, "usage: bench_engine INTENTS_DIR HELDOUT.tsv [--turns | --classify]\n");
        return 2;
    }
    if (argc > 3 && !strcmp(argv[3], "--turns"))   /* the turns alone (profiling) */
        return bench_turns(argv[1]) < 0;
    if (bench_startup(argv[1], &p, &m) < 0)
        return 1;
    if (argc > 3 && !strcmp(argv[3], "--classify"))   /* that alone, longer (profiling) */
        return bench_classify(m, argv[2], 2000000) < 0;
    if (bench_classify(m, argv[2], 200000) < 0)
        return 1;
    printf("peak RSS after load and classification: %.1f MiB\n", rss_kb("VmHWM:") / 1024.0);
    nlu_free(m);
    pack_free(p);
    return bench_turns(argv[1]) < 0;
}
