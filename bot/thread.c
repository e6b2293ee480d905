/* thread.c -- see thread.h. */
#define _GNU_SOURCE
#include "thread.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

void thread_background(const char *name)
{
    (void)pthread_setname_np(pthread_self(), name);
    /* on Linux, PRIO_PROCESS with a thread id sets that thread's nice only */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), THREAD_NICE);
}
