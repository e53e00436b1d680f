/*
 * tests/test_threads.c — the rest of the program talking to a runtime:
 * promises fulfilled by other threads (before the await, during it, racing
 * with its deadline and with a stop), heap promises and their references,
 * cn_promise_await_until, and cn_spawn from another thread while the
 * runtime runs. Both netpoll modes; run under ASan, TSan and Valgrind by
 * make check, where the lifetime rule (coronet/promise.h) is what keeps
 * them quiet.
 *
 * Threads: the test thread runs the runtime; helper threads fulfil, spawn
 * and stop. They share the structs below through atomics and the library.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "coronet.h"
#include "helpers/cn_test.h"

#define MS CN_TEST_MS

static void nap_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

	nanosleep(&ts, NULL);
}

/* --- ping-pong: a coroutine awaits, a thread fulfils --------------------- */

#define ROUNDS 2000

struct pingpong {
	cn_promise p[ROUNDS];
	atomic_int turn;  /* the round the coroutine awaits now (set before) */
	atomic_int early; /* rounds fulfilled before the await began */
	long sum;
};

static void *pp_thread(void *arg)
{
	struct pingpong *x = arg;

	for (int i = 0; i < ROUNDS; i++) {
		/* Every fourth round goes first: fulfilled before the await. */
		if (i % 4 != 0)
			while (atomic_load(&x->turn) < i)
				sched_yield();
		else
			atomic_fetch_add(&x->early, 1);
		if (cn_promise_fulfil(&x->p[i], i, i % 7 == 0 ? EIO : 0) != 0)
			abort();
	}
	return NULL;
}

static void pp_co(void *arg)
{
	struct pingpong *x = arg;

	for (int i = 0; i < ROUNDS; i++) {
		ssize_t r;

		atomic_store(&x->turn, i);
		errno = 0;
		r = cn_promise_await(&x->p[i]);
		if (i % 7 == 0) {
			assert_int_equal(r, -1);
			assert_int_equal(errno, EIO);
		} else {
			assert_int_equal(r, i);
			x->sum += r;
		}
	}
}

