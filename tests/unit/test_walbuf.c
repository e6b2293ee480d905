/* test_walbuf.c -- the VFS that writes a commit's WAL frames at once: each
 * commit is on the file when sqlite3_step() returns (another connection on
 * the default VFS reads it at once; a process that dies right after its
 * commit, without closing anything, loses none), and the writes are
 * coalesced (fewer write calls than frames). */
#define _GNU_SOURCE
#include "walbuf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static sqlite3 *open_db(const char *path, const char *vfs)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                     vfs), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA page_size=1024; PRAGMA journal_mode=WAL;"
                                  "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;",
                                  NULL, NULL, NULL), SQLITE_OK);
    return db;
}

static int count(sqlite3 *db)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* n commits of one row of 600 bytes each (two or three pages a commit) */
static void commits(sqlite3 *db, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "INSERT INTO t VALUES(%d, randomblob(600))", i);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
}

/* write system calls made by this process so far (/proc/self/io) */
static long write_calls(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    long n = -1;
    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "syscw: %ld", &n) == 1)
            break;
    fclose(f);
    assert_true(n >= 0);
    return n;
}

static void temp_path(char *dir, char *path, size_t len)
{
    assert_non_null(mkdtemp(dir));
    snprintf(path, len, "%s/t.db", dir);
}

static void cleanup(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_commit_seen_at_once(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_walbuf.XXXXXX", path[128];
    temp_path(dir, path, sizeof path);
    assert_int_equal(walbuf_register(), SQLITE_OK);
    assert_int_equal(walbuf_register(), SQLITE_OK);   /* again: the same VFS */
    sqlite3 *w = open_db(path, WALBUF_VFS), *r = open_db(path, NULL);
    assert_int_equal(sqlite3_exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)",
                                  NULL, NULL, NULL), SQLITE_OK);
    long before = write_calls();
    for (int i = 0; i < 50; i++) {
        commits(w, i, 1);
        assert_int_equal(count(r), i + 1);   /* the reader on the default VFS */
    }
    long coalesced = write_calls() - before;
    /* the same 50 commits on the default VFS: two writes a frame */
    sqlite3_exec(r, "CREATE TABLE u(id INTEGER PRIMARY KEY, b BLOB)", NULL, NULL, NULL);
    before = write_calls();
    for (int i = 0; i < 50; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "INSERT INTO u VALUES(%d, randomblob(600))", i);
        assert_int_equal(sqlite3_exec(r, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    long plain = write_calls() - before;
    const char *pre = getenv("LD_PRELOAD");   /* valgrind's own calls count there too */
    if (!pre || !strstr(pre, "vgpreload"))
        assert_true(coalesced * 2 < plain);
    /* a transaction larger than the buffer, then a checkpoint by the reader */
    assert_int_equal(sqlite3_exec(w, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    commits(w, 100, 200);
    assert_int_equal(sqlite3_exec(w, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(count(r), 250);
    assert_int_equal(sqlite3_wal_checkpoint_v2(r, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL),
                     SQLITE_OK);
    commits(w, 1000, 5);                      /* the WAL written from its start again */
    assert_int_equal(count(r), 255);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(w);
    sqlite3_close(r);
    cleanup(dir);
}

/* A child commits and dies at once (no close, no exit handlers): a reader
 * finds every commit. */
static void test_commit_survives_death(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_walbuf.XXXXXX", path[128];
    temp_path(dir, path, sizeof path);
    assert_int_equal(walbuf_register(), SQLITE_OK);
    sqlite3 *w = open_db(path, WALBUF_VFS);
    assert_int_equal(sqlite3_exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(w);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        static sqlite3 *c;   /* left open on purpose: reachable, not a leak */
        if (sqlite3_open_v2(path, &c, SQLITE_OPEN_READWRITE, WALBUF_VFS) != SQLITE_OK)
            _exit(2);
        for (int i = 0; i < 20; i++) {
            char sql[96];
            snprintf(sql, sizeof sql, "INSERT INTO t VALUES(%d, randomblob(600))", i);
            if (sqlite3_exec(c, sql, NULL, NULL, NULL) != SQLITE_OK)
                _exit(3);
        }
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    sqlite3 *r = open_db(path, NULL);
    assert_int_equal(count(r), 20);
    sqlite3_close(r);
    cleanup(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_seen_at_once),
        cmocka_unit_test(test_commit_survives_death),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
