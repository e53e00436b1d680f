/*
 * tests/test_timer.c — timers: the deadline heap on its own (random adds and
 * removals against a reference), cn_sleep accuracy (never early, late only
 * within a generous bound), wake order of many sleepers, deadlines of
 * waiting I/O (ETIMEDOUT, never early; a past deadline still tries the
 * syscall first). Runtime tests run in both netpoll modes. Test thread only.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "coronet.h"
#include "helpers/cn_test.h"
#include "timer.h"

#define MSEC CN_TEST_MS
#define LATE_BOUND (500 * MSEC) /* generous: a loaded 2-core CI machine */

/* --- the heap ------------------------------------------------------------------ */

#define NT 2000

static int fired_count;
static int64_t last_fired;
static int order_ok;

static void on_fire(cn__timer *t, void *ctx)
{
	(void)ctx;
	if (t->deadline < last_fired)
		order_ok = 0;
	last_fired = t->deadline;
	fired_count++;
}

static void test_heap(void **state)
{
	cn__timer_heap h = {0};
	cn__timer *t = calloc(NT, sizeof(*t));
	int armed = 0;

	(void)state;
	srand(12345);
	for (int i = 0; i < NT; i++) {
		t[i].idx = CN__TIMER_IDLE;
		t[i].deadline = rand() % 100000;
		t[i].fire = on_fire;
		assert_int_equal(cn__timer_add(&h, &t[i]), 0);
	}
	/* Remove a third, at random positions (and some twice). */
	for (int i = 0; i < NT; i += 3) {
		cn__timer_del(&h, &t[i]);
		cn__timer_del(&h, &t[i]);
		assert_int_equal(t[i].idx, CN__TIMER_IDLE);
	}
	for (int i = 0; i < NT; i++)
		armed += t[i].idx != CN__TIMER_IDLE;
	assert_int_equal(armed, NT - (NT + 2) / 3);
	assert_int_equal(cn__timer_timeout(&(cn__timer_heap){0}, 0), -1);
	order_ok = 1;
	last_fired = -1;
	fired_count = 0;
	assert_int_equal(cn__timer_run(&h, 50000, NULL) + cn__timer_run(&h, 100000, NULL),
	                 (size_t)armed);
	assert_int_equal(fired_count, armed);
	assert_true(order_ok);
	assert_int_equal(cn__timer_timeout(&h, 0), -1);
	cn__timer_heap_free(&h);
	free(t);
}

/* --- sleep accuracy ------------------------------------------------------------ */

struct slp {
	int64_t want, took;
	int r;
};

static void sleeper(void *arg)
{
	struct slp *s = arg;
	int64_t t0 = cn_now();

	s->r = cn_sleep(s->want);
	s->took = cn_now() - t0;
}

static void test_sleep_accuracy(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct slp s[4] = {{1 * MSEC, 0, 0}, {20 * MSEC, 0, 0}, {50 * MSEC, 0, 0}, {123456, 0, 0}};

	for (int i = 0; i < 4; i++)
		cn_spawn(rt, sleeper, &s[i], NULL);
	assert_int_equal(cn_runtime_run(rt), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(s[i].r, 0);
		assert_true(s[i].took >= s[i].want);             /* never early */
		assert_true(s[i].took < s[i].want + LATE_BOUND); /* not hung */
	}
	cn_runtime_destroy(rt);
}

/* --- many sleepers wake in deadline order ----------------------------------- */

#define NS 200

static int wake_order[NS];
static int nwoke;
static int64_t base;
static int nstarted;

static void ordered_sleeper(void *arg)
{
	intptr_t i = (intptr_t)arg;
	int64_t target;

	/* Once through cn_sleep before the clock matters: Valgrind translates
	 * code on its first run, which can stall the first sleeper between
	 * reading target and arming its timer by more than the 0.5 ms that
	 * separates two deadlines. */
	assert_int_equal(cn_sleep(1), 0);
	/* Everyone starts first; the last one sets a common base, so the
	 * deadlines do not depend on how fast 200 coroutines start (slow
	 * under Valgrind and TSan). */
	if (++nstarted == NS)
		base = cn_now() + 200 * MSEC;
	while (nstarted < NS)
		cn_yield_now();
	/* Distinct absolute deadlines 0.5 ms apart (5 ms under Valgrind: a
	 * sleeper turns its target into a relative sleep, and Valgrind can
	 * stall it for more than 0.5 ms between reading the clock and arming
	 * its timer, which CI saw twice), spawned scrambled. */
	target = base + i * (cn_test_valgrind() ? 5 * MSEC : MSEC / 2);
	assert_true(target > cn_now());
	assert_int_equal(cn_sleep(target - cn_now()), 0);
	assert_true(cn_now() >= target);
	wake_order[nwoke++] = (int)i;
}

static void test_sleep_order(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);

	nwoke = 0;
	nstarted = 0;
	for (int k = 0; k < NS; k++)
		cn_spawn(rt, ordered_sleeper, (void *)(intptr_t)((k * 37) % NS), NULL);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(nwoke, NS);
	for (int k = 1; k < NS; k++)
		assert_true(wake_order[k - 1] < wake_order[k]);
	cn_runtime_destroy(rt);
}

/* --- I/O deadlines ----------------------------------------------------------- */

struct dl {
	int fd[2];
	int64_t took;
	ssize_t r_timeout, r_past_ready, r_past_empty;
	int e_timeout, e_past;
	int yielded;
};

static void dl_co(void *arg)
{
	struct dl *d = arg;
	char b[8];
	int64_t t0 = cn_now();

	errno = 0;
	d->r_timeout = cn_read(d->fd[0], b, sizeof(b), cn_deadline_after(30 * MSEC));
	d->e_timeout = errno;
	d->took = cn_now() - t0;
	/* A deadline already past: fail at once when it would block ... */
	errno = 0;
	d->r_past_empty = cn_read(d->fd[0], b, sizeof(b), cn_now() - 1);
	d->e_past = errno;
	/* ... but data that is there is still read. */
	assert_int_equal(cn_write(d->fd[1], "x", 1, 0), 1);
	d->r_past_ready = cn_read(d->fd[0], b, sizeof(b), 0);
	cn_close(d->fd[0]);
	cn_close(d->fd[1]);
}

static void dl_other(void *arg)
{
	struct dl *d = arg;

	/* cn_sleep(0) and negative durations just yield. */
	assert_int_equal(cn_sleep(0), 0);
	assert_int_equal(cn_sleep(-5), 0);
	d->yielded = 1;
}

static void test_io_deadline(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct dl d;

	memset(&d, 0, sizeof(d));
	assert_int_equal(pipe(d.fd), 0);
	cn_spawn(rt, dl_co, &d, NULL);
	cn_spawn(rt, dl_other, &d, NULL);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(d.r_timeout, -1);
	assert_int_equal(d.e_timeout, ETIMEDOUT);
	assert_true(d.took >= 30 * MSEC);
	assert_true(d.took < 30 * MSEC + LATE_BOUND);
	assert_int_equal(d.r_past_empty, -1);
	assert_int_equal(d.e_past, ETIMEDOUT);
	assert_int_equal(d.r_past_ready, 1);
	assert_int_equal(d.yielded, 1);
	cn_runtime_destroy(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_heap),
	        CN_TEST_BOTH(test_sleep_accuracy),
	        CN_TEST_BOTH(test_sleep_order),
	        CN_TEST_BOTH(test_io_deadline),
	};

	cn_test_watchdog(120);
	return CN_TEST_RUN(tests, NULL, NULL);
}
