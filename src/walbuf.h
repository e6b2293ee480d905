/* walbuf.h -- a SQLite VFS that writes each commit's WAL frames at once.
 *
 * SQLite appends a WAL frame as two writes, its 24-byte header and then
 * the page: a turn of two or three pages was six pwrite() calls on the
 * event loop's thread. The "provbot-walbuf" VFS is the platform's default
 * VFS with one difference: a WAL file keeps the writes of that pattern
 * (the WAL header at offset 0, frame headers, the page after each) in a
 * buffer while they are contiguous, and writes the buffer with one
 * pwrite() right after the page of a commit frame (a frame header whose
 * database size is not 0), so the commit is on the file before SQLite
 * publishes it in the WAL index and before sqlite3_step() returns, and a
 * failed write fails the commit. Any other access to the WAL file (a write
 * of another shape or place, a read, a sync, its size, a truncation, a
 * file control, the close) writes the buffer first; every other file is
 * the default VFS's own. Durability and what other connections see are
 * those of the default VFS.
 *
 * Threads: a WAL file's buffer belongs to its connection (SQLite uses a
 * connection from one thread at a time). walbuf_register() may be called
 * from any thread, any number of times.
 */
#ifndef PROVBOT_WALBUF_H
#define PROVBOT_WALBUF_H

#define WALBUF_VFS "provbot-walbuf"

/* Registers the VFS (not as the default). SQLITE_OK or SQLite's error. */
int walbuf_register(void);

#endif
