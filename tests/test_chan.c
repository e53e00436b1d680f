/*
 * tests/test_chan.c — channels and choose (coronet/chan.h): order and
 * FIFO fairness, rendezvous, buffering, close with waiters on both sides,
 * draining after close, deadlines, cancel, choose's priority and its
 * exactly-one rule under a cross-thread stress, misuse. Both netpoll
 * modes; make check runs it under ASan, TSan and Valgrind.
 *
 * Threads: the test thread runs a runtime; the cross-runtime cases run a
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
#include "helpers/cn_test.h"

#define MS CN_TEST_MS

static int64_t in_ms(int64_t ms)
{
	return cn_now() + ms * MS;
}

/* --- order, buffering, rendezvous -------------------------------------- */

struct pp {
	cn_chan *ping, *pong;
	int rounds;
	long sum;
};

static void ponger(void *arg)
{
	struct pp *x = arg;
	int v;

	while (cn_chan_recv(x->ping, &v, CN_NO_DEADLINE) == 0) {
		v++;
		assert_int_equal(cn_chan_send(x->pong, &v, CN_NO_DEADLINE), 0);
	}
	assert_int_equal(errno, EPIPE);
}

static void pinger(void *arg)
{
	struct pp *x = arg;

	for (int i = 0; i < x->rounds; i++) {
		int v = i;

		assert_int_equal(cn_chan_send(x->ping, &v, CN_NO_DEADLINE), 0);
		assert_int_equal(cn_chan_recv(x->pong, &v, CN_NO_DEADLINE), 0);
		assert_int_equal(v, i + 1);
		x->sum += v;
	}
	assert_int_equal(cn_chan_close(x->ping), 0);
}

static void test_pingpong(void **state)
{
	for (size_t cap = 0; cap <= 64; cap += 64) {
		cn_runtime *rt = cn_test_runtime_for(state);
		struct pp x = {cn_chan_create(sizeof(int), cap), cn_chan_create(sizeof(int), cap),
		               cn_test_scaled(2000, 10), 0};

		assert_int_equal(cn_spawn(rt, ponger, &x, NULL), 0);
		assert_int_equal(cn_spawn(rt, pinger, &x, NULL), 0);
		assert_int_equal(cn_runtime_run(rt), 0);
		assert_int_equal(x.sum, (long)x.rounds * (x.rounds + 1) / 2);
		assert_int_equal(cn_chan_destroy(x.ping), 0);
		assert_int_equal(cn_chan_destroy(x.pong), 0);
		cn_runtime_destroy(rt);
	}
}

struct order {
	cn_chan *ch;
	int got[5], n;
	int next_id;
};

static void fifo_receiver(void *arg)
{
	struct order *o = arg;
	int me = o->next_id++;
	int v;

	assert_int_equal(cn_chan_recv(o->ch, &v, in_ms(10000)), 0);
	o->got[me] = v;
	o->n++;
}

