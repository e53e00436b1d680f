/*
 * tests/test_poller.c — the netpoll/poller.h contract, run against whichever
 * backend the build linked (epoll, or kqueue natively or via libkqueue):
 * registration and its errors, readiness with the right tokens, edge
 * triggering, hang-ups, wake-ups (other thread, signal handler, merging),
 * timeouts, fd reuse and many fds. Each test makes and destroys its own
 * poller and closes every fd it opened, so Valgrind stays quiet.
 *
 * Threads: the tests run on the main thread; some start a helper thread
 * that wakes, signals or registers while the main thread waits.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "poller.h"
#include "helpers/cn_test.h"

#if defined(CN_NETPOLL_KQUEUE) && defined(__linux__)
/*
 * libkqueue is not built with TSan, and its monitoring thread frees a
 * kqueue's state after seeing the closed fd through epoll, a hand-off TSan
 * cannot see. Only reports with a libkqueue frame are silenced.
 */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "race:libkqueue.so\n";
}
#endif

#define MS CN_TEST_MS
#define SEC CN_TEST_SEC
/* Generous upper bounds: they only catch hangs, also under Valgrind/TSan. */
#define HANG_NS (5 * SEC)

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = {(time_t)(ns / SEC), (long)(ns % SEC)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void make_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
}

/* Takes events until a 0-timeout wait finds nothing. */
static void drain(cn__poller *p)
{
	cn__poll_event ev[64];
	int n;

	while ((n = cn__poller_wait(p, ev, 64, 0)) > 0)
		;
	assert_int_equal(n, 0);
}

/*
 * Waits up to timeout_ns until token has shown all of want (ORing entries,
 * since kqueue reports directions separately), and returns what it saw.
 * Events for other tokens are counted in *others, the first non-zero error
 * for token is stored in *error (each when not NULL).
 */
static unsigned await_event(cn__poller *p, uint64_t token, unsigned want, int64_t timeout_ns,
                            int *others, int *error)
{
	int64_t deadline = now_ns() + timeout_ns;
	cn__poll_event ev[64];
	unsigned seen = 0;

	for (;;) {
		int64_t left = deadline - now_ns();
		int i, n;

		if (left < 0)
			left = 0;
		n = cn__poller_wait(p, ev, 64, left);
		assert_true(n >= 0);
		for (i = 0; i < n; i++) {
			assert_true(ev[i].events != 0);
			assert_true((ev[i].events & ~(unsigned)(CN__POLL_IN | CN__POLL_OUT)) == 0);
			assert_true(ev[i].error >= 0);
			if (ev[i].token == token) {
				seen |= ev[i].events;
				if (error && !*error)
					*error = ev[i].error;
			} else if (others) {
				(*others)++;
			}
		}
		if ((seen & want) == want || left == 0)
			return seen;
	}
}

static unsigned await_bits(cn__poller *p, uint64_t token, unsigned want, int64_t timeout_ns,
                           int *others)
{
	return await_event(p, token, want, timeout_ns, others, NULL);
}

/* A connected TCP pair over loopback, both ends non-blocking. */
static void make_tcp_pair(int sv[2])
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int lfd;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	sv[1] = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(sv[1] >= 0);
	assert_int_equal(connect(sv[1], (struct sockaddr *)&a, sizeof(a)), 0);
	sv[0] = accept(lfd, NULL, NULL);
	assert_true(sv[0] >= 0);
	close(lfd);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
}

static void test_name(void **state)
{
	(void)state;
#if defined(CN_NETPOLL_KQUEUE)
	assert_string_equal(cn__poller_name(), "kqueue");
#else
	assert_string_equal(cn__poller_name(), "epoll");
#endif
}

