/*
 * tests/test_misuse.c — every public function called the wrong way: NULL
 * pointers, zero and huge sizes, invalid fds (negative, closed, beyond the
 * table), calls from the wrong thread while a runtime runs, calls on a
 * runtime from its own coroutines, a user's resume or destroy of a runtime
 * coroutine the scheduler holds (queued, or parked on a promise), and
 * writes to a socket whose peer left with SIGPIPE at its default action.
 * Each case must fail with the errno its header documents, never corrupt
 * anything: the runtime must still run to the end afterwards.
 *
 * Not tested because they are documented as undefined and undetectable
 * without reading freed memory: a second cn_runtime_destroy() or
 * cn_coro_destroy(), and calls on a promise never initialised.
 *
 * Checks inside coroutines are recorded (EXPECT_ERR) and asserted after
 * the runtime returned, so a failure never longjmps off a coroutine stack.
 * Every fd a runtime registered is closed with cn_close() by a coroutine:
 * with libkqueue, a registration left behind is torn down by libkqueue's
 * own thread after the runtime is destroyed, racing with a plain close().
 * Threads: the test thread, plus one helper thread in the wrong-thread test.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "coronet.h"
#include "helpers/cn_test.h"

#define MSEC CN_TEST_MS

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* Failures seen inside coroutines or helper threads (one thread at a time
 * writes it: the scheduler, or the helper while the scheduler waits). */
static int bad;

/* expr must return ret (compared as long long) and, when err is not 0,
 * set errno to err (success leaves errno unspecified). */
#define EXPECT_ERR(expr, ret, err)                                                     \
	do {                                                                           \
		long long r_;                                                          \
		errno = 0;                                                             \
		r_ = (long long)(expr);                                                \
		if (r_ != (long long)(ret) || ((err) && errno != (err))) {             \
			fprintf(stderr, "%s:%d: %s: got %lld errno %d (%s), want %lld " \
			        "errno %d (%s)\n",                                     \
			        __FILE__, __LINE__, #expr, r_, errno, strerror(errno), \
			        (long long)(ret), (err), strerror(err));               \
			bad++;                                                         \
		}                                                                      \
	} while (0)

#define EXPECT(cond)                                                              \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, \
			        #cond);                                           \
			bad++;                                                    \
		}                                                                 \
	} while (0)

static void nothing(void *arg)
{
	(void)arg;
}

/* --- coroutines ------------------------------------------------------------ */

struct selfish {
	cn_coro *outer, *inner;
	int checked;
};

static void inner_fn(void *arg)
{
	struct selfish *s = arg;

	/* Self, and the coroutine that resumed us: both are running. */
	EXPECT_ERR(cn_coro_resume(s->inner, NULL), -1, EBUSY);
	EXPECT_ERR(cn_coro_resume(s->outer, NULL), -1, EBUSY);
	EXPECT_ERR(cn_coro_destroy(s->inner), -1, EBUSY);
	EXPECT_ERR(cn_coro_destroy(s->outer), -1, EBUSY);
	s->checked++;
}

static void outer_fn(void *arg)
{
	struct selfish *s = arg;

	EXPECT_ERR(cn_coro_resume(s->inner, NULL), 0, 0);
	s->checked++;
}

static void test_coro_misuse(void **state)
{
	cn_coro_opts o = {0};
	struct selfish s = {0};
	char longname[100];
	cn_coro *co;
	void *v = &s;

	(void)state;
	bad = 0;
	EXPECT_ERR(cn_coro_create(NULL, NULL, NULL), 0, EINVAL);
	o.stack_size = 1;
	EXPECT_ERR(cn_coro_create(nothing, NULL, &o), 0, EINVAL);
	o.stack_size = CN_CORO_STACK_MIN - 1;
	EXPECT_ERR(cn_coro_create(nothing, NULL, &o), 0, EINVAL);
	o.stack_size = CN_CORO_STACK_MAX + 1;
	EXPECT_ERR(cn_coro_create(nothing, NULL, &o), 0, EINVAL);
	o.stack_size = SIZE_MAX;
	EXPECT_ERR(cn_coro_create(nothing, NULL, &o), 0, EINVAL);

	EXPECT_ERR(cn_coro_resume(NULL, NULL), -1, EINVAL);
	EXPECT_ERR(cn_coro_resume(NULL, &v), -1, EINVAL);
	EXPECT_ERR(cn_coro_yield(NULL), -1, EPERM);
	EXPECT_ERR(cn_coro_state_of(NULL), -1, EINVAL);
	EXPECT_ERR(cn_coro_name(NULL), 0, EINVAL);
	EXPECT_ERR(cn_coro_stack_size(NULL), 0, EINVAL);
	EXPECT_ERR(cn_coro_destroy(NULL), -1, EINVAL);
	assert_null(cn_coro_current());

	/* A name too long is cut, not refused. */
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	o.stack_size = 0;
	o.name = longname;
	co = cn_coro_create(nothing, NULL, &o);
	assert_non_null(co);
	assert_int_equal(strlen(cn_coro_name(co)), 31);
	/* Finished: resume says ESRCH, and v is left alone. */
	assert_int_equal(cn_coro_resume(co, NULL), 0);
	EXPECT_ERR(cn_coro_resume(co, &v), -1, ESRCH);
	assert_ptr_equal(v, &s);
	assert_int_equal(cn_coro_state_of(co), CN_CORO_FINISHED);
	assert_int_equal(cn_coro_destroy(co), 0);

	/* Running coroutines: resuming or destroying them is refused. */
	s.outer = cn_coro_create(outer_fn, &s, NULL);
	s.inner = cn_coro_create(inner_fn, &s, NULL);
	assert_non_null(s.outer);
	assert_non_null(s.inner);
	assert_int_equal(cn_coro_resume(s.outer, NULL), 0);
	assert_int_equal(s.checked, 2);
	assert_int_equal(cn_coro_destroy(s.inner), 0);
	assert_int_equal(cn_coro_destroy(s.outer), 0);
	assert_int_equal(bad, 0);
}

