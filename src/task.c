/*
 * src/task.c — a task as a promise's waiter (the ops promise.c calls:
 * here, wake, wait), and the waits coroutines park in: user promises with
 * deadlines, and the runtime's own waits on time and fds.
 *
 * Threads: task_wake() from any thread (a fulfil on another thread goes
 * through the scheduler's inbox); everything else on the task's
 * scheduler's thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "coro_internal.h"
#include "park.h"
#include "sched.h"

/* ---- the task as a promise's waiter (promise_internal.h) --------------- */

static int task_here(const cn__waiter *w)
{
	const cn__task *t = (const cn__task *)w;

	return cn__sched_here() == t->s;
}

/* Any thread: the waiter's own scheduler thread delivers at once, every
 * other thread through its inbox. */
static void task_wake(cn__waiter *w, cn_promise *p)
{
	cn__task *t = (cn__task *)w;

	if (cn__sched_here() == t->s) {
		/* No read-modify-write: on this thread nothing else moves the
		 * state now but a second fulfil's "claimed" bit, which is set
		 * already (a fulfil that wakes has claimed). */
		__atomic_store_n(&p->state,
		                 __atomic_load_n(&p->state, __ATOMIC_RELAXED) | CN__P_DELIVERED,
		                 __ATOMIC_RELAXED);
		cn__sched_wake(p);
		return;
	}
	cn__inbox_push(&t->s->inbox, &t->s->inbox.promises, (ck_stack_entry_t *)(void *)&p->link,
	               p);
}

void cn__task_yield_failed(void)
{
	fprintf(stderr, "coronet: a runtime task could not yield (%s)\n", strerror(errno));
	abort();
}

void cn__user_deadline_fire(cn__timer *tm, void *ctx)
{
	cn__user_deadline *d = CN__CONTAINER_OF(tm, cn__user_deadline, tm);
	cn__task *t = d->t;

	(void)ctx;
	if (t->parked && t->waiting == d->p) {
		t->cancelled = ETIMEDOUT;
		cn__unpark(t->s, t);
		cn__runq_push(t->s, t);
	}
}

static int task_wait(cn__waiter *w, cn_promise *p, int64_t deadline, int flags)
{
	return cn__task_park((cn__task *)w, p, deadline, flags);
}

const cn__waiter_ops cn__task_ops = {task_here, task_wake, task_wait};

cn__task *cn__task_current(void)
{
	cn__waiter *w = cn__waiter_current();

	return w ? (cn__task *)w : NULL;
}

/* ---- runtime-made waits ----------------------------------------------- */

static void wait_timer_fire(cn__timer *tm, void *ctx)
{
	cn__wait *w = CN__CONTAINER_OF(tm, cn__wait, timer);

	(void)ctx;
	if (w->kind == CN__WAIT_SLEEP)
		cn__promise_settle(&w->p, 0, 0);
	else if (cn__fd_reclaim(w->ent, w->dir, &w->p))
		cn__promise_settle(&w->p, -1, ETIMEDOUT);
	/* else: the netpoll side took it; the retry re-checks the deadline. */
}

int cn__wait_begin(cn__task *t, cn__wait *w, int kind, cn__fdent *e, int fd, int dir,
                   int64_t deadline)
{
	cn_promise_init(&w->p);
	w->p.priv = w;
	w->kind = kind;
	w->ent = e;
	w->fd = fd;
	w->dir = dir;
	w->since = t->s->round_now;
	cn__task_what(t,
	              kind == CN__WAIT_SLEEP    ? CN__WHAT_SLEEP
	              : dir == CN__DIR_WRITE ? CN__WHAT_FD_WRITE
	                                     : CN__WHAT_FD_READ,
	              fd, w->since, deadline);
	w->timer.idx = CN__TIMER_IDLE;
	w->timer.fire = wait_timer_fire;
	if (deadline != CN_NO_DEADLINE) {
		w->timer.deadline = deadline;
		if (cn__timer_add(&t->s->timers, &w->timer) < 0)
			return -1;
	}
	/* Everything the scheduler reads is set up before an fd wait
	 * publishes the promise: from then on the netpoll thread may own it. */
	w->p.waiter = t->co;
	t->waiting = &w->p;
	return 0;
}

void cn__wait_abandon(cn__task *t, cn__wait *w)
{
	t->waiting = NULL;
	w->p.waiter = NULL;
	cn__timer_del(&t->s->timers, &w->timer);
}

int cn__wait_park(cn__task *t, cn__wait *w)
{
	cn__task_yield(t, &w->p);
	w->p.waiter = NULL;
	cn__timer_del(&t->s->timers, &w->timer);
	return w->p.err;
}

void cn__sched_fd_retire(cn__sched *s, cn__fdent *e, int fd)
{
	cn_promise *ps[2];
	int n = cn__fd_retire(e, ps);

	for (int i = 0; i < n; i++)
		cn__promise_settle(ps[i], -1, ECANCELED);
	if (e->state == CN__FD_REGISTERED)
		cn__poller_del(s->fdp, fd);
	e->state = CN__FD_UNKNOWN;
}