static void test_add_del_errors(void **state)
{
	char path[] = "/tmp/cn_poller_XXXXXX";
	cn__poller *p = cn__poller_create();
	cn__poll_event ev[4];
	int sv[2], closed, file, dir;

	(void)state;
	assert_non_null(p);
	make_pair(sv);

	assert_int_equal(cn__poller_add(p, sv[0], 1), 0);
	errno = 0;
	assert_int_equal(cn__poller_add(p, sv[0], 2), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(cn__poller_del(p, sv[0]), 0);
	errno = 0;
	assert_int_equal(cn__poller_del(p, sv[0]), -1);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(cn__poller_del(p, sv[1]), -1);
	assert_int_equal(errno, ENOENT);

	/* After a del the same fd may be added again. */
	assert_int_equal(cn__poller_add(p, sv[0], 3), 0);
	assert_int_equal(cn__poller_del(p, sv[0]), 0);

	closed = dup(sv[1]);
	assert_true(closed >= 0);
	close(closed);
	errno = 0;
	assert_int_equal(cn__poller_add(p, closed, 4), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(cn__poller_del(p, closed), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(cn__poller_add(p, -1, 4), -1);
	assert_int_equal(errno, EBADF);

	file = mkstemp(path);
	assert_true(file >= 0);
	unlink(path);
	errno = 0;
	assert_int_equal(cn__poller_add(p, file, 5), -1);
	assert_int_equal(errno, EPERM);
	close(file);

	dir = open("/", O_RDONLY | O_DIRECTORY);
	assert_true(dir >= 0);
	errno = 0;
	assert_int_equal(cn__poller_add(p, dir, 6), -1);
	assert_int_equal(errno, EPERM);
	close(dir);

	errno = 0;
	assert_int_equal(cn__poller_add(p, sv[0], CN__POLL_TOKEN_RESERVED), -1);
	assert_int_equal(errno, EINVAL);

	errno = 0;
	assert_int_equal(cn__poller_wait(p, ev, 0, 0), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(cn__poller_wait(p, NULL, 4, 0), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(cn__poller_wait(p, ev, 4, -2), -1);
	assert_int_equal(errno, EINVAL);

	close(sv[0]);
	close(sv[1]);
	cn__poller_destroy(p);
}

static void test_socketpair_in_out(void **state)
{
	cn__poller *p = cn__poller_create();
	int sv[2], others = 0;
	char buf[8];

	(void)state;
	assert_non_null(p);
	make_pair(sv);
	assert_int_equal(cn__poller_add(p, sv[0], 11), 0);
	assert_int_equal(cn__poller_add(p, sv[1], 22), 0);

	/* Both ends start writable, nothing to read yet. */
	assert_true(await_bits(p, 11, CN__POLL_OUT, HANG_NS, NULL) & CN__POLL_OUT);
	drain(p);

	assert_int_equal(write(sv[1], "hi", 2), 2);
	assert_true(await_bits(p, 11, CN__POLL_IN, HANG_NS, &others) & CN__POLL_IN);
	assert_int_equal(read(sv[0], buf, sizeof(buf)), 2);
	drain(p);

	/* The other way round, with the other token. */
	assert_int_equal(write(sv[0], "yo", 2), 2);
	assert_true(await_bits(p, 22, CN__POLL_IN, HANG_NS, NULL) & CN__POLL_IN);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 2);

	assert_int_equal(cn__poller_del(p, sv[0]), 0);
	assert_int_equal(cn__poller_del(p, sv[1]), 0);
	close(sv[0]);
	close(sv[1]);
	cn__poller_destroy(p);
}

static void test_pipe_tokens(void **state)
{
	/* All 64 bits must travel, and the reserved value's neighbour too. */
	const uint64_t rtok = 0xfedcba9876543210ULL, wtok = UINT64_MAX - 1;
	cn__poller *p = cn__poller_create();
	char big[65536], buf[16];
	int fds[2], others = 0;
	ssize_t n;

	(void)state;
	memset(big, 'x', sizeof(big));
	assert_non_null(p);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(cn__poller_add(p, fds[0], rtok), 0);
	assert_int_equal(cn__poller_add(p, fds[1], wtok), 0);

	assert_true(await_bits(p, wtok, CN__POLL_OUT, HANG_NS, NULL) & CN__POLL_OUT);
	drain(p);
	assert_int_equal(write(fds[1], "abc", 3), 3);
	assert_true(await_bits(p, rtok, CN__POLL_IN, HANG_NS, &others) & CN__POLL_IN);
	assert_int_equal(read(fds[0], buf, sizeof(buf)), 3);
	drain(p);

	/* Fill the pipe: once the reader makes room, OUT comes back. */
	while ((n = write(fds[1], big, sizeof(big))) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	drain(p);
	while (read(fds[0], big, sizeof(big)) > 0)
		;
	assert_true(await_bits(p, wtok, CN__POLL_OUT, HANG_NS, NULL) & CN__POLL_OUT);

	assert_int_equal(cn__poller_del(p, fds[0]), 0);
	assert_int_equal(cn__poller_del(p, fds[1]), 0);
	close(fds[0]);
	close(fds[1]);
	cn__poller_destroy(p);
}

static void test_edge_triggered(void **state)
{
	cn__poller *p = cn__poller_create();
	cn__poll_event ev[8];
	char buf[8];
	int sv[2];

	(void)state;
	assert_non_null(p);
	make_pair(sv);
	assert_int_equal(cn__poller_add(p, sv[0], 7), 0);
	drain(p);

	assert_int_equal(write(sv[1], "a", 1), 1);
	assert_true(await_bits(p, 7, CN__POLL_IN, HANG_NS, NULL) & CN__POLL_IN);
	/* The byte is still unread, but no new edge: nothing to report. */
	assert_int_equal(cn__poller_wait(p, ev, 8, 0), 0);
	assert_int_equal(cn__poller_wait(p, ev, 8, 10 * MS), 0);

	/* New data is a new edge. */
	assert_int_equal(write(sv[1], "b", 1), 1);
	assert_true(await_bits(p, 7, CN__POLL_IN, HANG_NS, NULL) & CN__POLL_IN);
	assert_int_equal(read(sv[0], buf, sizeof(buf)), 2);
	assert_int_equal(cn__poller_wait(p, ev, 8, 0), 0);

	assert_int_equal(cn__poller_del(p, sv[0]), 0);
	close(sv[0]);
	close(sv[1]);
	cn__poller_destroy(p);
}

static void test_shutdown_gives_in(void **state)
{
	cn__poller *p = cn__poller_create();
	char buf[8];
	int sv[2];

	(void)state;
	assert_non_null(p);
	make_pair(sv);
	assert_int_equal(cn__poller_add(p, sv[0], 8), 0);
	drain(p);

	assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
	assert_true(await_bits(p, 8, CN__POLL_IN, HANG_NS, NULL) & CN__POLL_IN);
	assert_int_equal(read(sv[0], buf, sizeof(buf)), 0); /* EOF */

	assert_int_equal(cn__poller_del(p, sv[0]), 0);
	close(sv[0]);
	close(sv[1]);
	cn__poller_destroy(p);
}

static void test_hangup_sets_in_and_out(void **state)
{
	const unsigned both = CN__POLL_IN | CN__POLL_OUT;
	cn__poller *p = cn__poller_create();
	int sv[2], fds[2];

	(void)state;
	assert_non_null(p);

	/* Socket whose peer is gone: a reader sees EOF, a writer EPIPE. */
	make_pair(sv);
	assert_int_equal(cn__poller_add(p, sv[0], 9), 0);
	drain(p);
	close(sv[1]);
	assert_int_equal(await_bits(p, 9, both, HANG_NS, NULL) & both, both);
	assert_int_equal(cn__poller_del(p, sv[0]), 0);
	close(sv[0]);

	/* Write end of a pipe whose reader is gone: an error, both bits. */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(cn__poller_add(p, fds[1], 10), 0);
	drain(p);
	close(fds[0]);
	assert_int_equal(await_bits(p, 10, both, HANG_NS, NULL) & both, both);
	assert_int_equal(cn__poller_del(p, fds[1]), 0);
	close(fds[1]);

	cn__poller_destroy(p);
}

/*
 * A peer's reset is an error on both directions, and the error is never
 * lost: either the event carries it, or the retried read() still sees it
 * (libkqueue consumes the socket's error to fill the event; epoll leaves
 * it in the socket).
 */
static void test_peer_reset_error(void **state)
{
	const unsigned both = CN__POLL_IN | CN__POLL_OUT;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	cn__poller *p = cn__poller_create();
	int sv[2], err = 0;
	char buf[8];
	ssize_t r;

	(void)state;
	assert_non_null(p);
	make_tcp_pair(sv);
	assert_int_equal(cn__poller_add(p, sv[0], 12), 0);
	drain(p);
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(sv[1]); /* RST */
	assert_int_equal(await_event(p, 12, both, HANG_NS, NULL, &err) & both, both);
	errno = 0;
	r = read(sv[0], buf, sizeof(buf));
	if (err)
		assert_int_equal(err, ECONNRESET);
	else
		assert_true(r == -1 && errno == ECONNRESET);
	assert_int_equal(cn__poller_del(p, sv[0]), 0);
	close(sv[0]);
	cn__poller_destroy(p);
}

/* The same for a refused connect: the event or SO_ERROR says ECONNREFUSED. */
static void test_connect_refused_error(void **state)
{
	cn__poller *p = cn__poller_create();
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int lfd, fd, err = 0, soerr = 0;

	(void)state;
	assert_non_null(p);
	/* A port that was just free: nobody listens there now. */
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	close(lfd);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(cn__poller_add(p, fd, 13), 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 || errno != EINPROGRESS) {
		/* Refused on the spot: nothing for the poller to carry. */
		assert_int_equal(errno, ECONNREFUSED);
	} else {
		assert_true(await_event(p, 13, CN__POLL_OUT, HANG_NS, NULL, &err) & CN__POLL_OUT);
		len = sizeof(soerr);
		assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len), 0);
		assert_int_equal(err ? err : soerr, ECONNREFUSED);
	}
	assert_int_equal(cn__poller_del(p, fd), 0);
	close(fd);
	cn__poller_destroy(p);
}

struct waker {
	cn__poller *p;
	int64_t delay_ns;
	int64_t woke_at; /* just before the wake call */
	int ret;
};

static void *waker_main(void *arg)
{
	struct waker *w = arg;

	sleep_ns(w->delay_ns);
	w->woke_at = now_ns();
	w->ret = cn__poller_wake(w->p);
	return NULL;
}

static void test_wake_from_other_thread(void **state)
{
	cn__poller *p = cn__poller_create();
	struct waker w = {p, 50 * MS, 0, -2};
	cn__poll_event ev[4];
	pthread_t t;
	int64_t t0, t1;

	(void)state;
	assert_non_null(p);
	assert_int_equal(cn__poller_wake_syscalls(p), 0);
	assert_int_equal(pthread_create(&t, NULL, waker_main, &w), 0);
	t0 = now_ns();
	assert_int_equal(cn__poller_wait(p, ev, 4, -1), 0);
	t1 = now_ns();
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.ret, 1);
	assert_true(t1 >= w.woke_at); /* it did block until the wake */
	assert_true(t1 - t0 < HANG_NS);
	assert_int_equal(cn__poller_wake_syscalls(p), 1);
	cn__poller_destroy(p);
}

static void test_wake_merging(void **state)
{
	cn__poller *p = cn__poller_create();
	cn__poll_event ev[4];
	int64_t t0, dt;
	int i;

	(void)state;
	assert_non_null(p);
	assert_int_equal(cn__poller_wake(p), 1);
	for (i = 0; i < 999; i++)
		assert_int_equal(cn__poller_wake(p), 0);
	assert_int_equal(cn__poller_wake_syscalls(p), 1);

	/* The pending wake ends this wait at once and is consumed by it... */
	t0 = now_ns();
	assert_int_equal(cn__poller_wait(p, ev, 4, HANG_NS), 0);
	assert_true(now_ns() - t0 < HANG_NS / 2);
	/* ...so the next one times out, */
	t0 = now_ns();
	assert_int_equal(cn__poller_wait(p, ev, 4, 20 * MS), 0);
	dt = now_ns() - t0;
	assert_true(dt >= 20 * MS);
	/* and the next wake pays for a system call again. */
	assert_int_equal(cn__poller_wake(p), 1);
	assert_int_equal(cn__poller_wake(p), 0);
	assert_int_equal(cn__poller_wake_syscalls(p), 2);
	assert_int_equal(cn__poller_wait(p, ev, 4, 0), 0);
	assert_int_equal(cn__poller_wake(p), 1);
	assert_int_equal(cn__poller_wake_syscalls(p), 3);
	cn__poller_destroy(p);
}

/* Many threads waking at once still make at most one syscall per wait. */
struct storm {
	cn__poller *p;
	atomic_int *stop;
	atomic_int *failed; /* cmocka may only assert on the main thread */
};

static void *storm_main(void *arg)
{
	struct storm *s = arg;

	while (!atomic_load(s->stop)) {
		if (cn__poller_wake(s->p) < 0)
			atomic_fetch_add(s->failed, 1);
		sched_yield();
	}
	return NULL;
}

static void test_wake_storm(void **state)
{
	cn__poller *p = cn__poller_create();
	atomic_int stop = 0, failed = 0;
	struct storm s = {p, &stop, &failed};
	cn__poll_event ev[4];
	pthread_t t[4];
	int i, waits = 0;
	uint64_t calls;

	(void)state;
	assert_non_null(p);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, storm_main, &s), 0);
	for (i = 0; i < 200; i++) {
		int64_t t0 = now_ns();

		assert_int_equal(cn__poller_wait(p, ev, 4, HANG_NS), 0);
		/* Ended by a wake, not by the timeout: none was lost. */
		assert_true(now_ns() - t0 < HANG_NS);
		waits++;
	}
	atomic_store(&stop, 1);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(atomic_load(&failed), 0);
	calls = cn__poller_wake_syscalls(p);
	/* Each wait consumed at most one; at most one more is pending. */
	assert_true(calls >= (uint64_t)waits);
	assert_true(calls <= (uint64_t)waits + 1);
	cn__poller_destroy(p);
}

