/*
 * src/promise.c — promises: init, heap promises and their references,
 * fulfil from any thread, await with a deadline, and the one settle that
 * runtime-made promises go through (promise_internal.h).
 *
 * A promise has at most one waiter (EBUSY for a second one): one link is
 * all a scheduler needs to make it runnable again, with no allocation per
 * wait. A fulfil records the outcome and asks the waiter's scheduler,
 * through the waiter's ops, to deliver it; the waiter runs after the
 * fulfiller next yields (same runtime) or when its scheduler next drains
 * its inbox (another thread), so fulfil never switches stacks under its
 * caller. The state word's protocol is described in promise_internal.h.
 *
 * Threads: cn_promise_fulfil(), cn_promise_new/ref/unref and state_of: any
 * thread; await: a runtime coroutine; cn__promise_settle(): the waiter's
 * scheduler thread (runtime-made promises only). The netpoll thread records
 * I/O outcomes with cn__promise_record() and hands the promises over its
 * completion ring.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

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
	p->link = NULL;
	p->refs = 0;
	p->heap = 0;
	return 0;
}

cn_promise *cn_promise_new(void)
{
	cn_promise *p = malloc(sizeof(*p));

	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	cn_promise_init(p);
	p->heap = 1;
	p->refs = 1;
	return p;
}

cn_promise *cn_promise_ref(cn_promise *p)
{
	if (!p || !p->heap) {
		errno = EINVAL;
		return NULL;
	}
	__atomic_fetch_add(&p->refs, 1, __ATOMIC_RELAXED);
	return p;
}

void cn_promise_unref(cn_promise *p)
{
	/* acq_rel: whoever frees sees every write the other holders made. */
	if (p && p->heap && __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(p);
}

static cn__waiter *waiter_of(const cn_promise *p)
{
	cn_coro *co = __atomic_load_n(&p->waiter, __ATOMIC_ACQUIRE);

	return co ? cn__coro_user(co) : NULL;
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
	int prev;

	if (!p || err < 0) {
		errno = EINVAL;
		return -1;
	}
	prev = __atomic_fetch_or(&p->state, CN__P_CLAIMED, __ATOMIC_ACQUIRE);
	if (prev & (CN__P_CLAIMED | CN__P_FULFILLED)) {
		errno = EALREADY;
		return -1;
	}
	p->result = err ? -1 : result;
	p->err = err;
	/* Publishes the outcome; acquire: a waiter that set its bit first is
	 * seen with its p->waiter. */
	prev = __atomic_fetch_or(&p->state, CN__P_FULFILLED, __ATOMIC_ACQ_REL);
	if (prev & CN__P_WAITER) {
		cn__waiter *w = waiter_of(p);

		w->ops->wake(w, p);
	}
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

ssize_t cn_promise_await_until(cn_promise *p, int64_t deadline)
{
	return cn__promise_await(p, deadline, 0);
}

ssize_t cn__promise_await(cn_promise *p, int64_t deadline, int flags)
{
	cn_coro *co, *none = NULL;
	cn__waiter *w;
	int prev, err;

	if (!p) {
		errno = EINVAL;
		return -1;
	}
	w = cn__waiter_current();
	if (!w)
		return -1;
	if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) & CN__P_FULFILLED)
		return outcome(p);
	co = cn_coro_current();
	if (!__atomic_compare_exchange_n(&p->waiter, &none, co, 0, __ATOMIC_RELEASE,
	                                 __ATOMIC_RELAXED)) {
		errno = EBUSY;
		return -1;
	}
	prev = __atomic_fetch_or(&p->state, CN__P_WAITER, __ATOMIC_ACQ_REL);
	if (prev & CN__P_FULFILLED) {
		/* The fulfil finished before we announced ourselves: it wakes
		 * nobody, the outcome is there. */
		__atomic_fetch_and(&p->state, ~CN__P_WAITER, __ATOMIC_RELAXED);
		err = 0;
	} else {
		err = w->ops->wait(w, p, deadline, flags);
	}
	__atomic_store_n(&p->waiter, NULL, __ATOMIC_RELEASE);
	if (err) {
		errno = err;
		return -1;
	}
	return outcome(p);
}

void cn__promise_arm(cn_promise *p)
{
	cn_promise_init(p);
	p->waiter = cn_coro_current();
	/* Relaxed: every waker reads this under the lock the caller holds. */
	__atomic_store_n(&p->state, CN__P_WAITER, __ATOMIC_RELAXED);
}

void cn__promise_hand(cn_promise *p, ssize_t result, int err)
{
	cn__waiter *w = cn__coro_user(p->waiter);

	p->result = err ? -1 : result;
	p->err = err;
	/* Release: an inbox hand-over publishes the outcome with it. */
	__atomic_store_n(&p->state, CN__P_WAITER | CN__P_CLAIMED | CN__P_FULFILLED,
	                 __ATOMIC_RELEASE);
	w->ops->wake(w, p);
}

void cn__promise_settled(cn_promise *p)
{
	cn__waiter *w = cn__coro_user(p->waiter);

	while (!(__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) & CN__P_DELIVERED))
		w->ops->wait(w, p, -1 /* CN_NO_DEADLINE */, CN__AWAIT_NOCANCEL | CN__AWAIT_LOCKED);
}

ssize_t cn_promise_await(cn_promise *p)
{
	return cn_promise_await_until(p, -1);
}

int cn_promise_state_of(const cn_promise *p)
{
	if (!p) {
		errno = EINVAL;
		return -1;
	}
	return __atomic_load_n(&p->state, __ATOMIC_ACQUIRE) & CN__P_FULFILLED;
}
