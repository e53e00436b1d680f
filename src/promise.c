/*
 * src/promise.c — user-visible promises: init, fulfil, await.
 *
 * A promise has at most one waiter (EBUSY for a second one): the waiter is
 * a parked task, and one link is all the scheduler needs to make it
 * runnable again, with no allocation per wait. Fulfil records the outcome
 * and pushes the waiter on the run queue; it runs after the fulfiller next
 * yields, so fulfil never switches stacks under its caller.
 *
 * Threads: scheduler thread only (see promise.h). The netpoll thread never
 * calls these: it marks I/O promises fulfilled and hands them over through
 * the completion ring (netpoll_thread.c).
 */
#include <errno.h>
#include <stddef.h>

#include "coro_internal.h"
#include "sched.h"

int cn_promise_init(cn_promise *p)
{
	if (!p) {
		errno = EINVAL;
		return -1;
	}
	p->state = CN_PROMISE_PENDING;
	p->err = 0;
	p->result = 0;
	p->waiter = NULL;
	p->next = NULL;
	p->priv = NULL;
	return 0;
}

int cn_promise_fulfil(cn_promise *p, ssize_t result, int err)
{
	cn_runtime *rt = cn__sched_runtime();

	if (!p || err < 0) {
		errno = EINVAL;
		return -1;
	}
	if (p->state == CN_PROMISE_FULFILLED) {
		errno = EALREADY;
		return -1;
	}
	if (p->waiter) {
		cn__task *t = cn__coro_user(p->waiter);

		/* Only the waiter's scheduler thread may touch its run queue. */
		if (!t || !rt || t->rt != rt) {
			errno = EPERM;
			return -1;
		}
		cn__promise_complete(rt, p, result, err);
		return 0;
	}
	p->result = err ? -1 : result;
	p->err = err;
	p->state = CN_PROMISE_FULFILLED;
	return 0;
}

static ssize_t outcome(const cn_promise *p)
{
	if (p->err) {
		errno = p->err;
		return -1;
	}
	return p->result;
}

ssize_t cn_promise_await(cn_promise *p)
{
	cn__task *t;

	if (!p) {
		errno = EINVAL;
		return -1;
	}
	t = cn__task_current();
	if (!t)
		return -1;
	if (p->state == CN_PROMISE_FULFILLED)
		return outcome(p);
	if (p->waiter) {
		errno = EBUSY;
		return -1;
	}
	if (atomic_load(&t->rt->stopping)) {
		errno = ECANCELED;
		return -1;
	}
	p->waiter = t->co;
	t->waiting = p;
	cn__task_wait(t, p);
	if (t->cancelled) {
		t->cancelled = 0;
		errno = ECANCELED;
		return -1;
	}
	return outcome(p);
}

int cn_promise_state_of(const cn_promise *p)
{
	if (!p) {
		errno = EINVAL;
		return -1;
	}
	return p->state;
}
