/* test_turns.c -- the turn pipeline (bot/turns.c) on a real engine.
 *
 * The pipeline alone owns the group commit: a reply reaches its channel
 * only after the commit that makes its turn durable, and when that commit
 * fails every turn of the batch fails, whichever channel submitted it. The
 * commit is substituted (struct turns_ops) to make it fail on demand; the
 * turns themselves run on the real engine and intents/.
 *
 * The regression: a second channel (Webex) used to commit the web chat's
 * open batch itself before marking an event handled; when that commit
 * failed, the web chat's later commit found no batch, returned 0, and its
 * held replies were sent as if saved. test_mark_handled_fails_batch is that
 * sequence through the pipeline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "turns.h"

#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../bot/turns.c"

static char dir[64];
static int fail_commits;        /* the next N commits fail */
static int commits, schedules;

static int fake_commit(engine *e, char *err, size_t errlen)
{
    commits++;
    int rc = engine_batch_commit(e, err, errlen);
    if (fail_commits > 0) {
        fail_commits--;
        snprintf(err, errlen, "store: disk I/O error (injected)");
        return -1;
    }
    return rc;
}

static int busy_left;           /* the next N batch begins find the store busy */
static int64_t clock_ms;        /* the pipeline's clock */

/* Threaded tests: a begin that stops the worker until released, so that
 * the test knows which turns make up each batch. */
static bool hold_next;
static sem_t entered, release;

static int fake_begin(engine *e, char *err, size_t errlen)
{
    if (hold_next) {
        sem_post(&entered);
        sem_wait(&release);
    }
    if (busy_left > 0) {
        busy_left--;
        snprintf(err, errlen, "store: database is locked (injected)");
        return STORE_BUSY;
    }
    return engine_batch_begin(e, err, errlen);
}

static int64_t fake_now(void) { return clock_ms; }

/* The worker's clock: 50 ms further at every reading. */
static int64_t worker_clock;
static int64_t fake_now_moving(void) { return __atomic_add_fetch(&worker_clock, 50, __ATOMIC_SEQ_CST); }

static int wakes;               /* the worker's wake hook, called with its lock held */
static void on_wake(void *arg) { (void)arg; __atomic_add_fetch(&wakes, 1, __ATOMIC_SEQ_CST); }

static void on_schedule(void *arg, int64_t delay_us) { (void)arg; (void)delay_us; schedules++; }

struct owner {                  /* one channel's view: outcomes in order */
    int n, ok, failed;
    char reply_to[8][16];
};

static void done(void *owner, void *arg, const struct turns_outcome *o)
{
    struct owner *w = owner;
    (void)arg;
    if (o->ok) {
        w->ok++;
        assert_non_null(o->res);
        assert_non_null(strstr(o->res->json, "\"type\":\"reply\""));
    } else {
        w->failed++;
        assert_null(o->res);
        assert_non_null(o->err);
    }
    snprintf(w->reply_to[w->n++ % 8], 16, "%s", o->reply_to ? o->reply_to : "");
}

