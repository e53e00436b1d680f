/*
 * tests/test_sync.c — the coroutine mutex, condition variable, wait group
 * and semaphore (coronet/sync.h): exclusion under contention (one runtime,
 * and two runtimes on two threads sharing one mutex, in long runs and in
 * short ones that race its bias, src/bias.h), FIFO hand-over,
 * deadlines, cancel, misuse. Both netpoll modes; make check runs it under
 * ASan, TSan and Valgrind.
 *
 * Threads: the test thread runs a runtime; the two-runtime cases run a
 * second one on a helper thread.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "coronet.h"
#include "bias.h" /* white box: which kind the mutex ended as */
#include "helpers/cn_test.h"

#define MS CN_TEST_MS

static int64_t in_ms(int64_t ms)
{
	return cn_now() + ms * MS;
}

/* --- mutex: exclusion, on one runtime and across two ------------------- */

struct shared {
	cn_mutex m;
	long counter; /* guarded by m, read racily nowhere */
	int inside;   /* coroutines inside the section: must stay <= 1 */
	int overlap;
	int rounds;
};

static void locker(void *arg)
{
	struct shared *x = arg;

	for (int i = 0; i < x->rounds; i++) {
		assert_int_equal(cn_mutex_lock(&x->m), 0);
		if (++x->inside != 1)
			x->overlap = 1;
		long c = x->counter;
		if (i % 3 == 0)
			cn_yield_now(); /* held across a yield: others must queue */
		x->counter = c + 1;
		x->inside--;
		assert_int_equal(cn_mutex_unlock(&x->m), 0);
		if (i % 5 == 0)
			cn_yield_now();
	}
}

static void test_mutex_exclusion(void **state)
{
	cn_runtime *a = cn_test_runtime_for(state), *b = cn_test_runtime_for(state);
	struct shared x = {.rounds = cn_test_scaled(500, 10)};

	assert_int_equal(cn_mutex_init(&x.m), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(cn_spawn(a, locker, &x, NULL), 0);
		assert_int_equal(cn_spawn(b, locker, &x, NULL), 0);
	}
	cn_test_run_two(a, b);
	assert_int_equal(x.counter, 16L * x.rounds);
	assert_false(x.overlap);
	assert_int_equal(cn_mutex_destroy(&x.m), 0);
	cn_runtime_destroy(a);
	cn_runtime_destroy(b);
}

/* Short runs, a fresh mutex each: whoever locks first biases it (bias.h)
 * and the other runtime revokes the bias in the owner's round, at the end
 * of its run or on the spot, as the two threads race. Exclusion and the
 * count hold whichever way. */
static void test_mutex_exclusion_short_runs(void **state)
{
	cn_runtime *a = cn_test_runtime_for(state), *b = cn_test_runtime_for(state);
	int iters = cn_test_scaled(300, 20), shared = 0;

	for (int it = 0; it < iters; it++) {
		struct shared x = {.rounds = 1 + it % 17};
		int per = 1 + it % 3;

		assert_int_equal(cn_mutex_init(&x.m), 0);
		for (int i = 0; i < per; i++) {
			assert_int_equal(cn_spawn(a, locker, &x, NULL), 0);
			assert_int_equal(cn_spawn(b, locker, &x, NULL), 0);
		}
		cn_test_run_two(a, b);
		assert_int_equal(x.counter, 2L * per * x.rounds);
		assert_false(x.overlap);
		shared += __atomic_load_n(&x.m.bias, __ATOMIC_ACQUIRE) == CN__BIAS_SHARED;
		assert_int_equal(cn_mutex_destroy(&x.m), 0);
	}
	/* A run can end before the other thread's first lock, and then m
	 * stays biased; both running at once makes some of them shared. */
	assert_true(shared > 0);
	cn_runtime_destroy(a);
	cn_runtime_destroy(b);
}

/* FIFO: waiters get the mutex in the order they queued, and the holder
 * that unlocks and locks again at once queues behind them. */
struct fifo {
	cn_mutex m;
	int got[8], n, next_id;
};

