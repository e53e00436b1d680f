/*
 * src/blocking.c — cn_blocking() (coronet/blocking.h), and the pool
 * offload that coroutine I/O uses for regular files (cn__pool_call).
 *
 * The job lives on the calling coroutine's stack: the call returns only
 * when the job ran, or when it was withdrawn from the queue before a worker
 * took it, so the worker never touches a dead frame (promise.h's lifetime
 * rule, the first way). A stop lets a running job's result through; a
 * cancel (coronet/task.h) makes cn_blocking() drop it and fail, while a
 * regular file's read or write reports what it did.
 *
 * Threads: a runtime coroutine on its scheduler's thread.
 */
#include <errno.h>

#include "coronet/blocking.h"
#include "pool.h"
#include "sched.h"

typedef struct call_job {
	cn__job j;
	ssize_t (*fn)(void *);
	void *arg;
} call_job;

static void call_run(cn__job *j)
{
	call_job *c = (call_job *)j;
	ssize_t r;

	errno = 0;
	r = c->fn(c->arg);
	cn_promise_fulfil(&j->p, r, r < 0 ? (errno ? errno : EIO) : 0);
}

ssize_t cn__pool_call(cn__task *t, ssize_t (*fn)(void *), void *arg)
{
	call_job c;
	ssize_t r;

	c.j.run = call_run;
	c.j.done = NULL;
	/* Read by call_run() on the worker, through c.j: cppcheck does not
	 * follow the cast. */
	c.fn = fn;   // cppcheck-suppress unreadVariable
	c.arg = arg; // cppcheck-suppress unreadVariable
	cn_promise_init(&c.j.p);
	if (cn__pool_submit(t->s->pool, &c.j) < 0)
		return -1;
	t->s->pool_waits++;
	r = cn__promise_await(&c.j.p, CN_NO_DEADLINE, CN__AWAIT_FOR(CN__WHAT_BLOCKING));
	if (r < 0 && errno == ECANCELED && cn_promise_state_of(&c.j.p) == CN_PROMISE_PENDING) {
		/* The stop: a job no worker took yet never runs... */
		if (cn__pool_withdraw(t->s->pool, &c.j)) {
			t->s->pool_waits--;
			errno = ECANCELED;
			return -1;
		}
		/* ...one that runs is waited for: it may use our memory. */
		r = cn__promise_await(&c.j.p, CN_NO_DEADLINE,
		                      CN__AWAIT_NOCANCEL | CN__AWAIT_FOR(CN__WHAT_BLOCKING));
	}
	t->s->pool_waits--;
	return r;
}

ssize_t cn_blocking(ssize_t (*fn)(void *arg), void *arg)
{
	cn__task *t;
	ssize_t r;

	if (!fn) {
		errno = EINVAL;
		return -1;
	}
	t = cn__task_current();
	if (!t)
		return -1;
	r = cn__pool_call(t, fn, arg);
	if (t->cancel) {
		/* The worker is done with fn's memory; its late result is
		 * dropped, as task.h says. */
		errno = ECANCELED;
		return -1;
	}
	return r;
}
