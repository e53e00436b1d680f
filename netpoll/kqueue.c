/*
 * netpoll/kqueue.c — the macOS/BSD backend of netpoll/poller.h (also built
 * on Linux against libkqueue): one kqueue where every fd gets an EVFILT_READ
 * and an EVFILT_WRITE filter, both EV_CLEAR (edge-triggered), added in one
 * kevent() call, plus one EVFILT_USER filter as the wake-up channel.
 *
 * Threads: cn__poller_wait() runs on one thread at a time and alone uses
 * p->buf. add/del may run on any thread, also while another blocks in wait;
 * they serialise on p->lock, which guards the registry (see below) and is
 * never taken by wait or wake. wake touches only the atomic flag, the
 * counter and one kevent(NOTE_TRIGGER), so any thread may call it, and a
 * signal handler too on a real kqueue (libkqueue takes a mutex inside
 * kevent(), so there a handler must not interrupt a thread inside add/del).
 */
#include "poller.h"
#include "wakeflag.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Events taken from the kernel per wait; a bigger max just gets this many. */
#define CN__KQUEUE_BATCH 256

/* The EVFILT_USER ident; user filters have their own ident space. */
#define CN__KQUEUE_WAKE_IDENT 0

_Static_assert(sizeof(void *) >= sizeof(uint64_t), "the token travels in udata");

/*
 * kqueue's EV_ADD on a registered fd silently updates it, where epoll says
 * EEXIST, and there is no side-effect-free way to ask the kernel whether a
 * filter exists (any modify overwrites udata on macOS). So the backend keeps
 * its own record of registered fds, with the file's identity: if the record
 * names another file, the fd was closed and reused without a del (the
 * kernel dropped the filters on close; libkqueue did not), and the record
 * is stale rather than a double add.
 */
struct cn__kqueue_reg {
	dev_t dev;
	ino_t ino;
	unsigned char on;
};

struct cn__poller {
	int kq;
	/* In front of EVFILT_USER (wakeflag.h); EV_CLEAR resets the event
	 * when the wait receives it, which is the "drain". */
	cn__wakeflag wake;
	pthread_mutex_t lock;        /* guards regs and nregs */
	struct cn__kqueue_reg *regs; /* indexed by fd */
	size_t nregs;
	struct kevent buf[CN__KQUEUE_BATCH];
};

const char *cn__poller_name(void)
{
	return "kqueue";
}