/*
 * No wake is ever lost: a producer publishes a sequence number and wakes,
 * then waits for the consumer's acknowledgement, many times over. If a wake
 * vanished (the flag left at 1 over an empty channel), the consumer would
 * sleep through the whole HANG_NS timeout.
 */
struct pingpong {
	cn__poller *p;
	atomic_int seq;
	atomic_int ack;
	int rounds;
	atomic_int failed;
};

static void *pingpong_main(void *arg)
{
	struct pingpong *pp = arg;
	int i;

	for (i = 1; i <= pp->rounds; i++) {
		int64_t deadline = now_ns() + HANG_NS;

		atomic_store(&pp->seq, i);
		if (cn__poller_wake(pp->p) < 0)
			atomic_fetch_add(&pp->failed, 1);
		while (atomic_load(&pp->ack) < i) {
			if (now_ns() > deadline) {
				atomic_fetch_add(&pp->failed, 1);
				return NULL;
			}
			sched_yield();
		}
	}
	return NULL;
}

static void test_wake_never_lost(void **state)
{
	struct pingpong pp = {.rounds = 2000};
	cn__poll_event ev[4];
	pthread_t t;
	int64_t t0;
	int seen = 0, slow = 0;

	(void)state;
	pp.p = cn__poller_create();
	assert_non_null(pp.p);
	atomic_init(&pp.seq, 0);
	atomic_init(&pp.ack, 0);
	atomic_init(&pp.failed, 0);
	assert_int_equal(pthread_create(&t, NULL, pingpong_main, &pp), 0);
	while (seen < pp.rounds && !atomic_load(&pp.failed)) {
		int cur = atomic_load(&pp.seq);

		if (cur > seen) {
			seen = cur;
			atomic_store(&pp.ack, seen);
			continue;
		}
		t0 = now_ns();
		assert_true(cn__poller_wait(pp.p, ev, 4, HANG_NS) == 0);
		if (now_ns() - t0 >= HANG_NS)
			slow++;
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(atomic_load(&pp.failed), 0);
	assert_int_equal(slow, 0);
	assert_int_equal(seen, pp.rounds);
	/* One system call per round at most, merged ones make it fewer. */
	assert_true(cn__poller_wake_syscalls(pp.p) <= (uint64_t)pp.rounds);
	cn__poller_destroy(pp.p);
}

static cn__poller *sig_poller;
static volatile sig_atomic_t sig_count;
static volatile sig_atomic_t sig_wake_ret = -2;

static void on_signal_wake(int sig)
{
	int saved = errno;

	(void)sig;
	sig_wake_ret = cn__poller_wake(sig_poller);
	sig_count++;
	errno = saved;
}

static void on_signal_nothing(int sig)
{
	(void)sig;
	sig_count++;
}

struct signaller {
	pthread_t target;
	int sig;
	atomic_int stop;
};

/* Signals target every 20 ms until stopped: a signal sent before the target
 * blocked in wait must not make the test hang. */
static void *signaller_main(void *arg)
{
	struct signaller *s = arg;

	while (!atomic_load(&s->stop)) {
		sleep_ns(20 * MS);
		pthread_kill(s->target, s->sig);
	}
	return NULL;
}

static void install(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(sig, &sa, NULL), 0);
}

