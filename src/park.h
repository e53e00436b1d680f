/*
 * src/park.h — how a task parks on a promise: the body of its waiter ops'
 * wait (task.c), inline, so the primitives above the scheduler (chan.c,
 * waitq.c, handle.c) park with no call frame between their public call and
 * the stack switch.
 *
 * Why it matters: when a parked coroutine is resumed, the CPU's return
 * stack holds the scheduler's calls, so every frame between the user's
 * call and the switch costs a mispredicted return. Taking solo()'s and
 * cn__promise_park()'s frames out of a channel receive took a ping-pong
 * message from 79 to 60 ns on the EPYC; this takes out task_wait's.
 *
 * Threads: the task's own coroutine, on its scheduler's thread.
 */
#ifndef CORONET_PARK_H
#define CORONET_PARK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coro_internal.h"
#include "promise_internal.h"
#include "sched.h"

/* A user promise's deadline: ends the wait (cn__task_park decides whether
 * it may). Lives on the waiting coroutine's stack. */
typedef struct cn__user_deadline {
	cn__timer tm;
	cn__task *t;
	cn_promise *p;
} cn__user_deadline;

void cn__user_deadline_fire(cn__timer *tm, void *ctx);

/* A runtime task could not yield: the scheduler's state is broken. */
CN__COLD __attribute__((noreturn)) void cn__task_yield_failed(void);

/* Yields p to the run loop, which parks t when it sees t->waiting == p.
 * p->waiter is the caller's to reset: a user promise's waiter field may be
 * read by a fulfilling thread until the await returns. */
static inline void cn__task_yield(cn__task *t, cn_promise *p)
{
	if (CN__UNLIKELY(cn_coro_yield(p) < 0))
		cn__task_yield_failed();
	t->waiting = NULL;
}

/* The waiter ops' wait (promise_internal.h) for task t. */
static inline __attribute__((always_inline)) int cn__task_park(cn__task *t, cn_promise *p,
                                                               int64_t deadline, int flags)
{
	int nocancel = flags & CN__AWAIT_NOCANCEL;
	cn__user_deadline d;
	int err = 0;

	d.tm.idx = CN__TIMER_IDLE;
	cn__task_what(t, CN__AWAIT_WHAT(flags) ? CN__AWAIT_WHAT(flags) : CN__WHAT_PROMISE, -1,
	              t->s->round_now, deadline);
	if (cn__task_stopping(t) && !nocancel) {
		err = ECANCELED;
	} else if (deadline != CN_NO_DEADLINE) {
		d.tm.deadline = deadline;
		d.tm.fire = cn__user_deadline_fire;
		/* Read by the fire function through d.tm: cppcheck does not
		 * follow the container cast. */
		d.t = t; // cppcheck-suppress unreadVariable
		d.p = p; // cppcheck-suppress unreadVariable
		if (deadline <= cn_now())
			err = ETIMEDOUT;
		else if (cn__timer_add(&t->s->timers, &d.tm) < 0)
			err = ENOMEM;
	}
	for (;;) {
		if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) & CN__P_DELIVERED) {
			err = 0;
			break;
		}
		if (err && (flags & CN__AWAIT_LOCKED))
			break; /* the caller's lock decides whether it gave up */
		if (err) {
			int prev = __atomic_fetch_and(&p->state, ~CN__P_WAITER, __ATOMIC_ACQ_REL);

			if (!(prev & CN__P_FULFILLED))
				break; /* nobody committed: give up */
			/* A fulfil saw us and is delivering: wait for it. */
			err = 0;
		}
		t->waiting = p;
		cn__task_yield(t, p);
		if (t->cancelled) {
			if (!nocancel || t->cancelled != ECANCELED)
				err = t->cancelled;
			t->cancelled = 0;
		}
	}
	if (d.tm.idx != CN__TIMER_IDLE)
		cn__timer_del(&t->s->timers, &d.tm);
	return err;
}

/* cn__promise_park() (waits ordered by a lock) for p armed by the calling
 * coroutine: straight into cn__task_park when the waiter is a task. */
static inline __attribute__((always_inline)) int cn__park_locked(cn_promise *p, int64_t deadline,
                                                                 int flags)
{
	cn__waiter *w = cn__coro_user(p->waiter);

	if (CN__LIKELY(w->ops == &cn__task_ops))
		return cn__task_park((cn__task *)w, p, deadline, flags | CN__AWAIT_LOCKED);
	return cn__promise_park(p, deadline, flags);
}

/* cn__promise_hand() (waits ordered by a lock, the list's lock held) with
 * the waiter's own scheduler thread's case inline: the outcome recorded
 * and delivered, the task made runnable, no call through the ops. */
static inline void cn__hand_locked(cn_promise *p, ssize_t result, int err)
{
	cn__waiter *w = cn__coro_user(p->waiter);
	cn__task *t = (cn__task *)w;

	if (CN__LIKELY(w->ops == &cn__task_ops && t->s == cn__sched_here())) {
		p->result = err ? -1 : result;
		p->err = err;
		__atomic_store_n(&p->state,
		                 CN__P_WAITER | CN__P_CLAIMED | CN__P_FULFILLED | CN__P_DELIVERED,
		                 __ATOMIC_RELAXED);
		if (t->parked && t->waiting == p) {
			cn__unpark(t->s, t);
			cn__runq_push(t->s, t);
		}
		return;
	}
	cn__promise_hand(p, result, err);
}

/* cn__waiter_current() without its calls through the ops in the common
 * case, a task on its own scheduler's thread. NULL with EPERM otherwise. */
static inline cn__waiter *cn__waiter_here(void)
{
	cn_coro *co = cn_coro_current();
	cn__waiter *w = co ? cn__coro_user(co) : NULL;

	if (CN__LIKELY(w && w->ops == &cn__task_ops && ((cn__task *)w)->s == cn__sched_here()))
		return w;
	return cn__waiter_current();
}

#endif
