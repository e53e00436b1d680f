/*
 * src/promise_internal.h — how a promise is settled, and what a promise
 * needs from whoever parks its waiter.
 *
 * A promise's waiter is a coroutine; what parks and wakes it is a scheduler,
 * which this layer does not know. So the coroutine's owner data
 * (cn__coro_user()) is a cn__waiter: a small table of the three things
 * promise.c asks of the waiter's scheduler. That keeps promise.c below the
 * scheduler (it calls nothing there by name), and lets every kind of waiter
 * (a runtime task today) be woken the same way.
 *
 * Threads: see each function.
 */
#ifndef CORONET_PROMISE_INTERNAL_H
#define CORONET_PROMISE_INTERNAL_H

#include "coronet/promise.h"

typedef struct cn__waiter cn__waiter;

typedef struct cn__waiter_ops {
	/* Whether the calling thread may settle promises w waits on and park
	 * w (w's scheduler runs on it). */
	int (*here)(const cn__waiter *w);
	/* p, which w waits on, was settled: make w runnable. */
	void (*wake)(cn__waiter *w, cn_promise *p);
	/* Parks w, the calling coroutine, until p is settled; p->waiter is
	 * set. 0 when woken by the settle, else the errno value that ended
	 * the wait early (ECANCELED: the runtime stops). */
	int (*wait)(cn__waiter *w, cn_promise *p);
} cn__waiter_ops;

struct cn__waiter {
	const cn__waiter_ops *ops;
};

/* Records p's outcome: the one place where "fulfilled" is written. Whoever
 * owns p at that moment (the netpoll thread for an I/O promise it took out
 * of a wait word; the scheduler thread otherwise). Wakes nobody. */
static inline void cn__promise_record(cn_promise *p, ssize_t result, int err)
{
	p->result = err ? -1 : result;
	p->err = err;
	p->state = CN_PROMISE_FULFILLED;
}

/* Records p's outcome and wakes its waiter, if any. The waiter's scheduler
 * thread only (or any thread while p has no waiter). */
void cn__promise_settle(cn_promise *p, ssize_t result, int err);

/* The calling coroutine's waiter, if it runs on its own scheduler's thread;
 * NULL with EPERM otherwise (no coroutine, a plain coroutine, another
 * thread). */
cn__waiter *cn__waiter_current(void);

#endif