/* --- runtime: options and NULLs -------------------------------------------- */

static void test_runtime_args(void **state)
{
	cn_runtime_opts o;
	cn_runtime_stats st;
	cn_netpoll_mode m = CN_NETPOLL_THREAD;
	cn_coro_opts co = {0};
	cn_runtime *rt;

	(void)state;
	bad = 0;
	memset(&o, 0, sizeof(o));
	o.mode = (cn_netpoll_mode)7;
	EXPECT_ERR(cn_runtime_create(&o), 0, EINVAL);
	o.mode = (cn_netpoll_mode)-1;
	EXPECT_ERR(cn_runtime_create(&o), 0, EINVAL);
	o.mode = CN_NETPOLL_INLINE;
	o.ring_size = 1;
	EXPECT_ERR(cn_runtime_create(&o), 0, EINVAL);
	o.ring_size = 3;
	EXPECT_ERR(cn_runtime_create(&o), 0, EINVAL);
	o.ring_size = 1u << 31;
	EXPECT_ERR(cn_runtime_create(&o), 0, EINVAL);
	o.ring_size = UINT_MAX;
	EXPECT_ERR(cn_runtime_create(&o), 0, EINVAL);
	o.ring_size = 0;
	o.stack_size = 1;
	EXPECT_ERR(cn_runtime_create(&o), 0, EINVAL);
	o.stack_size = SIZE_MAX;
	EXPECT_ERR(cn_runtime_create(&o), 0, EINVAL);

	EXPECT_ERR(cn_netpoll_mode_name((cn_netpoll_mode)99), 0, EINVAL);
	EXPECT_ERR(cn_netpoll_mode_parse(NULL, &m), -1, EINVAL);
	EXPECT_ERR(cn_netpoll_mode_parse("thread", NULL), -1, EINVAL);
	EXPECT_ERR(cn_netpoll_mode_parse("", &m), -1, EINVAL);
	EXPECT_ERR(cn_netpoll_mode_parse("threadX", &m), -1, EINVAL);
	assert_int_equal(m, CN_NETPOLL_THREAD);

	EXPECT_ERR(cn_runtime_run(NULL), -1, EINVAL);
	EXPECT_ERR(cn_runtime_stop(NULL), -1, EINVAL);
	EXPECT_ERR(cn_runtime_stats_get(NULL, &st), -1, EINVAL);
	EXPECT_ERR(cn_runtime_destroy(NULL), -1, EINVAL);
	EXPECT_ERR(cn_spawn(NULL, nothing, NULL, NULL), -1, EINVAL);

	rt = cn_test_runtime(CN_NETPOLL_THREAD, 0);
	EXPECT_ERR(cn_runtime_stats_get(rt, NULL), -1, EINVAL);
	EXPECT_ERR(cn_spawn(rt, NULL, NULL, NULL), -1, EINVAL);
	co.stack_size = 1;
	EXPECT_ERR(cn_spawn(rt, nothing, NULL, &co), -1, EINVAL);
	co.stack_size = SIZE_MAX;
	EXPECT_ERR(cn_spawn(rt, nothing, NULL, &co), -1, EINVAL);

	/* Outside any runtime coroutine. */
	EXPECT_ERR(cn_runtime_current(), 0, EPERM);
	EXPECT_ERR(cn_yield_now(), -1, EPERM);
	EXPECT_ERR(cn_sleep(MSEC), -1, EPERM);
	EXPECT_ERR(cn_sleep(-1), -1, EPERM);
	/* Argument errors come before the caller check (io.h), for
	 * cn_write_all as for cn_write. */
	EXPECT_ERR(cn_write_all(1, NULL, 5, CN_NO_DEADLINE, NULL), -1, EFAULT);
	EXPECT_ERR(cn_write_all(1, "x", (size_t)SSIZE_MAX + 1, CN_NO_DEADLINE, NULL), -1, EINVAL);
	EXPECT_ERR(cn_write(1, NULL, 5, CN_NO_DEADLINE), -1, EFAULT);
	EXPECT_ERR(cn_write(1, "x", (size_t)SSIZE_MAX + 1, CN_NO_DEADLINE), -1, EINVAL);
	EXPECT_ERR(cn_write_all(1, "x", 1, CN_NO_DEADLINE, NULL), -1, EPERM);
	EXPECT_ERR(cn_fd_release(1), -1, EPERM);
	assert_int_equal(cn_deadline_after(-5), CN_NO_DEADLINE);
	assert_int_equal(cn_deadline_after(INT64_MAX), INT64_MAX);

	/* The failed spawns left nothing behind: run has nothing to do. */
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(cn_runtime_stats_get(rt, &st), 0);
	assert_int_equal(st.spawned, 0);
	assert_int_equal(cn_runtime_destroy(rt), 0);
	assert_int_equal(bad, 0);
}

