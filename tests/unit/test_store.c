/* test_store.c -- the SQLite store: migrations, conversations, cases and
 * their outbox states, attachments, handled events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/test_store.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static struct case_rec new_case(const char *session, const char *order, const char *email)
{
    struct case_rec c;
    memset(&c, 0, sizeof c);
    snprintf(c.session, sizeof c.session, "%s", session);
    snprintf(c.order_ref, sizeof c.order_ref, "%s", order);
    snprintf(c.new_email, sizeof c.new_email, "%s", email);
    strcpy(c.type, "Reissue device activation code");
    strcpy(c.lang, "en");
    c.summary = strdup("s");
    c.status = CASE_QUEUED;
    return c;
}

/* The database file grows in chunks of STORE_DB_CHUNK_BYTES (through the
 * store's own VFS), and what it holds is unchanged by that. */
static void test_db_grows_in_chunks(void **state)
{
    (void)state;
    char err[256], path[128], *json = NULL, state_json[600];
    struct stat st;
    store *s = store_open(dir, err, sizeof err);
    assert_non_null(s);
    memset(state_json, 'y', sizeof state_json - 1);
    state_json[0] = '"';
    state_json[sizeof state_json - 2] = '"';
    state_json[sizeof state_json - 1] = '\0';
    assert_int_equal(store_begin(s), 0);
    for (int i = 0; i < 3000; i++) {       /* about 2 MiB of rows */
        char id[16];
        snprintf(id, sizeof id, "c%d", i);
        assert_int_equal(store_conv_save(s, id, "chat", NULL, "en", state_json, "user: hi\n"), 0);
    }
    assert_int_equal(store_commit(s), 0);
    assert_true(store_checkpoint(s) >= 0);
    snprintf(path, sizeof path, "%s/provbot.db", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size >= STORE_DB_CHUNK_BYTES);
    assert_int_equal(st.st_size % STORE_DB_CHUNK_BYTES, 0);
    store_close(s);
    s = store_open(dir, err, sizeof err);
    assert_int_equal(store_conv_load(s, "c2999", &json), 1);
    assert_string_equal(json, state_json);
    free(json);
    store_close(s);
}

static void test_conversations_survive_reopen(void **state)
{
    (void)state;
    char err[256], *json = NULL;
    store *s = store_open(dir, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(store_conv_load(s, "a", &json), 0);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_conv_save(s, "a", "chat", NULL, "sv", "{\"node\":\"x\"}", "user: hej\n"), 0);
    assert_int_equal(store_commit(s), 0);
    store_close(s);
    s = store_open(dir, err, sizeof err);
    assert_int_equal(store_conv_load(s, "a", &json), 1);
    assert_string_equal(json, "{\"node\":\"x\"}");
    free(json);
    char *t = store_transcript(s, "a");
    assert_string_equal(t, "user: hej\n");
    free(t);
    /* the recent turns are capped, and start at a whole turn */
    char big[600];
    memset(big, 'x', sizeof big - 2);
    big[sizeof big - 2] = '\n';
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 20; i++)
        assert_int_equal(store_conv_save(s, "a", "chat", NULL, "sv", "{}", big), 0);
    t = store_transcript(s, "a");
    assert_true(strlen(t) <= 2000 && strlen(t) >= 1400);
    assert_int_equal(t[0], 'x');
    assert_int_equal(strlen(t) % 599, 0);
    free(t);
    /* a rolled-back turn leaves nothing */
    store_begin(s);
    store_conv_save(s, "b", "chat", NULL, "en", "{}", NULL);
    store_rollback(s);
    assert_int_equal(store_conv_load(s, "b", &json), 0);
    store_close(s);
}

