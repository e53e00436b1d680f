/*
 * src/fdreg.c — making an fd known to a runtime: its poller registration
 * (once per life of the fd number, edge-triggered, both directions),
 * O_NONBLOCK, whether writes must avoid SIGPIPE, and which file it is.
 *
 * Identity. A runtime learns about an fd on its first cn_* use, but the
 * number can be closed behind its back (a plain close(), a library, another
 * runtime's cn_close() of an fd that was handed over) and the kernel hands
 * the number out again for another file: not registered, maybe blocking.
 * So each entry keeps the (st_dev, st_ino) of the file it registered, and
 * cn__fd_check() compares it (one fstat) before any call that could block
 * in the kernel: accept, connect, fd_wait, and every call on a pipe,
 * terminal or regular file; a different file is registered afresh (a new
 * life: waiters of the old one get ECANCELED). Socket reads and writes are
 * not checked, which keeps the hot path free of system calls: they cannot
 * block (io.c passes MSG_DONTWAIT), a socket that turned into another kind
 * of file says ENOTSOCK (then it is checked), and a wait parked on a dead
 * registration is found by the scheduler's sweep (sched.c, "Stale waits")
 * within about two seconds.
 *
 * SIGPIPE: writes on sockets go through send/sendmsg with MSG_NOSIGNAL
 * (io.c), and where that flag is missing (macOS) the socket gets
 * SO_NOSIGPIPE here, so a closed peer makes a write fail with EPIPE instead
 * of killing the program.
 *
 * Threads: a runtime coroutine on its scheduler's thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "io_internal.h"

/* Where MSG_NOSIGNAL is missing, turns SIGPIPE off on the socket. */
static void no_sigpipe(int fd)
{
#if defined(SO_NOSIGPIPE)
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#else
	(void)fd;
#endif
}

/* EEXIST means a registration outlived an fd closed behind our back (a dup
 * kept it alive, or libkqueue): replace it so the token carries the
 * current seq. */
int cn__fd_register(cn__sched *s, cn__fdent *e, int fd)
{
	uint64_t tok = cn__fd_token(fd, atomic_load_explicit(&e->seq, memory_order_relaxed));
	struct stat st;
	int fl;

	if (fstat(fd, &st) < 0)
		return -1;
	e->dev = (uint64_t)st.st_dev;
	e->ino = (uint64_t)st.st_ino;
	if (cn__poller_add(s->fdp, fd, tok) < 0) {
		if (errno == EPERM) {
			e->state = CN__FD_ALWAYS;
			e->sock = 0;
			return 0;
		}
		if (errno != EEXIST)
			return -1;
		cn__poller_del(s->fdp, fd);
		if (cn__poller_add(s->fdp, fd, tok) < 0)
			return -1;
	}
	e->state = CN__FD_REGISTERED;
	e->sock = S_ISSOCK(st.st_mode);
	if (e->sock)
		no_sigpipe(fd);
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	return 0;
}

int cn__fd_register_fresh(cn__sched *s, int fd)
{
	cn__fdent *e = cn__fd_get(s->fds, fd);

	if (!e)
		return -1;
	if (e->state != CN__FD_UNKNOWN)
		cn__sched_fd_retire(s, e, fd);
	cn__fd_renew(e);
	return cn__fd_register(s, e, fd);
}

int cn__fd_check(cn__sched *s, cn__fdent *e, int fd)
{
	int same = cn__fd_same_file(e, fd);

	if (same < 0)
		return -1; /* EBADF: closed behind our back; the call fails */
	if (same)
		return 0;
	cn__sched_fd_retire(s, e, fd);
	cn__fd_renew(e);
	if (cn__fd_register(s, e, fd) < 0)
		return -1;
	return 1;
}

void cn__fd_forget(cn__sched *s, int fd)
{
	cn__fdent *e = cn__fd_lookup(s->fds, fd);

	if (e && e->state != CN__FD_UNKNOWN)
		cn__sched_fd_retire(s, e, fd);
}
