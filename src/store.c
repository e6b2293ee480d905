/* store.c -- SQLite store (see store.h).
 *
 * Statements are prepared once and cached by their SQL text's address (each
 * SQL is a static string), so a turn costs no parsing. Every write a turn
 * makes runs inside the caller's store_begin()/store_commit().
 */
#include "store.h"
#include "walbuf.h"
#include "b64.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define STMT_CACHE 64
#define TURNS_KEPT "2000"   /* characters of recent turns in a transcript */
#define AUTO_CKPT_PAGES 1000 /* store_autocheckpoint(on): SQLite's default */
/* The WAL bound. Under continuous group commits a PASSIVE checkpoint never
 * catches up (checkpoint starvation), so once the WAL holds WAL_RESTART_BYTES
 * of pages the committing thread, between two of its commits, runs a RESTART
 * checkpoint (waiting at most RESTART_WAIT_MS for readers): the next commit
 * then writes the WAL from its start. Most of the copying is usually done
 * already by the other thread's PASSIVE checkpoints. The file is not cut
 * back (journal_size_limit -1): SQLite truncates it inside the RESTART,
 * holding the write lock, and on this kind of machine freeing tens of MiB
 * of page cache took 140 ms, a stall of every chat (tests/loop_stall.py);
 * the file keeps the size of its peak, which the restarts bound. */
#define PAGE_SIZE "1024"    /* new stores */
#define WAL_RESTART_BYTES (8 << 20)
#define RESTART_WAIT_MS 20
#define RESTART_RETRY_MS 100 /* after a busy restart, commits run free this long */
#define CKPT_RESTART_WAIT_MS 2 /* store_checkpoint's RESTART: see there */
#define CKPT_PASSES 4          /* ... PASSIVE passes before it at most */
#define CKPT_LEFTOVER_PAGES 64 /* ... a pass that found fewer new frames is the last */

struct store {
    sqlite3 *db;
    struct { const char *sql; sqlite3_stmt *st; } cache[STMT_CACHE];
    int ncache;
    int wal_pages;          /* frames in the WAL after the last commit */
    int page_size;
    bool autockpt;          /* PASSIVE checkpoint at AUTO_CKPT_PAGES on commit */
    int64_t restart_after;  /* no RESTART attempt before this time (ms) */
    int busy_ms;            /* the busy timeout (store_busy_timeout) */
    int wait_ms;            /* the busy wait in force now (set_wait) */
    int64_t busy_since_us;  /* when the current busy wait began (monotonic) */
};

/* Busy waits in steps of BUSY_STEP_US for the first millisecond, then of
 * 1 ms, up to s->wait_ms in all: SQLite's own handler sleeps 1 ms at once,
 * so a lock held 0.2 ms by the checkpointing thread cost the loop a whole
 * millisecond, every chat waiting. */
#define BUSY_STEP_US 100
static int busy_wait(void *arg, int count)
{
    store *s = arg;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    int64_t now = (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
    if (count == 0)
        s->busy_since_us = now;
    int64_t waited = now - s->busy_since_us;
    if (waited >= (int64_t)s->wait_ms * 1000)
        return 0;
    long step = waited < 1000 ? BUSY_STEP_US : 1000;
    struct timespec ts = { 0, step * 1000 };
    nanosleep(&ts, NULL);
    return 1;
}

static void set_wait(store *s, int ms)
{
    s->wait_ms = ms;
    sqlite3_busy_handler(s->db, ms > 0 ? busy_wait : NULL, s);
}

/* Migration k brings a store from version k to k + 1. */
static const char *const migrations[] = {
    "CREATE TABLE conversations("
    " session TEXT PRIMARY KEY, channel TEXT, user TEXT, lang TEXT,"
    " state TEXT NOT NULL, turns TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE INDEX conversations_updated ON conversations(updated_at);"
    "CREATE TABLE cases("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, session TEXT,"
    " status TEXT NOT NULL, order_ref TEXT NOT NULL, new_email TEXT NOT NULL,"
    " requester TEXT, lang TEXT NOT NULL, summary TEXT NOT NULL, transcript TEXT,"
    " created_at TEXT NOT NULL, remote_id TEXT, attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt_ms INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
    " notified INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX cases_session ON cases(session);"
    "CREATE INDEX cases_due ON cases(status, next_attempt_ms);"
    "CREATE TABLE attachments("
    " id INTEGER PRIMARY KEY, session TEXT NOT NULL, case_id TEXT, name TEXT NOT NULL,"
    " mime TEXT NOT NULL, data BLOB NOT NULL, at INTEGER NOT NULL);"
    "CREATE INDEX attachments_session ON attachments(session, case_id);"
    "CREATE TABLE handled(event TEXT PRIMARY KEY, at INTEGER NOT NULL);",
    /* 2: the remote ticket's status as last read back (rt backend) */
    "ALTER TABLE cases ADD COLUMN remote_status TEXT;"
    "ALTER TABLE cases ADD COLUMN remote_checked_ms INTEGER NOT NULL DEFAULT 0;",
    /* 3: turns are appended to their own table (a chain through prev, newest
     * in conversations.last_turn) instead of rewriting the conversation's
     * recent turns every turn; the index on updated_at (a page rewritten per
     * turn, read only by the hourly purge) goes. Old recent turns become
     * one turn row each, so no conversation loses its transcript. */
    "CREATE TABLE turns(id INTEGER PRIMARY KEY, prev INTEGER, at INTEGER NOT NULL,"
    " text TEXT NOT NULL);"
    "ALTER TABLE conversations ADD COLUMN last_turn INTEGER;"
    "INSERT INTO turns(id, prev, at, text) SELECT rowid, NULL, updated_at, turns"
    " FROM conversations WHERE turns != '';"
    "UPDATE conversations SET last_turn = rowid WHERE turns != '';"
    "DROP INDEX conversations_updated;"
    "ALTER TABLE conversations DROP COLUMN turns;",
    /* 4: a channel's work in progress (a Webex activity being read, then its
     * reply waiting to be sent), so that a restart resumes it */
    "CREATE TABLE pending(key TEXT PRIMARY KEY, kind TEXT NOT NULL, data TEXT NOT NULL,"
    " reply TEXT, at INTEGER NOT NULL);",
    /* 5: a case carries its type (a case type's name from the pack); every
     * case filed before this version was of the one type there was then
     * (history of the stored data, not a rule of the bot) */
    "ALTER TABLE cases ADD COLUMN type TEXT NOT NULL DEFAULT '';"
    "UPDATE cases SET type = 'Change provisioning contact email';",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))
