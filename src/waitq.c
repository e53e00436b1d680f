/*
 * src/waitq.c — waking and waiting on a waiter FIFO (waitq.h).
 *
 * Threads: see waitq.h.
 */
#include <errno.h>

#include "park.h"
#include "promise_internal.h"
#include "waitq.h"

int cn__waitq_wake_one(cn__waitq *q, int err)
{
	cn__wnode *n = q->head;

	if (!n)
		return 0;
	cn__waitq_remove(q, n);
	cn__hand_locked(&n->p, 0, err);
	return 1;
}

void cn__waitq_wake_all(cn__waitq *q, int err)
{
	while (cn__waitq_wake_one(q, err))
		;
}

int cn__waitq_destroy(cn__lock *lock, const cn__waitq *q)
{
	int busy;

	cn__lock_take(lock);
	busy = q->head != NULL;
	cn__lock_give(lock);
	if (busy) {
		errno = EBUSY;
		return -1;
	}
	return 0;
}

void cn__waitq_enqueue(cn__waitq *q, cn__wnode *n)
{
	cn__promise_arm(&n->p);
	cn__waitq_push(q, n);
}

int cn__waitq_wait(cn__waitq *q, cn__wnode *n, cn__lock *lock, int64_t deadline, int flags)
{
	cn__waitq_enqueue(q, n);
	cn__lock_give(lock);
	return cn__waitq_await(q, n, lock, deadline, flags);
}

int cn__waitq_await(cn__waitq *q, cn__wnode *n, cn__lock *lock, int64_t deadline, int flags)
{
	int err = cn__park_locked(&n->p, deadline, flags | CN__AWAIT_FOR(CN__WHAT_LOCK));

	if (!err)
		return n->p.err; /* handed over: the waker unlinked n */
	cn__lock_take(lock);
	if (n->queued) {
		cn__waitq_remove(q, n); /* gave up before any waker chose it */
		cn__lock_give(lock);
		return err;
	}
	cn__lock_give(lock);
	/* A waker chose n: its outcome stands, even though our wait gave up
	 * meanwhile; from another thread its hand-over may still be on the
	 * way through our inbox. */
	cn__promise_settled(&n->p);
	return n->p.err;
}
