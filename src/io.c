/*
 * src/io.c — coroutine I/O (coronet/io.h): read/write/readv/writev/recv/
 * send, datagrams and messages (recvfrom/sendto/recvmsg/sendmsg) and
 * write-all; the wait after EAGAIN that every call shares.
 *
 * Every call tries the system call first and waits only on EAGAIN, through
 * the fd's wait word (fdtable.h): an edge that arrived while nobody waited
 * is remembered there, so no readiness is lost between the failing syscall
 * and the wait. The first cn_* use of an fd registers it (fdreg.c); an fd
 * the poller refuses is "always ready" and gets plain syscalls.
 *
 * Rule for users: an fd used with cn_* calls must be closed with cn_close()
 * (io_conn.c): it bumps the entry's seq, cancels its waiters (ECANCELED),
 * unregisters it and only then closes it, so no waiter ever retries on a
 * reused fd number.
 *
 * Pending errors: a backend may hand over an fd's error with an event and
 * clear it in the socket (libkqueue reads SO_ERROR; poller.h). The entry
 * keeps it (fdtable.h) and the fd's next call reports it where the retried
 * system call would otherwise lie: a read that sees EOF, any call that fails
 * or would block, a connect whose SO_ERROR reads 0. Bytes already readable
 * are returned first, as the kernel itself does before a reset.
 *
 * Threads: scheduler thread only, from a runtime coroutine (else EPERM).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base.h"
#include "io_internal.h"

#ifdef MSG_NOSIGNAL
#define CN__NOSIGNAL MSG_NOSIGNAL
#else
#define CN__NOSIGNAL 0 /* SO_NOSIGPIPE, set at registration, does it */
#endif

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

int cn__io_begin(cn__io *io, int fd, int check)
{
	io->t = cn__task_current();
	if (!io->t)
		return -1;
	io->fd = fd;
	io->e = cn__fd_get(io->t->s->fds, fd);
	if (!io->e)
		return -1;
	if (io->e->state == CN__FD_UNKNOWN) {
		if (cn__fd_register(io->t->s, io->e, fd) < 0)
			return -1;
	} else if ((check || !io->e->sock) && cn__fd_check(io->t->s, io->e, fd) < 0) {
		/* Only socket reads and writes are safe unchecked (MSG_DONTWAIT;
		 * fdreg.c, "Identity"): anything else could block in the kernel
		 * on a file the runtime never made non-blocking. */
		return -1;
	}
	io->seq = atomic_load_explicit(&io->e->seq, memory_order_relaxed);
	return 0;
}

int cn__io_recheck(cn__io *io)
{
	if (cn__fd_check(io->t->s, io->e, io->fd) < 0)
		return -1;
	io->seq = atomic_load_explicit(&io->e->seq, memory_order_relaxed);
	return 0;
}

int cn__io_wait(cn__io *io, int dir, int64_t deadline)
{
	cn__wait w;
	int r, err;

	if (io->e->state == CN__FD_ALWAYS) {
		errno = EAGAIN;
		return -1;
	}
	if (cn__task_stopping(io->t) || cn__io_closed(io)) {
		errno = ECANCELED;
		return -1;
	}
	if (deadline != CN_NO_DEADLINE && cn_now() >= deadline) {
		errno = ETIMEDOUT;
		return -1;
	}
	r = cn__fd_arm(io->e, dir);
	if (r != 0)
		return r > 0 ? 0 : -1; /* an edge came while nobody waited: retry */
	if (cn__wait_begin(io->t, &w, CN__WAIT_FD, io->e, io->fd, dir, deadline) < 0)
		return -1;
	if (cn__fd_publish(io->e, dir, &w.p)) {
		cn__wait_abandon(io->t, &w);
		return 0;
	}
	err = cn__wait_park(io->t, &w);
	if (err) {
		errno = err;
		return -1;
	}
	if (cn__io_closed(io)) {
		errno = ECANCELED;
		return -1;
	}
	return 0;
}

enum io_op {
	OP_READ,
	OP_WRITE,
	OP_READV,
	OP_WRITEV,
	OP_RECV,
	OP_SEND,
	OP_RECVFROM,
	OP_SENDTO,
	OP_RECVMSG,
	OP_SENDMSG,
};

typedef struct io_req {
	enum io_op op;
	int fd, flags, iovcnt;
	void *buf;
	size_t n;
	const struct iovec *iov;
	struct sockaddr *addr; /* recvfrom: out; sendto: in */
	socklen_t *addrlen;    /* recvfrom */
	socklen_t alen;        /* sendto */
	struct msghdr *msg;    /* recvmsg, sendmsg */
} io_req;

