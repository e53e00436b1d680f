/*
 * src/promise.c — promises: init, fulfil, await, and the one settle that
 * every outcome goes through (promise_internal.h).
 *
 * A promise has at most one waiter (EBUSY for a second one): one link is
 * all a scheduler needs to make it runnable again, with no allocation per
 * wait. Settling records the outcome and asks the waiter's scheduler,
 * through the waiter's ops, to make it runnable; it runs after the settler
 * next yields, so fulfil never switches stacks under its caller.
 *
 * Threads: the waiter's scheduler thread only (see promise.h). The netpoll
 * thread never calls these: it records I/O outcomes with
 * cn__promise_record() and hands the promises over its completion ring.
 */
#include <errno.h>
#include <stddef.h>

#include "coro_internal.h"
#include "promise_internal.h"

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

static cn__waiter *waiter_of(const cn_promise *p)
{
	return p->waiter ? cn__coro_user(p->waiter) : NULL;
}

void cn__promise_settle(cn_promise *p, ssize_t result, int err)
{
	cn__waiter *w = waiter_of(p);

	cn__promise_record(p, result, err);
	if (w)
		w->ops->wake(w, p);
}

cn__waiter *cn__waiter_current(void)
{
	cn_coro *co = cn_coro_current();
	cn__waiter *w = co ? cn__coro_user(co) : NULL;

	/* A plain coroutine nested inside a runtime coroutine has no waiter:
	 * a yield from it would go to its resumer, not to a scheduler. */
	if (!w || !w->ops->here(w)) {
		errno = EPERM;
		return NULL;
	}
	return w;
}

int cn_promise_fulfil(cn_promise *p, ssize_t result, int err)
{
	cn__waiter *w;

	if (!p || err < 0) {
		errno = EINVAL;
		return -1;
	}
	if (p->state == CN_PROMISE_FULFILLED) {
		errno = EALREADY;
		return -1;
	}
	w = waiter_of(p);
	/* Only the waiter's scheduler thread may touch its run queue. */
	if (p->waiter && (!w || !w->ops->here(w))) {
		errno = EPERM;
		return -1;
	}
	cn__promise_settle(p, result, err);
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
	cn__waiter *w;
	int err;

	if (!p) {
		errno = EINVAL;
		return -1;
	}
	w = cn__waiter_current();
	if (!w)
		return -1;
	if (p->state == CN_PROMISE_FULFILLED)
		return outcome(p);
	if (p->waiter) {
		errno = EBUSY;
		return -1;
	}
	p->waiter = cn_coro_current();
	err = w->ops->wait(w, p);
	if (err) {
		errno = err;
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