static void test_case_ids_and_outbox_states(void **state)
{
    (void)state;
    char err[256], ids[8][CASE_ID_MAX], id[CASE_ID_MAX];
    store *s = store_open(dir, err, sizeof err);
    struct case_rec c1 = new_case("s1", "111111", "a@example.com");
    struct case_rec c2 = new_case("s1", "222222", "b@example.com");
    assert_int_equal(store_case_insert(s, &c1), 0);
    assert_int_equal(store_case_insert(s, &c2), 0);
    assert_string_equal(c1.id, "PB-000001");
    assert_string_equal(c2.id, "PB-000002");
    assert_int_equal(store_case_find_same(s, "s1", "111111", "A@EXAMPLE.COM", id), 1);
    assert_string_equal(id, "PB-000001");
    assert_int_equal(store_case_find_same(s, "s2", "111111", "a@example.com", id), 0);

    assert_int_equal(store_cases_due(s, store_now_ms(), ids, 8), 2);
    assert_int_equal(store_case_retry(s, "PB-000001", store_now_ms() + 60000, "HTTP 500"), 0);
    assert_int_equal(store_cases_due(s, store_now_ms(), ids, 8), 1);
    assert_string_equal(ids[0], "PB-000002");
    assert_int_equal(store_case_delivered(s, "PB-000002", "T-1"), 0);
    assert_int_equal(store_case_failed(s, "PB-000001", "HTTP 400"), 0);
    assert_int_equal(store_cases_due(s, INT64_MAX, ids, 8), 0);

    struct case_rec got;
    assert_int_equal(store_case_get(s, "PB-000002", &got), 1);
    assert_int_equal(got.status, CASE_FILED);
    assert_string_equal(got.remote_id, "T-1");
    assert_string_equal(got.type, "Reissue device activation code"); /* the type is kept */
    case_rec_clear(&got);
    assert_int_equal(store_case_get(s, "PB-000001", &got), 1);
    assert_int_equal(got.status, CASE_FAILED);
    assert_int_equal(got.attempts, 2);
    assert_string_equal(got.last_error, "HTTP 400");
    case_rec_clear(&got);
    /* a failed case is told once */
    assert_int_equal(store_cases_take_failed(s, "s1", ids, 8), 1);
    assert_int_equal(store_cases_take_failed(s, "s1", ids, 8), 0);

    cJSON *all = store_cases_json(s, NULL);
    assert_int_equal(cJSON_GetArraySize(all), 2);
    cJSON_Delete(all);
    case_rec_clear(&c1);
    case_rec_clear(&c2);
    store_close(s);
}

static void test_attachments_and_events(void **state)
{
    (void)state;
    char err[256];
    store *s = store_open(dir, err, sizeof err);
    assert_int_equal(store_attach_add(s, "s9", "a.png", "image/png", "\x89PNG", 4), 0);
    assert_int_equal(store_attach_count(s, "s9", NULL), 1);
    struct case_rec c = new_case("s9", "333333", "c@example.com");
    assert_int_equal(store_case_insert(s, &c), 0);
    assert_int_equal(store_attach_bind(s, "s9", c.id), 0);
    assert_int_equal(store_attach_count(s, "s9", NULL), 0);
    assert_int_equal(store_attach_count(s, NULL, c.id), 1);
    cJSON *a = store_attach_json(s, c.id);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "data")->valuestring, "iVBORw==");
    cJSON_Delete(a);
    case_rec_clear(&c);
    assert_int_equal(store_mark_handled(s, "evt-1"), 1);
    assert_int_equal(store_mark_handled(s, "evt-1"), 0);
    store_close(s);
}

/* A channel's pending work: begin once, settle with the turn (handled, reply
 * kept), listed by prefix until done; an event handled is never begun again. */
static void test_pending_lifecycle(void **state)
{
    (void)state;
    char err[256];
    store *s = store_open(dir, err, sizeof err);
    assert_int_equal(store_pending_begin(s, "webex:a1", "{\"act\":\"a1\"}"), 1);
    assert_int_equal(store_pending_begin(s, "webex:a1", "{}"), 0);      /* already pending */
    assert_int_equal(store_pending_begin(s, "webex:a2", "{}"), 1);
    assert_int_equal(store_pending_begin(s, "other:a3", "{}"), 1);
    assert_int_equal(store_pending_update(s, "webex:a1", "{\"room_id\":\"R\"}"), 0);
    assert_int_equal(store_pending_settle(s, "webex:a1", "{\"text\":\"hi\"}"), 0);
    store_close(s);
    s = store_open(dir, err, sizeof err);                                 /* survives a restart */
    cJSON *l = store_pending_list(s, "webex:");
    assert_int_equal(cJSON_GetArraySize(l), 2);
    cJSON *r = NULL, *it;
    cJSON_ArrayForEach(it, l)
        if (!strcmp(cJSON_GetObjectItem(it, "key")->valuestring, "webex:a1")) r = it;
    assert_non_null(r);
    assert_string_equal(cJSON_GetObjectItem(r, "kind")->valuestring, "reply");
    assert_string_equal(cJSON_GetObjectItem(r, "data")->valuestring, "{\"room_id\":\"R\"}");
    assert_string_equal(cJSON_GetObjectItem(r, "reply")->valuestring, "{\"text\":\"hi\"}");
    cJSON_Delete(l);
    assert_int_equal(store_pending_done(s, "webex:a1", false), 0);
    assert_int_equal(store_pending_begin(s, "webex:a1", "{}"), 0);      /* handled at settle */
    assert_int_equal(store_pending_done(s, "webex:a2", false), 0);      /* not handled: again */
    assert_int_equal(store_pending_begin(s, "webex:a2", "{}"), 1);
    assert_int_equal(store_pending_done(s, "webex:a2", true), 0);
    assert_int_equal(store_pending_begin(s, "webex:a2", "{}"), 0);
    l = store_pending_list(s, "webex:");
    assert_int_equal(cJSON_GetArraySize(l), 0);
    cJSON_Delete(l);
    store_close(s);
}