cn__poller *cn__poller_create(void)
{
	struct kevent kev;
	cn__poller *p;
	int err;

	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	/* The error ladder (libdill's): errno saved once where the failure
	 * happens, restored once at the bottom. */
	p->kq = kqueue();
	if (p->kq < 0) {
		err = errno;
		goto error1;
	}
	/* macOS does not pass a kqueue to a child anyway; libkqueue's is a
	 * plain fd that would leak into exec'd programs. Best effort. */
	(void)fcntl(p->kq, F_SETFD, FD_CLOEXEC);
	EV_SET(&kev, CN__KQUEUE_WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	if (kevent(p->kq, &kev, 1, NULL, 0, NULL) < 0) {
		err = errno;
		goto error2;
	}
	err = pthread_mutex_init(&p->lock, NULL);
	if (err)
		goto error2;
	cn__wakeflag_init(&p->wake);
	return p;

error2:
	close(p->kq);
error1:
	free(p);
	errno = err;
	return NULL;
}

void cn__poller_destroy(cn__poller *p)
{
	if (!p)
		return;
	close(p->kq);
	pthread_mutex_destroy(&p->lock);
	free(p->regs);
	free(p);
}

/* fd's record, growing the table; NULL with ENOMEM. Under p->lock. */
static struct cn__kqueue_reg *cn__kqueue_slot(cn__poller *p, int fd)
{
	size_t n = p->nregs ? p->nregs : 64;
	struct cn__kqueue_reg *regs;

	if ((size_t)fd < p->nregs)
		return &p->regs[fd];
	while (n <= (size_t)fd)
		n *= 2;
	regs = realloc(p->regs, n * sizeof(*regs));
	if (!regs)
		return NULL;
	memset(regs + p->nregs, 0, (n - p->nregs) * sizeof(*regs));
	p->regs = regs;
	p->nregs = n;
	return &p->regs[fd];
}

/*
 * Applies flags to both filters of fd in one kevent() call. EV_RECEIPT
 * makes the kernel report each change's own result instead of stopping at
 * the first error, so err[0] (read) and err[1] (write) say exactly which
 * half took effect. Returns -1 with errno only if kevent() itself failed.
 */
static int cn__kqueue_both(cn__poller *p, int fd, unsigned short flags, uint64_t token, int err[2])
{
	static const struct timespec zero;
	struct kevent ch[2], res[2];
	void *udata = (void *)(uintptr_t)token;
	int i, n;

	EV_SET(&ch[0], (uintptr_t)fd, EVFILT_READ, flags | EV_RECEIPT, 0, 0, udata);
	EV_SET(&ch[1], (uintptr_t)fd, EVFILT_WRITE, flags | EV_RECEIPT, 0, 0, udata);
	err[0] = err[1] = EIO; /* unless a receipt says otherwise */
	n = kevent(p->kq, ch, 2, res, 2, &zero);
	if (n < 0)
		return -1;
	for (i = 0; i < n; i++) {
		int e = (res[i].flags & EV_ERROR) ? (int)res[i].data : 0;

		if (res[i].filter == EVFILT_READ)
			err[0] = e;
		else if (res[i].filter == EVFILT_WRITE)
			err[1] = e;
	}
	return 0;
}

static void cn__kqueue_forget(cn__poller *p, int fd)
{
	int err[2];

	/* Errors are expected (the kernel already dropped the filters); on
	 * libkqueue this is what removes filters that outlived close(). */
	cn__kqueue_both(p, fd, EV_DELETE, 0, err);
}

int cn__poller_add(cn__poller *p, int fd, uint64_t token)
{
	struct cn__kqueue_reg *r;
	struct stat st;
	int err[2], e;

	if (token == CN__POLL_TOKEN_RESERVED) {
		errno = EINVAL;
		return -1;
	}
	if (fstat(fd, &st) < 0)
		return -1;
	/* kqueue would accept these and call them always readable; epoll
	 * refuses them, and the caller handles EPERM as "always ready". */
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		errno = EPERM;
		return -1;
	}
	pthread_mutex_lock(&p->lock);
	r = cn__kqueue_slot(p, fd);
	if (!r) {
		e = ENOMEM;
		goto error;
	}
	if (r->on) {
		if (r->dev == st.st_dev && r->ino == st.st_ino) {
			e = EEXIST;
			goto error;
		}
		cn__kqueue_forget(p, fd);
		r->on = 0;
	}
	if (cn__kqueue_both(p, fd, EV_ADD | EV_CLEAR, token, err) < 0) {
		e = errno;
		goto error;
	}
	if (err[0] || err[1]) {
		/* All or nothing: undo the half that took. */
		if (!err[0] || !err[1])
			cn__kqueue_forget(p, fd);
		e = err[0] ? err[0] : err[1];
		goto error;
	}
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	r->on = 1;
	pthread_mutex_unlock(&p->lock);
	return 0;

error:
	pthread_mutex_unlock(&p->lock);
	errno = e;
	return -1;
}

int cn__poller_del(cn__poller *p, int fd)
{
	struct cn__kqueue_reg *r;
	struct stat st;
	int err[2], e = 0, open;

	open = fstat(fd, &st) == 0;
	if (!open && fd < 0) {
		errno = EBADF;
		return -1;
	}
	pthread_mutex_lock(&p->lock);
	r = (size_t)fd < p->nregs ? &p->regs[fd] : NULL;
	if (!r || !r->on) {
		e = open ? ENOENT : EBADF;
	} else if (!open || r->dev != st.st_dev || r->ino != st.st_ino) {
		/* Closed, or closed and reused, without a del: answer as
		 * epoll would, and clear what libkqueue may still hold. */
		cn__kqueue_forget(p, fd);
		r->on = 0;
		e = open ? ENOENT : EBADF;
	} else {
		r->on = 0;
		if (cn__kqueue_both(p, fd, EV_DELETE, 0, err) < 0)
			e = errno;
		else if (err[0] && err[1])
			e = err[0];
	}
	pthread_mutex_unlock(&p->lock);
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}