/* --- promises -------------------------------------------------------------- */

static void test_promise_args(void **state)
{
	cn_promise p;

	(void)state;
	bad = 0;
	EXPECT_ERR(cn_promise_init(NULL), -1, EINVAL);
	EXPECT_ERR(cn_promise_fulfil(NULL, 0, 0), -1, EINVAL);
	EXPECT_ERR(cn_promise_await(NULL), -1, EINVAL);
	EXPECT_ERR(cn_promise_state_of(NULL), -1, EINVAL);
	assert_int_equal(cn_promise_init(&p), 0);
	EXPECT_ERR(cn_promise_fulfil(&p, 0, -1), -1, EINVAL);
	EXPECT_ERR(cn_promise_fulfil(&p, 0, INT_MIN), -1, EINVAL);
	assert_int_equal(cn_promise_state_of(&p), CN_PROMISE_PENDING);
	/* Outside a runtime coroutine nobody can wait. */
	EXPECT_ERR(cn_promise_await(&p), -1, EPERM);
	/* Nobody awaits it: it belongs to no thread yet, fulfil works. */
	assert_int_equal(cn_promise_fulfil(&p, 42, 0), 0);
	EXPECT_ERR(cn_promise_fulfil(&p, 43, 0), -1, EALREADY);
	EXPECT_ERR(cn_promise_fulfil(&p, 0, EIO), -1, EALREADY);
	assert_int_equal(cn_promise_state_of(&p), CN_PROMISE_FULFILLED);
	assert_int_equal(bad, 0);
}

/* --- the scheduler's coroutines are not the user's to resume ---------------- */

struct held {
	cn_runtime *rt, *other;
	cn_promise p;
	cn_coro *parked, *queued;
	ssize_t parked_got;
	int queued_ran, plain_ran, checker_ran;
};

static void parked_fn(void *arg)
{
	struct held *h = arg;

	h->parked = cn_coro_current();
	h->parked_got = cn_promise_await(&h->p);
}

static void queued_fn(void *arg)
{
	struct held *h = arg;

	h->queued = cn_coro_current();
	cn_yield_now(); /* back on the run queue, held by the scheduler */
	cn_yield_now();
	h->queued_ran = 1;
}

/* A plain coroutine nested in a runtime coroutine is not a runtime task. */
static void plain_fn(void *arg)
{
	struct held *h = arg;
	char b[4];

	EXPECT_ERR(cn_runtime_current(), 0, EPERM);
	EXPECT_ERR(cn_yield_now(), -1, EPERM);
	EXPECT_ERR(cn_sleep(MSEC), -1, EPERM);
	EXPECT_ERR(cn_promise_await(&h->p), -1, EPERM);
	EXPECT_ERR(cn_read(0, b, sizeof(b), CN_NO_DEADLINE), -1, EPERM);
	EXPECT_ERR(cn_close(-1), -1, EPERM);
	h->plain_ran = 1;
}