/* A purge larger than a chunk (500 rows) deletes all of it, chunk after
 * chunk, and spares what is newer than the cutoff. */
static void test_purge_in_chunks(void **state)
{
    (void)state;
    char err[256], sess[32], *json = NULL;
    store *s = store_open(dir, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(store_begin(s), 0);
    for (int i = 0; i < 1234; i++) {
        snprintf(sess, sizeof sess, "old%d", i);
        assert_int_equal(store_conv_save(s, sess, "web", NULL, "en", "{}", "user: hi\n"), 0);
    }
    assert_int_equal(store_commit(s), 0);
    int64_t cutoff = store_now_ms() + 1;
    usleep(20000);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_conv_save(s, "young", "web", NULL, "en", "{}", "user: hi\n"), 0);
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(store_purge(s, cutoff), 2 * 1234);      /* conversations and turns */
    assert_int_equal(store_conv_load(s, "old1233", &json), 0);
    assert_int_equal(store_conv_load(s, "young", &json), 1);
    free(json);
    char *t = store_transcript(s, "young");
    assert_string_equal(t, "user: hi\n");
    free(t);
    assert_int_equal(store_purge(s, cutoff), 0);
    store_close(s);
}

static void test_retention_purge(void **state)
{
    (void)state;
    char err[256], *json = NULL;
    store *s = store_open(dir, err, sizeof err);
    store_begin(s);
    assert_int_equal(store_conv_save(s, "old", "web", NULL, "en", "{}", "user: secret words\n"), 0);
    store_commit(s);
    struct case_rec c = new_case("old", "444444", "d@example.com");
    c.transcript = strdup("user: secret words\n");
    c.status = CASE_FILED;
    assert_int_equal(store_case_insert(s, &c), 0);
    struct case_rec q = new_case("old", "555555", "e@example.com");
    q.transcript = strdup("user: still to deliver\n");
    assert_int_equal(store_case_insert(s, &q), 0);
    assert_int_equal(store_pending_begin(s, "webex:old", "{\"notes\":\"secret words\"}"), 1);
    /* nothing is older than an hour ago */
    assert_int_equal(store_purge(s, store_now_ms() - 3600000), 0);
    assert_int_equal(store_conv_load(s, "old", &json), 1);
    free(json);
    /* everything is older than a minute from now */
    assert_true(store_purge(s, store_now_ms() + 60000) >= 2);
    assert_int_equal(store_conv_load(s, "old", &json), 0);
    char cmd[160], rows[32] = "";
    snprintf(cmd, sizeof cmd, "sqlite3 %s/provbot.db 'SELECT count(*) FROM turns'", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(rows, sizeof rows, p));
    pclose(p);
    assert_string_equal(rows, "0\n");    /* the words of the turns too */
    cJSON *pend = store_pending_list(s, "webex:");
    assert_int_equal(cJSON_GetArraySize(pend), 0);   /* and pending channel work */
    cJSON_Delete(pend);
    struct case_rec got;
    assert_int_equal(store_case_get(s, c.id, &got), 1);
    assert_null(got.transcript);          /* the words are gone */
    assert_string_equal(got.order_ref, "444444"); /* the case stays */
    case_rec_clear(&got);
    assert_int_equal(store_case_get(s, q.id, &got), 1);
    assert_non_null(got.transcript);      /* a queued case keeps what it will send */
    case_rec_clear(&got);
    case_rec_clear(&c);
    case_rec_clear(&q);
    store_close(s);
}

static void test_newer_schema_refused(void **state)
{
    (void)state;
    char err[256], cmd[256];
    snprintf(cmd, sizeof cmd, "sqlite3 %s/provbot.db 'PRAGMA user_version=%d'", dir, STORE_SCHEMA_VERSION + 1);
    assert_int_equal(system(cmd), 0);
    assert_null(store_open(dir, err, sizeof err));
    assert_non_null(strstr(err, "newer than this provbot"));
}

/* A store of schema version 2 (before turns had their own table) opens,
 * migrates, and keeps its conversations, their recent turns and its cases. */