static void test_wake_from_signal_handler(void **state)
{
	struct signaller s = {.sig = SIGUSR1};
	cn__poll_event ev[4];
	pthread_t t;

	(void)state;
	sig_poller = cn__poller_create();
	assert_non_null(sig_poller);
	sig_count = 0;
	install(SIGUSR1, on_signal_wake);
	s.target = pthread_self();
	atomic_init(&s.stop, 0);
	assert_int_equal(pthread_create(&t, NULL, signaller_main, &s), 0);

	/* Ends by EINTR or by the handler's wake, never hangs. */
	assert_int_equal(cn__poller_wait(sig_poller, ev, 4, HANG_NS), 0);
	atomic_store(&s.stop, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	install(SIGUSR1, SIG_DFL);

	assert_true(sig_count >= 1);
	assert_true(sig_wake_ret == 1 || sig_wake_ret == 0);
	assert_true(cn__poller_wake_syscalls(sig_poller) >= 1);
	/* Whatever is still pending is consumed here; then wakes flip again. */
	assert_int_equal(cn__poller_wait(sig_poller, ev, 4, 0), 0);
	assert_int_equal(cn__poller_wake(sig_poller), 1);
	cn__poller_destroy(sig_poller);
	sig_poller = NULL;
}

static void test_eintr_returns_zero(void **state)
{
	struct signaller s = {.sig = SIGUSR2};
	cn__poller *p = cn__poller_create();
	cn__poll_event ev[4];
	pthread_t t;
	int64_t t0;

	(void)state;
	assert_non_null(p);
	sig_count = 0;
	install(SIGUSR2, on_signal_nothing);
	s.target = pthread_self();
	atomic_init(&s.stop, 0);
	assert_int_equal(pthread_create(&t, NULL, signaller_main, &s), 0);
	t0 = now_ns();
	/* No wake, no fd, no timeout: only the signal can end this. */
	assert_int_equal(cn__poller_wait(p, ev, 4, -1), 0);
	assert_true(now_ns() - t0 < HANG_NS);
	atomic_store(&s.stop, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	install(SIGUSR2, SIG_DFL);
	assert_true(sig_count >= 1);
	assert_int_equal(cn__poller_wake_syscalls(p), 0);
	cn__poller_destroy(p);
}

static void test_timeout_honoured(void **state)
{
	static const int64_t timeouts[] = {1, 300 * 1000, MS + 1, 20 * MS};
	cn__poller *p = cn__poller_create();
	cn__poll_event ev[4];
	int64_t t0, dt;
	size_t i;

	(void)state;
	assert_non_null(p);
	for (i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		t0 = now_ns();
		assert_int_equal(cn__poller_wait(p, ev, 4, timeouts[i]), 0);
		dt = now_ns() - t0;
		/* Never early; late only within a bound that catches hangs. */
		assert_true(dt >= timeouts[i]);
		assert_true(dt < timeouts[i] + HANG_NS);
	}
	/* 0 polls: it returns without sleeping. */
	t0 = now_ns();
	assert_int_equal(cn__poller_wait(p, ev, 4, 0), 0);
	assert_true(now_ns() - t0 < HANG_NS / 2);
	cn__poller_destroy(p);
}

/*
 * Moves sv[0] to fd number old (which must be free). The lowest free number
 * is not reliably old: libkqueue closes its own fds from a background thread.
 */
static void reuse_number(int sv[2], int old)
{
	if (sv[1] == old) {
		int tmp = sv[0];

		sv[0] = sv[1];
		sv[1] = tmp;
	}
	if (sv[0] != old) {
		assert_int_equal(dup2(sv[0], old), old);
		close(sv[0]);
		sv[0] = old;
	}
}

static void test_reuse_fd_number(void **state)
{
	cn__poller *p = cn__poller_create();
	int sv[2], sv2[2], others = 0, old;

	(void)state;
	assert_non_null(p);
	make_pair(sv);
	assert_int_equal(cn__poller_add(p, sv[0], 100), 0);
	drain(p);
	old = sv[0];
	assert_int_equal(cn__poller_del(p, sv[0]), 0);
	close(sv[0]);
	close(sv[1]);

	make_pair(sv2);
	reuse_number(sv2, old);
	assert_int_equal(cn__poller_add(p, sv2[0], 200), 0);
	assert_int_equal(write(sv2[1], "z", 1), 1);
	/* Only the new token shows up; nothing for the old one. */
	assert_true(await_bits(p, 200, CN__POLL_IN, HANG_NS, &others) & CN__POLL_IN);
	assert_int_equal(others, 0);
	assert_int_equal(await_bits(p, 100, CN__POLL_IN, 20 * MS, NULL), 0);

	assert_int_equal(cn__poller_del(p, sv2[0]), 0);
	close(sv2[0]);
	close(sv2[1]);
	cn__poller_destroy(p);
}

/* Beyond the contract (which says del before close), the backends cope
 * when a registered fd is closed and its number reused: the new file can
 * be added, and its events carry the new token. */
static void test_close_without_del(void **state)
{
	cn__poller *p = cn__poller_create();
	int sv[2], sv2[2], others = 0, old;

	(void)state;
	assert_non_null(p);
	make_pair(sv);
	assert_int_equal(cn__poller_add(p, sv[0], 300), 0);
	drain(p);
	old = sv[0];
	close(sv[1]);
	close(sv[0]);

	make_pair(sv2);
	reuse_number(sv2, old);
	assert_int_equal(cn__poller_add(p, sv2[0], 400), 0);
	drain(p);
	assert_int_equal(write(sv2[1], "z", 1), 1);
	assert_true(await_bits(p, 400, CN__POLL_IN, HANG_NS, &others) & CN__POLL_IN);
	assert_int_equal(cn__poller_del(p, sv2[0]), 0);
	close(sv2[0]);
	close(sv2[1]);
	cn__poller_destroy(p);
}

struct adder {
	cn__poller *p;
	int fd;
	int ret;
};

static void *adder_main(void *arg)
{
	struct adder *a = arg;

	sleep_ns(30 * MS);
	a->ret = cn__poller_add(a->p, a->fd, 500);
	return NULL;
}

static void test_add_while_waiting(void **state)
{
	cn__poller *p = cn__poller_create();
	struct adder a = {p, -1, -2};
	cn__poll_event ev[4];
	pthread_t t;
	int sv[2], n;

	(void)state;
	assert_non_null(p);
	make_pair(sv);
	/* Readable before it is even registered: the add reports it. */
	assert_int_equal(write(sv[1], "q", 1), 1);
	a.fd = sv[0];
	assert_int_equal(pthread_create(&t, NULL, adder_main, &a), 0);
	n = cn__poller_wait(p, ev, 4, HANG_NS);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(a.ret, 0);
	assert_true(n >= 1);
	assert_true(ev[0].token == 500);

	assert_int_equal(cn__poller_del(p, sv[0]), 0);
	close(sv[0]);
	close(sv[1]);
	cn__poller_destroy(p);
}

#define NPAIRS 1000

/* Writes a byte into every pair's peer, then counts the pairs reported
 * readable, taking at most max events per wait. */
static int collect_all(cn__poller *p, int sv[][2], int max)
{
	static unsigned char seen[NPAIRS];
	cn__poll_event ev[64];
	int64_t deadline;
	char c;
	int i, n, count = 0;

	memset(seen, 0, sizeof(seen));
	for (i = 0; i < NPAIRS; i++)
		assert_int_equal(write(sv[i][1], "m", 1), 1);
	deadline = now_ns() + 2 * HANG_NS;
	while (count < NPAIRS && now_ns() < deadline) {
		n = cn__poller_wait(p, ev, max, 100 * MS);
		assert_true(n >= 0 && n <= max);
		for (i = 0; i < n; i++) {
			assert_true(ev[i].token < NPAIRS);
			if ((ev[i].events & CN__POLL_IN) && !seen[ev[i].token]) {
				seen[ev[i].token] = 1;
				count++;
			}
		}
	}
	for (i = 0; i < NPAIRS; i++)
		assert_int_equal(read(sv[i][0], &c, 1), 1);
	return count;
}

static void test_many_fds(void **state)
{
	static int sv[NPAIRS][2];
	cn__poller *p;
	struct rlimit rl;
	int i;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 2 * NPAIRS + 64) {
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2 * NPAIRS + 64)
			skip();
		rl.rlim_cur = 2 * NPAIRS + 64;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	p = cn__poller_create();
	assert_non_null(p);
	for (i = 0; i < NPAIRS; i++) {
		make_pair(sv[i]);
		assert_int_equal(cn__poller_add(p, sv[i][0], (uint64_t)i), 0);
	}
	drain(p);
	/* A small batch too: a backend must keep what did not fit. */
	assert_int_equal(collect_all(p, sv, 64), NPAIRS);
	drain(p);
	assert_int_equal(collect_all(p, sv, 7), NPAIRS);

	for (i = 0; i < NPAIRS; i++) {
		assert_int_equal(cn__poller_del(p, sv[i][0]), 0);
		close(sv[i][0]);
		close(sv[i][1]);
	}
	cn__poller_destroy(p);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_name),
	        cmocka_unit_test(test_add_del_errors),
	        cmocka_unit_test(test_socketpair_in_out),
	        cmocka_unit_test(test_pipe_tokens),
	        cmocka_unit_test(test_edge_triggered),
	        cmocka_unit_test(test_shutdown_gives_in),
	        cmocka_unit_test(test_hangup_sets_in_and_out),
	        cmocka_unit_test(test_peer_reset_error),
	        cmocka_unit_test(test_connect_refused_error),
	        cmocka_unit_test(test_wake_from_other_thread),
	        cmocka_unit_test(test_wake_merging),
	        cmocka_unit_test(test_wake_storm),
	        cmocka_unit_test(test_wake_never_lost),
	        cmocka_unit_test(test_wake_from_signal_handler),
	        cmocka_unit_test(test_eintr_returns_zero),
	        cmocka_unit_test(test_timeout_honoured),
	        cmocka_unit_test(test_reuse_fd_number),
	        cmocka_unit_test(test_close_without_del),
	        cmocka_unit_test(test_add_while_waiting),
	        cmocka_unit_test(test_many_fds),
	};

	/* ./test_poller [glob], or CN_TEST_CASE: run only the matching tests. */
	cn_test_filter_from_env();
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name(cn__poller_name(), tests, NULL, NULL);
}
