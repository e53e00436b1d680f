/*
 * src/io_conn.c — coroutine I/O on connections and fds as a whole
 * (coronet/io.h): accept, connect, fd_wait, close.
 *
 * Threads: scheduler thread only, from a runtime coroutine (else EPERM).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base.h"
#include "io_internal.h"

#define MS ((int64_t)1000000)

static int accept_nb(int fd, struct sockaddr *addr, socklen_t *len)
{
#if defined(__linux__) || defined(__FreeBSD__)
	return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
	int nfd = accept(fd, addr, len);

	if (nfd >= 0) {
		fcntl(nfd, F_SETFD, FD_CLOEXEC);
		fcntl(nfd, F_SETFL, fcntl(nfd, F_GETFL) | O_NONBLOCK);
	}
	return nfd;
#endif
}

/*
 * For a condition no readiness edge announces (no fds to accept with; an
 * AF_UNIX listener's full backlog): sleeps *backoff, doubled each time up
 * to 100 ms, never past the deadline. 0 to retry; -1 with ETIMEDOUT,
 * ECANCELED (a stop, or the fd was closed meanwhile).
 */
static int backoff_sleep(cn__io *io, int64_t *backoff, int64_t deadline)
{
	int64_t d = *backoff;

	if (deadline != CN_NO_DEADLINE) {
		int64_t left = deadline - cn_now();

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (left < d)
			d = left;
	}
	if (cn_sleep(d) < 0)
		return -1;
	if (cn__io_closed(io)) {
		errno = ECANCELED;
		return -1;
	}
	*backoff = *backoff * 2 > 100 * MS ? 100 * MS : *backoff * 2;
	return 0;
}

int cn_accept(int fd, struct sockaddr *addr, socklen_t *len, int64_t deadline)
{
	int64_t backoff = 1 * MS;
	cn__io io;

	if (addr && !len) {
		errno = EFAULT;
		return -1;
	}
	if (cn__io_begin(&io, fd, 1) < 0)
		return -1;
	for (;;) {
		int nfd = accept_nb(fd, addr, len);
		int err;

		if (nfd >= 0) {
			if (cn__fd_register_fresh(io.t->s, nfd) < 0) {
				int saved = errno;

				close(nfd);
				errno = saved;
				return -1;
			}
			return nfd;
		}
		if (CN__UNLIKELY((err = cn__io_pending_error(&io)) != 0)) {
			errno = err;
			return -1;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
			continue;
		case EAGAIN:
#if EWOULDBLOCK != EAGAIN
		case EWOULDBLOCK:
#endif
			if (cn__io_wait(&io, CN__DIR_READ, deadline) < 0)
				return -1;
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			break;
		default:
			return -1;
		}
		/* Out of descriptors: the pending connection stays queued and
		 * no new edge will come for it, so sleep and retry accept
		 * directly: no CPU spin. */
		if (backoff_sleep(&io, &backoff, deadline) < 0)
			return -1;
	}
}

int cn_connect(int fd, const struct sockaddr *addr, socklen_t len, int64_t deadline)
{
	int64_t backoff = 1 * MS;
	cn__io io;

	if (!addr) {
		errno = EFAULT;
		return -1;
	}
	if (cn__io_begin(&io, fd, 1) < 0)
		return -1;
	for (;;) {
		if (connect(fd, addr, len) == 0)
			return 0;
		if (errno == EINPROGRESS || errno == EINTR)
			break;
		/* Linux answers a non-blocking AF_UNIX connect to a listener
		 * whose backlog is full with EAGAIN (not EINPROGRESS): nothing
		 * was started, and no edge will say when there is room. A
		 * blocking connect would wait; so do we, backing off. */
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (backoff_sleep(&io, &backoff, deadline) < 0)
			return -1;
	}
	for (;;) {
		/* A fresh socket may report a spurious edge; ask the kernel
		 * whether the connection is really done before reading
		 * SO_ERROR. */
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int err = 0;
		socklen_t elen = sizeof(err);

		if (poll(&pf, 1, 0) > 0) {
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
				return -1;
			if (!err)
				err = cn__io_pending_error(&io);
			if (err) {
				errno = err;
				return -1;
			}
			/*
			 * SO_ERROR reads 0 both for a connection made and for
			 * one whose error a backend consumed (libkqueue) and
			 * has not recorded yet: the event carrying it is on
			 * its way. Only a connected socket has a peer; else
			 * wait for that event, which records the error
			 * before it wakes us.
			 */
			if (getpeername(fd, (struct sockaddr *)&peer, &plen) == 0)
				return 0;
			if (errno != ENOTCONN)
				return -1;
		}
		if (cn__io_wait(&io, CN__DIR_WRITE, deadline) < 0)
			return -1;
	}
}

int cn_fd_wait(int fd, int what, int64_t deadline)
{
	int dir = what == CN_FD_READ ? CN__DIR_READ : CN__DIR_WRITE;
	cn__io io;

	if (what != CN_FD_READ && what != CN_FD_WRITE) {
		errno = EINVAL;
		return -1;
	}
	if (cn__io_begin(&io, fd, 1) < 0)
		return -1;
	if (io.e->state == CN__FD_ALWAYS)
		return 0;
	for (;;) {
		/* Edges only report changes: check the level first. */
		struct pollfd pf = {.fd = fd, .events = what == CN_FD_READ ? POLLIN : POLLOUT};

		if (poll(&pf, 1, 0) > 0)
			return 0;
		if (cn__io_wait(&io, dir, deadline) < 0)
			return -1;
	}
}

int cn_close(int fd)
{
	cn__task *t = cn__task_current();

	if (!t)
		return -1;
	cn__fd_forget(t->s, fd);
	return close(fd);
}

int cn_fd_release(int fd)
{
	cn__task *t = cn__task_current();

	if (!t)
		return -1;
	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	cn__fd_forget(t->s, fd);
	return 0;
}