/* Sockets go through recv/send/recvmsg/sendmsg with MSG_DONTWAIT: the call
 * cannot block even when the socket is not O_NONBLOCK (an fd number reused
 * behind our back; fdreg.c), and with MSG_NOSIGNAL. */
static ssize_t io_call(const io_req *r, int sock)
{
	struct msghdr m;

	if (!sock) {
		switch (r->op) {
		case OP_READ:
			return read(r->fd, r->buf, r->n);
		case OP_WRITE:
			return write(r->fd, r->buf, r->n);
		case OP_READV:
			return readv(r->fd, r->iov, r->iovcnt);
		case OP_WRITEV:
			return writev(r->fd, r->iov, r->iovcnt);
		default:
			break; /* socket calls: the kernel says ENOTSOCK */
		}
	}
	switch (r->op) {
	case OP_READ:
		return recv(r->fd, r->buf, r->n, MSG_DONTWAIT);
	case OP_WRITE:
		return send(r->fd, r->buf, r->n, MSG_DONTWAIT | CN__NOSIGNAL);
	case OP_READV:
	case OP_WRITEV:
		memset(&m, 0, sizeof(m));
		m.msg_iov = (struct iovec *)r->iov;
		m.msg_iovlen = r->iovcnt;
		if (r->op == OP_READV)
			return recvmsg(r->fd, &m, MSG_DONTWAIT);
		return sendmsg(r->fd, &m, MSG_DONTWAIT | CN__NOSIGNAL);
	case OP_RECV:
		return recv(r->fd, r->buf, r->n, r->flags | MSG_DONTWAIT);
	case OP_SEND:
		return send(r->fd, r->buf, r->n, r->flags | MSG_DONTWAIT | CN__NOSIGNAL);
	case OP_RECVFROM:
		return recvfrom(r->fd, r->buf, r->n, r->flags | MSG_DONTWAIT, r->addr, r->addrlen);
	case OP_SENDTO:
		return sendto(r->fd, r->buf, r->n, r->flags | MSG_DONTWAIT | CN__NOSIGNAL, r->addr,
		              r->alen);
	case OP_RECVMSG:
		return recvmsg(r->fd, r->msg, r->flags | MSG_DONTWAIT);
	case OP_SENDMSG:
		return sendmsg(r->fd, r->msg, r->flags | MSG_DONTWAIT | CN__NOSIGNAL);
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
	if (r->op == OP_RECVMSG || r->op == OP_SENDMSG) {
		if (!r->msg) {
			errno = EFAULT;
			return 1;
		}
		return 0;
	}
	if ((r->op == OP_RECVFROM && r->addr && !r->addrlen) ||
	    (r->op == OP_SENDTO && !r->addr && r->alen > 0)) {
		errno = EFAULT;
		return 1;
	}
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

/* Regular files and other fds the poller refuses never say EAGAIN, but
 * their system calls can still take the disk's time: they run on the
 * runtime's pool while the coroutine waits (io.h, "Regular files"). */
static ssize_t file_call(void *arg)
{
	return io_call(arg, 0);
}

/*
 * A read of data already in the page cache costs a few hundred ns; a
 * round trip to the pool costs two thread wake-ups (tens of us on these
 * VMs: bench_threads). Linux can say which case it is without waiting:
 * preadv2(RWF_NOWAIT) at the current offset returns what is cached and
 * EAGAIN when it would have to go to the disk. So reads try that on the
 * scheduler thread first, and only what the page cache lacks goes to the
 * pool. Returns the count, or -1 with errno EAGAIN when the pool must do
 * it (also where RWF_NOWAIT does not exist or the file system refuses it).
 */
static ssize_t file_read_cached(const io_req *r)
{
#if defined(__linux__) && defined(RWF_NOWAIT)
	struct iovec one = {r->buf, r->n};
	ssize_t n;

	if (r->op != OP_READ && r->op != OP_READV)
		goto pool;
	n = r->op == OP_READ ? preadv2(r->fd, &one, 1, -1, RWF_NOWAIT)
	                     : preadv2(r->fd, r->iov, r->iovcnt, -1, RWF_NOWAIT);
	/* A short count may only mean "the rest is not cached": fine for a
	 * read, as read(2) may return less too. */
	if (n >= 0 || (errno != EAGAIN && errno != EOPNOTSUPP && errno != ENOSYS &&
	               errno != EINVAL && errno != ESPIPE))
		return n;
pool:
#endif
	(void)r;
	errno = EAGAIN;
	return -1;
}

static ssize_t io_run(const io_req *r, int dir, int64_t deadline)
{
	cn__io io;

	if (CN__UNLIKELY(io_args_bad(r)) || cn__io_begin(&io, r->fd, 0) < 0)
		return -1;
	if (io.e->state == CN__FD_ALWAYS) {
		ssize_t n = file_read_cached(r);

		if (n >= 0 || errno != EAGAIN)
			return n;
		return cn__pool_call(io.t, file_call, (void *)r);
	}
	for (;;) {
		ssize_t n = io_call(r, io.e->sock);
		int err;

		/* A 0 from the read side may be an EOF that hides a pending
		 * error the backend took out of the socket. */
		if (n > 0 || (n == 0 && dir == CN__DIR_WRITE))
			return n;
		if (CN__UNLIKELY((err = cn__io_pending_error(&io)) != 0)) {
			errno = err;
			return -1;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (CN__UNLIKELY(errno == ENOTSOCK) && io.e->sock) {
			/* The number was a socket once; now it names another
			 * file: register that one and start over. */
			if (cn__io_recheck(&io) < 0)
				return -1;
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (cn__io_wait(&io, dir, deadline) < 0)
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
	io_req r = {.op = OP_RECV, .fd = fd, .buf = buf, .n = n, .flags = flags & ~MSG_WAITALL};
	size_t got = 0;

	if (!(flags & MSG_WAITALL) || (flags & MSG_PEEK))
		return io_run(&r, CN__DIR_READ, deadline);
	/* MSG_WAITALL on a non-blocking socket returns what is there, so the
	 * waiting is ours: until n bytes, EOF, an error or the deadline.
	 * Like recv(2), bytes already received are returned rather than the
	 * error that cut them short (the next call reports it). */
	do {
		ssize_t k;

		k = io_run(&r, CN__DIR_READ, deadline);
		if (k < 0)
			return got ? (ssize_t)got : -1;
		if (k == 0)
			break;
		got += (size_t)k;
		r.buf = (char *)buf + got;
		r.n = n - got;
	} while (got < n);
	return (ssize_t)got;
}

ssize_t cn_send(int fd, const void *buf, size_t n, int flags, int64_t deadline)
{
	io_req r = {.op = OP_SEND, .fd = fd, .buf = (void *)buf, .n = n, .flags = flags};

	return io_run(&r, CN__DIR_WRITE, deadline);
}

ssize_t cn_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                    socklen_t *addrlen, int64_t deadline)
{
	io_req r = {.op = OP_RECVFROM,
	            .fd = fd,
	            .buf = buf,
	            .n = n,
	            .flags = flags,
	            .addr = addr,
	            .addrlen = addrlen};

	return io_run(&r, CN__DIR_READ, deadline);
}

ssize_t cn_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
                  socklen_t addrlen, int64_t deadline)
{
	io_req r = {.op = OP_SENDTO,
	            .fd = fd,
	            .buf = (void *)buf,
	            .n = n,
	            .flags = flags,
	            .addr = (struct sockaddr *)addr,
	            .alen = addrlen};

	return io_run(&r, CN__DIR_WRITE, deadline);
}

ssize_t cn_recvmsg(int fd, struct msghdr *msg, int flags, int64_t deadline)
{
	io_req r = {.op = OP_RECVMSG, .fd = fd, .msg = msg, .flags = flags};

	return io_run(&r, CN__DIR_READ, deadline);
}

ssize_t cn_sendmsg(int fd, const struct msghdr *msg, int flags, int64_t deadline)
{
	io_req r = {.op = OP_SENDMSG, .fd = fd, .msg = (struct msghdr *)msg, .flags = flags};

	return io_run(&r, CN__DIR_WRITE, deadline);
}

ssize_t cn_write_all(int fd, const void *buf, size_t n, int64_t deadline, size_t *written)
{
	const char *p = buf;
	size_t done = 0;

	if (written)
		*written = 0;
	/* Arguments first, as every call of io.h checks them. */
	if (n > SSIZE_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (!buf && n > 0) {
		errno = EFAULT;
		return -1;
	}
	if (!cn__task_current())
		return -1;
	if (n == 0) /* still checks fd, like write(fd, buf, 0) */
		return cn_write(fd, buf, 0, deadline);
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