static void fifo_waiter(void *arg)
{
	struct fifo *f = arg;
	int me = f->next_id++; /* each runs to its lock in spawn order */

	assert_int_equal(cn_mutex_lock(&f->m), 0);
	f->got[f->n++] = me;
	assert_int_equal(cn_mutex_unlock(&f->m), 0);
}

static void fifo_holder(void *arg)
{
	struct fifo *f = arg;
	cn_runtime *rt = cn_runtime_current();

	assert_int_equal(cn_mutex_lock(&f->m), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(cn_spawn(rt, fifo_waiter, f, NULL), 0);
	cn_sleep(2 * MS); /* all five queue */
	assert_int_equal(cn_mutex_unlock(&f->m), 0);
	assert_int_equal(cn_mutex_lock(&f->m), 0); /* behind the five */
	f->got[f->n++] = 99;
	assert_int_equal(cn_mutex_unlock(&f->m), 0);
}

static void test_mutex_fifo(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct fifo f = {0};
	const int want[6] = {0, 1, 2, 3, 4, 99};

	cn_mutex_init(&f.m);
	assert_int_equal(cn_spawn(rt, fifo_holder, &f, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(f.n, 6);
	assert_memory_equal(f.got, want, sizeof(want));
	cn_mutex_destroy(&f.m);
	cn_runtime_destroy(rt);
}

/* Deadlines, cancel and misuse. */
struct timed {
	cn_mutex m;
	int err_timeout, err_cancel, err_unlock;
	cn_task *victim;
};

static void *lock_forever(void *arg)
{
	struct timed *t = arg;

	return (void *)(intptr_t)(cn_mutex_lock(&t->m) < 0 ? errno : 0);
}

static void *unlock_foreign(void *arg)
{
	struct timed *t = arg;

	t->err_unlock = cn_mutex_unlock(&t->m) < 0 ? errno : 0;
	return NULL;
}

static void timed_main(void *arg)
{
	struct timed *t = arg;
	cn_runtime *rt = cn_runtime_current();
	cn_task *h;
	void *r;

	assert_int_equal(cn_mutex_unlock(&t->m), -1); /* not held */
	assert_int_equal(errno, EPERM);
	assert_int_equal(cn_mutex_lock(&t->m), 0);
	assert_int_equal(cn_mutex_lock(&t->m), -1);
	assert_int_equal(errno, EDEADLK);
	assert_int_equal(cn_mutex_trylock(&t->m), -1);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(cn_mutex_destroy(&t->m), -1);
	assert_int_equal(errno, EBUSY);

	/* Another coroutine may not unlock what we hold. */
	h = cn_task_spawn(rt, unlock_foreign, t, NULL);
	assert_int_equal(cn_task_join(h, NULL, CN_NO_DEADLINE), 0);
	assert_int_equal(t->err_unlock, EPERM);

	/* A waiter that is cancelled gives up (deadlines: timeout_main). */
	h = cn_task_spawn(rt, lock_forever, t, NULL);
	cn_sleep(MS);
	assert_int_equal(cn_task_cancel(h), 0);
	assert_int_equal(cn_task_join(h, &r, CN_NO_DEADLINE), 0);
	assert_int_equal((intptr_t)r, ECANCELED);

	/* After the give-ups, unlock still works and the next lock is fast. */
	assert_int_equal(cn_mutex_unlock(&t->m), 0);
	assert_int_equal(cn_mutex_trylock(&t->m), 0);
	assert_int_equal(cn_mutex_unlock(&t->m), 0);
	t->err_timeout = -1;
}

static void *try_timed(void *arg)
{
	struct timed *t = arg;

	return (void *)(intptr_t)(cn_mutex_lock_until(&t->m, in_ms(3)) < 0 ? errno : 0);
}

static void timeout_main(void *arg)
{
	struct timed *t = arg;
	cn_task *h;
	void *r;

	assert_int_equal(cn_mutex_lock(&t->m), 0);
	h = cn_task_spawn(cn_runtime_current(), try_timed, t, NULL);
	assert_int_equal(cn_task_join(h, &r, CN_NO_DEADLINE), 0);
	assert_int_equal((intptr_t)r, ETIMEDOUT);
	assert_int_equal(cn_mutex_unlock(&t->m), 0);
	/* Free: the timed lock takes it at once. */
	h = cn_task_spawn(cn_runtime_current(), try_timed, t, NULL);
	assert_int_equal(cn_task_join(h, &r, CN_NO_DEADLINE), 0);
	assert_int_equal((intptr_t)r, 0);
	t->err_timeout = ETIMEDOUT;
}

static void test_mutex_misuse_deadline_cancel(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct timed t = {0};

	assert_int_equal(cn_mutex_init(NULL), -1);
	assert_int_equal(cn_mutex_lock(NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cn_mutex_init(&t.m), 0);
	assert_int_equal(cn_mutex_lock(&t.m), -1); /* not a coroutine */
	assert_int_equal(errno, EPERM);
	assert_int_equal(cn_spawn(rt, timed_main, &t, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(t.err_timeout, -1);
	assert_int_equal(cn_spawn(rt, timeout_main, &t, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(t.err_timeout, ETIMEDOUT);
	/* The task that took the mutex with its timed lock still holds it:
	 * it returned without unlocking, so destroy says so. */
	assert_int_equal(cn_mutex_destroy(&t.m), -1);
	assert_int_equal(errno, EBUSY);
	cn_runtime_destroy(rt);
}

/* --- condition variable: a bounded queue ------------------------------- */

#define QCAP 4

struct bq {
	cn_mutex m;
	cn_cond not_empty, not_full;
	int buf[QCAP], head, count;
	int items, consumed_sum, produced_sum;
	int producers_left;
};

static void producer(void *arg)
{
	struct bq *q = arg;

	for (int i = 1; i <= q->items; i++) {
		cn_mutex_lock(&q->m);
		while (q->count == QCAP)
			assert_int_equal(cn_cond_wait(&q->not_full, &q->m, CN_NO_DEADLINE), 0);
		q->buf[(q->head + q->count++) % QCAP] = i;
		q->produced_sum += i;
		cn_cond_signal(&q->not_empty);
		cn_mutex_unlock(&q->m);
	}
	cn_mutex_lock(&q->m);
	if (--q->producers_left == 0)
		cn_cond_broadcast(&q->not_empty);
	cn_mutex_unlock(&q->m);
}

static void consumer(void *arg)
{
	struct bq *q = arg;

	cn_mutex_lock(&q->m);
	for (;;) {
		while (q->count == 0 && q->producers_left)
			assert_int_equal(cn_cond_wait(&q->not_empty, &q->m, CN_NO_DEADLINE), 0);
		if (q->count == 0)
			break;
		q->consumed_sum += q->buf[q->head];
		q->head = (q->head + 1) % QCAP;
		q->count--;
		cn_cond_signal(&q->not_full);
	}
	cn_mutex_unlock(&q->m);
}

static void test_cond_queue(void **state)
{
	cn_runtime *a = cn_test_runtime_for(state), *b = cn_test_runtime_for(state);
	struct bq q = {.items = cn_test_scaled(300, 10), .producers_left = 4};

	cn_mutex_init(&q.m);
	cn_cond_init(&q.not_empty);
	cn_cond_init(&q.not_full);
	/* Producers on one runtime, consumers on both: cross-thread waits. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(cn_spawn(a, producer, &q, NULL), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cn_spawn(a, consumer, &q, NULL), 0);
		assert_int_equal(cn_spawn(b, consumer, &q, NULL), 0);
	}
	cn_test_run_two(a, b);
	assert_int_equal(q.produced_sum, 4 * q.items * (q.items + 1) / 2);
	assert_int_equal(q.consumed_sum, q.produced_sum);
	assert_int_equal(cn_cond_destroy(&q.not_empty), 0);
	assert_int_equal(cn_cond_destroy(&q.not_full), 0);
	assert_int_equal(cn_mutex_destroy(&q.m), 0);
	cn_runtime_destroy(a);
	cn_runtime_destroy(b);
}

/* A timed-out or cancelled cond wait holds the mutex again when it returns. */
struct cw {
	cn_mutex m;
	cn_cond c;
	int errs[2];
	int held_after[2];
};

struct cw_arg {
	struct cw *w;
	int i; /* 0: times out, 1: is cancelled */
};

static void *cond_waiter(void *arg)
{
	struct cw_arg *a = arg;
	struct cw *w = a->w;

	cn_mutex_lock(&w->m);
	w->errs[a->i] = cn_cond_wait(&w->c, &w->m, a->i == 0 ? in_ms(3) : CN_NO_DEADLINE) < 0
	                        ? errno
	                        : 0;
	/* We hold m again: unlock succeeds (EPERM otherwise). */
	w->held_after[a->i] = cn_mutex_unlock(&w->m) == 0;
	return NULL;
}

static void cond_main(void *arg)
{
	struct cw *w = arg;
	cn_runtime *rt = cn_runtime_current();
	struct cw_arg a0 = {w, 0}, a1 = {w, 1};
	cn_task *a = cn_task_spawn(rt, cond_waiter, &a0, NULL);
	cn_task *b = cn_task_spawn(rt, cond_waiter, &a1, NULL);

	cn_sleep(MS);
	/* Hold m while cancelling b: its relock must wait for us. */
	cn_mutex_lock(&w->m);
	cn_task_cancel(b);
	cn_sleep(5 * MS);
	cn_mutex_unlock(&w->m);
	assert_int_equal(cn_task_join(a, NULL, CN_NO_DEADLINE), 0);
	assert_int_equal(cn_task_join(b, NULL, CN_NO_DEADLINE), 0);
}

static void test_cond_timeout_cancel(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct cw w = {0};

	cn_mutex_init(&w.m);
	cn_cond_init(&w.c);
	assert_int_equal(cn_cond_wait(&w.c, &w.m, 0), -1); /* not a coroutine */
	assert_int_equal(errno, EPERM);
	assert_int_equal(cn_cond_signal(NULL), -1);
	assert_int_equal(cn_spawn(rt, cond_main, &w, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(w.errs[0], ETIMEDOUT);
	assert_int_equal(w.errs[1], ECANCELED);
	assert_true(w.held_after[0]);
	assert_true(w.held_after[1]);
	cn_cond_destroy(&w.c);
	cn_mutex_destroy(&w.m);
	cn_runtime_destroy(rt);
}

/* --- wait group and semaphore ------------------------------------------ */

struct wgs {
	cn_waitgroup wg;
	cn_sem sem;
	atomic_int done, inside, max_inside;
	int waits_ok;
};

static void wg_worker(void *arg)
{
	struct wgs *x = arg;

	assert_int_equal(cn_sem_acquire(&x->sem, CN_NO_DEADLINE), 0);
	int in = atomic_fetch_add(&x->inside, 1) + 1;
	int mx = atomic_load(&x->max_inside);
	while (in > mx && !atomic_compare_exchange_weak(&x->max_inside, &mx, in))
		;
	cn_sleep(MS);
	atomic_fetch_sub(&x->inside, 1);
	assert_int_equal(cn_sem_release(&x->sem), 0);
	atomic_fetch_add(&x->done, 1);
	cn_waitgroup_done(&x->wg);
}

static void wg_waiter(void *arg)
{
	struct wgs *x = arg;

	if (cn_waitgroup_wait(&x->wg, in_ms(10000)) == 0 && atomic_load(&x->done) == 20)
		x->waits_ok++;
}

static void wg_main(void *arg)
{
	struct wgs *x = arg;
	cn_runtime *rt = cn_runtime_current();

	assert_int_equal(cn_waitgroup_wait(&x->wg, in_ms(0)), 0); /* count 0 */
	assert_int_equal(cn_waitgroup_add(&x->wg, 20), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(cn_spawn(rt, wg_worker, x, NULL), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(cn_spawn(rt, wg_waiter, x, NULL), 0);
	assert_int_equal(cn_waitgroup_wait(&x->wg, in_ms(1)), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(cn_waitgroup_wait(&x->wg, in_ms(10000)), 0);
	assert_int_equal(atomic_load(&x->done), 20);
	cn_sleep(MS); /* the other waiters run */
	/* The semaphore: 3 units, all back; a timed acquire of an empty one. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(cn_sem_tryacquire(&x->sem), 0);
	assert_int_equal(cn_sem_tryacquire(&x->sem), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(cn_sem_acquire(&x->sem, in_ms(2)), -1);
	assert_int_equal(errno, ETIMEDOUT);
	for (int i = 0; i < 3; i++)
		assert_int_equal(cn_sem_release(&x->sem), 0);
}

static void test_waitgroup_sem(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct wgs x = {0};

	assert_int_equal(cn_waitgroup_init(&x.wg), 0);
	assert_int_equal(cn_sem_init(&x.sem, 3), 0);
	assert_int_equal(cn_sem_init(NULL, 1), -1);
	assert_int_equal(cn_sem_init(&x.sem, -1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cn_waitgroup_add(&x.wg, -1), -1); /* below zero */
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cn_waitgroup_wait(&x.wg, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(cn_sem_acquire(&x.sem, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(cn_spawn(rt, wg_main, &x, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(x.waits_ok, 3);
	assert_true(atomic_load(&x.max_inside) <= 3);
	assert_true(atomic_load(&x.max_inside) >= 2); /* it did run them together */
	assert_int_equal(cn_waitgroup_destroy(&x.wg), 0);
	assert_int_equal(cn_sem_destroy(&x.sem), 0);
	cn_runtime_destroy(rt);
}

/* A semaphore's units are conserved when acquires with deadlines of a few
 * microseconds race releases from another runtime: an acquire that gave up
 * just as a release chose it must keep the unit (else a unit is lost and
 * the acquirers never reach the total), and one that gave up first must not
 * take one. */
struct sem_race {
	cn_sem s;
	long total;
	atomic_long acquired, timeouts;
};

static void sem_releaser(void *arg)
{
	struct sem_race *r = arg;

	for (long i = 0; i < r->total / 2; i++) {
		/* A pause of 0-15 us (spun: sleeps are coarser), so acquirers
		 * wait about as long as their deadlines. */
		int64_t until = cn_now() + rand() % 15000;

		while (cn_now() < until)
			;
		assert_int_equal(cn_sem_release(&r->s), 0);
		cn_yield_now();
	}
}

static void sem_acquirer(void *arg)
{
	struct sem_race *r = arg;
	int64_t give_up = in_ms(20000);

	while (atomic_load(&r->acquired) < r->total && cn_now() < give_up) {
		if (cn_sem_acquire(&r->s, cn_now() + rand() % 20000) == 0) {
			atomic_fetch_add(&r->acquired, 1);
		} else {
			assert_int_equal(errno, ETIMEDOUT);
			atomic_fetch_add(&r->timeouts, 1);
		}
	}
}

static void test_sem_deadline_race_threads(void **state)
{
	cn_runtime *a = cn_test_runtime_for(state), *b = cn_test_runtime_for(state);
	struct sem_race r = {.total = 2 * cn_test_scaled(3000, 30)};

	assert_int_equal(cn_sem_init(&r.s, 0), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(cn_spawn(b, sem_releaser, &r, NULL), 0);
		assert_int_equal(cn_spawn(a, sem_acquirer, &r, NULL), 0);
	}
	cn_test_run_two(a, b);
	assert_int_equal(atomic_load(&r.acquired), r.total);
	assert_int_equal(cn_sem_tryacquire(&r.s), -1); /* no unit left over */
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(cn_sem_destroy(&r.s), 0);
	cn_runtime_destroy(a);
	cn_runtime_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CN_TEST_BOTH(test_mutex_exclusion),
		CN_TEST_BOTH(test_mutex_exclusion_short_runs),
		CN_TEST_BOTH(test_mutex_fifo),
		CN_TEST_BOTH(test_mutex_misuse_deadline_cancel),
		CN_TEST_BOTH(test_cond_queue),
		CN_TEST_BOTH(test_cond_timeout_cancel),
		CN_TEST_BOTH(test_waitgroup_sem),
		CN_TEST_BOTH(test_sem_deadline_race_threads),
	};

	cn_test_watchdog(300);
	return CN_TEST_RUN(tests, NULL, NULL);
}
