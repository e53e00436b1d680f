/*
 * src/fdreg.c — making an fd known to a runtime: its poller registration
 * (once per life of the fd number, edge-triggered, both directions),
 * O_NONBLOCK, and whether writes must avoid SIGPIPE.
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

/* Remembers whether fd is a socket (sock: 1 yes, 0 no, -1 ask the kernel)
 * and, where MSG_NOSIGNAL is missing, turns SIGPIPE off on the socket. */
static void note_socket(cn__fdent *e, int fd, int sock)
{
	if (sock < 0) {
		struct stat st;

		sock = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
	}
	e->sock = sock;
#if defined(SO_NOSIGPIPE)
	if (sock) {
		int one = 1;

		setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
	}
#endif
}

/* EEXIST means a registration outlived an fd closed behind our back (a dup
 * kept it alive, or libkqueue): replace it so the token carries the
 * current seq. */
int cn__fd_register(cn__sched *s, cn__fdent *e, int fd, int sock)
{
	uint64_t tok = cn__fd_token(fd, atomic_load_explicit(&e->seq, memory_order_relaxed));
	int fl;

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
	note_socket(e, fd, sock);
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
	cn__fd_renew(e);
	return cn__fd_register(s, e, fd, 1);
}
