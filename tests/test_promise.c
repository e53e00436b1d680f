/*
 * tests/test_promise.c — promises: fulfil/resume ordering, many waiters on
 * many promises, outcomes with errno, every error of every function, and
 * stop cancelling a waiter. Each runtime test runs in both netpoll modes.
 * Single test thread (plus the helper threads named in a test).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "coronet.h"
#include "helpers/cn_test.h"

/* --- ordering ------------------------------------------------------------ */

struct order {
	cn_promise p;
	char log[16];
	int n;
	ssize_t got;
};

static void order_waiter(void *arg)
{
	struct order *o = arg;

	o->log[o->n++] = 'a';
	o->got = cn_promise_await(&o->p);
	o->log[o->n++] = 'd';
}

static void order_fulfiller(void *arg)
{
	struct order *o = arg;

	o->log[o->n++] = 'b';
	assert_int_equal(cn_promise_fulfil(&o->p, 42, 0), 0);
	/* The waiter is runnable now but must not run before we yield. */
	o->log[o->n++] = 'c';
	cn_yield_now();
	o->log[o->n++] = 'e';
}

static void test_fulfil_resume_order(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct order o = {.n = 0};

	cn_promise_init(&o.p);
	assert_int_equal(cn_promise_state_of(&o.p), CN_PROMISE_PENDING);
	assert_int_equal(cn_spawn(rt, order_waiter, &o, NULL), 0);
	assert_int_equal(cn_spawn(rt, order_fulfiller, &o, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	o.log[o.n] = 0;
	assert_string_equal(o.log, "abcde");
	assert_int_equal(o.got, 42);
	assert_int_equal(cn_promise_state_of(&o.p), CN_PROMISE_FULFILLED);
	assert_int_equal(cn_runtime_destroy(rt), 0);
}

/* --- outcomes -------------------------------------------------------------- */

struct outc {
	cn_promise ok, bad, pre;
	ssize_t r_ok, r_bad, r_pre;
	int e_bad;
};

static void outc_waiter(void *arg)
{
	struct outc *o = arg;

	o->r_pre = cn_promise_await(&o->pre); /* fulfilled before run */
	o->r_ok = cn_promise_await(&o->ok);
	errno = 0;
	o->r_bad = cn_promise_await(&o->bad);
	o->e_bad = errno;
}

static void outc_fulfiller(void *arg)
{
	struct outc *o = arg;

	assert_int_equal(cn_promise_fulfil(&o->ok, 7, 0), 0);
	cn_yield_now();
	assert_int_equal(cn_promise_fulfil(&o->bad, 123, EIO), 0);
}

static void test_outcomes(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct outc o;

	memset(&o, 0, sizeof(o));
	cn_promise_init(&o.ok);
	cn_promise_init(&o.bad);
	cn_promise_init(&o.pre);
	assert_int_equal(cn_promise_fulfil(&o.pre, -5, 0), 0); /* no waiter: any thread */
	assert_int_equal(cn_spawn(rt, outc_waiter, &o, NULL), 0);
	assert_int_equal(cn_spawn(rt, outc_fulfiller, &o, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(o.r_pre, -5);
	assert_int_equal(o.r_ok, 7);
	assert_int_equal(o.r_bad, -1);
	assert_int_equal(o.e_bad, EIO);
	cn_runtime_destroy(rt);
}

/* --- many waiters on many promises ---------------------------------------- */

#define MANY 2000

struct many {
	cn_promise p[MANY];
	int got[MANY];
	int resumed_order[MANY];
	int nres;
	int fulfilled;
};

struct many_arg {
	struct many *m;
	int i;
};

static void many_waiter(void *arg)
{
	struct many_arg *a = arg;
	ssize_t r = cn_promise_await(&a->m->p[a->i]);

	a->m->got[a->i] = (int)r;
	a->m->resumed_order[a->m->nres++] = a->i;
}

static void many_fulfiller(void *arg)
{
	struct many *m = arg;

	/* Reverse order, in chunks, yielding in between. */
	for (int i = MANY - 1; i >= 0; i--) {
		assert_int_equal(cn_promise_fulfil(&m->p[i], i * 3, 0), 0);
		m->fulfilled++;
		if (i % 100 == 0)
			cn_yield_now();
	}
}

static void test_many_waiters(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct many *m = calloc(1, sizeof(*m));
	struct many_arg *args = calloc(MANY, sizeof(*args));
	cn_runtime_stats st;

	assert_non_null(m);
	for (int i = 0; i < MANY; i++) {
		cn_promise_init(&m->p[i]);
		args[i].m = m;
		args[i].i = i;
		assert_int_equal(cn_spawn(rt, many_waiter, &args[i], NULL), 0);
	}
	assert_int_equal(cn_spawn(rt, many_fulfiller, m, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(m->nres, MANY);
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(m->got[i], i * 3);
		/* FIFO run queue: waiters resume in fulfil order. */
		assert_int_equal(m->resumed_order[i], MANY - 1 - i);
	}
	assert_int_equal(cn_runtime_stats_get(rt, &st), 0);
	assert_int_equal(st.spawned, MANY + 1);
	assert_int_equal(st.finished, MANY + 1);
	cn_runtime_destroy(rt);
	free(args);
	free(m);
}

/* --- errors ----------------------------------------------------------------- */

struct errs {
	cn_promise p;
	int busy_errno;
	int wrong_thread_errno;
	ssize_t r;
};

static void *fulfil_from_thread(void *arg)
{
	struct errs *e = arg;

	errno = 0;
	if (cn_promise_fulfil(&e->p, 7, 0) == -1)
		e->wrong_thread_errno = errno;
	return NULL;
}

static void errs_waiter(void *arg)
{
	struct errs *e = arg;

	e->r = cn_promise_await(&e->p);
}

static void errs_other(void *arg)
{
	struct errs *e = arg;
	pthread_t th;

	/* The waiter is parked on p now. */
	errno = 0;
	assert_int_equal(cn_promise_await(&e->p), -1);
	e->busy_errno = errno;
	/* Another thread may fulfil it (through the waiter's inbox); the
	 * first outcome stands. */
	assert_int_equal(pthread_create(&th, NULL, fulfil_from_thread, e), 0);
	pthread_join(th, NULL);
	errno = 0;
	assert_int_equal(cn_promise_fulfil(&e->p, 9, 0), -1);
	assert_int_equal(errno, EALREADY);
}

static void test_errors(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct errs e;
	cn_promise q;

	memset(&e, 0, sizeof(e));
	errno = 0;
	assert_int_equal(cn_promise_init(NULL), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(cn_promise_fulfil(NULL, 0, 0), -1);
	assert_int_equal(errno, EINVAL);
	cn_promise_init(&q);
	errno = 0;
	assert_int_equal(cn_promise_fulfil(&q, 0, -3), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(cn_promise_await(NULL), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(cn_promise_await(&q), -1); /* not in a coroutine */
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(cn_promise_state_of(NULL), -1);
	assert_int_equal(errno, EINVAL);

	cn_promise_init(&e.p);
	assert_int_equal(cn_spawn(rt, errs_waiter, &e, NULL), 0);
	assert_int_equal(cn_spawn(rt, errs_other, &e, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(e.busy_errno, EBUSY);
	assert_int_equal(e.wrong_thread_errno, 0);
	assert_int_equal(e.r, 7);
	cn_runtime_destroy(rt);
}

/* A plain coroutine nested inside a runtime coroutine is not a runtime
 * coroutine: awaiting there would yield to the wrong resumer. */
static void nested_plain(void *arg)
{
	cn_promise *p = arg;

	errno = 0;
	assert_int_equal(cn_promise_await(p), -1);
	assert_int_equal(errno, EPERM);
	assert_null(cn_runtime_current());
}

static void nested_outer(void *arg)
{
	cn_coro *co = cn_coro_create(nested_plain, arg, NULL);

	assert_non_null(co);
	assert_non_null(cn_runtime_current());
	assert_int_equal(cn_coro_resume(co, NULL), 0);
	cn_coro_destroy(co);
}

static void test_nested_plain_coroutine(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	cn_promise p;

	cn_promise_init(&p);
	assert_int_equal(cn_spawn(rt, nested_outer, &p, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	cn_runtime_destroy(rt);
}

/* --- stop cancels a user-promise waiter -------------------------------- */

struct stopw {
	cn_promise p;
	ssize_t r;
	int err;
	int after;
};

static void stop_waiter(void *arg)
{
	struct stopw *s = arg;

	errno = 0;
	s->r = cn_promise_await(&s->p);
	s->err = errno;
	/* New waits fail at once while stopping. */
	errno = 0;
	if (cn_promise_await(&s->p) == -1 && errno == ECANCELED)
		s->after = 1;
}

static void stop_stopper(void *arg)
{
	cn_runtime_stop(cn_runtime_current());
	errno = 0;
	assert_int_equal(cn_spawn(cn_runtime_current(), stop_stopper, arg, NULL), -1);
	assert_int_equal(errno, ESHUTDOWN);
}

static void test_stop_cancels_waiter(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct stopw s = {.r = 0};

	cn_promise_init(&s.p);
	assert_int_equal(cn_spawn(rt, stop_waiter, &s, NULL), 0);
	assert_int_equal(cn_spawn(rt, stop_stopper, &s, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(s.r, -1);
	assert_int_equal(s.err, ECANCELED);
	assert_int_equal(s.after, 1);
	/* The promise itself stays pending: only the wait ended. */
	assert_int_equal(cn_promise_state_of(&s.p), CN_PROMISE_PENDING);
	cn_runtime_destroy(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        CN_TEST_BOTH(test_fulfil_resume_order),    CN_TEST_BOTH(test_outcomes),
	        CN_TEST_BOTH(test_many_waiters),           CN_TEST_BOTH(test_errors),
	        CN_TEST_BOTH(test_nested_plain_coroutine), CN_TEST_BOTH(test_stop_cancels_waiter),
	};

	cn_test_watchdog(120);
	return CN_TEST_RUN(tests, NULL, NULL);
}
