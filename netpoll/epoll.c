/*
 * netpoll/epoll.c — the Linux backend of netpoll/poller.h: one epoll
 * instance where every fd is registered once, edge-triggered, for both
 * directions, plus an eventfd as the wake-up channel.
 *
 * Threads: cn__poller_wait() runs on one thread at a time and alone uses
 * p->buf. add/del go straight to epoll_ctl(), which the kernel serialises,
 * so any thread may call them, also while another blocks in wait. wake
 * touches only the atomic flag, the eventfd and the counter, so any thread
 * and any signal handler may call it.
 */
#include "base.h"
#include "poller.h"
#include "wakeflag.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Events taken from the kernel per wait; a bigger max just gets this many. */
#define CN__EPOLL_BATCH 256

/* A signal handler may only touch lock-free atomics. */

struct cn__poller {
	int epfd;
	int wakefd;
	cn__wakeflag wake; /* in front of wakefd (wakeflag.h) */
	struct epoll_event buf[CN__EPOLL_BATCH];
};

/* ThreadSanitizer runs a signal handler that arrives outside one of its
 * interceptors only at the next one: in a raw syscall() it would wait for
 * the timeout, again and again while the loop only polls (a SIGTERM handler
 * calling cn_runtime_stop() then never ran: test_hostile hung). TSan builds
 * take the intercepted epoll_wait(), in whole milliseconds. */
#ifdef CN__TSAN
#define CN__EPOLL_RAW 0
#else
#define CN__EPOLL_RAW 1
#endif

#if defined(SYS_epoll_pwait2) && CN__EPOLL_RAW
/*
 * Set once epoll_pwait2 turns out to be missing: kernels before 5.11 say
 * ENOSYS, some seccomp profiles (containers) and qemu-user say ENOSYS or
 * EPERM. Any thread may set it; a stale read just costs one more attempt.
 */
static atomic_int cn__epoll_no_pwait2;
#endif

const char *cn__poller_name(void)
{
	return "epoll";
}

cn__poller *cn__poller_create(void)
{
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = CN__POLL_TOKEN_RESERVED};
	cn__poller *p;
	int err;

	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	/* The error ladder (libdill's): errno saved once where the failure
	 * happens, restored once at the bottom. */
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0) {
		err = errno;
		goto error1;
	}
	p->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->wakefd < 0) {
		err = errno;
		goto error2;
	}
	/* Level-triggered: wait drains it each time it shows up. */
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wakefd, &e) < 0) {
		err = errno;
		goto error3;
	}
	cn__wakeflag_init(&p->wake);
	return p;

error3:
	close(p->wakefd);
error2:
	close(p->epfd);
error1:
	free(p);
	errno = err;
	return NULL;
}

void cn__poller_destroy(cn__poller *p)
{
	if (!p)
		return;
	close(p->wakefd);
	close(p->epfd);
	free(p);
}

int cn__poller_add(cn__poller *p, int fd, uint64_t token)
{
	struct epoll_event e = {
	        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
	        .data.u64 = token,
	};

	if (token == CN__POLL_TOKEN_RESERVED) {
		errno = EINVAL;
		return -1;
	}
	/* The kernel already answers EPERM, EBADF, EEXIST, ENOMEM, ENOSPC. */
	return epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &e);
}

int cn__poller_del(cn__poller *p, int fd)
{
	/* Kernels before 2.6.9 wanted a non-NULL event even for DEL. */
	struct epoll_event e = {0};

	return epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, &e);
}

/* epoll_wait counts in ms: round up, so a timer never fires early and a
 * sub-millisecond timeout never becomes a busy poll with timeout 0. */
static int cn__epoll_ms(int64_t timeout_ns)
{
	if (timeout_ns < 0)
		return -1;
	if (timeout_ns > (int64_t)(INT_MAX - 1) * 1000000)
		return INT_MAX;
	return (int)((timeout_ns + 999999) / 1000000);
}

static int cn__epoll_kernel_wait(cn__poller *p, int max, int64_t timeout_ns)
{
#if defined(SYS_epoll_pwait2) && CN__EPOLL_RAW
	/* -1 and 0 are exact in ms already; only a real timeout gains. */
	if (timeout_ns > 0 && !atomic_load_explicit(&cn__epoll_no_pwait2, memory_order_relaxed)) {
		struct timespec ts = {
		        .tv_sec = (time_t)(timeout_ns / 1000000000),
		        .tv_nsec = (long)(timeout_ns % 1000000000),
		};
		long n = syscall(SYS_epoll_pwait2, p->epfd, p->buf, max, &ts, NULL, 0);

		if (n >= 0 || (errno != ENOSYS && errno != EPERM))
			return (int)n;
		atomic_store_explicit(&cn__epoll_no_pwait2, 1, memory_order_relaxed);
	}
#endif
	return epoll_wait(p->epfd, p->buf, max, cn__epoll_ms(timeout_ns));
}

static void cn__epoll_consume_wake(cn__poller *p)
{
	uint64_t count;

	/* EAGAIN (already drained) is fine: the flag is what matters. */
	while (read(p->wakefd, &count, sizeof(count)) < 0 && errno == EINTR)
		;
	cn__wakeflag_consumed(&p->wake);
}

int cn__poller_wait(cn__poller *p, cn__poll_event *ev, int max, int64_t timeout_ns)
{
	int n, i, out = 0;

	if (!p || !ev || max < 1 || timeout_ns < -1) {
		errno = EINVAL;
		return -1;
	}
	if (max > CN__EPOLL_BATCH)
		max = CN__EPOLL_BATCH;
	n = cn__epoll_kernel_wait(p, max, timeout_ns);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (i = 0; i < n; i++) {
		uint32_t e = p->buf[i].events;
		unsigned bits = 0;

		if (p->buf[i].data.u64 == CN__POLL_TOKEN_RESERVED) {
			cn__epoll_consume_wake(p);
			continue;
		}
		if (e & (EPOLLIN | EPOLLRDHUP))
			bits |= CN__POLL_IN;
		if (e & EPOLLOUT)
			bits |= CN__POLL_OUT;
		/* Both directions, so a waiter on either retries and meets the
		 * error (EPIPE, ECONNRESET, EOF) in its own system call. */
		if (e & (EPOLLERR | EPOLLHUP))
			bits |= CN__POLL_IN | CN__POLL_OUT;
		ev[out].token = p->buf[i].data.u64;
		ev[out].events = bits;
		ev[out].error = 0; /* still in the socket for the retry */
		out++;
	}
	return out;
}

int cn__poller_wake(cn__poller *p)
{
	uint64_t one = 1;
	ssize_t r;

	if (!cn__wakeflag_claim(&p->wake))
		return 0;
	do
		r = write(p->wakefd, &one, sizeof(one));
	while (r < 0 && errno == EINTR);
	if (r == (ssize_t)sizeof(one))
		return 1;
	cn__wakeflag_unclaim(&p->wake);
	return -1;
}

uint64_t cn__poller_wake_syscalls(const cn__poller *p)
{
	return cn__wakeflag_calls(&p->wake);
}