static void checker_fn(void *arg)
{
	struct held *h = arg;
	cn_runtime_stats st;
	cn_coro *plain;

	/* Both others ran once: one is parked on h->p, one queued. */
	EXPECT(h->parked != NULL && h->queued != NULL);
	if (!h->parked || !h->queued)
		return;
	EXPECT_ERR(cn_coro_resume(h->parked, NULL), -1, EPERM);
	EXPECT_ERR(cn_coro_destroy(h->parked), -1, EPERM);
	EXPECT(cn_coro_state_of(h->parked) == CN_CORO_SUSPENDED);
	EXPECT_ERR(cn_coro_resume(h->queued, NULL), -1, EPERM);
	EXPECT_ERR(cn_coro_destroy(h->queued), -1, EPERM);
	EXPECT(cn_coro_state_of(h->queued) == CN_CORO_SUSPENDED);

	/* One waiter per promise. */
	EXPECT_ERR(cn_promise_await(&h->p), -1, EBUSY);

	/* The runtime from its own coroutine. */
	EXPECT_ERR(cn_runtime_run(h->rt), -1, EBUSY);
	EXPECT_ERR(cn_runtime_run(h->other), -1, EBUSY);
	EXPECT_ERR(cn_runtime_destroy(h->rt), -1, EBUSY);
	EXPECT(cn_runtime_stats_get(h->rt, &st) == 0 && st.spawned == 3);
	EXPECT(cn_runtime_current() == h->rt);

	/* Itself: running. */
	EXPECT_ERR(cn_coro_resume(cn_coro_current(), NULL), -1, EBUSY);
	EXPECT_ERR(cn_coro_destroy(cn_coro_current()), -1, EBUSY);

	plain = cn_coro_create(plain_fn, h, NULL);
	EXPECT(plain != NULL);
	if (plain) {
		EXPECT(cn_coro_resume(plain, NULL) == 0);
		cn_coro_destroy(plain);
	}

	/* The proper way: the parked one gets 5 once we yield. */
	EXPECT(cn_promise_fulfil(&h->p, 5, 0) == 0);
	EXPECT_ERR(cn_promise_fulfil(&h->p, 6, 0), -1, EALREADY);
	h->checker_ran = 1;
}

static void test_resume_held(void **state)
{
	cn_netpoll_mode mode = CN_TEST_MODE(state);
	struct held h;

	bad = 0;
	memset(&h, 0, sizeof(h));
	h.rt = cn_test_runtime(mode, 0);
	h.other = cn_test_runtime(CN_NETPOLL_INLINE, 0);
	cn_promise_init(&h.p);
	assert_int_equal(cn_spawn(h.rt, parked_fn, &h, NULL), 0);
	assert_int_equal(cn_spawn(h.rt, queued_fn, &h, NULL), 0);
	assert_int_equal(cn_spawn(h.rt, checker_fn, &h, NULL), 0);
	assert_int_equal(cn_runtime_run(h.rt), 0);
	assert_int_equal(h.checker_ran, 1);
	assert_int_equal(h.plain_ran, 1);
	assert_int_equal(h.queued_ran, 1);
	assert_int_equal(h.parked_got, 5);
	assert_int_equal(cn_runtime_destroy(h.rt), 0);
	assert_int_equal(cn_runtime_destroy(h.other), 0);
	assert_int_equal(bad, 0);
}

/* --- calls from the wrong thread while the runtime runs ------------------------ */

struct wrong {
	cn_runtime *rt;
	cn_promise p;
	int pipe[2];
	sem_t go;
	ssize_t waiter_got;
	int bridge_ok;
	int helper_checks;
};

static void wrong_waiter(void *arg)
{
	struct wrong *w = arg;

	w->waiter_got = cn_promise_await(&w->p);
}

/* Runs after the waiter parked: lets the helper thread loose, then waits
 * for its byte and fulfils the promise the right way. */
static void wrong_bridge(void *arg)
{
	struct wrong *w = arg;
	char b;

	sem_post(&w->go);
	/* The helper thread fulfilled the promise (any thread may); a second
	 * fulfil is refused. */
	if (cn_read(w->pipe[0], &b, 1, cn_deadline_after(20000 * MSEC)) == 1)
		w->bridge_ok = cn_promise_fulfil(&w->p, 12, 0) == -1 && errno == EALREADY;
	cn_close(w->pipe[0]);
}

/* A coroutine of a second runtime, on the helper thread. */
static void foreign_co(void *arg)
{
	struct wrong *w = arg;

	EXPECT_ERR(cn_promise_fulfil(&w->p, 1, 0), -1, EALREADY);
	/* Spawning into a runtime that runs elsewhere goes through its inbox. */
	EXPECT_ERR(cn_spawn(w->rt, nothing, NULL, NULL), 0, 0);
	EXPECT_ERR(cn_runtime_run(w->rt), -1, EBUSY);
	w->helper_checks++;
}

