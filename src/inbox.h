/*
 * src/inbox.h — a scheduler's inbox: what other threads hand to it.
 *
 * Producers: any thread (cn_promise_fulfil() of a promise a coroutine of
 * this scheduler waits on; cn_spawn() from outside; the blocking pool's
 * workers, through their promises; cn_task_cancel() from outside). Consumer: the scheduler's own thread,
 * which takes everything at once at the start of each round.
 *
 * Why Concurrency Kit's ck_stack: a push is one CAS loop that never blocks,
 * never fails and needs no room (the nodes are intrusive: a promise's link
 * field, a task's inbox entry), so a foreign thread can neither stall nor
 * lose a fulfil; the consumer takes the whole stack with one exchange
 * (ck_stack_batch_pop_upmc), which has no ABA problem, and reverses it into
 * arrival order. A ring (ck_ring) would be bounded and single-producer;
 * ck_fifo's MPMC queue needs a spare node per enqueue and a CAS on both
 * ends.
 *
 * The wake: a push announces itself only to a scheduler that is (about to
 * be) blocked: `idle` and the stacks form a Dekker pair (the scheduler sets
 * idle, fences, looks at the stacks, blocks only if they are empty; a
 * producer pushes, fences, reads idle), and the poller's own merged flag
 * (netpoll/wakeflag.h) makes a burst of pushes one wake system call.
 *
 * Threads: as marked on each function.
 */
#ifndef CORONET_INBOX_H
#define CORONET_INBOX_H

#include <stdatomic.h>
#include <stddef.h>

#include <ck_stack.h>

#include "poller.h"
#include "tsan.h"

/* Work another thread asks the scheduler's thread to do (a cancel of one
 * of its tasks): fn(c) runs there when the inbox is drained, or when the
 * scheduler is freed. */
typedef struct cn__call {
	ck_stack_entry_t link;
	void (*fn)(struct cn__call *c);
} cn__call;

typedef struct cn__inbox {
	ck_stack_t promises; /* cn_promise.link entries */
	ck_stack_t tasks;    /* cn__task.inbox entries: spawns from outside */
	ck_stack_t calls;    /* cn__call.link entries */
	/* The scheduler sets it while it is (about to be) blocked in `wake`;
	 * producers read it (seq_cst, Dekker with the stacks). */
	atomic_int idle;
	cn__poller *wake; /* where the scheduler blocks */
} cn__inbox;

/* Any thread: pushes e (the entry inside obj, whose writes it publishes)
 * and wakes the scheduler if it is blocked. */
static inline void cn__inbox_push(cn__inbox *in, ck_stack_t *st, ck_stack_entry_t *e, void *obj)
{
	CN__TSAN_RELEASE(obj);
	CN__TSAN_IGNORE_BEGIN();
	ck_stack_push_upmc(st, e);
	CN__TSAN_IGNORE_END();
	CN__FENCE();
	if (atomic_load(&in->idle))
		cn__poller_wake(in->wake);
}

/* The scheduler: whether anything waits (a plain load, no write). */
static inline int cn__inbox_pending(cn__inbox *in)
{
	int r;

	CN__TSAN_IGNORE_BEGIN();
	r = ck_pr_load_ptr(&in->promises.head) != NULL || ck_pr_load_ptr(&in->tasks.head) != NULL ||
	    ck_pr_load_ptr(&in->calls.head) != NULL;
	CN__TSAN_IGNORE_END();
	return r;
}

/* The scheduler: takes every entry of st, oldest first (linked through
 * ->next), or NULL. The caller acquires each object (CN__TSAN_ACQUIRE)
 * before it reads it. */
static inline ck_stack_entry_t *cn__inbox_take(ck_stack_t *st)
{
	ck_stack_entry_t *e, *rev = NULL;

	CN__TSAN_IGNORE_BEGIN();
	if (ck_pr_load_ptr(&st->head) == NULL) {
		CN__TSAN_IGNORE_END();
		return NULL;
	}
	e = ck_stack_batch_pop_upmc(st);
	while (e) {
		ck_stack_entry_t *next = e->next;

		e->next = rev;
		rev = e;
		e = next;
	}
	CN__TSAN_IGNORE_END();
	return rev;
}

#endif
