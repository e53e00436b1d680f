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

#include <stdint.h>

#include "coronet/promise.h"
#include "coro_internal.h"

typedef struct cn__waiter cn__waiter;

typedef struct cn__waiter_ops {
	/* Whether the calling thread runs w's scheduler now (it may park w
	 * and touch its run queue). */
	int (*here)(const cn__waiter *w);
	/* p, which w waits on, was settled by the caller: deliver it (make w
	 * runnable, through w's scheduler's inbox when the caller is another
	 * thread). Any thread. */
	void (*wake)(cn__waiter *w, cn_promise *p);
	/* Parks w, the calling coroutine, until p is delivered (returns 0)
	 * or the wait must end first: the runtime stops (ECANCELED), the
	 * deadline passes (ETIMEDOUT; CN_NO_DEADLINE for none). It gives up
	 * only when no fulfil has committed to deliver (it clears
	 * CN__P_WAITER itself); a committed one is waited for. With
	 * CN__AWAIT_NOCANCEL a stop does not end the wait (the library's own
	 * waits for work that still uses the caller's memory). */
	int (*wait)(cn__waiter *w, cn_promise *p, int64_t deadline, int flags);
} cn__waiter_ops;

/* Bits of cn_promise.state beside CN_PROMISE_FULFILLED (bit 0), moved by
 * __atomic read-modify-writes. The protocol, state by state:
 *   claimed    a fulfil won the right to record the outcome (it writes
 *              result and err after setting this, and only it);
 *   fulfilled  the outcome is recorded (set by that fulfil's second RMW);
 *   waiter     a coroutine waits (set by the await after it CASed itself
 *              into p->waiter, cleared when it gives up);
 *   delivered  the waiter's scheduler took the wake-up (its own thread).
 * A fulfil whose "fulfilled" RMW finds "waiter" set has committed to
 * deliver: it wakes the waiter, and the waiter, even when cancelled, waits
 * for that delivery before it returns (its promise, its stack frame and its
 * task must outlive the push into its inbox). One whose RMW finds no
 * waiter leaves the outcome for a later await, which sees "fulfilled". */
#define CN__P_FULFILLED 0x01
#define CN__P_WAITER 0x10
#define CN__P_CLAIMED 0x20
#define CN__P_DELIVERED 0x40

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

/* cn_promise_await_until() with flags: CN__AWAIT_NOCANCEL, and what the
 * wait is for, as the runtime dump names it (CN__AWAIT_FOR(CN__WHAT_*);
 * none: a user's promise). */
#define CN__AWAIT_NOCANCEL 1
#define CN__AWAIT_FOR(what) ((what) << 8)
#define CN__AWAIT_WHAT(flags) ((flags) >> 8)
enum {
	CN__WHAT_RUNNABLE = 0,
	CN__WHAT_RUNNING,
	CN__WHAT_SLEEP,
	CN__WHAT_FD_READ,
	CN__WHAT_FD_WRITE,
	CN__WHAT_PROMISE,
	CN__WHAT_JOIN,
	CN__WHAT_CHAN,
	CN__WHAT_LOCK,
	CN__WHAT_BLOCKING,
};
ssize_t cn__promise_await(cn_promise *p, int64_t deadline, int flags);

/* For a waiter's ops->wait (sched.h's task_wait): return the error that
 * ends the wait (deadline, cancel, stop) without giving up on p: the
 * caller's lock decides (below). */
#define CN__AWAIT_LOCKED 2

/*
 * Waits ordered by a lock. The coroutine primitives (waitq.c, chan.c,
 * handle.c) keep their waiters on lists guarded by a cn__lock (lock.h),
 * and a waker takes a waiter off its list and hands it the outcome with
 * that lock held. The lock then orders what the protocol above orders
 * with read-modify-writes, so these waits make none:
 *   - the waiter arms its promise (cn__promise_arm) and links itself,
 *     lock held; releases the lock; parks (cn__promise_park);
 *   - a waker, lock held, unlinks it and calls cn__promise_hand: on the
 *     waiter's own scheduler thread that makes it runnable at once; from
 *     another thread it goes through that scheduler's inbox;
 *   - a park that ended early (deadline, cancel, stop) retakes the lock:
 *     still linked, the waiter gave up (it unlinks itself, and nobody will
 *     touch its frame); not linked, a waker chose it first, its outcome
 *     stands, and cn__promise_settled waits until the hand-over has
 *     arrived (an inbox entry may still name the promise).
 * Threads: arm, park and settled by the waiting coroutine on its own
 * scheduler thread (it checked with cn__waiter_current()); hand by any
 * thread, with the list's lock held.
 */
void cn__promise_arm(cn_promise *p);
void cn__promise_hand(cn_promise *p, ssize_t result, int err);
/* 0 once p was handed over and delivered, else the errno value that
 * ended the park early; flags as cn__promise_await's. Inline: one frame
 * less between the waiting call and the stack switch (chan.c's solo). */
static inline int cn__promise_park(cn_promise *p, int64_t deadline, int flags)
{
	cn__waiter *w = cn__coro_user(p->waiter);

	return w->ops->wait(w, p, deadline, flags | CN__AWAIT_LOCKED);
}
/* Waits, whatever happens (no deadline, no cancel), until the hand-over
 * of p has been delivered. */
void cn__promise_settled(cn_promise *p);

/* The calling coroutine's waiter, if it runs on its own scheduler's thread;
 * NULL with EPERM otherwise (no coroutine, a plain coroutine, another
 * thread). */
cn__waiter *cn__waiter_current(void);

#endif