static void test_foreign_fulfil(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct pingpong *x = calloc(1, sizeof(*x));
	long want = 0;
	pthread_t th;

	for (int i = 0; i < ROUNDS; i++) {
		cn_promise_init(&x->p[i]);
		if (i % 7 != 0)
			want += i;
	}
	atomic_store(&x->turn, -1);
	assert_int_equal(cn_spawn(rt, pp_co, x, NULL), 0);
	assert_int_equal(pthread_create(&th, NULL, pp_thread, x), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	pthread_join(th, NULL);
	assert_int_equal(x->sum, want);
	assert_int_equal(atomic_load(&x->early), ROUNDS / 4);
	for (int i = 0; i < ROUNDS; i++)
		assert_int_equal(cn_promise_state_of(&x->p[i]), CN_PROMISE_FULFILLED);
	free(x);
	cn_runtime_destroy(rt);
}

/* --- foreign fulfils racing deadlines and stops (heap promises) ----------- */

struct race {
	int n;
	_Atomic(cn_promise *) *slot; /* the coroutine's promise, for the workers */
	atomic_int handed, fulfilled_by_workers;
	atomic_int done; /* coroutines finished */
	int outcomes, timeouts, cancels, wrong;
	cn_runtime *rt;
	int stop_at; /* stop the runtime after this many handed over; 0 never */
};

static void race_co(void *arg)
{
	struct race *r = (struct race *)((void **)arg)[0];
	int i = (int)(intptr_t)((void **)arg)[1];
	cn_promise *p = cn_promise_new();
	ssize_t v;

	free(arg);
	assert_non_null(p);
	/* One reference each: ours, and the worker's. */
	atomic_store(&r->slot[i], cn_promise_ref(p));
	atomic_fetch_add(&r->handed, 1);
	errno = 0;
	/* Deadlines from 0 to 16 ms, against a worker that takes some 40 ms
	 * for all of them: both sides win often, and often just so. */
	v = cn_promise_await_until(p, cn_deadline_after((i % 9) * 2 * MS));
	if (v == i)
		r->outcomes++;
	else if (v == -1 && errno == ETIMEDOUT)
		r->timeouts++;
	else if (v == -1 && errno == ECANCELED)
		r->cancels++;
	else
		r->wrong++;
	cn_promise_unref(p);
	atomic_fetch_add(&r->done, 1);
}

static void *race_worker(void *arg)
{
	struct race *r = arg;
	int left = r->n;
	unsigned seed = 7;

	while (left > 0) {
		for (int i = 0; i < r->n; i++) {
			cn_promise *p = atomic_exchange(&r->slot[i], NULL);

			if (!p)
				continue;
			seed = seed * 1103515245u + 12345u;
			if ((seed >> 16) % 8 == 0)
				nap_us((seed >> 8) % 200);
			if (cn_promise_fulfil(p, i, 0) == 0)
				atomic_fetch_add(&r->fulfilled_by_workers, 1);
			cn_promise_unref(p);
			left--;
		}
		sched_yield();
	}
	return NULL;
}

static void *race_stopper(void *arg)
{
	struct race *r = arg;

	while (atomic_load(&r->handed) < r->stop_at)
		sched_yield();
	cn_runtime_stop(r->rt);
	return NULL;
}

static void run_race(void **state, int stop)
{
	struct race r;
	pthread_t w, st;

	memset(&r, 0, sizeof(r));
	/* Thousands under ASan and TSan too (the point is to race them there);
	 * fewer only where every thread runs one at a time (Valgrind, qemu). */
	r.n = cn_test_valgrind() || cn_test_qemu() ? 300 : 3000;
	r.slot = calloc((size_t)r.n, sizeof(*r.slot));
	r.rt = cn_test_runtime_for(state);
	r.stop_at = stop ? r.n / 2 : 0;
	for (int i = 0; i < r.n; i++) {
		void **a = malloc(2 * sizeof(void *));

		a[0] = &r;
		a[1] = (void *)(intptr_t)i;
		assert_int_equal(cn_spawn(r.rt, race_co, a, NULL), 0);
	}
	assert_int_equal(pthread_create(&w, NULL, race_worker, &r), 0);
	if (stop)
		assert_int_equal(pthread_create(&st, NULL, race_stopper, &r), 0);
	assert_int_equal(cn_runtime_run(r.rt), 0);
	if (stop)
		pthread_join(st, NULL);
	/* Even after a stop every coroutine runs and hands its promise over
	 * (its await then fails at once), so the worker sees all n. */
	pthread_join(w, NULL);
	assert_int_equal(atomic_load(&r.done), r.n);
	assert_int_equal(r.wrong, 0);
	assert_int_equal(r.outcomes + r.timeouts + r.cancels, r.n);
	assert_true(r.outcomes <= atomic_load(&r.fulfilled_by_workers));
	if (!stop)
		assert_int_equal(r.cancels, 0);
	print_message("  %d coroutines: %d outcomes, %d timeouts, %d cancelled\n", r.n, r.outcomes,
	              r.timeouts, r.cancels);
	free(r.slot);
	cn_runtime_destroy(r.rt);
}

static void test_race_deadlines(void **state)
{
	run_race(state, 0);
}

static void test_race_stop(void **state)
{
	run_race(state, 1);
}

/* --- await_until on an embedded promise ----------------------------------- */

struct until {
	cn_promise p;
	ssize_t r1, r2, r3;
	int e1, e3;
	int64_t took;
};

static void until_co(void *arg)
{
	struct until *u = arg;
	int64_t t0 = cn_now();

	errno = 0;
	u->r1 = cn_promise_await_until(&u->p, cn_deadline_after(30 * MS));
	u->e1 = errno;
	u->took = cn_now() - t0;
	/* Still pending: a later fulfil is awaited as usual. */
	assert_int_equal(cn_promise_state_of(&u->p), CN_PROMISE_PENDING);
	assert_int_equal(cn_promise_fulfil(&u->p, 42, 0), 0);
	u->r2 = cn_promise_await_until(&u->p, cn_now() - 1); /* fulfilled: no wait */
	cn_promise_init(&u->p);
	errno = 0;
	u->r3 = cn_promise_await_until(&u->p, cn_now() - 1); /* past, pending */
	u->e3 = errno;
}

static void test_await_until(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct until u;

	memset(&u, 0, sizeof(u));
	cn_promise_init(&u.p);
	assert_int_equal(cn_spawn(rt, until_co, &u, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(u.r1, -1);
	assert_int_equal(u.e1, ETIMEDOUT);
	assert_true(u.took >= 30 * MS && u.took < 3000 * MS);
	assert_int_equal(u.r2, 42);
	assert_int_equal(u.r3, -1);
	assert_int_equal(u.e3, ETIMEDOUT);
	cn_runtime_destroy(rt);
}

/* --- heap promise references ---------------------------------------------- */

static void test_heap_refs(void **state)
{
	cn_promise *p = cn_promise_new(), q;

	(void)state;
	assert_non_null(p);
	assert_ptr_equal(cn_promise_ref(p), p);
	assert_int_equal(cn_promise_fulfil(p, 5, 0), 0);
	cn_promise_unref(p);
	assert_int_equal(cn_promise_state_of(p), CN_PROMISE_FULFILLED);
	cn_promise_unref(p); /* the last: freed (ASan/Valgrind check it) */
	cn_promise_init(&q);
	errno = 0;
	assert_null(cn_promise_ref(&q));
	assert_int_equal(errno, EINVAL);
	assert_null(cn_promise_ref(NULL));
	cn_promise_unref(&q); /* embedded: left alone */
	cn_promise_unref(NULL);
}

/* --- cn_spawn from another thread while the runtime runs ------------------ */

struct remote {
	cn_runtime *rt;
	atomic_int ran, spawned_ok;
	atomic_int all_in;
};

static void counted(void *arg)
{
	struct remote *x = arg;

	atomic_fetch_add(&x->ran, 1);
}

/* Keeps the runtime alive until every spawn is in, sleeping (so the
 * scheduler idles and must be woken by the inbox). */
static void keeper(void *arg)
{
	struct remote *x = arg;

	while (!atomic_load(&x->all_in))
		cn_sleep(50 * MS);
}

static void *spawner(void *arg)
{
	struct remote *x = arg;

	for (int i = 0; i < 200; i++) {
		if (cn_spawn(x->rt, counted, x, NULL) == 0)
			atomic_fetch_add(&x->spawned_ok, 1);
		if (i % 50 == 0)
			nap_us(2000);
	}
	atomic_store(&x->all_in, 1);
	return NULL;
}

static void test_spawn_from_thread(void **state)
{
	struct remote x;
	pthread_t th;
	cn_runtime_stats st;

	memset(&x, 0, sizeof(x));
	x.rt = cn_test_runtime_for(state);
	assert_int_equal(cn_spawn(x.rt, keeper, &x, NULL), 0);
	assert_int_equal(pthread_create(&th, NULL, spawner, &x), 0);
	assert_int_equal(cn_runtime_run(x.rt), 0);
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&x.spawned_ok), 200);
	assert_int_equal(atomic_load(&x.ran), 200);
	assert_int_equal(cn_runtime_stats_get(x.rt, &st), 0);
	assert_int_equal(st.spawned, 201);
	assert_int_equal(st.finished, 201);
	cn_runtime_destroy(x.rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        CN_TEST_BOTH(test_foreign_fulfil), CN_TEST_BOTH(test_race_deadlines),
	        CN_TEST_BOTH(test_race_stop),      CN_TEST_BOTH(test_await_until),
	        cmocka_unit_test(test_heap_refs),  CN_TEST_BOTH(test_spawn_from_thread),
	};

	cn_test_watchdog(600);
	return CN_TEST_RUN(tests, NULL, NULL);
}
