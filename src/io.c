/*
 * src/io.c — coroutine I/O: read/write/readv/writev/recv/send, write-all,
 * accept, connect, fd_wait, close.
 *
 * Every call tries the system call first and waits only on EAGAIN, through
 * the fd's wait word (fdtable.h): an edge that arrived while nobody waited
 * is remembered there, so no readiness is lost between the failing syscall
 * and the wait. The first cn_* use of an fd registers it with the fd poller
 * once (edge-triggered, both directions) and makes it O_NONBLOCK; an fd the
 * poller refuses (EPERM: regular files) is "always ready" and gets plain
 * syscalls. fds returned by cn_accept() are registered fresh (a new seq),
 * whatever a previous fd with the same number left behind.
 *
 * Rule for users: an fd used with cn_* calls must be closed with cn_close():
 * it bumps the entry's seq, cancels its waiters (ECANCELED), unregisters it
 * and only then closes it, so no waiter ever retries on a reused fd number.
 *
 * Pending errors: a backend may hand over an fd's error with an event and
 * clear it in the socket (libkqueue reads SO_ERROR; poller.h). The entry
 * keeps it (fdtable.h) and the fd's next call reports it where the retried
 * system call would otherwise lie: a read that sees EOF, any call that fails
 * or would block, a connect whose SO_ERROR reads 0. Bytes already readable
 * are returned first, as the kernel itself does before a reset.
 *
 * SIGPIPE: writes on sockets go through send/sendmsg with MSG_NOSIGNAL, and
 * where that flag is missing (macOS) the socket gets SO_NOSIGPIPE when it is
 * registered, so a closed peer makes a write fail with EPIPE instead of
 * killing the program. Pipes have no such flag: a write to a pipe whose
 * reader left still raises SIGPIPE unless the program ignores it.
 *
 * Threads: scheduler thread only, from a runtime coroutine (else EPERM).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coronet/io.h"
#include "sched.h"

#define MS ((int64_t)1000000)

#ifdef MSG_NOSIGNAL
#define CN__NOSIGNAL MSG_NOSIGNAL
#else
#define CN__NOSIGNAL 0 /* SO_NOSIGPIPE, set at registration, does it */
#endif

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

#define unlikely(x) __builtin_expect(!!(x), 0)

typedef struct cn__io {
	cn__task *t;
	cn_runtime *rt;
	cn__fdent *e;
	uint32_t seq;
} cn__io;

