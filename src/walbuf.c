/* walbuf.c -- a SQLite VFS that writes each commit's WAL frames at once
 * (see walbuf.h).
 *
 * A WAL file is a struct wfile followed, in the same allocation SQLite
 * makes (szOsFile), by the default VFS's own file object. Invariant: buf
 * holds len bytes for the file range [start, start + len), written to the
 * file by nothing yet; expect_page says the last bytes held are a frame
 * header whose page comes next, commit that this header is a commit
 * frame's. Every other file is opened by the default VFS in place.
 */
#include "walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <string.h>

#define WALBUF_BYTES (64 * 1024 + 64)   /* the largest page, its header, the WAL's */
#define WAL_HDR 32                      /* the WAL file's header */
#define FRAME_HDR 24                    /* a frame's header */

struct wfile {
    sqlite3_file base;          /* pMethods: wal_methods */
    sqlite3_file *real;         /* the default VFS's file, after this struct */
    unsigned char *buf;         /* WALBUF_BYTES (NULL: out of memory, nothing held) */
    sqlite3_int64 start;
    int len;
    bool expect_page, commit;
};

#define REAL_OFFSET ((sizeof(struct wfile) + 7) & ~(size_t)7)

static sqlite3_vfs vfs;
static sqlite3_io_methods wal_methods;

static sqlite3_vfs *real_vfs(void) { return vfs.pAppData; }

/* Writes what buf holds; it is empty after, whatever the outcome. */
static int flush(struct wfile *w)
{
    if (!w->len)
        return SQLITE_OK;
    int n = w->len;
    w->len = 0;
    return w->real->pMethods->xWrite(w->real, w->buf, n, w->start);
}

/* Holds data when it is one of the pieces SQLite appends a commit with and
 * follows what is held; the commit frame's page writes all at once. */
static int wal_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 off)
{
    struct wfile *w = (struct wfile *)f;
    const unsigned char *p = data;
    bool page = w->expect_page;
    bool header = !page && amt == FRAME_HDR && off >= WAL_HDR;
    bool first = !page && amt == WAL_HDR && off == 0;
    bool follows = w->len > 0 && off == w->start + w->len;
    int rc;
    w->expect_page = false;
    if (w->buf && amt <= WALBUF_BYTES && (header || first || (page && follows))) {
        if (w->len && (!follows || w->len + amt > WALBUF_BYTES) && (rc = flush(w)) != SQLITE_OK)
            return rc;
        if (!w->len)
            w->start = off;
        memcpy(w->buf + w->len, p, (size_t)amt);
        w->len += amt;
        if (header) {
            w->expect_page = true;
            w->commit = (p[4] | p[5] | p[6] | p[7]) != 0;   /* the database size: a commit */
        } else if (page && w->commit) {
            w->commit = false;
            return flush(w);
        }
        return SQLITE_OK;
    }
    w->commit = false;
    if ((rc = flush(w)) != SQLITE_OK)
        return rc;
    return w->real->pMethods->xWrite(w->real, data, amt, off);
}

static int wal_close(sqlite3_file *f)
{
    struct wfile *w = (struct wfile *)f;
    int rc = flush(w);
    int rc2 = w->real->pMethods->xClose(w->real);
    sqlite3_free(w->buf);
    w->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

/* The other methods: what is held goes to the file first. */
#define REAL(f) (((struct wfile *)(f))->real)

static int wal_read(sqlite3_file *f, void *b, int amt, sqlite3_int64 off)
{
    int rc = flush((struct wfile *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xRead(REAL(f), b, amt, off);
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = flush((struct wfile *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int wal_sync(sqlite3_file *f, int flags)
{
    int rc = flush((struct wfile *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int wal_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = flush((struct wfile *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int wal_fcntl(sqlite3_file *f, int op, void *arg)
{
    int rc = flush((struct wfile *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int wal_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int wal_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int wal_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int wal_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int wal_devchar(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int wal_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)v;
    if (!(flags & SQLITE_OPEN_WAL))
        return real_vfs()->xOpen(real_vfs(), name, f, flags, out);
    struct wfile *w = (struct wfile *)f;
    memset(w, 0, sizeof *w);
    w->real = (sqlite3_file *)((char *)f + REAL_OFFSET);
    int rc = real_vfs()->xOpen(real_vfs(), name, w->real, flags, out);
    if (rc != SQLITE_OK) {
        if (w->real->pMethods)
            w->real->pMethods->xClose(w->real);
        return rc;   /* base.pMethods NULL: SQLite does not close f */
    }
    w->buf = sqlite3_malloc(WALBUF_BYTES);   /* NULL: every write goes straight through */
    w->base.pMethods = &wal_methods;
    return SQLITE_OK;
}

/* The rest of the VFS is the default one's, called with its own object. */
static int v_delete(sqlite3_vfs *v, const char *n, int sync)
{
    (void)v;
    return real_vfs()->xDelete(real_vfs(), n, sync);
}
static int v_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
    (void)v;
    return real_vfs()->xAccess(real_vfs(), n, flags, out);
}
static int v_full(sqlite3_vfs *v, const char *n, int len, char *out)
{
    (void)v;
    return real_vfs()->xFullPathname(real_vfs(), n, len, out);
}
static void *v_dlopen(sqlite3_vfs *v, const char *n)
{
    (void)v;
    return real_vfs()->xDlOpen(real_vfs(), n);
}
static void v_dlerror(sqlite3_vfs *v, int len, char *msg)
{
    (void)v;
    real_vfs()->xDlError(real_vfs(), len, msg);
}
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return real_vfs()->xDlSym(real_vfs(), h, sym);
}
static void v_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    real_vfs()->xDlClose(real_vfs(), h);
}
static int v_random(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs()->xRandomness(real_vfs(), n, out);
}
static int v_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return real_vfs()->xSleep(real_vfs(), us);
}
static int v_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return real_vfs()->xCurrentTime(real_vfs(), out);
}
static int v_lasterr(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs()->xGetLastError(real_vfs(), n, out);
}
static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return real_vfs()->xCurrentTimeInt64(real_vfs(), out);
}

static int reg_rc = SQLITE_ERROR;

static void reg(void)
{
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    if (!real || real->iVersion < 2 || !real->xCurrentTimeInt64)
        return;
    wal_methods = (sqlite3_io_methods){
        .iVersion = 1, .xClose = wal_close, .xRead = wal_read, .xWrite = wal_write,
        .xTruncate = wal_truncate, .xSync = wal_sync, .xFileSize = wal_size,
        .xLock = wal_lock, .xUnlock = wal_unlock, .xCheckReservedLock = wal_reserved,
        .xFileControl = wal_fcntl, .xSectorSize = wal_sector,
        .xDeviceCharacteristics = wal_devchar,
    };
    size_t sz = REAL_OFFSET + (size_t)real->szOsFile;
    vfs = (sqlite3_vfs){
        .iVersion = 2, .szOsFile = (int)sz, .mxPathname = real->mxPathname,
        .zName = WALBUF_VFS, .pAppData = real, .xOpen = wal_open, .xDelete = v_delete,
        .xAccess = v_access, .xFullPathname = v_full, .xDlOpen = v_dlopen,
        .xDlError = v_dlerror, .xDlSym = v_dlsym, .xDlClose = v_dlclose,
        .xRandomness = v_random, .xSleep = v_sleep, .xCurrentTime = v_time,
        .xGetLastError = v_lasterr, .xCurrentTimeInt64 = v_time64,
    };
    reg_rc = sqlite3_vfs_register(&vfs, 0);
}

int walbuf_register(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, reg);
    return reg_rc;
}
