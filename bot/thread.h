/* thread.h -- what a background thread of provbot does first.
 *
 * The outbox and attachment threads copy the WAL, file cases and write
 * screenshots: work that can wait a few milliseconds. The event loop's
 * replies cannot, and on a machine of two cores a checkpoint's burst of
 * one or two ms on the loop's core shows as that much more reply latency.
 * thread_background() names the calling thread (for top and perf) and
 * lowers its scheduling priority (nice THREAD_NICE, its own thread only):
 * the scheduler then lets the loop thread preempt it at once, while under
 * full load it still gets its share of a core (the WAL bound needs it).
 */
#ifndef PROVBOT_THREAD_H
#define PROVBOT_THREAD_H

#define THREAD_NICE 10

/* Names the calling thread (15 bytes at most) and lowers its priority;
 * failures are ignored (the thread then runs as before). */
void thread_background(const char *name);

#endif