int64_t cn_deadline_after(int64_t ns)
{
	int64_t now;

	if (ns < 0)
		return CN_NO_DEADLINE;
	now = cn_now();
	return ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

/* Remembers whether fd is a socket (sock: 1 yes, 0 no, -1 ask the kernel)
 * and, where MSG_NOSIGNAL is missing, turns SIGPIPE off on the socket. */
static void fd_note_socket(cn__fdent *e, int fd, int sock)
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

/* Adds fd to the poller under the entry's current seq. EEXIST means a
 * registration outlived an fd closed behind our back (a dup kept it alive,
 * or libkqueue): replace it so the token carries the current seq. sock as
 * fd_note_socket(). */
static int fd_register(cn_runtime *rt, cn__fdent *e, int fd, int sock)
{
	uint64_t tok = cn__fd_token(fd, atomic_load_explicit(&e->seq, memory_order_relaxed));
	int fl;

	if (cn__poller_add(rt->fdp, fd, tok) < 0) {
		if (errno == EPERM) {
			e->state = CN__FD_ALWAYS;
			e->sock = 0;
			return 0;
		}
		if (errno != EEXIST)
			return -1;
		cn__poller_del(rt->fdp, fd);
		if (cn__poller_add(rt->fdp, fd, tok) < 0)
			return -1;
	}
	e->state = CN__FD_REGISTERED;
	fd_note_socket(e, fd, sock);
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	return 0;
}

static int io_begin(cn__io *io, int fd)
{
	io->t = cn__task_current();
	if (!io->t)
		return -1;
	io->rt = io->t->rt;
	io->e = cn__fd_get(&io->rt->fds, fd);
	if (!io->e)
		return -1;
	if (io->e->state == CN__FD_UNKNOWN && fd_register(io->rt, io->e, fd, -1) < 0)
		return -1;
	io->seq = atomic_load_explicit(&io->e->seq, memory_order_relaxed);
	return 0;
}

static int closed_meanwhile(const cn__io *io)
{
	return atomic_load_explicit(&io->e->seq, memory_order_relaxed) != io->seq;
}

/* The fd's pending error (fdtable.h), taken: reported once. */
static int pending_error(const cn__io *io)
{
	return cn__fd_take_error(io->e, io->seq);
}

/*
 * Waits for the next edge in direction dir after a syscall said EAGAIN.
 * Returns 0 to retry the syscall, -1 with ETIMEDOUT, ECANCELED (stop, or
 * the fd was closed), EBUSY (another coroutine waits on this fd in this
 * direction), ENOMEM, or EAGAIN (an always-ready fd said EAGAIN).
 */
static int io_wait(cn__io *io, int dir, int64_t deadline)
{
	cn_runtime *rt = io->rt;
	_Atomic uintptr_t *word = &io->e->wait[dir];
	uintptr_t old = CN__FD_READY;
	cn__wait w;

	if (io->e->state == CN__FD_ALWAYS) {
		errno = EAGAIN;
		return -1;
	}
	if (atomic_load(&rt->stopping) || closed_meanwhile(io)) {
		errno = ECANCELED;
		return -1;
	}
	if (deadline != CN_NO_DEADLINE && cn_now() >= deadline) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (atomic_compare_exchange_strong(word, &old, 0))
		return 0; /* an edge came while nobody waited: retry now */
	if (old != 0) {
		errno = EBUSY;
		return -1;
	}
	cn_promise_init(&w.p);
	w.p.priv = &w;
	w.kind = CN__WAIT_FD;
	w.ent = io->e;
	w.dir = dir;
	w.timer.idx = CN__TIMER_IDLE;
	w.timer.fire = cn__wait_timer_fire;
	if (deadline != CN_NO_DEADLINE) {
		w.timer.deadline = deadline;
		if (cn__timer_add(&rt->timers, &w.timer) < 0)
			return -1;
	}
	/* Set up everything the scheduler reads before publishing: from the
	 * CAS on, the netpoll thread may own and write the promise. */
	w.p.waiter = io->t->co;
	io->t->waiting = &w.p;
	old = 0;
	if (!atomic_compare_exchange_strong(word, &old, (uintptr_t)&w.p)) {
		/* Only READY can have appeared (netpoll never stores a
		 * promise): consume it and retry. */
		io->t->waiting = NULL;
		cn__timer_del(&rt->timers, &w.timer);
		atomic_compare_exchange_strong(word, &old, 0);
		return 0;
	}
	cn__task_wait(io->t, &w.p);
	cn__timer_del(&rt->timers, &w.timer);
	if (w.p.err) {
		errno = w.p.err;
		return -1;
	}
	if (closed_meanwhile(io)) {
		errno = ECANCELED;
		return -1;
	}
	return 0;
}

enum io_op { OP_READ, OP_WRITE, OP_READV, OP_WRITEV, OP_RECV, OP_SEND };

typedef struct io_req {
	enum io_op op;
	int fd, flags, iovcnt;
	void *buf;
	size_t n;
	const struct iovec *iov;
} io_req;

static ssize_t io_call(const io_req *r, int sock)
{
	struct msghdr m;

	switch (r->op) {
	case OP_READ:
		return read(r->fd, r->buf, r->n);
	case OP_WRITE:
		if (sock)
			return send(r->fd, r->buf, r->n, CN__NOSIGNAL);
		return write(r->fd, r->buf, r->n);
	case OP_READV:
		return readv(r->fd, r->iov, r->iovcnt);
	case OP_WRITEV:
		if (!sock)
			return writev(r->fd, r->iov, r->iovcnt);
		memset(&m, 0, sizeof(m));
		m.msg_iov = (struct iovec *)r->iov;
		m.msg_iovlen = r->iovcnt;
		return sendmsg(r->fd, &m, CN__NOSIGNAL);
	case OP_RECV:
		return recv(r->fd, r->buf, r->n, r->flags);
	case OP_SEND:
		return send(r->fd, r->buf, r->n, r->flags | CN__NOSIGNAL);
	}
	errno = EINVAL;
	return -1;
}

/* Checked here rather than left to the kernel: a NULL buffer would make
 * checkers (Valgrind) flag the system call itself, and a size beyond
 * SSIZE_MAX cannot be returned. EFAULT, as the kernel says for bad
 * addresses; EINVAL for sizes and counts. */
static int io_args_bad(const io_req *r)
{
	if (r->op == OP_READV || r->op == OP_WRITEV) {
		if (r->iovcnt < 0 || r->iovcnt > IOV_MAX) {
			errno = EINVAL;
			return 1;
		}
		if (!r->iov && r->iovcnt > 0) {
			errno = EFAULT;
			return 1;
		}
		return 0;
	}
	if (r->n > SSIZE_MAX) {
		errno = EINVAL;
		return 1;
	}
	if (!r->buf && r->n > 0) {
		errno = EFAULT;
		return 1;
	}
	return 0;
}

static ssize_t io_run(const io_req *r, int dir, int64_t deadline)
{
	cn__io io;

	if (unlikely(io_args_bad(r)) || io_begin(&io, r->fd) < 0)
		return -1;
	for (;;) {
		ssize_t n = io_call(r, io.e->sock);
		int err;

		/* A 0 from the read side may be an EOF that hides a pending
		 * error the backend took out of the socket. */
		if (n > 0 || (n == 0 && dir == CN__DIR_WRITE))
			return n;
		if (unlikely((err = pending_error(&io)) != 0)) {
			errno = err;
			return -1;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (io_wait(&io, dir, deadline) < 0)
			return -1;
	}
}

ssize_t cn_read(int fd, void *buf, size_t n, int64_t deadline)
{
	io_req r = {.op = OP_READ, .fd = fd, .buf = buf, .n = n};

	return io_run(&r, CN__DIR_READ, deadline);
}

ssize_t cn_write(int fd, const void *buf, size_t n, int64_t deadline)
{
	io_req r = {.op = OP_WRITE, .fd = fd, .buf = (void *)buf, .n = n};

	return io_run(&r, CN__DIR_WRITE, deadline);
}

ssize_t cn_readv(int fd, const struct iovec *iov, int iovcnt, int64_t deadline)
{
	io_req r = {.op = OP_READV, .fd = fd, .iov = iov, .iovcnt = iovcnt};

	return io_run(&r, CN__DIR_READ, deadline);
}

ssize_t cn_writev(int fd, const struct iovec *iov, int iovcnt, int64_t deadline)
{
	io_req r = {.op = OP_WRITEV, .fd = fd, .iov = iov, .iovcnt = iovcnt};

	return io_run(&r, CN__DIR_WRITE, deadline);
}

ssize_t cn_recv(int fd, void *buf, size_t n, int flags, int64_t deadline)
{
	io_req r = {.op = OP_RECV, .fd = fd, .buf = buf, .n = n, .flags = flags};

	return io_run(&r, CN__DIR_READ, deadline);
}

ssize_t cn_send(int fd, const void *buf, size_t n, int flags, int64_t deadline)
{
	io_req r = {.op = OP_SEND, .fd = fd, .buf = (void *)buf, .n = n, .flags = flags};

	return io_run(&r, CN__DIR_WRITE, deadline);
}

ssize_t cn_write_all(int fd, const void *buf, size_t n, int64_t deadline, size_t *written)
{
	const char *p = buf;
	size_t done = 0;

	if (written)
		*written = 0;
	if (!cn__task_current())
		return -1;
	if (n > SSIZE_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (n == 0) /* still checks fd, like write(fd, buf, 0) */
		return cn_write(fd, buf, 0, deadline);
	if (!buf) {
		errno = EFAULT;
		return -1;
	}
	do {
		ssize_t r = cn_write(fd, p + done, n - done, deadline);

		if (r < 0) {
			if (written)
				*written = done;
			return -1;
		}
		done += (size_t)r;
	} while (done < n);
	if (written)
		*written = done;
	return (ssize_t)n;
}

/* A fresh life for an accepted fd: new seq (events for the previous fd with
 * this number are stale), clean wait words, its own registration. */
static int fd_register_fresh(cn_runtime *rt, int fd)
{
	cn__fdent *e = cn__fd_get(&rt->fds, fd);

	if (!e)
		return -1;
	atomic_fetch_add_explicit(&e->seq, 1, memory_order_release);
	atomic_store(&e->wait[CN__DIR_READ], 0);
	atomic_store(&e->wait[CN__DIR_WRITE], 0);
	atomic_store(&e->error, 0);
	e->state = CN__FD_UNKNOWN;
	return fd_register(rt, e, fd, 1);
}

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

int cn_accept(int fd, struct sockaddr *addr, socklen_t *len, int64_t deadline)
{
	int64_t backoff = 1 * MS;
	cn__io io;

	if (addr && !len) {
		errno = EFAULT;
		return -1;
	}
	if (io_begin(&io, fd) < 0)
		return -1;
	for (;;) {
		int nfd = accept_nb(fd, addr, len);
		int64_t d;
		int err;

		if (nfd >= 0) {
			if (fd_register_fresh(io.rt, nfd) < 0) {
				int saved = errno;

				close(nfd);
				errno = saved;
				return -1;
			}
			return nfd;
		}
		if (unlikely((err = pending_error(&io)) != 0)) {
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
			if (io_wait(&io, CN__DIR_READ, deadline) < 0)
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
		 * directly, doubling the pause up to 100 ms: no CPU spin. */
		d = backoff;
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
		if (closed_meanwhile(&io)) {
			errno = ECANCELED;
			return -1;
		}
		backoff = backoff * 2 > 100 * MS ? 100 * MS : backoff * 2;
	}
}

int cn_connect(int fd, const struct sockaddr *addr, socklen_t len, int64_t deadline)
{
	cn__io io;

	if (!addr) {
		errno = EFAULT;
		return -1;
	}
	if (io_begin(&io, fd) < 0)
		return -1;
	if (connect(fd, addr, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -1;
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
				err = pending_error(&io);
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
		if (io_wait(&io, CN__DIR_WRITE, deadline) < 0)
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
	if (io_begin(&io, fd) < 0)
		return -1;
	if (io.e->state == CN__FD_ALWAYS)
		return 0;
	for (;;) {
		/* Edges only report changes: check the level first. */
		struct pollfd pf = {.fd = fd, .events = what == CN_FD_READ ? POLLIN : POLLOUT};

		if (poll(&pf, 1, 0) > 0)
			return 0;
		if (io_wait(&io, dir, deadline) < 0)
			return -1;
	}
}

int cn_close(int fd)
{
	cn__task *t = cn__task_current();
	cn__fdent *e;

	if (!t)
		return -1;
	e = cn__fd_lookup(&t->rt->fds, fd);
	if (e && e->state != CN__FD_UNKNOWN) {
		cn_runtime *rt = t->rt;

		/* New seq first: from here the netpoll side ignores events
		 * queued for this fd, and waiters resumed later see it. */
		atomic_fetch_add_explicit(&e->seq, 1, memory_order_release);
		atomic_store_explicit(&e->error, 0, memory_order_relaxed);
		for (int dir = 0; dir < 2; dir++) {
			uintptr_t old = atomic_load(&e->wait[dir]);

			if (old > CN__FD_READY && cn__fd_reclaim(e, dir, (cn_promise *)old))
				cn__promise_complete(rt, (cn_promise *)old, -1, ECANCELED);
			old = CN__FD_READY;
			atomic_compare_exchange_strong(&e->wait[dir], &old, 0);
		}
		if (e->state == CN__FD_REGISTERED)
			cn__poller_del(rt->fdp, fd);
		e->state = CN__FD_UNKNOWN;
	}
	return close(fd);
}
