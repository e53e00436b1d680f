/*
 * tests/test_bias.c — a mutex biased to one runtime (src/bias.h): the
 * first runtime to lock it owns the word; a coroutine of another thread
 * revokes the bias while the owner runs (served between two of its
 * coroutines), after its run ended, or after it was destroyed and its slot
 * reused; a plain coroutine on a plain thread revokes it by yielding its
 * thread; a condition variable works across the change of kind
 * (test_sync.c races exclusion across revocations). White box: it
 * reads m.bias and cn__bias_here(). Both netpoll modes.
 *
 * Threads: the test thread runs one runtime; a helper thread runs the
 * other runtime or the plain coroutine.
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

#include <cmocka.h>

#include "coronet.h"
#include "bias.h"
#include "helpers/cn_test.h"

#define MS CN_TEST_MS

/* Runs fa on a (this thread) and fb on b (a helper thread) until both
 * runtimes have nothing left to run. */
static void run_pair(cn_runtime *a, cn_coro_fn fa, cn_runtime *b, cn_coro_fn fb, void *arg)
{
	assert_int_equal(cn_spawn(a, fa, arg, NULL), 0);
	assert_int_equal(cn_spawn(b, fb, arg, NULL), 0);
	cn_test_run_two(a, b);
}

static uint64_t bias_of(cn_mutex *m)
{
	return __atomic_load_n(&m->bias, __ATOMIC_ACQUIRE);
}

/* --- one coroutine locks m once, noting its runtime's id ---------------- */

struct once {
	cn_mutex *m;
	uint64_t here; /* cn__bias_here() inside the coroutine */
	int rc, err;
};

static void lock_once(void *arg)
{
	struct once *o = arg;

	o->here = cn__bias_here();
	o->rc = cn_mutex_lock(o->m);
	o->err = errno;
	if (o->rc == 0)
		assert_int_equal(cn_mutex_unlock(o->m), 0);
}

