/*
 * src/waitq.h — a FIFO of coroutines waiting for a lock, a condition, a
 * count: what the coroutine-aware sync primitives (mutex.c, wgsem.c)
 * share.
 *
 * A waiter's node lives in its frame: a promise, the list links, whether
 * it is still queued. Everything happens under the primitive's short lock
 * (lock.h; coroutines of different runtimes may share a primitive): the
 * waker unlinks the node and hands its promise the outcome (0, or an
 * errno value such as EPIPE) before it unlocks; a waiter whose park ended
 * early (deadline, cancel, stop) retakes the lock and finds its node
 * either still queued (it unlinks it: it gave up) or not (a waker chose
 * it first: the waker's outcome stands). This is promise_internal.h's
 * "waits ordered by a lock": no read-modify-write beyond the lock's own.
 *
 * Threads: any, with the primitive's lock held, except the waits (a
 * runtime coroutine that checked cn__waiter_current()).
 */
#ifndef CORONET_WAITQ_H
#define CORONET_WAITQ_H

#include <stdint.h>

#include "coronet/promise.h"
#include "coronet/sync.h" /* cn__waitq: the public structs embed it */
#include "lock.h"

typedef struct cn__wnode {
	cn_promise p;
	struct cn__wnode *prev, *next;
	int queued;
} cn__wnode;

static inline void cn__waitq_push(cn__waitq *q, cn__wnode *n)
{
	n->next = NULL;
	n->prev = q->tail;
	if (q->tail)
		q->tail->next = n;
	else
		q->head = n;
	q->tail = n;
	n->queued = 1;
}

static inline void cn__waitq_remove(cn__waitq *q, cn__wnode *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		q->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		q->tail = n->prev;
	n->queued = 0;
}

/* Unlinks the oldest waiter and hands it err; returns whether there was
 * one. */
int cn__waitq_wake_one(cn__waitq *q, int err);

/* Wakes every waiter with err. */
void cn__waitq_wake_all(cn__waitq *q, int err);

/* A primitive's destroy: 0 unless a waiter is queued on q (-1, EBUSY). */
int cn__waitq_destroy(cn__lock *lock, const cn__waitq *q);

/*
 * Queues n at q's tail (lock held), releases lock, parks until a waker
 * chooses n or the wait ends (deadline, cancel, stop, unless flags has
 * CN__AWAIT_NOCANCEL), and returns with lock released: 0 or the errno
 * value a waker gave (the waker chose n), or ETIMEDOUT / ECANCELED (n
 * gave up and is unlinked).
 */
int cn__waitq_wait(cn__waitq *q, cn__wnode *n, cn__lock *lock, int64_t deadline, int flags);

/* The same in two halves, for a caller that must do something between
 * queueing and parking (cond releases the mutex): enqueue with lock held
 * (it stays held), then await with it released (it stays released). */
void cn__waitq_enqueue(cn__waitq *q, cn__wnode *n);
int cn__waitq_await(cn__waitq *q, cn__wnode *n, cn__lock *lock, int64_t deadline, int flags);

#endif
