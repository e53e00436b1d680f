/*
 * src/runq.c — a scheduler's run queue and parked list, and which
 * scheduler runs on this thread: the primitives the scheduler (sched.c)
 * and its tasks (task.c) share.
 *
 * Threads: the scheduler's own thread.
 */
#include "sched.h"

#include "coro_internal.h"

/* initial-exec, as coro.c's `current`: a fixed offset from the thread
 * pointer instead of a __tls_get_addr() call on every cn__sched_here()
 * (Darwin has its own TLV scheme and no model choice). */
#if defined(__APPLE__)
static __thread cn__sched *tls_sched;
#else
static __thread cn__sched *tls_sched __attribute__((tls_model("initial-exec")));
#endif

cn__sched *cn__sched_here(void)
{
	return tls_sched;
}

void cn__runq_push(cn__sched *s, cn__task *t)
{
	t->next = NULL;
	atomic_store_explicit(&t->what, CN__WHAT_RUNNABLE, memory_order_relaxed);
	if (s->runq_tail)
		s->runq_tail->next = t;
	else
		s->runq_head = t;
	s->runq_tail = t;
}

cn__task *cn__runq_pop(cn__sched *s)
{
	cn__task *t = s->runq_head;

	if (t) {
		s->runq_head = t->next;
		if (!s->runq_head)
			s->runq_tail = NULL;
		t->next = NULL;
	}
	return t;
}

void cn__park(cn__sched *s, cn__task *t)
{
	t->park_prev = NULL;
	t->park_next = s->parked;
	if (s->parked)
		s->parked->park_prev = t;
	s->parked = t;
	t->parked = 1;
	s->nparked++;
}

void cn__unpark(cn__sched *s, cn__task *t)
{
	if (t->park_prev)
		t->park_prev->park_next = t->park_next;
	else
		s->parked = t->park_next;
	if (t->park_next)
		t->park_next->park_prev = t->park_prev;
	t->park_prev = t->park_next = NULL;
	t->parked = 0;
	s->nparked--;
}

void cn__sched_wake(cn_promise *p)
{
	cn__task *t = p->waiter ? cn__coro_user(p->waiter) : NULL;

	if (t && t->parked && t->waiting == p) {
		cn__unpark(t->s, t);
		cn__runq_push(t->s, t);
	}
}

void cn__sched_set_here(cn__sched *s)
{
	tls_sched = s;
}