static void run_once(cn_runtime *rt, struct once *o)
{
	assert_int_equal(cn_spawn(rt, lock_once, o, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(o->rc, 0);
}

/* The first locker biases m to its runtime; a coroutine of another
 * runtime, run after the owner's run ended, makes it shared without
 * waiting for the owner; both lock it from then on. */
static void test_bias_claim_then_revoke_idle(void **state)
{
	cn_runtime *a = cn_test_runtime_for(state), *b = cn_test_runtime_for(state);
	cn_mutex m;
	struct once oa = {.m = &m}, ob = {.m = &m}, oa2 = {.m = &m};

	assert_int_equal(cn_mutex_init(&m), 0);
	assert_int_equal(bias_of(&m), CN__BIAS_NONE);
	run_once(a, &oa);
	assert_true(oa.here > CN__BIAS_SHARED && oa.here != CN__BIAS_NOBODY);
	assert_int_equal(bias_of(&m), oa.here); /* biased to a */
	run_once(a, &oa2);                      /* a again: stays biased */
	assert_int_equal(bias_of(&m), oa.here);
	assert_int_equal(oa2.here, oa.here);

	run_once(b, &ob); /* a does not run: revoked on the spot */
	assert_true(ob.here != oa.here);
	assert_int_equal(bias_of(&m), CN__BIAS_SHARED);
	run_once(a, &oa2); /* a takes the shared kind now */
	assert_int_equal(bias_of(&m), CN__BIAS_SHARED);
	assert_int_equal(cn_mutex_destroy(&m), 0);
	cn_runtime_destroy(a);
	cn_runtime_destroy(b);
}

/* The owner is destroyed and a new runtime reuses its slot: the new one
 * has another id, so it finds m biased to a runtime that is gone and makes
 * it shared instead of taking it for its own. */
static void test_bias_owner_destroyed_slot_reused(void **state)
{
	cn_runtime *a = cn_test_runtime_for(state), *c;
	cn_mutex m;
	struct once oa = {.m = &m}, oc = {.m = &m};
	const uint64_t index = (1u << 20) - 1;

	assert_int_equal(cn_mutex_init(&m), 0);
	run_once(a, &oa);
	assert_int_equal(bias_of(&m), oa.here);
	cn_runtime_destroy(a);
	c = cn_test_runtime_for(state); /* takes the slot a gave back */
	run_once(c, &oc);
	assert_int_equal(oc.here & index, oa.here & index);
	assert_true(oc.here != oa.here);
	assert_int_equal(bias_of(&m), CN__BIAS_SHARED);
	assert_int_equal(cn_mutex_destroy(&m), 0);
	cn_runtime_destroy(c);
}

/* --- revocation while the owner runs, and holds m ---------------------- */

struct held {
	cn_mutex m;
	atomic_int phase; /* 1 a holds m, 2 b asked for it, 3 b got it */
	long counter;     /* guarded by m, plain */
	uint64_t owner;
	int b_rc, b_err;
};

/* On a: holds m across sleeps until b has asked for it, so b's request is
 * served between a's coroutines while m is held. */
static void a_holder(void *arg)
{
	struct held *h = arg;
	int64_t give_up = cn_now() + 20000 * MS;

	assert_int_equal(cn_mutex_lock(&h->m), 0);
	h->owner = cn__bias_here();
	h->counter = 1;
	atomic_store(&h->phase, 1);
	while (atomic_load(&h->phase) < 2 && cn_now() < give_up)
		cn_sleep(MS);
	cn_sleep(5 * MS); /* b is queued behind us by now, or soon */
	h->counter++;
	assert_int_equal(cn_mutex_unlock(&h->m), 0);
	while (atomic_load(&h->phase) < 3 && cn_now() < give_up)
		cn_sleep(MS);
	assert_int_equal(cn_mutex_lock(&h->m), 0); /* shared now; b gave it back */
	h->counter++;
	assert_int_equal(cn_mutex_unlock(&h->m), 0);
}

static void b_taker(void *arg)
{
	struct held *h = arg;
	int64_t give_up = cn_now() + 20000 * MS;

	while (atomic_load(&h->phase) < 1 && cn_now() < give_up)
		cn_sleep(MS);
	atomic_store(&h->phase, 2);
	h->b_rc = cn_mutex_trylock(&h->m); /* revokes, then finds it held */
	h->b_err = errno;
	assert_int_equal(bias_of(&h->m), CN__BIAS_SHARED);
	assert_int_equal(cn_mutex_lock(&h->m), 0); /* handed over by a */
	assert_int_equal(h->counter, 2);           /* a's writes under the bias */
	h->counter++;
	assert_int_equal(cn_mutex_unlock(&h->m), 0);
	atomic_store(&h->phase, 3);
}

static void test_bias_revoke_while_owner_holds(void **state)
{
	cn_runtime *a = cn_test_runtime_for(state), *b = cn_test_runtime_for(state);
	struct held h = {.phase = 0};

	assert_int_equal(cn_mutex_init(&h.m), 0);
	run_pair(a, a_holder, b, b_taker, &h);
	assert_int_equal(atomic_load(&h.phase), 3);
	assert_int_equal(h.b_rc, -1);
	assert_int_equal(h.b_err, EBUSY);
	assert_true(h.owner > CN__BIAS_SHARED);
	assert_int_equal(h.counter, 4);
	assert_int_equal(bias_of(&h.m), CN__BIAS_SHARED);
	assert_int_equal(cn_mutex_destroy(&h.m), 0);
	cn_runtime_destroy(a);
	cn_runtime_destroy(b);
}

/* --- a plain coroutine on a plain thread revokes by yielding its thread - */

struct plain {
	cn_mutex m;
	atomic_int phase; /* 1 held by a, 2 plain saw EBUSY, 3 a let go */
	int busy_rc, busy_err, free_rc;
};

static void a_holds_for_plain(void *arg)
{
	struct plain *p = arg;
	int64_t give_up = cn_now() + 20000 * MS;

	assert_int_equal(cn_mutex_lock(&p->m), 0);
	atomic_store(&p->phase, 1);
	while (atomic_load(&p->phase) < 2 && cn_now() < give_up)
		cn_sleep(MS); /* each wake is a round that may serve */
	assert_int_equal(cn_mutex_unlock(&p->m), 0);
	atomic_store(&p->phase, 3);
}

static void plain_trylocks(void *arg)
{
	struct plain *p = arg;

	p->busy_rc = cn_mutex_trylock(&p->m);
	p->busy_err = errno;
	atomic_store(&p->phase, 2);
	while (atomic_load(&p->phase) < 3)
		sched_yield();
	p->free_rc = cn_mutex_trylock(&p->m);
	if (p->free_rc == 0)
		assert_int_equal(cn_mutex_unlock(&p->m), 0);
}

static void *plain_thread(void *arg)
{
	struct plain *p = arg;
	cn_coro *co;

	while (atomic_load(&p->phase) < 1)
		sched_yield();
	co = cn_coro_create(plain_trylocks, p, NULL);
	assert_non_null(co);
	assert_int_equal(cn_coro_resume(co, NULL), 0);
	assert_int_equal(cn_coro_destroy(co), 0);
	return NULL;
}

static void test_bias_revoke_from_plain_coroutine(void **state)
{
	cn_runtime *a = cn_test_runtime_for(state);
	struct plain p = {.phase = 0};
	pthread_t th;

	assert_int_equal(cn_mutex_init(&p.m), 0);
	assert_int_equal(cn_spawn(a, a_holds_for_plain, &p, NULL), 0);
	assert_int_equal(pthread_create(&th, NULL, plain_thread, &p), 0);
	assert_int_equal(cn_runtime_run(a), 0);
	pthread_join(th, NULL);
	assert_int_equal(p.busy_rc, -1);
	assert_int_equal(p.busy_err, EBUSY);
	assert_int_equal(p.free_rc, 0);
	assert_int_equal(bias_of(&p.m), CN__BIAS_SHARED);
	assert_int_equal(cn_mutex_destroy(&p.m), 0);
	cn_runtime_destroy(a);
}

/* --- a condition variable over a biased mutex ------------------------- */

struct turns {
	cn_mutex m;
	cn_cond c;
	int arrived, turn; /* guarded by m */
	long counter;
	int rounds;
};

/* Waiters on both runtimes: the turns alternate between threads, so each
 * wait's relock goes through whichever kind m is by then. */
static void turn_taker(void *arg)
{
	struct turns *x = arg;

	assert_int_equal(cn_mutex_lock(&x->m), 0);
	int side = x->arrived++; /* 0 for the first to arrive, 1 for the other */
	assert_int_equal(cn_mutex_unlock(&x->m), 0);
	for (int i = 0; i < x->rounds; i++) {
		assert_int_equal(cn_mutex_lock(&x->m), 0);
		while (x->turn != side)
			assert_int_equal(cn_cond_wait(&x->c, &x->m, cn_now() + 20000 * MS), 0);
		x->counter++;
		x->turn = !side;
		assert_int_equal(cn_cond_broadcast(&x->c), 0);
		assert_int_equal(cn_mutex_unlock(&x->m), 0);
	}
}

static void test_bias_cond_across_runtimes(void **state)
{
	cn_runtime *a = cn_test_runtime_for(state), *b = cn_test_runtime_for(state);
	struct turns x = {.rounds = cn_test_scaled(200, 10)};

	assert_int_equal(cn_mutex_init(&x.m), 0);
	assert_int_equal(cn_cond_init(&x.c), 0);
	run_pair(a, turn_taker, b, turn_taker, &x);
	assert_int_equal(x.counter, 2L * x.rounds);
	assert_int_equal(bias_of(&x.m), CN__BIAS_SHARED);
	assert_int_equal(cn_cond_destroy(&x.c), 0);
	assert_int_equal(cn_mutex_destroy(&x.m), 0);
	cn_runtime_destroy(a);
	cn_runtime_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CN_TEST_BOTH(test_bias_claim_then_revoke_idle),
		CN_TEST_BOTH(test_bias_owner_destroyed_slot_reused),
		CN_TEST_BOTH(test_bias_revoke_while_owner_holds),
		CN_TEST_BOTH(test_bias_revoke_from_plain_coroutine),
		CN_TEST_BOTH(test_bias_cond_across_runtimes),
	};

	cn_test_watchdog(300);
	return CN_TEST_RUN(tests, NULL, NULL);
}