static void order_main(void *arg)
{
	struct order *o = arg;
	cn_runtime *rt = cn_runtime_current();
	cn_chan *b = cn_chan_create(sizeof(int), 8);
	int v;

	/* A buffer keeps send order, and a try on a full one fails. */
	for (v = 0; v < 8; v++)
		assert_int_equal(cn_chan_send(b, &v, CN_NO_DEADLINE), 0);
	assert_int_equal(cn_chan_len(b), 8);
	assert_int_equal(cn_chan_send(b, &v, 0), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(cn_chan_len(b), 8); /* the failed send left nothing */
	for (int i = 0; i < 8; i++) {
		assert_int_equal(cn_chan_recv(b, &v, CN_NO_DEADLINE), 0);
		assert_int_equal(v, i);
	}
	assert_int_equal(cn_chan_recv(b, &v, in_ms(2)), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(cn_chan_destroy(b), 0);

	/* Receivers are served in the order they came. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(cn_spawn(rt, fifo_receiver, o, NULL), 0);
	cn_sleep(2 * MS);
	for (v = 0; v < 5; v++)
		assert_int_equal(cn_chan_send(o->ch, &v, in_ms(10000)), 0);
	cn_sleep(2 * MS);
}

static void test_order_fifo_deadline(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct order o = {.ch = cn_chan_create(sizeof(int), 0)};
	const int want[5] = {0, 1, 2, 3, 4};

	assert_int_equal(cn_spawn(rt, order_main, &o, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(o.n, 5);
	assert_memory_equal(o.got, want, sizeof(want));
	assert_int_equal(cn_chan_destroy(o.ch), 0);
	cn_runtime_destroy(rt);
}

/* --- close ----------------------------------------------------------------- */

struct closing {
	cn_chan *r0, *s1; /* receivers wait on r0 (empty), senders on s1 (full) */
	atomic_int epipe;
};

static void close_receiver(void *arg)
{
	struct closing *c = arg;
	int v;

	if (cn_chan_recv(c->r0, &v, in_ms(10000)) == -1 && errno == EPIPE)
		atomic_fetch_add(&c->epipe, 1);
}

static void close_sender(void *arg)
{
	struct closing *c = arg;
	int v = 7;

	if (cn_chan_send(c->s1, &v, in_ms(10000)) == -1 && errno == EPIPE)
		atomic_fetch_add(&c->epipe, 1);
}

static void close_main(void *arg)
{
	struct closing *c = arg;
	cn_runtime *rt = cn_runtime_current();
	int v = 1;

	assert_int_equal(cn_chan_send(c->s1, &v, CN_NO_DEADLINE), 0); /* full */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cn_spawn(rt, close_receiver, c, NULL), 0);
		assert_int_equal(cn_spawn(rt, close_sender, c, NULL), 0);
	}
	cn_sleep(2 * MS);
	assert_int_equal(cn_chan_destroy(c->r0), -1); /* waiters */
	assert_int_equal(errno, EBUSY);
	assert_int_equal(cn_chan_close(c->r0), 0);
	assert_int_equal(cn_chan_close(c->s1), 0);
	assert_int_equal(cn_chan_close(c->s1), -1);
	assert_int_equal(errno, EALREADY);
	cn_sleep(2 * MS);
	assert_int_equal(atomic_load(&c->epipe), 6);
	/* Closed: sends fail; the buffered element drains, then EPIPE. */
	assert_int_equal(cn_chan_send(c->s1, &v, CN_NO_DEADLINE), -1);
	assert_int_equal(errno, EPIPE);
	v = 0;
	assert_int_equal(cn_chan_recv(c->s1, &v, CN_NO_DEADLINE), 0);
	assert_int_equal(v, 1);
	assert_int_equal(cn_chan_recv(c->s1, &v, CN_NO_DEADLINE), -1);
	assert_int_equal(errno, EPIPE);
}

static void test_close_wakes_all(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct closing c = {.r0 = cn_chan_create(sizeof(int), 0), .s1 = cn_chan_create(sizeof(int), 1)};

	assert_int_equal(cn_spawn(rt, close_main, &c, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(cn_chan_destroy(c.r0), 0);
	assert_int_equal(cn_chan_destroy(c.s1), 0);
	cn_runtime_destroy(rt);
}

/* --- choose -------------------------------------------------------------- */

static void *choose_two(void *arg)
{
	cn_chan **chs = arg;
	int a = -1, b = -1;
	cn_chan_op ops[2] = {{chs[0], CN_CHAN_RECV, &a, 0}, {chs[1], CN_CHAN_RECV, &b, 0}};
	int r = cn_chan_choose(ops, 2, in_ms(10000));

	/* Only the chosen operation moved an element. */
	if (r == 1 && a == -1 && b == 42 && ops[1].err == 0)
		return (void *)1;
	return NULL;
}

static void *choose_forever(void *arg)
{
	cn_chan **chs = arg;
	cn_chan_op ops[2] = {{chs[0], CN_CHAN_RECV, NULL, 0}, {chs[1], CN_CHAN_RECV, NULL, 0}};

	return (void *)(intptr_t)(cn_chan_choose(ops, 2, CN_NO_DEADLINE) < 0 ? errno : 0);
}

static void choose_main(void *arg)
{
	(void)arg;
	cn_runtime *rt = cn_runtime_current();
	cn_chan *chs[2] = {cn_chan_create(sizeof(int), 1), cn_chan_create(sizeof(int), 1)};
	int v = 5, x = 0, y = 0;
	cn_chan_op ops[3];
	cn_task *h;
	void *r;

	/* Both ready: the first in array order wins, the other stays. */
	assert_int_equal(cn_chan_send(chs[0], &v, 0), 0);
	assert_int_equal(cn_chan_send(chs[1], &v, 0), 0);
	ops[0] = (cn_chan_op){chs[1], CN_CHAN_RECV, &x, 0};
	ops[1] = (cn_chan_op){chs[0], CN_CHAN_RECV, &y, 0};
	assert_int_equal(cn_chan_choose(ops, 2, 0), 0);
	assert_int_equal(x, 5);
	assert_int_equal(y, 0);
	assert_int_equal(cn_chan_len(chs[0]), 1);
	assert_int_equal(cn_chan_len(chs[1]), 0);
	/* A send and a receive on one channel: the send (room) then... */
	ops[0] = (cn_chan_op){chs[0], CN_CHAN_SEND, &v, 0};
	ops[1] = (cn_chan_op){chs[0], CN_CHAN_RECV, &y, 0};
	assert_int_equal(cn_chan_choose(ops, 2, 0), 1); /* full: only recv can */
	assert_int_equal(y, 5);
	/* Nothing ready: a timeout, and nothing left queued. */
	ops[0] = (cn_chan_op){chs[0], CN_CHAN_RECV, &y, 0};
	ops[1] = (cn_chan_op){chs[1], CN_CHAN_RECV, &y, 0};
	assert_int_equal(cn_chan_choose(ops, 2, in_ms(2)), -1);
	assert_int_equal(errno, ETIMEDOUT);

	/* A waiting choose is woken by a send on its second channel. */
	h = cn_task_spawn(rt, choose_two, chs, NULL);
	cn_sleep(MS);
	v = 42;
	assert_int_equal(cn_chan_send(chs[1], &v, CN_NO_DEADLINE), 0);
	assert_int_equal(cn_task_join(h, &r, in_ms(10000)), 0);
	assert_non_null(r);
	assert_int_equal(cn_chan_len(chs[1]), 0);

	/* Cancel ends a waiting choose; its nodes are gone (destroy works). */
	h = cn_task_spawn(rt, choose_forever, chs, NULL);
	cn_sleep(MS);
	cn_task_cancel(h);
	assert_int_equal(cn_task_join(h, &r, in_ms(10000)), 0);
	assert_int_equal((intptr_t)r, ECANCELED);

	/* A closed channel's operation completes at once with EPIPE. */
	cn_chan_close(chs[1]);
	ops[0] = (cn_chan_op){chs[0], CN_CHAN_RECV, &y, 0};
	ops[1] = (cn_chan_op){chs[1], CN_CHAN_RECV, &y, 0};
	assert_int_equal(cn_chan_choose(ops, 2, CN_NO_DEADLINE), 1);
	assert_int_equal(ops[1].err, EPIPE);

	/* Misuse. */
	assert_int_equal(cn_chan_choose(NULL, 1, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cn_chan_choose(ops, 0, 0), -1);
	assert_int_equal(cn_chan_choose(ops, CN_CHAN_CHOOSE_MAX + 1, 0), -1);
	ops[0].op = 9;
	assert_int_equal(cn_chan_choose(ops, 1, 0), -1);
	assert_int_equal(errno, EINVAL);
	ops[0] = (cn_chan_op){chs[0], CN_CHAN_SEND, NULL, 0};
	assert_int_equal(cn_chan_choose(ops, 1, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cn_chan_destroy(chs[0]), 0);
	assert_int_equal(cn_chan_destroy(chs[1]), 0);
}

static void test_choose(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);

	assert_int_equal(cn_spawn(rt, choose_main, NULL, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	cn_runtime_destroy(rt);
}

/* Many choosers on one runtime, senders on another: every element is
 * received exactly once, whichever channel it went through. */
#define SN 4 /* senders per channel */

struct stress {
	cn_chan *ch[2];
	int per; /* elements per sender */
	atomic_int seen[2 * SN * 400];
	atomic_int received, senders_left;
};

static void stress_sender(void *arg)
{
	struct stress *s = arg;
	static atomic_int ids;
	int id = atomic_fetch_add(&ids, 1) % (2 * SN);

	for (int i = 0; i < s->per; i++) {
		int v = id * s->per + i;

		assert_int_equal(cn_chan_send(s->ch[id % 2], &v, in_ms(20000)), 0);
	}
	if (atomic_fetch_sub(&s->senders_left, 1) == 1) {
		cn_chan_close(s->ch[0]);
		cn_chan_close(s->ch[1]);
	}
}

static void stress_chooser(void *arg)
{
	struct stress *s = arg;
	cn_chan *open[2] = {s->ch[0], s->ch[1]};
	int nopen = 2;

	while (nopen) {
		int v = -1;
		cn_chan_op ops[2];
		int r;

		for (int i = 0; i < nopen; i++)
			ops[i] = (cn_chan_op){open[i], CN_CHAN_RECV, &v, 0};
		r = cn_chan_choose(ops, nopen, in_ms(20000));
		assert_true(r >= 0);
		if (ops[r].err == EPIPE) {
			/* Closed and drained: choose over the other one. */
			open[r] = open[--nopen];
			continue;
		}
		assert_true(v >= 0 && v < 2 * SN * s->per);
		atomic_fetch_add(&s->seen[v], 1);
		atomic_fetch_add(&s->received, 1);
	}
}

static void test_choose_stress_threads(void **state)
{
	cn_runtime *a = cn_test_runtime_for(state), *b = cn_test_runtime_for(state);
	struct stress *s = calloc(1, sizeof(*s));

	s->per = cn_test_scaled(400, 8);
	s->ch[0] = cn_chan_create(sizeof(int), 0);
	s->ch[1] = cn_chan_create(sizeof(int), 3);
	atomic_store(&s->senders_left, 2 * SN);
	for (int i = 0; i < 2 * SN; i++)
		assert_int_equal(cn_spawn(b, stress_sender, s, NULL), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(cn_spawn(a, stress_chooser, s, NULL), 0);
	cn_test_run_two(a, b);
	assert_int_equal(atomic_load(&s->received), 2 * SN * s->per);
	for (int i = 0; i < 2 * SN * s->per; i++)
		assert_int_equal(atomic_load(&s->seen[i]), 1);
	assert_int_equal(cn_chan_destroy(s->ch[0]), 0);
	assert_int_equal(cn_chan_destroy(s->ch[1]), 0);
	free(s);
	cn_runtime_destroy(a);
	cn_runtime_destroy(b);
}

/* --- deadlines racing peers on another thread ----------------------------
 * Both sides of one channel use deadlines of a few tens of microseconds
 * and retry on ETIMEDOUT, so waits keep giving up just as a peer on the
 * other runtime claims them: a give-up that lost to a claim must report
 * the claim's outcome (a timed-out send that was delivered would be sent
 * again and seen twice; a timed-out receive that was served would lose
 * the element). Every element must arrive exactly once. */

#define RN 3

struct race {
	cn_chan *ch;
	int per;
	atomic_int next_id, senders_left, received, timeouts;
	atomic_int *seen;
};

static int64_t soon(void)
{
	return cn_now() + (int64_t)(rand() % 20000);
}

static void race_sender(void *arg)
{
	struct race *r = arg;
	int id = atomic_fetch_add(&r->next_id, 1);

	for (int i = 0; i < r->per; i++) {
		int v = id * r->per + i;

		while (cn_chan_send(r->ch, &v, soon()) < 0) {
			assert_int_equal(errno, ETIMEDOUT);
			atomic_fetch_add(&r->timeouts, 1);
		}
	}
	if (atomic_fetch_sub(&r->senders_left, 1) == 1)
		assert_int_equal(cn_chan_close(r->ch), 0);
}

static void race_receiver(void *arg)
{
	struct race *r = arg;

	for (;;) {
		int v = -1;

		if (cn_chan_recv(r->ch, &v, soon()) < 0) {
			if (errno == EPIPE)
				return;
			assert_int_equal(errno, ETIMEDOUT);
			atomic_fetch_add(&r->timeouts, 1);
			continue;
		}
		assert_true(v >= 0 && v < RN * r->per);
		atomic_fetch_add(&r->seen[v], 1);
		atomic_fetch_add(&r->received, 1);
	}
}

static void test_deadline_race_threads(void **state)
{
	for (size_t cap = 0; cap < 2; cap++) {
		cn_runtime *a = cn_test_runtime_for(state), *b = cn_test_runtime_for(state);
		struct race r = {.per = cn_test_scaled(2000, 20)};

		r.ch = cn_chan_create(sizeof(int), cap);
		r.seen = calloc((size_t)(RN * r.per), sizeof(*r.seen));
		assert_non_null(r.seen);
		atomic_store(&r.senders_left, RN);
		for (int i = 0; i < RN; i++) {
			assert_int_equal(cn_spawn(b, race_sender, &r, NULL), 0);
			assert_int_equal(cn_spawn(a, race_receiver, &r, NULL), 0);
		}
		cn_test_run_two(a, b);
		assert_int_equal(atomic_load(&r.received), RN * r.per);
		for (int i = 0; i < RN * r.per; i++)
			assert_int_equal(atomic_load(&r.seen[i]), 1);
		assert_int_equal(cn_chan_destroy(r.ch), 0);
		free(r.seen);
		cn_runtime_destroy(a);
		cn_runtime_destroy(b);
	}
}

static void test_misuse(void **state)
{
	cn_chan *ch;
	int v = 0;

	(void)state;
	assert_null(cn_chan_create(0, 1));
	assert_int_equal(errno, EINVAL);
	assert_null(cn_chan_create(CN_CHAN_ELEM_MAX + 1, 1));
	assert_null(cn_chan_create(4, CN_CHAN_CAP_MAX + 1));
	assert_int_equal(errno, EINVAL);
	ch = cn_chan_create(sizeof(int), 1);
	assert_non_null(ch);
	assert_int_equal(cn_chan_send(ch, &v, 0), -1); /* not a coroutine */
	assert_int_equal(errno, EPERM);
	assert_int_equal(cn_chan_recv(ch, &v, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(cn_chan_send(NULL, &v, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cn_chan_close(NULL), -1);
	assert_int_equal(cn_chan_destroy(NULL), -1);
	assert_int_equal(cn_chan_len(NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cn_chan_destroy(ch), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CN_TEST_BOTH(test_pingpong),
		CN_TEST_BOTH(test_order_fifo_deadline),
		CN_TEST_BOTH(test_close_wakes_all),
		CN_TEST_BOTH(test_choose),
		CN_TEST_BOTH(test_choose_stress_threads),
		CN_TEST_BOTH(test_deadline_race_threads),
		cmocka_unit_test(test_misuse),
	};

	cn_test_watchdog(300);
	return CN_TEST_RUN(tests, NULL, NULL);
}
