/*
 * src/io_internal.h — what the coroutine I/O files (io.c, io_conn.c) share:
 * one call's view of its fd, the wait after EAGAIN, and registration of an
 * fd with the runtime (fdreg.c).
 *
 * Threads: a runtime coroutine on its scheduler's thread.
 */
#ifndef CORONET_IO_INTERNAL_H
#define CORONET_IO_INTERNAL_H

#include <stdint.h>

#include "sched.h"

/* One I/O call: the calling task, the fd's entry, and the fd's life (seq)
 * when the call began, so a close meanwhile is noticed. */
typedef struct cn__io {
	cn__task *t;
	cn__fdent *e;
	int fd;
	uint32_t seq;
} cn__io;

/* Starts a call on fd: finds the caller's task (EPERM), the fd's entry
 * (EBADF, ENOMEM), registers the fd on its first use, and otherwise checks
 * that it still names the registered file (fdreg.c, "Identity") unless the
 * call is a socket read or write (check 0: those cannot block). check 1:
 * always (accept, connect, fd_wait). 0, or -1. */
int cn__io_begin(cn__io *io, int fd, int check);

/* The call found the fd may name another file: check it, and continue with
 * the new life if so. 0, or -1 with errno. */
int cn__io_recheck(cn__io *io);

/* Whether the fd was closed (cn_close) since the call began. */
static inline int cn__io_closed(const cn__io *io)
{
	return atomic_load_explicit(&io->e->seq, memory_order_relaxed) != io->seq;
}

/* The fd's pending error (fdtable.h), taken: reported once. */
static inline int cn__io_pending_error(const cn__io *io)
{
	return cn__fd_take_error(io->e, io->seq);
}

/*
 * Waits for the next edge in direction dir after a syscall said EAGAIN.
 * Returns 0 to retry the syscall, -1 with ETIMEDOUT, ECANCELED (stop, or
 * the fd was closed), EBUSY (another coroutine waits on this fd in this
 * direction), ENOMEM, or EAGAIN (an always-ready fd said EAGAIN).
 */
int cn__io_wait(cn__io *io, int dir, int64_t deadline);

/* Registers fd (entry e) with s's fd poller under e's current seq, makes it
 * O_NONBLOCK, notes whether it is a socket and which file it is. An fd the
 * poller refuses (EPERM: regular files) becomes "always ready". 0, or -1
 * with errno (fstat's, the poller's). */
int cn__fd_register(cn__sched *s, cn__fdent *e, int fd);

/* A fresh life for fd, just handed out by the kernel (cn_accept): whatever
 * the entry said is retired, then fd is registered. 0, or -1 with errno. */
int cn__fd_register_fresh(cn__sched *s, int fd);

/* Whether fd still names the file e registered (fdreg.c, "Identity"):
 * 0 yes; 1 it names another file, which is now registered in a new life
 * (the caller's view, its seq, is stale: start over); -1 with errno (EBADF:
 * fd is not open any more). */
int cn__fd_check(cn__sched *s, cn__fdent *e, int fd);

/* Ends s's knowledge of fd without closing it (cn_close, cn_fd_release):
 * waiters get ECANCELED, the poller forgets it. */
void cn__fd_forget(cn__sched *s, int fd);

#endif
