/*
 * src/handle.c — task handles (coronet/task.h): spawn with a handle, join
 * with a deadline, detach, cancel, and the hook that ends a handle when
 * its coroutine ends.
 *
 * The joiner waits on a promise in its own frame. The task's end fulfils
 * it under the handle's lock, and a joiner whose await gave up (deadline,
 * cancel) takes the same lock before it returns: so the fulfil has either
 * finished or will never start, and no thread writes into the frame after
 * it is gone (promise.h's lifetime rule, the second way).
 *
 * Threads: see task.h; handle_end() and cancel_call() on the task's
 * scheduler thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "handle.h"
#include "park.h"
#include "promise_internal.h"
#include "spawn.h"

/* Through the cache of the scheduler running on this thread, if any
 * (bcache.h): whichever runtime the handle is for, the block is the same. */
static cn_task *handle_alloc(void)
{
	cn__sched *here = cn__sched_here();
	cn_task *h = here ? cn__bcache_get(&here->handles) : NULL;

	if (h)
		memset(h, 0, sizeof(*h));
	else
		h = calloc(1, sizeof(*h));
	return h;
}

static void handle_free(cn_task *h)
{
	cn__sched *here = cn__sched_here();

	if (!here || !cn__bcache_put(&here->handles, h))
		free(h);
}

void cn__handle_unref(cn_task *h)
{
	if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0)
		handle_free(h);
}

static void entry(void *arg)
{
	cn_task *h = arg;

	h->result = h->fn(h->arg);
}

/* The task's end (sched.h's end hook): the coroutine returned (ran) or is
 * destroyed unrun; t is freed after this. */
static void handle_end(cn__task *t, int ran)
{
	cn_task *h = t->h;

	cn__lock_take(&h->lock);
	h->t = NULL;
	h->state = ran ? CN__H_DONE : CN__H_UNRUN;
	if (h->joiner) {
		cn__hand_locked(h->joiner, 0, 0);
		h->joiner = NULL;
	}
	cn__lock_give(&h->lock);
	if (h->on_end)
		h->on_end(h);
	cn__handle_unref(h);
}

cn_task *cn__handle_make(cn_runtime *rt, cn_task_fn fn, void *arg, const cn_coro_opts *opts)
{
	cn_task *h;
	cn__task *t;

	if (!rt || !fn) {
		errno = EINVAL;
		return NULL;
	}
	h = handle_alloc();
	if (!h) {
		errno = ENOMEM;
		return NULL;
	}
	t = cn__runtime_make(rt, entry, h, opts);
	if (!t) {
		int saved = errno;

		handle_free(h);
		errno = saved;
		return NULL;
	}
	h->refs = 2;
	h->fn = fn;
	h->arg = arg;
	h->t = t;
	h->s = t->s;
	t->h = h;
	t->end = handle_end;
	return h;
}

void cn__handle_start(cn_task *h, cn_runtime *rt)
{
	cn__runtime_queue(rt, h->t);
}

cn_task *cn_task_spawn(cn_runtime *rt, cn_task_fn fn, void *arg, const cn_coro_opts *opts)
{
	cn_task *h = cn__handle_make(rt, fn, arg, opts);

	if (h)
		cn__handle_start(h, rt);
	return h;
}

/* h->state is DONE or UNRUN, and the caller saw it written (under h's
 * lock, or through the end's hand-over): hands the outcome over and frees
 * the owner's reference. */
static int joined(cn_task *h, void **result)
{
	int state = h->state;
	void *r = h->result;

	cn__handle_unref(h);
	if (state == CN__H_UNRUN) {
		errno = ESRCH;
		return -1;
	}
	if (result)
		*result = r;
	return 0;
}

int cn_task_join(cn_task *h, void **result, int64_t deadline)
{
	cn__task *me;
	cn_promise jp;
	int err;

	if (!h) {
		errno = EINVAL;
		return -1;
	}
	me = cn__task_current();
	if (!me)
		return -1;
	cn__lock_take(&h->lock);
	if (h->state != CN__H_RUNNING) {
		cn__lock_give(&h->lock);
		return joined(h, result);
	}
	if (h->t == me || h->joiner) {
		err = h->t == me ? EDEADLK : EBUSY;
		cn__lock_give(&h->lock);
		errno = err;
		return -1;
	}
	cn__promise_arm(&jp);
	/* Cleared under the lock before the join returns (the header
	 * comment): never left pointing into a dead frame. */
	h->joiner = &jp; // cppcheck-suppress autoVariables
	cn__lock_give(&h->lock);

	err = cn__park_locked(&jp, deadline, CN__AWAIT_FOR(CN__WHAT_JOIN));
	if (err) {
		cn__lock_take(&h->lock);
		if (h->joiner == &jp) {
			h->joiner = NULL; /* the end has not come: it will not see jp */
			cn__lock_give(&h->lock);
			errno = err;
			return -1;
		}
		cn__lock_give(&h->lock);
		cn__promise_settled(&jp); /* an end that raced the give-up won */
	}
	return joined(h, result);
}

int cn_task_detach(cn_task *h)
{
	if (!h) {
		errno = EINVAL;
		return -1;
	}
	cn__lock_take(&h->lock);
	if (h->joiner) {
		cn__lock_give(&h->lock);
		errno = EBUSY;
		return -1;
	}
	cn__lock_give(&h->lock);
	cn__handle_unref(h);
	return 0;
}

/* A cancel from another thread, run by h's scheduler. */
static void cancel_call(cn__call *c)
{
	cn_task *h = CN__CONTAINER_OF(c, cn_task, call);

	cn__lock_take(&h->lock);
	if (h->t)
		cn__sched_cancel(h->s, h->t);
	cn__lock_give(&h->lock);
	cn__handle_unref(h);
}

int cn_task_cancel(cn_task *h)
{
	if (!h) {
		errno = EINVAL;
		return -1;
	}
	cn__lock_take(&h->lock);
	if (h->state == CN__H_RUNNING && !h->cancel) {
		h->cancel = 1;
		if (cn__sched_here() == h->s) {
			cn__sched_cancel(h->s, h->t);
		} else {
			__atomic_fetch_add(&h->refs, 1, __ATOMIC_RELAXED);
			h->call.fn = cancel_call;
			cn__inbox_push(&h->s->inbox, &h->s->inbox.calls, &h->call.link, &h->call);
		}
	}
	cn__lock_give(&h->lock);
	return 0;
}

int cn_task_cancelled(void)
{
	cn__task *t = cn__task_current();

	if (!t)
		return -1;
	return t->cancel;
}
