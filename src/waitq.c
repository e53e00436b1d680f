/*
 * src/waitq.c — waking and waiting on a waiter FIFO (waitq.h).
 *
 * Threads: see waitq.h.
 */
#include <errno.h>

#include "promise_internal.h"
#include "waitq.h"

int cn__waitq_wake_one(cn__waitq *q, int err)
{
	cn__wnode *n = q->head;

	if (!n)
		return 0;
	cn__waitq_remove(q, n);
	cn_promise_fulfil(&n->p, 0, err);
	return 1;
}

void cn__waitq_wake_all(cn__waitq *q, int err)
{
	while (cn__waitq_wake_one(q, err))
		;
}

int cn__waitq_destroy(pthread_mutex_t *lock, const cn__waitq *q)
{
	int busy;

	pthread_mutex_lock(lock);
	busy = q->head != NULL;
	pthread_mutex_unlock(lock);
	if (busy) {
		errno = EBUSY;
		return -1;
	}
	pthread_mutex_destroy(lock);
	return 0;
}

void cn__waitq_enqueue(cn__waitq *q, cn__wnode *n)
{
	cn_promise_init(&n->p);
	cn__waitq_push(q, n);
}

int cn__waitq_wait(cn__waitq *q, cn__wnode *n, pthread_mutex_t *lock, int64_t deadline, int flags)
{
	cn__waitq_enqueue(q, n);
	pthread_mutex_unlock(lock);
	return cn__waitq_await(q, n, lock, deadline, flags);
}

int cn__waitq_await(cn__waitq *q, cn__wnode *n, pthread_mutex_t *lock, int64_t deadline,
                    int flags)
{
	int err = cn__promise_await(&n->p, deadline, flags | CN__AWAIT_FOR(CN__WHAT_LOCK)) < 0
	                  ? errno
	                  : 0;

	pthread_mutex_lock(lock);
	if (n->queued) {
		cn__waitq_remove(q, n); /* gave up before any waker chose it */
		return err ? err : EIO;
	}
	/* A waker chose n: its outcome stands, even if our wait gave up
	 * meanwhile (the fulfil finished under the lock we now hold). */
	return n->p.err;
}