_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration per schema version");

int64_t store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void store_rfc3339(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static sqlite3_stmt *prep(store *s, const char *sql)
{
    for (int i = 0; i < s->ncache; i++)
        if (s->cache[i].sql == sql) {
            sqlite3_reset(s->cache[i].st);
            sqlite3_clear_bindings(s->cache[i].st);
            return s->cache[i].st;
        }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    if (s->ncache < STMT_CACHE) {
        s->cache[s->ncache].sql = sql;
        s->cache[s->ncache++].st = st;
    }
    return st;
}

/* Statements beyond the cache are finalised after use; cached ones reset. */
static void done(store *s, sqlite3_stmt *st)
{
    for (int i = 0; i < s->ncache; i++)
        if (s->cache[i].st == st) {
            sqlite3_reset(st);
            return;
        }
    sqlite3_finalize(st);
}

static int exec1(store *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* The integer a pragma returns; -1 on error. */
static int pragma_int(store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int migrate(store *s, char *err, size_t errlen)
{
    int version = pragma_int(s, "PRAGMA user_version");

    if (version < 0)
        goto sqlfail;
    if (version > NMIGRATIONS) {
        snprintf(err, errlen, "the store has schema version %d, newer than this provbot "
                 "knows (%d): use a newer provbot or another --data folder",
                 version, NMIGRATIONS);
        return -1;
    }
    for (int v = version; v < NMIGRATIONS; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", v + 1);
        if (exec1(s, "BEGIN IMMEDIATE") < 0 || exec1(s, migrations[v]) < 0 ||
            exec1(s, pragma) < 0 || exec1(s, "COMMIT") < 0) {
            snprintf(err, errlen, "store migration to version %d failed: %s",
                     v + 1, sqlite3_errmsg(s->db));
            exec1(s, "ROLLBACK");
            return -1;
        }
    }
    return 0;
sqlfail:
    snprintf(err, errlen, "store: %s", sqlite3_errmsg(s->db));
    return -1;
}

/* Bytes of WAL frames committed by this process (a figure for benches). */
static _Atomic uint64_t wal_bytes_total;

uint64_t store_wal_bytes_total(void) { return atomic_load(&wal_bytes_total); }

/* Called by SQLite after each commit with the WAL's size in pages. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    store *s = arg;
    /* fewer pages than after the last commit: the WAL was restarted */
    int added = pages >= s->wal_pages ? pages - s->wal_pages : pages;
    atomic_fetch_add(&wal_bytes_total, (uint64_t)added * (uint64_t)(s->page_size + 24));
    s->wal_pages = pages;
    if (s->autockpt && pages >= AUTO_CKPT_PAGES)
        (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

store *store_open(const char *dir, char *err, size_t errlen)
{
    store *s = calloc(1, sizeof *s);
    char path[4096];

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (dir) {
        if (mkdir(dir, 0700) != 0) {
            struct stat sb;
            if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
                snprintf(err, errlen, "--data %s: not a folder that can be created", dir);
                goto fail;
            }
        }
        snprintf(path, sizeof path, "%s/" STORE_FILE, dir);
    } else {
        snprintf(path, sizeof path, ":memory:");
    }
    /* walbuf: a commit's WAL frames in one write (see walbuf.h) */
    const char *vfs = dir && walbuf_register() == SQLITE_OK ? WALBUF_VFS : NULL;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                        SQLITE_OPEN_NOMUTEX, vfs) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open the store %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    s->busy_ms = STORE_BUSY_MS;
    set_wait(s, s->busy_ms);
    s->autockpt = true;
    sqlite3_wal_hook(s->db, wal_hook, s);
    /* small pages for a new store (an existing one keeps its size): a turn
     * rewrites its conversation's page, so that page is most of its WAL */
    if (exec1(s, "PRAGMA page_size=" PAGE_SIZE) < 0 || exec1(s, "PRAGMA journal_mode=WAL") < 0 ||
        exec1(s, "PRAGMA synchronous=NORMAL") < 0 ||
        exec1(s, "PRAGMA journal_size_limit=-1") < 0 ||
        exec1(s, "PRAGMA foreign_keys=ON") < 0) {
        snprintf(err, errlen, "cannot open the store %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    s->page_size = pragma_int(s, "PRAGMA page_size");
    int chunk = STORE_DB_CHUNK_BYTES; /* (a no-op on :memory:) */
    (void)sqlite3_file_control(s->db, "main", SQLITE_FCNTL_CHUNK_SIZE, &chunk);
    if (migrate(s, err, errlen) < 0)
        goto fail;
    return s;
fail:
    store_close(s);
    return NULL;
}

void store_close(store *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->ncache; i++)
        sqlite3_finalize(s->cache[i].st);
    sqlite3_close(s->db);
    free(s);
}

const char *store_errmsg(store *s) { return sqlite3_errmsg(s->db); }
void store_autocheckpoint(store *s, bool on) { s->autockpt = on; }

int store_wal_pages(const store *s) { return s->wal_pages; }

/* After a commit: the WAL bound (see WAL_RESTART_BYTES). A busy restart
 * (a reader still on an old snapshot) is only retried RESTART_RETRY_MS later,
 * so a long reader costs a turn at most RESTART_WAIT_MS now and then. */
static void wal_bound(store *s)
{
    if (!s->autockpt || (int64_t)s->wal_pages * s->page_size < WAL_RESTART_BYTES)
        return;
    int64_t now = store_now_ms();
    if (now < s->restart_after)
        return;
    set_wait(s, RESTART_WAIT_MS);
    int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
    set_wait(s, s->busy_ms);
    if (rc == SQLITE_OK)
        s->wal_pages = 0;
    else
        s->restart_after = now + RESTART_RETRY_MS;
}

int store_busy_timeout(store *s, int ms)
{
    int old = s->busy_ms;
    s->busy_ms = ms;
    set_wait(s, ms);
    return old;
}

/* Syncs the WAL and the database file without any lock, so that the
 * RESTART's own syncs, which it makes holding the write lock, find little
 * left to write. */
static void presync(store *s)
{
    static const int files[] = { SQLITE_FCNTL_JOURNAL_POINTER, SQLITE_FCNTL_FILE_POINTER };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        sqlite3_file *f = NULL;
        if (sqlite3_file_control(s->db, "main", files[i], &f) == SQLITE_OK && f && f->pMethods)
            (void)f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
    }
}

/* The checkpointing thread's part of the WAL bound: a PASSIVE checkpoint
 * (most of the copying, no lock a writer needs), then, once it copied all
 * of an over-long WAL, a RESTART that finds little left to copy; it holds
 * the write lock while it runs, and waits at most CKPT_RESTART_WAIT_MS for
 * it and for readers, so another connection's writer waits about that long
 * plus the copying of the frames committed meanwhile. */
int store_checkpoint(store *s)
{
    int log = 0, copied = 0, rc = SQLITE_OK;
    /* PASSIVE passes while each finds much new: what a pass copies was
     * committed during the previous one, so the RESTART finds little */
    for (int pass = 0, last = -1; pass < CKPT_PASSES; pass++) {
        rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
        if (rc != SQLITE_OK)
            return rc == SQLITE_BUSY ? 0 : -1;
        if ((int64_t)log * s->page_size < WAL_RESTART_BYTES || copied < log)
            return 0;
        if (last >= 0 && log - last < CKPT_LEFTOVER_PAGES)
            break;
        last = log;
    }
    presync(s);
    set_wait(s, CKPT_RESTART_WAIT_MS);
    rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
    set_wait(s, s->busy_ms);
    return rc == SQLITE_OK ? 0 : rc == SQLITE_BUSY ? 1 : -1; /* 1: still over, try soon */
}

/* Runs one of the transaction statements below, prepared once. */
static int tx(store *s, const char *sql)
{
    sqlite3_stmt *st = prep(s, sql);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    done(s, st);
    return rc == SQLITE_DONE ? 0 : (rc & 0xff) == SQLITE_BUSY ? STORE_BUSY : -1;
}

static const char sql_begin[] = "BEGIN IMMEDIATE", sql_commit[] = "COMMIT",
                  sql_rollback[] = "ROLLBACK", sql_savepoint[] = "SAVEPOINT turn",
                  sql_release[] = "RELEASE turn", sql_rollback_to[] = "ROLLBACK TO turn";

int store_begin(store *s) { return tx(s, sql_begin); }
int store_savepoint(store *s) { return tx(s, sql_savepoint); }
int store_release(store *s) { return tx(s, sql_release); }

void store_rollback_savepoint(store *s)
{
    (void)tx(s, sql_rollback_to);
    (void)tx(s, sql_release);
}

int store_commit(store *s)
{
    if (tx(s, sql_commit) < 0)
        return -1;
    wal_bound(s);
    return 0;
}

void store_rollback(store *s) { (void)tx(s, sql_rollback); }

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static void col_copy(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

/* Runs a statement that returns no rows. */
static int run(store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    done(s, st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Runs a statement of two text parameters that returns no rows. */
static int run_text2(store *s, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *st = prep(s, sql);
    if (!st)
        return -1;
    bind_text(st, 1, a);
    bind_text(st, 2, b);
    return run(s, st);
}

int store_conv_load(store *s, const char *session, char **json)
{
    static const char sql[] = "SELECT state FROM conversations WHERE session=?";
    sqlite3_stmt *st = prep(s, sql);
    int rc;
    if (!st)
        return -1;
    bind_text(st, 1, session);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *json = col_dup(st, 0);
        done(s, st);
        return *json ? 1 : -1;
    }
    done(s, st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Appends a turn row to the transcript after the conversation's newest
 * turn: looked up by session, or given (prev; 0: none) when session is NULL. */
static int append_turn(store *s, const char *session, int64_t prev, int64_t now,
                       const char *turns)
{
    static const char by_session[] =
        "INSERT INTO turns(prev, at, text)"
        " VALUES((SELECT last_turn FROM conversations WHERE session=?1), ?2, ?3)";
    static const char after[] = "INSERT INTO turns(prev, at, text) VALUES(?1, ?2, ?3)";
    sqlite3_stmt *st = prep(s, session ? by_session : after);
    if (!st)
        return -1;
    if (session)
        bind_text(st, 1, session);
    else if (prev)
        sqlite3_bind_int64(st, 1, prev);
    sqlite3_bind_int64(st, 2, now);
    bind_text(st, 3, turns);
    return run(s, st);
}

int store_conv_save(store *s, const char *session, const char *channel,
                    const char *user, const char *lang, const char *json,
                    const char *turns)
{
    /* the turn is appended (the table's last page, shared by all the turns
     * of a group commit), the conversation's one row of state points at it */
    static const char sql[] =
        "INSERT INTO conversations(session, channel, user, lang, state, created_at, updated_at,"
        " last_turn) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)"
        " ON CONFLICT(session) DO UPDATE SET"
        " user=coalesce(excluded.user, user), lang=excluded.lang, state=excluded.state,"
        " updated_at=excluded.updated_at, last_turn=coalesce(excluded.last_turn, last_turn)";
    int64_t now = store_now_ms();
    sqlite3_stmt *st;
    bool append = turns && *turns;
    if (append && append_turn(s, session, 0, now, turns) < 0)
        return -1;
    if (!(st = prep(s, sql)))
        return -1;
    bind_text(st, 1, session);
    bind_text(st, 2, channel);
    bind_text(st, 3, user);
    bind_text(st, 4, lang);
    bind_text(st, 5, json);
    sqlite3_bind_int64(st, 6, now);
    if (append)
        sqlite3_bind_int64(st, 7, sqlite3_last_insert_rowid(s->db));
    return run(s, st);
}

int store_turn_load(store *s, const char *session, struct store_conv *c)
{
    static const char sql[] =
        "SELECT rowid, state, last_turn, EXISTS(SELECT 1 FROM cases WHERE session=?1"
        " AND status='failed' AND notified=0) FROM conversations WHERE session=?1";
    sqlite3_stmt *st = prep(s, sql);
    memset(c, 0, sizeof *c);
    c->failed = true;
    if (!st)
        return -1;
    bind_text(st, 1, session);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        c->rowid = sqlite3_column_int64(st, 0);
        c->state = col_dup(st, 1);
        c->last_turn = sqlite3_column_int64(st, 2);
        c->failed = sqlite3_column_int(st, 3) != 0;
    }
    done(s, st);
    if (rc == SQLITE_ROW)
        return c->state ? 1 : -1;
    return rc == SQLITE_DONE ? 0 : -1;
}

int64_t store_data_version(store *s)
{
    unsigned v = 0;
    if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_DATA_VERSION, &v) != SQLITE_OK)
        return -1;
    return v;
}

int store_turn_save(store *s, struct store_conv *c, const char *session,
                    const char *channel, const char *user, const char *lang,
                    const char *json, const char *turns)
{
    static const char upd[] =
        "UPDATE conversations SET user=coalesce(?2, user), lang=?3, state=?4, updated_at=?5,"
        " last_turn=coalesce(?6, last_turn) WHERE rowid=?1";
    if (!c->rowid)   /* a new conversation: its row is inserted */
        return store_conv_save(s, session, channel, user, lang, json, turns);
    int64_t now = store_now_ms();
    sqlite3_stmt *st;
    bool append = turns && *turns;
    if (append && append_turn(s, NULL, c->last_turn, now, turns) < 0)
        return -1;
    if (!(st = prep(s, upd)))
        return -1;
    sqlite3_bind_int64(st, 1, c->rowid);
    bind_text(st, 2, user);
    bind_text(st, 3, lang);
    bind_text(st, 4, json);
    sqlite3_bind_int64(st, 5, now);
    if (append)
        sqlite3_bind_int64(st, 6, c->last_turn = sqlite3_last_insert_rowid(s->db));
    if (run(s, st) < 0)
        return -1;
    return sqlite3_changes(s->db) == 1 ? 0 : -1;
}

char *store_transcript(store *s, const char *session)
{
    /* newest turn first along prev, until TURNS_KEPT characters, then in order */
    static const char sql[] =
        "WITH RECURSIVE chain(id, prev, text, total) AS ("
        " SELECT t.id, t.prev, t.text, length(t.text) FROM turns t"
        "  WHERE t.id = (SELECT last_turn FROM conversations WHERE session=?1)"
        " UNION ALL SELECT t.id, t.prev, t.text, chain.total + length(t.text)"
        "  FROM turns t JOIN chain ON t.id = chain.prev WHERE chain.total < " TURNS_KEPT ")"
        " SELECT substr(group_concat(text, ''), -" TURNS_KEPT ")"
        " FROM (SELECT text FROM chain ORDER BY id)";
    sqlite3_stmt *st = prep(s, sql);
    char *out = NULL;
    if (!st)
        return NULL;
    bind_text(st, 1, session);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        const char *nl = t ? strchr(t, '\n') : NULL;
        /* the kept tail may start inside a turn: begin at a whole one */
        if (t && nl && sqlite3_column_bytes(st, 0) >= 2000 && nl[1])
            t = nl + 1;
        out = strdup(t ? t : "");
    } else {
        out = strdup("");
    }
    done(s, st);
    return out;
}

int store_case_insert(store *s, struct case_rec *c)
{
    static const char ins[] =
        "INSERT INTO cases(session, status, order_ref, new_email, requester, lang, summary,"
        " transcript, created_at, next_attempt_ms, type) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)";
    static const char setid[] =
        "UPDATE cases SET id=printf('PB-%06d', seq) WHERE seq=? RETURNING id";
    sqlite3_stmt *st = prep(s, ins);
    if (!st)
        return -1;
    store_rfc3339(store_now_ms(), c->created_at);
    bind_text(st, 1, c->session);
    bind_text(st, 2, case_status_name(c->status));
    bind_text(st, 3, c->order_ref);
    bind_text(st, 4, c->new_email);
    bind_text(st, 5, c->requester[0] ? c->requester : NULL);
    bind_text(st, 6, c->lang);
    bind_text(st, 7, c->summary ? c->summary : "");
    bind_text(st, 8, c->transcript);
    bind_text(st, 9, c->created_at);
    bind_text(st, 10, c->type);
    if (run(s, st) < 0)
        return -1;
    if (!(st = prep(s, setid)))
        return -1;
    sqlite3_bind_int64(st, 1, sqlite3_last_insert_rowid(s->db));
    if (sqlite3_step(st) != SQLITE_ROW) {
        done(s, st);
        return -1;
    }
    col_copy(st, 0, c->id, sizeof c->id);
    sqlite3_step(st);
    done(s, st);
    return 0;
}

#define CASE_COLS "id, session, status, order_ref, new_email, requester, lang, summary," \
    " transcript, created_at, remote_id, attempts, next_attempt_ms, last_error," \
    " (SELECT count(*) FROM attachments a WHERE a.case_id = cases.id), remote_status, type"

static void read_case(sqlite3_stmt *st, struct case_rec *c)
{
    memset(c, 0, sizeof *c);
    col_copy(st, 0, c->id, sizeof c->id);
    col_copy(st, 1, c->session, sizeof c->session);
    const char *status = (const char *)sqlite3_column_text(st, 2);
    if (case_status_parse(status, &c->status) < 0)
        c->status = CASE_FAILED;
    col_copy(st, 3, c->order_ref, sizeof c->order_ref);
    col_copy(st, 4, c->new_email, sizeof c->new_email);
    col_copy(st, 5, c->requester, sizeof c->requester);
    col_copy(st, 6, c->lang, sizeof c->lang);
    c->summary = col_dup(st, 7);
    c->transcript = col_dup(st, 8);
    col_copy(st, 9, c->created_at, sizeof c->created_at);
    col_copy(st, 10, c->remote_id, sizeof c->remote_id);
    c->attempts = sqlite3_column_int(st, 11);
    c->next_attempt_ms = sqlite3_column_int64(st, 12);
    col_copy(st, 13, c->last_error, sizeof c->last_error);
    c->nattach = sqlite3_column_int(st, 14);
    col_copy(st, 15, c->remote_status, sizeof c->remote_status);
    col_copy(st, 16, c->type, sizeof c->type);
}

int store_case_get(store *s, const char *id, struct case_rec *c)
{
    static const char sql[] = "SELECT " CASE_COLS " FROM cases WHERE id=?";
    sqlite3_stmt *st = prep(s, sql);
    int rc;
    if (!st)
        return -1;
    bind_text(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        read_case(st, c);
    done(s, st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_case_find_same(store *s, const char *session, const char *order_ref,
                         const char *new_email, char *id)
{
    static const char sql[] =
        "SELECT id FROM cases WHERE session=? AND order_ref=? AND new_email=? COLLATE NOCASE"
        " AND status != 'failed' ORDER BY seq DESC LIMIT 1";
    sqlite3_stmt *st = prep(s, sql);
    int rc;
    if (!st)
        return -1;
    bind_text(st, 1, session);
    bind_text(st, 2, order_ref);
    bind_text(st, 3, new_email);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        col_copy(st, 0, id, CASE_ID_MAX);
    done(s, st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* A statement and an empty array to fill from it; NULL (nothing held) on failure. */
static sqlite3_stmt *prep_list(store *s, const char *sql, cJSON **arr)
{
    sqlite3_stmt *st = prep(s, sql);
    *arr = cJSON_CreateArray();
    if (st && *arr)
        return st;
    if (st)
        done(s, st);
    cJSON_Delete(*arr);
    *arr = NULL;
    return NULL;
}

cJSON *store_cases_json(store *s, const char *session)
{
    static const char one[] = "SELECT " CASE_COLS " FROM cases WHERE session=? ORDER BY seq";
    static const char all[] = "SELECT " CASE_COLS " FROM cases ORDER BY seq";
    cJSON *arr;
    sqlite3_stmt *st = prep_list(s, session ? one : all, &arr);
    if (!st)
        return NULL;
    if (session)
        bind_text(st, 1, session);
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct case_rec c;
        read_case(st, &c);
        cJSON *o = case_to_json(&c);
        if (o)
            cJSON_AddItemToArray(arr, o);
        case_rec_clear(&c);
    }
    done(s, st);
    return arr;
}

/* Runs sql (parameters: ?1 a time in ms, ?2 a row limit) and copies the
 * case ids of its first column into ids; returns how many, or -1. */
static int select_ids(store *s, const char *sql, int64_t ms, char (*ids)[CASE_ID_MAX], int max)
{
    sqlite3_stmt *st = prep(s, sql);
    int n = 0;
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, ms);
    sqlite3_bind_int(st, 2, max);
    while (n < max && sqlite3_step(st) == SQLITE_ROW)
        col_copy(st, 0, ids[n++], CASE_ID_MAX);
    done(s, st);
    return n;
}

int store_cases_due(store *s, int64_t now_ms, char (*ids)[CASE_ID_MAX], int max)
{
    static const char sql[] =
        "SELECT id FROM cases WHERE status='queued' AND next_attempt_ms <= ? ORDER BY seq LIMIT ?";
    return select_ids(s, sql, now_ms, ids, max);
}

int store_case_delivered(store *s, const char *id, const char *remote_id)
{
    static const char sql[] =
        "UPDATE cases SET status='filed', remote_id=?, attempts=attempts+1, last_error=NULL"
        " WHERE id=? AND status='queued'";
    return run_text2(s, sql, remote_id && *remote_id ? remote_id : NULL, id);
}

int store_case_retry(store *s, const char *id, int64_t next_ms, const char *why)
{
    static const char sql[] =
        "UPDATE cases SET attempts=attempts+1, next_attempt_ms=?, last_error=? WHERE id=?";
    sqlite3_stmt *st = prep(s, sql);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, next_ms);
    bind_text(st, 2, why);
    bind_text(st, 3, id);
    return run(s, st);
}

int store_case_failed(store *s, const char *id, const char *why)
{
    static const char sql[] =
        "UPDATE cases SET status='failed', attempts=attempts+1, last_error=? WHERE id=?";
    return run_text2(s, sql, why, id);
}

int store_cases_stale(store *s, int64_t before_ms, char (*ids)[CASE_ID_MAX], int max)
{
    static const char sql[] =
        "SELECT id FROM cases WHERE status='filed' AND remote_id IS NOT NULL"
        " AND remote_checked_ms < ?1 AND (coalesce(remote_status, '') NOT IN"
        " ('resolved', 'rejected', 'deleted') OR remote_checked_ms < ?1 - 86400000)"
        " ORDER BY remote_checked_ms, seq LIMIT ?2";
    return select_ids(s, sql, before_ms, ids, max);
}

int store_case_remote_status(store *s, const char *id, const char *status, int64_t now_ms)
{
    static const char sql[] =
        "UPDATE cases SET remote_status=coalesce(?, remote_status), remote_checked_ms=?"
        " WHERE id=?";
    sqlite3_stmt *st = prep(s, sql);
    if (!st)
        return -1;
    bind_text(st, 1, status && *status ? status : NULL);
    sqlite3_bind_int64(st, 2, now_ms);
    bind_text(st, 3, id);
    return run(s, st);
}

int store_cases_take_failed(store *s, const char *session, char (*ids)[CASE_ID_MAX], int max)
{
    static const char sel[] =
        "SELECT id FROM cases WHERE session=? AND status='failed' AND notified=0 ORDER BY seq LIMIT ?";
    static const char upd[] = "UPDATE cases SET notified=1 WHERE id=?";
    sqlite3_stmt *st = prep(s, sel);
    int n = 0;
    if (!st)
        return -1;
    bind_text(st, 1, session);
    sqlite3_bind_int(st, 2, max);
    while (n < max && sqlite3_step(st) == SQLITE_ROW)
        col_copy(st, 0, ids[n++], CASE_ID_MAX);
    done(s, st);
    for (int i = 0; i < n; i++) {
        if (!(st = prep(s, upd)))
            return -1;
        bind_text(st, 1, ids[i]);
        if (run(s, st) < 0)
            return -1;
    }
    return n;
}

int store_attach_add(store *s, const char *session, const char *name,
                     const char *mime, const void *data, size_t len)
{
    static const char sql[] =
        "INSERT INTO attachments(session, name, mime, data, at) VALUES(?, ?, ?, ?, ?)";
    sqlite3_stmt *st = prep(s, sql);
    if (!st)
        return -1;
    bind_text(st, 1, session);
    bind_text(st, 2, name);
    bind_text(st, 3, mime);
    sqlite3_bind_blob64(st, 4, data, len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, store_now_ms());
    return run(s, st);
}

int store_attach_count(store *s, const char *session, const char *case_id)
{
    static const char pending[] =
        "SELECT count(*) FROM attachments WHERE session=? AND case_id IS NULL";
    static const char bound[] = "SELECT count(*) FROM attachments WHERE case_id=?";
    sqlite3_stmt *st = prep(s, case_id ? bound : pending);
    int n = -1;
    if (!st)
        return -1;
    bind_text(st, 1, case_id ? case_id : session);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    done(s, st);
    return n;
}

int store_attach_bind(store *s, const char *session, const char *case_id)
{
    static const char sql[] =
        "UPDATE attachments SET case_id=? WHERE session=? AND case_id IS NULL";
    return run_text2(s, sql, case_id, session);
}

/* The standard base64 of d[0..n), padded, malloc'd; NULL if out of memory. */
static char *base64(const unsigned char *d, size_t n)
{
    size_t cap = b64_encoded_size(n, true);
    char *out = malloc(cap);
    if (out)
        b64_encode(d, n, true, out, cap);
    return out;
}

cJSON *store_attach_json(store *s, const char *case_id)
{
    static const char sql[] =
        "SELECT name, mime, data FROM attachments WHERE case_id=? ORDER BY id";
    cJSON *arr;
    sqlite3_stmt *st = prep_list(s, sql, &arr);
    if (!st)
        return NULL;
    bind_text(st, 1, case_id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        char *b64 = base64(sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2));
        if (o && b64) {
            cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(st, 0));
            cJSON_AddStringToObject(o, "mime", (const char *)sqlite3_column_text(st, 1));
            cJSON_AddStringToObject(o, "data", b64);
            cJSON_AddItemToArray(arr, o);
        } else {
            cJSON_Delete(o);
        }
        free(b64);
    }
    done(s, st);
    return arr;
}

/* The purge in chunks of PURGE_CHUNK rows, one short transaction each, with
 * PURGE_PAUSE_MS between them: the event loop's writer never waits longer
 * than one chunk for the lock (it retries a busy turn on its next tick, see
 * store_busy_short). Each step's `find` (a read, outside the transaction)
 * gives the highest rowid of the next chunk after ?2; its `apply` changes the
 * rows of (?2, ?3] that still match (a conversation touched meanwhile stays). */
#define PURGE_CHUNK "500"
#define PURGE_PAUSE_MS 5
#define PURGE_FIND(t, cond) "SELECT max(rowid) FROM (SELECT rowid FROM " t " WHERE rowid > ?2" \
    " AND " cond " ORDER BY rowid LIMIT " PURGE_CHUNK ")"
#define PURGE_RANGE " rowid > ?2 AND rowid <= ?3 AND "
#define COND_CONV "updated_at < ?1"
#define COND_TURN "at < ?1"
#define COND_TRANSCRIPT "transcript IS NOT NULL AND status != 'queued'" \
    " AND created_at < strftime('%Y-%m-%dT%H:%M:%SZ', ?1 / 1000, 'unixepoch')"
#define COND_ATTACH "at < ?1 AND (case_id IS NULL OR case_id IN" \
    " (SELECT id FROM cases WHERE status != 'queued'))"

static const struct { const char *find, *apply; } purge_steps[] = {
    { PURGE_FIND("conversations", COND_CONV),
      "DELETE FROM conversations WHERE" PURGE_RANGE COND_CONV },
    { PURGE_FIND("turns", COND_TURN), "DELETE FROM turns WHERE" PURGE_RANGE COND_TURN },
    { PURGE_FIND("cases", COND_TRANSCRIPT),
      "UPDATE cases SET transcript = NULL WHERE" PURGE_RANGE COND_TRANSCRIPT },
    { PURGE_FIND("attachments", COND_ATTACH),
      "DELETE FROM attachments WHERE" PURGE_RANGE COND_ATTACH },
    { PURGE_FIND("handled", COND_TURN), "DELETE FROM handled WHERE" PURGE_RANGE COND_TURN },
    { PURGE_FIND("pending", COND_TURN), "DELETE FROM pending WHERE" PURGE_RANGE COND_TURN },
};

/* The highest rowid of the next chunk of step i after lo into *hi: 1, or 0
 * when nothing is left, -1 on error. */
static int purge_find(store *s, size_t i, int64_t cutoff_ms, int64_t lo, int64_t *hi)
{
    sqlite3_stmt *st = prep(s, purge_steps[i].find);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, cutoff_ms);
    sqlite3_bind_int64(st, 2, lo);
    int rc = sqlite3_step(st), found = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
    if (found)
        *hi = sqlite3_column_int64(st, 0);
    done(s, st);
    return rc == SQLITE_ROW ? found : -1;
}

/* One chunk of step i, (lo, hi], in its own transaction; rows changed or -1. */
static int purge_chunk(store *s, size_t i, int64_t cutoff_ms, int64_t lo, int64_t hi)
{
    sqlite3_stmt *st;
    if (store_begin(s) < 0)
        return -1;
    if (!(st = prep(s, purge_steps[i].apply)))
        goto fail;
    sqlite3_bind_int64(st, 1, cutoff_ms);
    sqlite3_bind_int64(st, 2, lo);
    sqlite3_bind_int64(st, 3, hi);
    if (run(s, st) < 0)
        goto fail;
    int n = sqlite3_changes(s->db);
    if (store_commit(s) < 0)
        goto fail;
    return n;
fail:
    store_rollback(s);
    return -1;
}

int store_purge(store *s, int64_t cutoff_ms)
{
    const struct timespec pause = { 0, PURGE_PAUSE_MS * 1000000L };
    int changed = 0;
    for (size_t i = 0; i < sizeof purge_steps / sizeof *purge_steps; i++) {
        int64_t lo = 0, hi = 0;
        int rc;
        while ((rc = purge_find(s, i, cutoff_ms, lo, &hi)) == 1) {
            int n = purge_chunk(s, i, cutoff_ms, lo, hi);
            if (n < 0)
                return -1;
            changed += n;
            lo = hi;
            nanosleep(&pause, NULL);
        }
        if (rc < 0)
            return -1;
    }
    return changed;
}

int store_mark_handled(store *s, const char *event_id)
{
    static const char sql[] = "INSERT OR IGNORE INTO handled(event, at) VALUES(?, ?)";
    sqlite3_stmt *st = prep(s, sql);
    if (!st)
        return -1;
    bind_text(st, 1, event_id);
    sqlite3_bind_int64(st, 2, store_now_ms());
    if (run(s, st) < 0)
        return -1;
    return sqlite3_changes(s->db) > 0 ? 1 : 0;
}

/* ---------------------------------------------------------------- pending */

int store_pending_begin(store *s, const char *key, const char *data)
{
    static const char seen[] = "SELECT 1 FROM handled WHERE event=?";
    static const char ins[] =
        "INSERT OR IGNORE INTO pending(key, kind, data, at) VALUES(?, 'activity', ?, ?)";
    sqlite3_stmt *st = prep(s, seen);
    if (!st)
        return -1;
    bind_text(st, 1, key);
    int rc = sqlite3_step(st);
    done(s, st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE || !(st = prep(s, ins)))
        return -1;
    bind_text(st, 1, key);
    bind_text(st, 2, data);
    sqlite3_bind_int64(st, 3, store_now_ms());
    if (run(s, st) < 0)
        return -1;
    return sqlite3_changes(s->db) > 0 ? 1 : 0;
}

int store_pending_update(store *s, const char *key, const char *data)
{
    return run_text2(s, "UPDATE pending SET data=?2 WHERE key=?1", key, data);
}

int store_pending_settle(store *s, const char *key, const char *reply)
{
    if (run_text2(s, "UPDATE pending SET kind='reply', reply=?2 WHERE key=?1", key, reply) < 0)
        return -1;
    return store_mark_handled(s, key) < 0 ? -1 : 0;
}

int store_pending_done(store *s, const char *key, bool handled)
{
    if (run_text2(s, "DELETE FROM pending WHERE key=?1 OR key=?2", key, key) < 0)
        return -1;
    return handled && store_mark_handled(s, key) < 0 ? -1 : 0;
}

cJSON *store_pending_list(store *s, const char *prefix)
{
    static const char sql[] =
        "SELECT key, kind, data, reply FROM pending WHERE substr(key, 1, length(?1)) = ?1"
        " ORDER BY at, key";
    cJSON *arr;
    sqlite3_stmt *st = prep_list(s, sql, &arr);
    if (!st)
        return NULL;
    bind_text(st, 1, prefix);
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        const char *reply = (const char *)sqlite3_column_text(st, 3);
        if (!o || !cJSON_AddStringToObject(o, "key", (const char *)sqlite3_column_text(st, 0)) ||
            !cJSON_AddStringToObject(o, "kind", (const char *)sqlite3_column_text(st, 1)) ||
            !cJSON_AddStringToObject(o, "data", (const char *)sqlite3_column_text(st, 2)) ||
            (reply && !cJSON_AddStringToObject(o, "reply", reply))) {
            cJSON_Delete(o);
            continue;
        }
        cJSON_AddItemToArray(arr, o);
    }
    done(s, st);
    return arr;
}