static void test_version2_store_migrates(void **state)
{
    (void)state;
    char err[256], cmd[4096], *json = NULL;
    snprintf(cmd, sizeof cmd, "sqlite3 %s/provbot.db \"PRAGMA journal_mode=WAL;"
             "CREATE TABLE conversations(session TEXT PRIMARY KEY, channel TEXT, user TEXT,"
             " lang TEXT, state TEXT NOT NULL, turns TEXT NOT NULL DEFAULT '',"
             " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
             "CREATE INDEX conversations_updated ON conversations(updated_at);"
             "CREATE TABLE cases(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE,"
             " session TEXT, status TEXT NOT NULL, order_ref TEXT NOT NULL,"
             " new_email TEXT NOT NULL, requester TEXT, lang TEXT NOT NULL, summary TEXT NOT NULL,"
             " transcript TEXT, created_at TEXT NOT NULL, remote_id TEXT,"
             " attempts INTEGER NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
             " last_error TEXT, notified INTEGER NOT NULL DEFAULT 0, remote_status TEXT,"
             " remote_checked_ms INTEGER NOT NULL DEFAULT 0);"
             "CREATE TABLE attachments(id INTEGER PRIMARY KEY, session TEXT NOT NULL,"
             " case_id TEXT, name TEXT NOT NULL, mime TEXT NOT NULL, data BLOB NOT NULL,"
             " at INTEGER NOT NULL);"
             "CREATE TABLE handled(event TEXT PRIMARY KEY, at INTEGER NOT NULL);"
             "INSERT INTO conversations VALUES('old', 'web', NULL, 'sv', '{\\\"node\\\":\\\"q\\\"}',"
             " 'user: hej\nbot: hej hej\n', 1, 2);"
             "INSERT INTO conversations VALUES('quiet', 'web', NULL, 'en', '{}', '', 1, 2);"
             "INSERT INTO cases(id, session, status, order_ref, new_email, lang, summary,"
             " created_at) VALUES('PB-000001', 'old', 'queued', '123456', 'a@example.com', 'sv',"
             " 's', '2024-01-01T00:00:00Z');"
             "PRAGMA user_version=2;\" > /dev/null", dir);
    assert_int_equal(system(cmd), 0);
    store *s = store_open(dir, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(store_conv_load(s, "old", &json), 1);
    assert_string_equal(json, "{\"node\":\"q\"}");
    assert_int_equal(store_pending_begin(s, "webex:m", "{}"), 1);     /* migration 4: pending */
    free(json);
    char *t = store_transcript(s, "old");
    assert_string_equal(t, "user: hej\nbot: hej hej\n");
    free(t);
    t = store_transcript(s, "quiet");
    assert_string_equal(t, "");
    free(t);
    /* a new turn follows the migrated ones */
    assert_int_equal(store_conv_save(s, "old", "web", NULL, "sv", "{}", "user: tack\n"), 0);
    t = store_transcript(s, "old");
    assert_string_equal(t, "user: hej\nbot: hej hej\nuser: tack\n");
    free(t);
    struct case_rec c;
    assert_int_equal(store_case_get(s, "PB-000001", &c), 1);
    assert_string_equal(c.order_ref, "123456");
    assert_string_equal(c.type, "Change provisioning contact email"); /* migration 5 */
    case_rec_clear(&c);
    store_close(s);
    /* and it stays at the new version */
    s = store_open(dir, err, sizeof err);
    assert_non_null(s);
    store_close(s);
}

/* Group commits without pause on a handle that never checkpoints
 * (store_autocheckpoint off, as the event loop's), and a second handle (the
 * outbox thread's) calling store_checkpoint between them: its RESTARTs keep
 * the WAL file bounded (about 20 MiB of turns are written; the WAL restarts
 * past 8 MiB). */
static void test_wal_bounded_under_continuous_commits(void **state)
{
    (void)state;
    char err[256], path[128], sess[16], text[1200];
    store *s = store_open(dir, err, sizeof err), *ck = store_open(dir, err, sizeof err);
    assert_non_null(s);
    assert_non_null(ck);
    store_autocheckpoint(s, false);
    store_autocheckpoint(ck, false);
    memset(text, 'w', sizeof text - 2);
    text[sizeof text - 2] = '\n';
    text[sizeof text - 1] = '\0';
    snprintf(path, sizeof path, "%s/provbot.db-wal", dir);
    long peak = 0;
    int restarts = 0, last = 0;
    for (int batch = 0; batch < 350; batch++) {
        assert_int_equal(store_begin(s), 0);
        for (int i = 0; i < 50; i++) {
            snprintf(sess, sizeof sess, "s%d", i);
            assert_int_equal(store_conv_save(s, sess, "web", NULL, "en", "{}", text), 0);
        }
        assert_int_equal(store_commit(s), 0);
        assert_int_equal(store_checkpoint(ck), 0);
        restarts += store_wal_pages(s) < last;
        last = store_wal_pages(s);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        if (ftell(f) > peak)
            peak = ftell(f);
        fclose(f);
    }
    assert_true(restarts >= 1);
    assert_true(peak <= 9 * 1024 * 1024);
    char *t = store_transcript(s, "s7");
    assert_true(strlen(t) >= 1199 && strlen(t) <= 2000);
    free(t);
    store_close(ck);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_conversations_survive_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_case_ids_and_outbox_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attachments_and_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_in_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version2_store_migrates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_bounded_under_continuous_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_grows_in_chunks, setup, teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