/*
 * Takes up to max events from the kernel into p->buf; -1 with errno.
 *
 * libkqueue (Linux) has one epoll registration per fd for both filters and
 * asks epoll_wait() for as many fds as there are kevent slots; each fd can
 * then need two slots, and what does not fit is dropped, although the
 * edge-triggered epoll already consumed it: a waiter would hang. Asking for
 * one event per call keeps every fd's first kevent (the cost is a system
 * call per event, on a backend only used to test the code on Linux), and
 * cn__poller_wait() reports both directions for it. Native kqueue queues
 * each knote on its own and keeps what does not fit for the next call.
 */
static int cn__kqueue_collect(cn__poller *p, int max, const struct timespec *tsp)
{
#ifdef LIBKQUEUE
	static const struct timespec zero;
	int n, total;

	n = kevent(p->kq, NULL, 0, p->buf, 1, tsp);
	if (n <= 0)
		return n;
	for (total = 1; total < max; total++) {
		/* A later failure (EINTR) just ends the batch. */
		if (kevent(p->kq, NULL, 0, &p->buf[total], 1, &zero) != 1)
			break;
	}
	return total;
#else
	return kevent(p->kq, NULL, 0, p->buf, max, tsp);
#endif
}

int cn__poller_wait(cn__poller *p, cn__poll_event *ev, int max, int64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;
	int n, i, out = 0;

	if (!p || !ev || max < 1 || timeout_ns < -1) {
		errno = EINVAL;
		return -1;
	}
	if (max > CN__KQUEUE_BATCH)
		max = CN__KQUEUE_BATCH;
	if (timeout_ns >= 0) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000);
		ts.tv_nsec = (long)(timeout_ns % 1000000000);
		tsp = &ts;
	}
	n = cn__kqueue_collect(p, max, tsp);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (i = 0; i < n; i++) {
		const struct kevent *k = &p->buf[i];
		uint64_t token = (uint64_t)(uintptr_t)k->udata;
		unsigned bits;
		int err;

		if (k->filter == EVFILT_USER) {
			cn__wakeflag_consumed(&p->wake);
			continue;
		}
		bits = k->filter == EVFILT_WRITE ? CN__POLL_OUT : CN__POLL_IN;
		/*
		 * EV_EOF on the read side cannot tell a half-close from a
		 * hang-up, and libkqueue may not re-fire the write filter
		 * when the peer goes: wake both directions, as epoll does
		 * for HUP/ERR. A spurious retry costs one EAGAIN.
		 */
		if (k->flags & (EV_EOF | EV_ERROR))
			bits = CN__POLL_IN | CN__POLL_OUT;
#ifdef LIBKQUEUE
		/* The fd's other filter may have been dropped (see above). */
		bits = CN__POLL_IN | CN__POLL_OUT;
#endif
		/*
		 * The fd's pending error. libkqueue took it with
		 * getsockopt(SO_ERROR), which cleared it: this is the only
		 * copy left (see poller.h). A second filter of the same fd
		 * then reports 0, so the first non-zero value wins.
		 */
		if (k->flags & EV_ERROR)
			err = (int)k->data;
		else if (k->flags & EV_EOF)
			err = (int)k->fflags;
		else
			err = 0;
#ifdef LIBKQUEUE
		/* libkqueue invents EIO for any non-socket error (a pipe whose
		 * reader left); the retried call tells the real one (EPIPE). */
		if (err == EIO)
			err = 0;
#endif
		/* The two filters of one fd often come out side by side. */
		if (out > 0 && ev[out - 1].token == token) {
			ev[out - 1].events |= bits;
			if (!ev[out - 1].error)
				ev[out - 1].error = err;
			continue;
		}
		ev[out].token = token;
		ev[out].events = bits;
		ev[out].error = err;
		out++;
	}
	return out;
}

int cn__poller_wake(cn__poller *p)
{
	struct kevent kev;

	if (!cn__wakeflag_claim(&p->wake))
		return 0;
	EV_SET(&kev, CN__KQUEUE_WAKE_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
	if (kevent(p->kq, &kev, 1, NULL, 0, NULL) == 0)
		return 1;
	cn__wakeflag_unclaim(&p->wake);
	return -1;
}

uint64_t cn__poller_wake_syscalls(const cn__poller *p)
{
	return cn__wakeflag_calls(&p->wake);
}
