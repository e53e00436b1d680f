/*
 * tests/test_task.c — task handles and groups (coronet/task.h): join with
 * results and deadlines, detach, cancel of every kind of wait (sleep, fd,
 * promise, join, yield, a cn_blocking job), cancel from another thread and
 * of a task not started yet, misuse, and groups: wait, cancel, destroy
 * reaping its members, members on another runtime. Both netpoll modes;
 * make check runs it under ASan, TSan and Valgrind (a cancelled task must
 * leak nothing).
 *
 * Threads: the test thread runs the runtime; the cross-thread cases start
 * a second thread that runs a second runtime or cancels.
 */
#include <errno.h>
#include <pthread.h>
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

static int64_t in_ms(int64_t ms)
{
	return cn_now() + ms * MS;
}

/* --- join: results, deadlines, order ---------------------------------- */

static void *ret_arg(void *arg)
{
	return arg;
}

static void *sleep_then_ret(void *arg)
{
	cn_sleep(20 * MS);
	return arg;
}

struct joins {
	cn_runtime *rt;
	int ok;
};

static void joiner(void *arg)
{
	struct joins *j = arg;
	void *r = NULL;
	cn_task *fast = cn_task_spawn(j->rt, ret_arg, (void *)0x1234, NULL);
	cn_task *slow = cn_task_spawn(j->rt, sleep_then_ret, (void *)0x5678, NULL);

	assert_non_null(fast);
	assert_non_null(slow);
	/* A short deadline passes; the handle stays ours. */
	assert_int_equal(cn_task_join(slow, &r, in_ms(2)), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(cn_task_join(fast, &r, CN_NO_DEADLINE), 0);
	assert_ptr_equal(r, (void *)0x1234);
	assert_int_equal(cn_task_join(slow, &r, in_ms(5000)), 0);
	assert_ptr_equal(r, (void *)0x5678);
	/* Joining one that has finished already returns at once. */
	fast = cn_task_spawn(j->rt, ret_arg, NULL, NULL);
	cn_sleep(MS);
	r = (void *)1;
	assert_int_equal(cn_task_join(fast, &r, in_ms(0)), 0);
	assert_null(r);
	j->ok = 1;
}

static void test_join(void **state)
{
	struct joins j = {cn_test_runtime_for(state), 0};

	assert_int_equal(cn_spawn(j.rt, joiner, &j, NULL), 0);
	assert_int_equal(cn_runtime_run(j.rt), 0);
	assert_true(j.ok);
	cn_runtime_destroy(j.rt);
}

/* --- misuse ------------------------------------------------------------ */

static cn_task *self_h;

static void *join_self(void *arg)
{
	int *ok = arg;

	while (!self_h)
		cn_yield_now();
	*ok = cn_task_join(self_h, NULL, CN_NO_DEADLINE) == -1 && errno == EDEADLK;
	return NULL;
}

struct busy {
	cn_task *h;
	int n_busy;
};

static void *wait_long(void *arg)
{
	(void)arg;
	cn_sleep(30 * MS);
	return NULL;
}

static void second_joiner(void *arg)
{
	struct busy *b = arg;

	if (cn_task_join(b->h, NULL, CN_NO_DEADLINE) == -1 && errno == EBUSY)
		b->n_busy++;
	/* ...and detach while a join waits is refused too. */
	if (cn_task_detach(b->h) == -1 && errno == EBUSY)
		b->n_busy++;
}

static void misuser(void *arg)
{
	cn_runtime *rt = arg;
	struct busy b = {0};
	int ok = 0;

	assert_null(cn_task_spawn(NULL, ret_arg, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	assert_null(cn_task_spawn(rt, NULL, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cn_task_join(NULL, NULL, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cn_task_detach(NULL), -1);
	assert_int_equal(cn_task_cancel(NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cn_task_cancelled(), 0);

	self_h = cn_task_spawn(rt, join_self, &ok, NULL);
	assert_non_null(self_h);
	/* Wait for it through a second handle-less look: it returns fast. */
	while (!ok)
		cn_sleep(MS);
	assert_int_equal(cn_task_join(self_h, NULL, CN_NO_DEADLINE), 0);
	self_h = NULL;

	b.h = cn_task_spawn(rt, wait_long, NULL, NULL);
	assert_int_equal(cn_spawn(rt, second_joiner, &b, NULL), 0);
	assert_int_equal(cn_task_join(b.h, NULL, CN_NO_DEADLINE), 0);
	assert_int_equal(b.n_busy, 2);
}

static void test_misuse(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	cn_task *h;

	/* Outside a coroutine: join is refused, the rest works. */
	h = cn_task_spawn(rt, ret_arg, NULL, NULL);
	assert_non_null(h);
	assert_int_equal(cn_task_join(h, NULL, CN_NO_DEADLINE), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(cn_task_cancelled(), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(cn_task_detach(h), 0);
	assert_int_equal(cn_spawn(rt, misuser, rt, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	cn_runtime_destroy(rt);
}

/* --- cancel: every kind of wait ---------------------------------------- */

enum { W_SLEEP, W_READ, W_PROMISE, W_JOIN, W_YIELD, W_BLOCKING, W_COMPUTE, W_KINDS };

struct victim {
	int kind;
	int fd;          /* W_READ: a socket nobody writes to */
	cn_promise *p;   /* W_PROMISE: never fulfilled */
	cn_task *other;  /* W_JOIN: a task that sleeps long */
	atomic_int started;
	int err;         /* errno its wait failed with */
	int later;       /* errno of a second wait after the first failed */
	int asked;       /* cn_task_cancelled() at the end */
};

static ssize_t slow_job(void *arg)
{
	struct timespec ts = {0, 30 * MS};

	(void)arg;
	nanosleep(&ts, NULL);
	return 7;
}

static void *victim_fn(void *arg)
{
	struct victim *v = arg;
	char c;
	int r = 0;

	atomic_store(&v->started, 1);
	switch (v->kind) {
	case W_SLEEP:
		r = cn_sleep(10 * CN_TEST_SEC);
		break;
	case W_READ:
		r = (int)cn_read(v->fd, &c, 1, CN_NO_DEADLINE);
		break;
	case W_PROMISE:
		r = (int)cn_promise_await(v->p);
		break;
	case W_JOIN:
		r = cn_task_join(v->other, NULL, CN_NO_DEADLINE);
		break;
	case W_YIELD:
		while ((r = cn_yield_now()) == 0)
			;
		break;
	case W_BLOCKING:
		r = (int)cn_blocking(slow_job, NULL);
		break;
	case W_COMPUTE:
		while (!cn_task_cancelled())
			(void)cn_yield_now();
		r = cn_sleep(0); /* reports it too */
		break;
	}
	v->err = r < 0 ? errno : 0;
	v->later = cn_sleep(MS) < 0 ? errno : 0;
	v->asked = cn_task_cancelled();
	return (void *)(intptr_t)r;
}

struct cancels {
	cn_runtime *rt;
	int fds[2];
	int done;
};

static void *sleep_long(void *arg)
{
	(void)arg;
	cn_sleep(10 * CN_TEST_SEC);
	return NULL;
}

static void canceller(void *arg)
{
	struct cancels *c = arg;

	for (int k = 0; k < W_KINDS; k++) {
		struct victim v = {.kind = k, .fd = c->fds[0]};
		cn_promise p;
		cn_task *h;
		void *r = NULL;

		cn_promise_init(&p);
		v.p = &p;
		if (k == W_JOIN)
			v.other = cn_task_spawn(c->rt, sleep_long, NULL, NULL);
		h = cn_task_spawn(c->rt, victim_fn, &v, NULL);
		assert_non_null(h);
		while (!atomic_load(&v.started))
			cn_yield_now();
		cn_sleep(2 * MS); /* it parks in its wait */
		assert_int_equal(cn_task_cancel(h), 0);
		assert_int_equal(cn_task_cancel(h), 0); /* twice is fine */
		assert_int_equal(cn_task_join(h, &r, in_ms(5000)), 0);
		if ((intptr_t)r != -1 || v.err != ECANCELED || v.later != ECANCELED || v.asked != 1)
			fail_msg("wait kind %d: returned %d, errno %d, later %d, asked %d", k,
			         (int)(intptr_t)r, v.err, v.later, v.asked);
		if (k == W_JOIN) {
			/* The join that was cancelled left the handle ours. */
			assert_int_equal(cn_task_cancel(v.other), 0);
			assert_int_equal(cn_task_join(v.other, NULL, in_ms(5000)), 0);
		}
		/* A cancel after the end is a no-op on a live handle. */
	}
	c->done = 1;
}

static void test_cancel_each_wait(void **state)
{
	struct cancels c = {.rt = cn_test_runtime_for(state)};

	assert_int_equal(cn_test_tcp_pair(c.fds), 0);
	assert_int_equal(cn_spawn(c.rt, canceller, &c, NULL), 0);
	assert_int_equal(cn_runtime_run(c.rt), 0);
	assert_true(c.done);
	cn_runtime_destroy(c.rt);
	close(c.fds[0]);
	close(c.fds[1]);
}

/* A task cancelled before it ran starts cancelled; one cancelled after it
 * finished is left as it was. */
static void *first_wait(void *arg)
{
	int *err = arg;

	*err = cn_sleep(MS) < 0 ? errno : 0;
	return NULL;
}

static void early_late(void *arg)
{
	cn_runtime *rt = arg;
	int err = -1;
	cn_task *h = cn_task_spawn(rt, first_wait, &err, NULL);

	assert_int_equal(cn_task_cancel(h), 0); /* not started yet */
	assert_int_equal(cn_task_join(h, NULL, CN_NO_DEADLINE), 0);
	assert_int_equal(err, ECANCELED);

	err = -1;
	h = cn_task_spawn(rt, first_wait, &err, NULL);
	cn_sleep(10 * MS);
	assert_int_equal(err, 0);
	assert_int_equal(cn_task_cancel(h), 0); /* finished */
	assert_int_equal(cn_task_join(h, NULL, CN_NO_DEADLINE), 0);
}

static void test_cancel_before_and_after(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);

	assert_int_equal(cn_spawn(rt, early_late, rt, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	cn_runtime_destroy(rt);
}

/* --- across threads ------------------------------------------------------ */

/* A thread cancels tasks of a running runtime, racing with their end:
 * some are cancelled while they sleep, some after they returned. */
#define XN 200

struct xcancel {
	cn_runtime *rt;
	cn_task *h[XN];
	atomic_int spawned, cancels_done;
	int cancelled, finished;
};

static void *short_or_long(void *arg)
{
	intptr_t i = (intptr_t)arg;

	return (void *)(intptr_t)(cn_sleep(i % 2 ? 10 * CN_TEST_SEC : (i % 7) * 100 * CN_TEST_US) < 0 &&
	                          errno == ECANCELED);
}

static void xspawner(void *arg)
{
	struct xcancel *x = arg;

	for (intptr_t i = 0; i < XN; i++)
		x->h[i] = cn_task_spawn(x->rt, short_or_long, (void *)i, NULL);
	atomic_store(&x->spawned, 1);
	/* The handles must outlive the cancels: join once they are made.
	 * Meanwhile the short sleepers end, racing with them. */
	while (!atomic_load(&x->cancels_done))
		cn_sleep(100 * CN_TEST_US);
	for (int i = 0; i < XN; i++) {
		void *r;

		assert_int_equal(cn_task_join(x->h[i], &r, in_ms(10000)), 0);
		if (r)
			x->cancelled++;
		else
			x->finished++;
	}
}

static void *xcancel_thread(void *arg)
{
	struct xcancel *x = arg;

	while (!atomic_load(&x->spawned))
		sched_yield();
	for (int i = 0; i < XN; i++)
		cn_task_cancel(x->h[i]);
	atomic_store(&x->cancels_done, 1);
	return NULL;
}

static void test_cancel_from_thread(void **state)
{
	struct xcancel x = {.rt = cn_test_runtime_for(state)};
	pthread_t th;

	assert_int_equal(cn_spawn(x.rt, xspawner, &x, NULL), 0);
	assert_int_equal(pthread_create(&th, NULL, xcancel_thread, &x), 0);
	assert_int_equal(cn_runtime_run(x.rt), 0);
	pthread_join(th, NULL);
	assert_int_equal(x.cancelled + x.finished, XN);
	/* Every long sleeper (odd i) can only have ended by the cancel. */
	assert_true(x.cancelled >= XN / 2);
	cn_runtime_destroy(x.rt);
}

/* A coroutine of one runtime joins tasks of another, run by a thread. */
struct xjoin {
	cn_runtime *a, *b;
	int sum;
	atomic_int done; /* a's run returned: b may end */
};

static void *add_one(void *arg)
{
	cn_sleep(MS);
	return (void *)((intptr_t)arg + 1);
}

static void *run_b(void *arg)
{
	struct xjoin *x = arg;

	cn_runtime_run(x->b);
	return NULL;
}

static void xjoiner(void *arg)
{
	struct xjoin *x = arg;
	cn_task *h[50];

	for (intptr_t i = 0; i < 50; i++)
		h[i] = cn_task_spawn(x->b, add_one, (void *)i, NULL);
	for (int i = 0; i < 50; i++) {
		void *r;

		assert_int_equal(cn_task_join(h[i], &r, in_ms(10000)), 0);
		x->sum += (int)(intptr_t)r;
	}
}

/* Keeps the other runtime running until *done (a fixed time is not
 * enough: on a loaded machine the spawns onto it outlasted 200 ms, and a
 * task spawned after its run ended is never run, so its join never ends). */
static void *keep_b_alive(void *arg)
{
	atomic_int *done = arg;
	int64_t give_up = in_ms(60000);

	while (!atomic_load(done) && cn_now() < give_up)
		cn_sleep(MS);
	return NULL;
}

/* Runs fn(arg) on x->a while a thread runs x->b, which a long task keeps
 * running meanwhile (it must outlive the spawns fn makes there). */
static void run_across(struct xjoin *x, void (*fn)(void *), void *arg)
{
	pthread_t th;

	assert_int_equal(cn_task_detach(cn_task_spawn(x->b, keep_b_alive, &x->done, NULL)), 0);
	assert_int_equal(pthread_create(&th, NULL, run_b, x), 0);
	assert_int_equal(cn_spawn(x->a, fn, arg, NULL), 0);
	assert_int_equal(cn_runtime_run(x->a), 0);
	atomic_store(&x->done, 1);
	pthread_join(th, NULL);
}

static void test_join_across_runtimes(void **state)
{
	struct xjoin x = {.a = cn_test_runtime_for(state), .b = cn_test_runtime_for(state)};

	run_across(&x, xjoiner, &x);
	assert_int_equal(x.sum, 50 * 51 / 2);
	cn_runtime_destroy(x.a);
	cn_runtime_destroy(x.b);
}

/* Joins with deadlines of 0-20 us race the ends of tasks on another
 * runtime: a join that gave up just as the end handed it the result must
 * still return that result (the handle is then freed: a second join of it
 * would be a use after free, which ASan reports), and one that gave up
 * first must leave the handle joinable. */
struct jrace {
	cn_runtime *b;
	int n;
	long sum, timeouts;
};

static void *spin_add(void *arg)
{
	int64_t until = cn_now() + rand() % 20000;

	while (cn_now() < until)
		;
	return (void *)((intptr_t)arg + 1);
}

static void jrace_joiner(void *arg)
{
	struct jrace *x = arg;

	for (intptr_t i = 0; i < x->n; i++) {
		cn_task *h = cn_task_spawn(x->b, spin_add, (void *)i, NULL);
		void *r = NULL;

		assert_non_null(h);
		while (cn_task_join(h, &r, cn_now() + rand() % 20000) < 0) {
			assert_int_equal(errno, ETIMEDOUT);
			x->timeouts++;
		}
		assert_int_equal((intptr_t)r, i + 1);
		x->sum += (long)(intptr_t)r;
	}
}

static void test_join_deadline_race(void **state)
{
	struct xjoin keep = {.a = cn_test_runtime_for(state), .b = cn_test_runtime_for(state)};
	struct jrace x = {keep.b, cn_test_scaled(2000, 20), 0, 0};

	run_across(&keep, jrace_joiner, &x);
	assert_int_equal(x.sum, (long)x.n * (x.n + 1) / 2);
	cn_runtime_destroy(keep.a);
	cn_runtime_destroy(keep.b);
}

/* A handle whose task is destroyed unrun is joined with ESRCH. */
static void unrun_joiner(void *arg)
{
	cn_task *h = arg;

	assert_int_equal(cn_task_join(h, NULL, in_ms(10000)), -1);
	assert_int_equal(errno, ESRCH);
}

static void *never_runs(void *arg)
{
	(void)arg;
	fail_msg("a task of a runtime that never ran ran");
	return NULL;
}

static void test_destroyed_unrun(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state), *other = cn_test_runtime_for(state);
	cn_task *h = cn_task_spawn(other, never_runs, NULL, NULL);
	cn_task *d = cn_task_spawn(other, never_runs, NULL, NULL);

	assert_non_null(h);
	assert_int_equal(cn_task_detach(d), 0);
	assert_int_equal(cn_runtime_destroy(other), 0);
	assert_int_equal(cn_spawn(rt, unrun_joiner, h, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	cn_runtime_destroy(rt);
}

/* Stop: tasks see ECANCELED, but are not "cancelled"; joins still work. */
static void *stop_victim(void *arg)
{
	int *asked = arg;

	cn_sleep(10 * CN_TEST_SEC);
	*asked = cn_task_cancelled();
	return (void *)0x77;
}

static void stop_joiner(void *arg)
{
	cn_runtime *rt = arg;
	int asked = -1;
	cn_task *h = cn_task_spawn(rt, stop_victim, &asked, NULL);
	void *r = NULL;

	cn_sleep(2 * MS);
	cn_runtime_stop(rt);
	/* Our own join fails: the runtime stops. */
	assert_int_equal(cn_task_join(h, &r, CN_NO_DEADLINE), -1);
	assert_int_equal(errno, ECANCELED);
	/* Spawning fails, as cn_spawn does. */
	assert_null(cn_task_spawn(rt, ret_arg, NULL, NULL));
	assert_int_equal(errno, ESHUTDOWN);
	/* The victim ended; the handle is still ours: detach it. */
	assert_int_equal(cn_task_detach(h), 0);
}

static void test_stop(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);

	assert_int_equal(cn_spawn(rt, stop_joiner, rt, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	cn_runtime_destroy(rt);
}

/* --- groups ---------------------------------------------------------------- */

struct grp {
	cn_runtime *rt, *other;
	atomic_int ran, cancelled;
	atomic_int done; /* rt's run returned: other may end */
	int ok;
};

static void *member(void *arg)
{
	struct grp *g = arg;

	atomic_fetch_add(&g->ran, 1);
	if (cn_sleep(10 * CN_TEST_SEC) < 0 && errno == ECANCELED)
		atomic_fetch_add(&g->cancelled, 1);
	return NULL;
}

static void *quick_member(void *arg)
{
	struct grp *g = arg;

	atomic_fetch_add(&g->ran, 1);
	cn_sleep(MS);
	return NULL;
}

static void group_owner(void *arg)
{
	struct grp *x = arg;
	cn_group *g = cn_group_create();

	assert_non_null(g);
	assert_int_equal(cn_group_wait(g, in_ms(0)), 0); /* empty */
	for (int i = 0; i < 20; i++)
		assert_int_equal(cn_group_spawn(g, x->rt, quick_member, x, NULL), 0);
	assert_int_equal(cn_group_size(g), 20);
	assert_int_equal(cn_group_wait(g, in_ms(10000)), 0);
	assert_int_equal(cn_group_size(g), 0);
	assert_int_equal(atomic_load(&x->ran), 20);

	/* Members here and on another runtime; a wait times out; cancel. */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(cn_group_spawn(g, x->rt, member, x, NULL), 0);
		assert_int_equal(cn_group_spawn(g, x->other, member, x, NULL), 0);
	}
	assert_int_equal(cn_group_wait(g, in_ms(5)), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(cn_group_cancel(g), 0);
	assert_int_equal(cn_group_wait(g, in_ms(10000)), 0);
	assert_int_equal(atomic_load(&x->cancelled), 20);
	assert_int_equal(cn_group_spawn(g, x->rt, member, x, NULL), -1);
	assert_int_equal(errno, ECANCELED);
	assert_int_equal(cn_group_destroy(g), 0);

	/* Destroy reaps members that are still waiting. */
	g = cn_group_create();
	for (int i = 0; i < 10; i++)
		assert_int_equal(cn_group_spawn(g, i % 2 ? x->other : x->rt, member, x, NULL), 0);
	cn_sleep(2 * MS);
	assert_int_equal(cn_group_destroy(g), 0);
	assert_int_equal(atomic_load(&x->cancelled), 30);
	x->ok = 1;
}

static void *run_other(void *arg)
{
	struct grp *x = arg;

	cn_runtime_run(x->other);
	return NULL;
}

static void test_group(void **state)
{
	struct grp x = {.rt = cn_test_runtime_for(state), .other = cn_test_runtime_for(state)};
	pthread_t th;

	assert_int_equal(cn_task_detach(cn_task_spawn(x.other, keep_b_alive, &x.done, NULL)), 0);
	assert_int_equal(pthread_create(&th, NULL, run_other, &x), 0);
	assert_int_equal(cn_spawn(x.rt, group_owner, &x, NULL), 0);
	assert_int_equal(cn_runtime_run(x.rt), 0);
	atomic_store(&x.done, 1);
	pthread_join(th, NULL);
	assert_true(x.ok);
	cn_runtime_destroy(x.rt);
	cn_runtime_destroy(x.other);
}

static void test_group_misuse(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	cn_group *g = cn_group_create();
	struct grp x = {.rt = rt};

	assert_int_equal(cn_group_spawn(NULL, rt, member, &x, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cn_group_spawn(g, rt, NULL, NULL, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cn_group_wait(NULL, 0), -1);
	assert_int_equal(cn_group_cancel(NULL), -1);
	assert_int_equal(cn_group_size(NULL), -1);
	assert_int_equal(cn_group_destroy(NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cn_group_wait(g, 0), -1);
	assert_int_equal(errno, EPERM);
	/* Members left, not a coroutine: refused, g stays valid (cancelled). */
	assert_int_equal(cn_group_spawn(g, rt, member, &x, NULL), 0);
	assert_int_equal(cn_group_destroy(g), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(cn_runtime_run(rt), 0); /* the member starts cancelled */
	assert_int_equal(atomic_load(&x.cancelled), 1);
	assert_int_equal(cn_group_size(g), 0);
	assert_int_equal(cn_group_destroy(g), 0);
	cn_runtime_destroy(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CN_TEST_BOTH(test_join),
		CN_TEST_BOTH(test_misuse),
		CN_TEST_BOTH(test_cancel_each_wait),
		CN_TEST_BOTH(test_cancel_before_and_after),
		CN_TEST_BOTH(test_cancel_from_thread),
		CN_TEST_BOTH(test_join_across_runtimes),
		CN_TEST_BOTH(test_join_deadline_race),
		CN_TEST_BOTH(test_destroyed_unrun),
		CN_TEST_BOTH(test_stop),
		CN_TEST_BOTH(test_group),
		CN_TEST_BOTH(test_group_misuse),
	};

	cn_test_watchdog(300);
	return CN_TEST_RUN(tests, NULL, NULL);
}