static int setup_with(void **state, bool threaded)
{
    strcpy(dir, "/tmp/test_turns.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char err[512];
    const char *in = getenv("PROVBOT_INTENTS") ? getenv("PROVBOT_INTENTS") : "intents";
    /* the suites' shared model cache when there is one (each test's fresh
     * data folder would train its own: seconds under ThreadSanitizer) */
    struct engine_config cfg = { .intents_dir = in, .data_dir = dir, .channel = "test",
                                 .model_cache_dir = getenv("PROVBOT_MODEL_CACHE") };
    engine *e = engine_open(&cfg, err, sizeof err);
    if (!e)
        fprintf(stderr, "%s\n", err);
    fail_commits = commits = schedules = busy_left = wakes = 0;
    hold_next = false;
    clock_ms = 1000000;
    struct turns_ops ops = { .batch_begin = fake_begin, .batch_commit = fake_commit, .now_ms = fake_now };
    if (threaded) {
        ops.now_ms = fake_now_moving;
        sem_init(&entered, 0, 0);
        sem_init(&release, 0, 0);
    }
    turns *t = !e ? NULL : threaded ? turns_start(e, &ops, on_wake, NULL) : turns_open(e, &ops, on_schedule, NULL);
    *state = t;
    return t ? 0 : -1;
}

static int setup(void **state) { return setup_with(state, false); }
static int setup_threaded(void **state) { return setup_with(state, true); }

static int teardown(void **state)
{
    char cmd[128];
    turns *t = *state;
    engine *e = turns_engine(t);
    turns_close(t);
    engine_close(e);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void submit(turns *t, struct owner *w, const char *session, const char *id)
{
    struct turns_msg m = { .session = session, .text = "hello", .reply_to = id };
    assert_int_equal(turns_submit(t, &m, done, w, NULL), 0);
}

/* Replies wait for the commit; one schedule and one commit per batch. */
static void test_reply_after_commit(void **state)
{
    turns *t = *state;
    struct owner web = { 0 }, wx = { 0 };
    submit(t, &web, "s-web", "m1");
    submit(t, &wx, "s-wx", NULL);
    submit(t, &web, "s-web", "m2");
    assert_int_equal(web.n + wx.n, 0);          /* nothing before the commit */
    assert_int_equal(schedules, 1);
    turns_flush(t);
    assert_int_equal(commits, 1);
    assert_int_equal(web.ok, 2);
    assert_int_equal(wx.ok, 1);
    assert_string_equal(web.reply_to[0], "m1");  /* in submission order */
    assert_string_equal(web.reply_to[1], "m2");
    turns_flush(t);                             /* no batch: nothing more */
    assert_int_equal(commits, 1);
    assert_int_equal(web.n + wx.n, 3);
}

/* A failed commit fails exactly the turns of its batch, in every channel;
 * the next batch is unaffected. */
static void test_commit_failure_fails_batch(void **state)
{
    turns *t = *state;
    struct owner web = { 0 }, wx = { 0 };
    submit(t, &web, "s-web", "m1");
    submit(t, &wx, "s-wx", NULL);
    fail_commits = 1;
    turns_flush(t);
    assert_int_equal(web.failed, 1);
    assert_int_equal(wx.failed, 1);
    assert_int_equal(web.ok + wx.ok, 0);
    submit(t, &web, "s-web", "m3");
    turns_flush(t);
    assert_int_equal(web.ok, 1);
    assert_string_equal(web.reply_to[1], "m3");
}

/* The regression: another channel marks an event handled while the web
 * chat's batch is open, and that commit fails. The web chat's reply must
 * come back failed, and nothing may come back as saved afterwards. */
static void test_mark_handled_fails_batch(void **state)
{
    turns *t = *state;
    struct owner web = { 0 };
    submit(t, &web, "s-web", "m1");
    fail_commits = 1;
    assert_int_equal(turns_mark_handled(t, "webex:act-1"), 1);   /* then alone, and new */
    assert_int_equal(web.failed, 1);
    assert_int_equal(web.ok, 0);
    turns_flush(t);                             /* the loop's scheduled commit */
    assert_int_equal(web.n, 1);
    assert_int_equal(web.ok, 0);
    assert_int_equal(turns_mark_handled(t, "webex:act-1"), 0);   /* durable: seen before */
}

/* A cancelled owner (a chat that closed) is never called back. */
static void test_cancel(void **state)
{
    turns *t = *state;
    struct owner gone = { 0 }, stays = { 0 };
    submit(t, &gone, "s-a", "m1");
    submit(t, &stays, "s-b", "m2");
    turns_cancel(t, &gone);
    turns_flush(t);
    assert_int_equal(gone.n, 0);
    assert_int_equal(stays.ok, 1);
}

/* A busy store delays turns, never reorders or loses them: they wait, every
 * later turn behind them, and run once a tick finds the lock free; their
 * replies still come after the commit. */
static void test_busy_store_retried(void **state)
{
    turns *t = *state;
    struct owner web = { 0 };
    busy_left = 2;
    submit(t, &web, "s-web", "m1");
    submit(t, &web, "s-web", "m2");               /* behind m1, though no longer busy */
    assert_int_equal(turns_waiting(t), 2);
    assert_int_equal(web.n, 0);
    turns_tick(t);                                /* busy again: still waiting */
    assert_int_equal(web.n, 0);
    assert_int_equal(turns_waiting(t), 2);
    clock_ms += 4;
    turns_tick(t);                                /* free: both run, one commit */
    assert_int_equal(turns_waiting(t), 0);
    assert_int_equal(commits, 1);
    assert_int_equal(web.ok, 2);
    assert_string_equal(web.reply_to[0], "m1");
    assert_string_equal(web.reply_to[1], "m2");
}

/* A turn kept waiting TURNS_GIVEUP_MS fails (the channel sends its error);
 * a flush (patient) leaves nothing waiting. */
static void test_busy_store_gives_up(void **state)
{
    turns *t = *state;
    struct owner web = { 0 };
    busy_left = 1000000;
    submit(t, &web, "s-web", "m1");
    clock_ms += TURNS_GIVEUP_MS - 1;
    turns_tick(t);
    assert_int_equal(web.n, 0);
    submit(t, &web, "s-web", "m2");
    clock_ms += 1;
    turns_tick(t);                                /* m1 gave up, m2 still waits */
    assert_int_equal(web.failed, 1);
    assert_string_equal(web.reply_to[0], "m1");
    assert_int_equal(turns_waiting(t), 1);
    turns_flush(t);                               /* still busy: m2 fails, none waits */
    assert_int_equal(web.failed, 2);
    assert_int_equal(turns_waiting(t), 0);
    assert_int_equal(web.ok, 0);
    busy_left = 0;
}

/* ---- the threaded pipeline (turns_start) ---- */

/* Submits `first` and waits until the worker holds it, alone, in a batch
 * that has not begun: later submits make the next batch. */
static void hold_worker(turns *t, struct owner *w, const char *session, const char *first)
{
    hold_next = true;
    submit(t, w, session, first);
    sem_wait(&entered);
    hold_next = false;
}

/* Outcomes are told on the loop only (turns_deliver/turns_flush), in
 * submission order, after their batch's commit; the turns that came while
 * a batch ran make the next one; the loop was woken. */
static void test_threaded_batches(void **state)
{
    turns *t = *state;
    struct owner web = { 0 }, wx = { 0 };
    hold_worker(t, &web, "s-web", "m1");
    submit(t, &wx, "s-wx", NULL);
    submit(t, &web, "s-web", "m2");
    assert_int_equal(turns_waiting(t), 2);
    turns_deliver(t);
    assert_int_equal(web.n + wx.n, 0);          /* nothing before its commit */
    sem_post(&release);
    turns_flush(t);
    assert_int_equal(commits, 2);               /* {m1}, then {wx, m2} */
    assert_int_equal(web.ok, 2);
    assert_int_equal(wx.ok, 1);
    assert_string_equal(web.reply_to[0], "m1");
    assert_string_equal(web.reply_to[1], "m2");
    assert_int_equal(turns_waiting(t), 0);
    assert_true(__atomic_load_n(&wakes, __ATOMIC_SEQ_CST) >= 1);
}

/* A failed commit fails exactly its batch's turns; the next batch commits. */
static void test_threaded_commit_failure(void **state)
{
    turns *t = *state;
    struct owner web = { 0 }, wx = { 0 };
    fail_commits = 1;
    hold_worker(t, &web, "s-web", "m1");
    submit(t, &wx, "s-wx", "x1");
    sem_post(&release);
    turns_flush(t);
    assert_int_equal(web.failed, 1);
    assert_int_equal(wx.ok, 1);
    assert_string_equal(wx.reply_to[0], "x1");
}

/* A cancelled owner is never called back, wherever its turn was. */
static void test_threaded_cancel(void **state)
{
    turns *t = *state;
    struct owner gone = { 0 }, stays = { 0 };
    hold_worker(t, &gone, "s-a", "m1");          /* running */
    submit(t, &gone, "s-a", "m2");               /* submitted */
    submit(t, &stays, "s-b", "m3");
    turns_cancel(t, &gone);
    sem_post(&release);
    turns_flush(t);
    assert_int_equal(gone.n, 0);
    assert_int_equal(stays.ok, 1);
}

/* A busy store keeps the worker retrying, the turns in order; a store busy
 * for TURNS_GIVEUP_MS fails the batch. */
static void test_threaded_busy(void **state)
{
    turns *t = *state;
    struct owner web = { 0 };
    busy_left = 3;
    submit(t, &web, "s-web", "m1");
    submit(t, &web, "s-web", "m2");
    turns_flush(t);
    assert_int_equal(web.ok, 2);
    assert_string_equal(web.reply_to[1], "m2");
    busy_left = 1000000;
    submit(t, &web, "s-web", "m3");
    turns_flush(t);
    busy_left = 0;
    assert_int_equal(web.failed, 1);
    assert_string_equal(web.reply_to[2], "m3");
}

/* A synchronous call sees every turn submitted before it; after
 * turns_quiet() the worker no longer wakes the loop. */
static void test_threaded_sync_and_quiet(void **state)
{
    turns *t = *state;
    struct owner web = { 0 };
    submit(t, &web, "s-sync", "m1");
    char *st = turns_conv_state(t, "s-sync");
    assert_non_null(st);
    free(st);
    assert_int_equal(web.ok, 1);
    turns_quiet(t);
    int before = __atomic_load_n(&wakes, __ATOMIC_SEQ_CST);
    submit(t, &web, "s-sync", "m2");
    turns_flush(t);
    assert_int_equal(web.ok, 2);
    assert_int_equal(__atomic_load_n(&wakes, __ATOMIC_SEQ_CST), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reply_after_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_failure_fails_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mark_handled_fails_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_store_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_store_gives_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threaded_batches, setup_threaded, teardown),
        cmocka_unit_test_setup_teardown(test_threaded_commit_failure, setup_threaded, teardown),
        cmocka_unit_test_setup_teardown(test_threaded_cancel, setup_threaded, teardown),
        cmocka_unit_test_setup_teardown(test_threaded_busy, setup_threaded, teardown),
        cmocka_unit_test_setup_teardown(test_threaded_sync_and_quiet, setup_threaded, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