static void *wrong_helper(void *arg)
{
	struct wrong *w = arg;
	cn_runtime_stats st;
	cn_runtime *mine;
	char b[4];

	sem_wait(&w->go);
	EXPECT_ERR(cn_spawn(w->rt, nothing, NULL, NULL), 0, 0); /* through the inbox */
	EXPECT_ERR(cn_spawn(w->rt, NULL, NULL, NULL), -1, EINVAL);
	EXPECT_ERR(cn_runtime_run(w->rt), -1, EBUSY);
	EXPECT_ERR(cn_runtime_destroy(w->rt), -1, EBUSY);
	EXPECT_ERR(cn_runtime_stats_get(w->rt, &st), -1, EPERM);
	EXPECT_ERR(cn_promise_fulfil(&w->p, 11, 0), 0, 0); /* any thread */
	EXPECT_ERR(cn_promise_fulfil(&w->p, 1, 0), -1, EALREADY);
	EXPECT_ERR(cn_promise_await(&w->p), -1, EPERM);
	EXPECT_ERR(cn_read(w->pipe[0], b, sizeof(b), CN_NO_DEADLINE), -1, EPERM);
	EXPECT_ERR(cn_write(w->pipe[1], "x", 1, CN_NO_DEADLINE), -1, EPERM);
	EXPECT_ERR(cn_close(w->pipe[0]), -1, EPERM);
	EXPECT_ERR(cn_yield_now(), -1, EPERM);
	EXPECT_ERR(cn_sleep(MSEC), -1, EPERM);
	EXPECT_ERR(cn_runtime_current(), 0, EPERM);
	w->helper_checks++;

	/* This thread's own runtime, whose coroutine tries the other one. */
	mine = cn_runtime_create(&(cn_runtime_opts){.mode = CN_NETPOLL_INLINE});
	EXPECT(mine != NULL);
	if (mine) {
		EXPECT(cn_spawn(mine, foreign_co, w, NULL) == 0);
		EXPECT(cn_runtime_run(mine) == 0);
		EXPECT(cn_runtime_destroy(mine) == 0);
	}
	/* Stopping is allowed from any thread, but not wanted here: wake
	 * the bridge instead. */
	EXPECT(write(w->pipe[1], "!", 1) == 1);
	return NULL;
}

static void test_wrong_thread(void **state)
{
	cn_netpoll_mode mode = CN_TEST_MODE(state);
	struct wrong w;
	pthread_t th;

	bad = 0;
	memset(&w, 0, sizeof(w));
	w.rt = cn_test_runtime(mode, 0);
	cn_promise_init(&w.p);
	assert_int_equal(pipe(w.pipe), 0);
	assert_int_equal(sem_init(&w.go, 0, 0), 0);
	assert_int_equal(cn_spawn(w.rt, wrong_waiter, &w, NULL), 0);
	assert_int_equal(cn_spawn(w.rt, wrong_bridge, &w, NULL), 0);
	assert_int_equal(pthread_create(&th, NULL, wrong_helper, &w), 0);
	assert_int_equal(cn_runtime_run(w.rt), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(w.helper_checks, 2);
	assert_int_equal(w.bridge_ok, 1);
	assert_int_equal(w.waiter_got, 11);
	/* Idle again: any thread may use it. */
	assert_int_equal(cn_spawn(w.rt, nothing, NULL, NULL), 0);
	assert_int_equal(cn_runtime_run(w.rt), 0);
	assert_int_equal(cn_runtime_destroy(w.rt), 0);
	close(w.pipe[1]); /* never registered: the helper's calls failed */
	sem_destroy(&w.go);
	assert_int_equal(bad, 0);
}

/* --- I/O calls with bad arguments ------------------------------------------------ */

struct iomis {
	int pipe[2];
	int closed;   /* an fd number that is not open */
	int sock[2];  /* AF_UNIX stream pair */
	int lfd;      /* a TCP listener */
	uint16_t port;
	int done;
};

static void iomis_fn(void *arg)
{
	struct iomis *m = arg;
	char b[8] = "abcdefg";
	struct iovec iov[1] = {{b, 4}};
	struct sockaddr_in sa;
	socklen_t slen = sizeof(sa);
	size_t written = 99;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(m->port);

	/* Bad fds: negative, beyond the table, in range but not open. */
	EXPECT_ERR(cn_read(-1, b, 1, CN_NO_DEADLINE), -1, EBADF);
	EXPECT_ERR(cn_read(INT_MAX, b, 1, CN_NO_DEADLINE), -1, EBADF);
	EXPECT_ERR(cn_read(100000, b, 1, CN_NO_DEADLINE), -1, EBADF);
	EXPECT_ERR(cn_read(m->closed, b, 1, CN_NO_DEADLINE), -1, EBADF);
	EXPECT_ERR(cn_write(-1, b, 1, CN_NO_DEADLINE), -1, EBADF);
	EXPECT_ERR(cn_write(m->closed, b, 1, CN_NO_DEADLINE), -1, EBADF);
	EXPECT_ERR(cn_write_all(-1, b, 1, CN_NO_DEADLINE, &written), -1, EBADF);
	EXPECT(written == 0);
	EXPECT_ERR(cn_write_all(INT_MAX, b, 0, CN_NO_DEADLINE, NULL), -1, EBADF);
	EXPECT_ERR(cn_readv(-1, iov, 1, CN_NO_DEADLINE), -1, EBADF);
	EXPECT_ERR(cn_writev(INT_MAX, iov, 1, CN_NO_DEADLINE), -1, EBADF);
	EXPECT_ERR(cn_recv(-1, b, 1, 0, CN_NO_DEADLINE), -1, EBADF);
	EXPECT_ERR(cn_send(m->closed, b, 1, 0, CN_NO_DEADLINE), -1, EBADF);
	EXPECT_ERR(cn_accept(-1, NULL, NULL, CN_NO_DEADLINE), -1, EBADF);
	EXPECT_ERR(cn_accept(INT_MAX, NULL, NULL, CN_NO_DEADLINE), -1, EBADF);
	EXPECT_ERR(cn_connect(-1, (struct sockaddr *)&sa, sizeof(sa), CN_NO_DEADLINE), -1,
	           EBADF);
	EXPECT_ERR(cn_fd_wait(-1, CN_FD_READ, CN_NO_DEADLINE), -1, EBADF);
	EXPECT_ERR(cn_fd_wait(m->closed, CN_FD_WRITE, CN_NO_DEADLINE), -1, EBADF);
	EXPECT_ERR(cn_close(-1), -1, EBADF);
	EXPECT_ERR(cn_close(INT_MAX), -1, EBADF);
	EXPECT_ERR(cn_close(m->closed), -1, EBADF);

	/* NULL buffers with a size, and sizes beyond SSIZE_MAX. */
	EXPECT_ERR(cn_read(m->pipe[0], NULL, 1, CN_NO_DEADLINE), -1, EFAULT);
	EXPECT_ERR(cn_read(m->pipe[0], b, SIZE_MAX, CN_NO_DEADLINE), -1, EINVAL);
	EXPECT_ERR(cn_read(m->pipe[0], b, (size_t)SSIZE_MAX + 1, CN_NO_DEADLINE), -1, EINVAL);
	EXPECT_ERR(cn_write(m->pipe[1], NULL, 3, CN_NO_DEADLINE), -1, EFAULT);
	EXPECT_ERR(cn_write(m->pipe[1], b, SIZE_MAX, CN_NO_DEADLINE), -1, EINVAL);
	written = 99;
	EXPECT_ERR(cn_write_all(m->pipe[1], b, SIZE_MAX, CN_NO_DEADLINE, &written), -1, EINVAL);
	EXPECT(written == 0);
	EXPECT_ERR(cn_write_all(m->pipe[1], NULL, 3, CN_NO_DEADLINE, NULL), -1, EFAULT);
	EXPECT_ERR(cn_readv(m->pipe[0], NULL, 1, CN_NO_DEADLINE), -1, EFAULT);
	EXPECT_ERR(cn_readv(m->pipe[0], iov, -1, CN_NO_DEADLINE), -1, EINVAL);
	EXPECT_ERR(cn_readv(m->pipe[0], iov, IOV_MAX + 1, CN_NO_DEADLINE), -1, EINVAL);
	EXPECT_ERR(cn_writev(m->pipe[1], NULL, 2, CN_NO_DEADLINE), -1, EFAULT);
	EXPECT_ERR(cn_writev(m->pipe[1], iov, INT_MIN, CN_NO_DEADLINE), -1, EINVAL);
	EXPECT_ERR(cn_recv(m->sock[0], NULL, 4, 0, CN_NO_DEADLINE), -1, EFAULT);
	EXPECT_ERR(cn_recv(m->sock[0], b, SIZE_MAX, 0, CN_NO_DEADLINE), -1, EINVAL);
	EXPECT_ERR(cn_send(m->sock[0], NULL, 4, 0, CN_NO_DEADLINE), -1, EFAULT);
	EXPECT_ERR(cn_send(m->sock[0], b, SIZE_MAX, 0, CN_NO_DEADLINE), -1, EINVAL);
	EXPECT_ERR(cn_accept(m->lfd, (struct sockaddr *)&sa, NULL, CN_NO_DEADLINE), -1, EFAULT);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	EXPECT_ERR(cn_connect(fd, NULL, sizeof(sa), CN_NO_DEADLINE), -1, EFAULT);
	cn_close(fd);

	/* Zero sizes: a no-op that still checks the fd. */
	EXPECT_ERR(cn_write(m->pipe[1], NULL, 0, CN_NO_DEADLINE), 0, 0);
	EXPECT_ERR(cn_write_all(m->pipe[1], NULL, 0, CN_NO_DEADLINE, NULL), 0, 0);
	EXPECT_ERR(cn_writev(m->pipe[1], NULL, 0, CN_NO_DEADLINE), 0, 0);
	EXPECT_ERR(cn_send(m->sock[0], b, 0, 0, CN_NO_DEADLINE), 0, 0);

	/* Wrong kind of fd, or a bad request: the kernel's own errors. */
	EXPECT_ERR(cn_recv(m->pipe[0], b, 1, 0, CN_NO_DEADLINE), -1, ENOTSOCK);
	EXPECT_ERR(cn_send(m->pipe[1], b, 1, 0, CN_NO_DEADLINE), -1, ENOTSOCK);
	EXPECT_ERR(cn_accept(m->pipe[0], NULL, NULL, CN_NO_DEADLINE), -1, ENOTSOCK);
	EXPECT_ERR(cn_accept(m->sock[0], NULL, NULL, CN_NO_DEADLINE), -1, EINVAL);
	EXPECT_ERR(cn_connect(m->pipe[0], (struct sockaddr *)&sa, sizeof(sa), CN_NO_DEADLINE),
	           -1, ENOTSOCK);
	EXPECT_ERR(cn_read(m->pipe[1], b, 1, CN_NO_DEADLINE), -1, EBADF); /* write end */
	for (int what = -1; what <= 4; what++)
		if (what != CN_FD_READ && what != CN_FD_WRITE)
			EXPECT_ERR(cn_fd_wait(m->pipe[0], what, CN_NO_DEADLINE), -1, EINVAL);

	/* Deadlines already past: fail with ETIMEDOUT instead of waiting. */
	EXPECT_ERR(cn_read(m->pipe[0], b, 1, 0), -1, ETIMEDOUT);
	EXPECT_ERR(cn_read(m->pipe[0], b, 1, -5), -1, ETIMEDOUT);
	EXPECT_ERR(cn_fd_wait(m->pipe[0], CN_FD_READ, cn_now() - 1), -1, ETIMEDOUT);
	EXPECT_ERR(cn_accept(m->lfd, NULL, NULL, 1), -1, ETIMEDOUT);

	/* Everything still works on these fds afterwards. */
	EXPECT_ERR(cn_write(m->pipe[1], "ok", 2, CN_NO_DEADLINE), 2, 0);
	EXPECT_ERR(cn_read(m->pipe[0], b, sizeof(b), cn_deadline_after(5000 * MSEC)), 2, 0);
	EXPECT(memcmp(b, "ok", 2) == 0);
	EXPECT_ERR(cn_accept(m->lfd, (struct sockaddr *)&sa, &slen, 0), -1, ETIMEDOUT);

	/* Closed through the runtime, then used: EBADF, not a stale wait. */
	EXPECT_ERR(cn_close(m->pipe[0]), 0, 0);
	EXPECT_ERR(cn_read(m->pipe[0], b, 1, CN_NO_DEADLINE), -1, EBADF);
	EXPECT_ERR(cn_fd_wait(m->pipe[0], CN_FD_READ, CN_NO_DEADLINE), -1, EBADF);
	EXPECT_ERR(cn_close(m->pipe[0]), -1, EBADF);
	EXPECT_ERR(cn_close(m->pipe[1]), 0, 0);
	EXPECT_ERR(cn_close(m->sock[0]), 0, 0);
	EXPECT_ERR(cn_close(m->lfd), 0, 0);
	m->done = 1;
}

static void test_io_args(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct iomis m;
	int p2[2];

	bad = 0;
	memset(&m, 0, sizeof(m));
	assert_int_equal(pipe(m.pipe), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, m.sock), 0);
	m.lfd = cn_test_listener(&m.port);
	assert_true(m.lfd >= 0);
	assert_int_equal(pipe(p2), 0);
	close(p2[1]);
	close(p2[0]);
	m.closed = p2[0]; /* nothing opens fds while the coroutine runs */
	assert_int_equal(cn_spawn(rt, iomis_fn, &m, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(m.done, 1);
	assert_int_equal(cn_runtime_destroy(rt), 0);
	close(m.sock[1]);
	assert_int_equal(bad, 0);
}

/* --- the runtime's life: stop, spawn after stop, run again ---------------------- */

static void stopper(void *arg)
{
	cn_runtime *rt = arg;

	EXPECT(cn_runtime_stop(rt) == 0);
	EXPECT(cn_runtime_stop(rt) == 0); /* twice: harmless */
	EXPECT_ERR(cn_spawn(rt, nothing, NULL, NULL), -1, ESHUTDOWN);
	EXPECT_ERR(cn_sleep(MSEC), -1, ECANCELED);
}

static void test_lifecycle(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	cn_runtime_stats st;

	bad = 0;
	/* Run with nothing to do, then again with work. */
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(cn_spawn(rt, nothing, NULL, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(cn_spawn(rt, stopper, rt, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	/* The stop ended that run only: new work runs (runtime.h, "Stop and
	 * run again"). */
	EXPECT_ERR(cn_spawn(rt, nothing, NULL, NULL), 0, 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(cn_runtime_stats_get(rt, &st), 0);
	assert_int_equal(st.spawned, 3);
	assert_int_equal(st.finished, 3);
	assert_int_equal(cn_runtime_destroy(rt), 0);
	assert_int_equal(bad, 0);
}

/* --- SIGPIPE: a closed peer gives EPIPE, never kills the program --------------- */

struct pipe_peer {
	int unix_fd;     /* AF_UNIX end whose peer is closed */
	int lfd;         /* TCP listener: the accepted end's peer closes */
	uint16_t port;
	int tcp_client;  /* connected, closed by the test before run */
	int unix_errs[4];
	int tcp_err;
	int done;
};

static void sigpipe_fn(void *arg)
{
	struct pipe_peer *s = arg;
	struct iovec iov[2] = {{"ab", 2}, {"cd", 2}};
	size_t written = 99;
	int fd;

	errno = 0;
	if (cn_write(s->unix_fd, "x", 1, CN_NO_DEADLINE) == -1)
		s->unix_errs[0] = errno;
	errno = 0;
	if (cn_writev(s->unix_fd, iov, 2, CN_NO_DEADLINE) == -1)
		s->unix_errs[1] = errno;
	errno = 0;
	if (cn_write_all(s->unix_fd, "xyz", 3, CN_NO_DEADLINE, &written) == -1)
		s->unix_errs[2] = errno;
	EXPECT(written == 0);
	errno = 0;
	if (cn_send(s->unix_fd, "x", 1, 0, CN_NO_DEADLINE) == -1)
		s->unix_errs[3] = errno;
	cn_close(s->unix_fd);

	/* An accepted TCP socket (registered by cn_accept) whose client has
	 * gone: the first writes may still be taken, then the reset makes
	 * them fail. */
	fd = cn_accept(s->lfd, NULL, NULL, cn_deadline_after(5000 * MSEC));
	cn_close(s->lfd);
	EXPECT(fd >= 0);
	if (fd < 0)
		return;
	for (int i = 0; i < 200; i++) {
		errno = 0;
		if (cn_write(fd, "ping", 4, CN_NO_DEADLINE) == -1) {
			s->tcp_err = errno;
			break;
		}
		cn_sleep(MSEC);
	}
	cn_close(fd);
	s->done = 1;
}

static void test_sigpipe(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct pipe_peer s;
	struct sockaddr_in a;
	int sp[2];

	bad = 0;
	/* The default action: a SIGPIPE would kill this process. */
	signal(SIGPIPE, SIG_DFL);
	memset(&s, 0, sizeof(s));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	close(sp[1]);
	s.unix_fd = sp[0];
	s.lfd = cn_test_listener(&s.port);
	assert_true(s.lfd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(s.port);
	s.tcp_client = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s.tcp_client >= 0);
	assert_int_equal(connect(s.tcp_client, (struct sockaddr *)&a, sizeof(a)), 0);
	close(s.tcp_client);
	assert_int_equal(cn_spawn(rt, sigpipe_fn, &s, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(s.done, 1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(s.unix_errs[i], EPIPE);
	assert_true(s.tcp_err == EPIPE || s.tcp_err == ECONNRESET);
	assert_int_equal(cn_runtime_destroy(rt), 0);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_coro_misuse),
	        cmocka_unit_test(test_runtime_args),
	        cmocka_unit_test(test_promise_args),
	        CN_TEST_BOTH(test_resume_held),
	        CN_TEST_BOTH(test_wrong_thread),
	        CN_TEST_BOTH(test_io_args),
	        CN_TEST_BOTH(test_lifecycle),
	        CN_TEST_BOTH(test_sigpipe),
	};

	cn_test_watchdog(120);
	return CN_TEST_RUN(tests, NULL, NULL);
}
