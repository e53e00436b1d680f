/*
 * src/wgsem.c — the coroutine wait group and counting semaphore
 * (coronet/sync.h): a count and a waiter FIFO under one lock.
 *
 * A release with waiters hands its unit to the oldest one (the value does
 * not move), so a coroutine that acquires at once cannot take it first.
 *
 * Threads: see sync.h.
 */
#include <errno.h>
#include <limits.h>

#include "promise_internal.h"
#include "waitq.h"

static int init_lock(cn__lock *lock, cn__waitq *q)
{
	q->head = q->tail = NULL;
	*lock = 0;
	return 0;
}

static int fail(int err)
{
	errno = err;
	return -1;
}

/* ---- wait group ---- */

int cn_waitgroup_init(cn_waitgroup *wg)
{
	if (!wg)
		return fail(EINVAL);
	wg->count = 0;
	return init_lock(&wg->lock, &wg->q);
}

int cn_waitgroup_destroy(cn_waitgroup *wg)
{
	return wg ? cn__waitq_destroy(&wg->lock, &wg->q) : fail(EINVAL);
}

int cn_waitgroup_add(cn_waitgroup *wg, long n)
{
	int err = 0;

	if (!wg)
		return fail(EINVAL);
	cn__lock_take(&wg->lock);
	if ((n < 0 && wg->count < -n) || (n > 0 && wg->count > LONG_MAX - n)) {
		err = EINVAL;
	} else {
		wg->count += n;
		if (wg->count == 0)
			cn__waitq_wake_all(&wg->q, 0);
	}
	cn__lock_give(&wg->lock);
	return err ? fail(err) : 0;
}

int cn_waitgroup_done(cn_waitgroup *wg)
{
	return cn_waitgroup_add(wg, -1);
}

int cn_waitgroup_wait(cn_waitgroup *wg, int64_t deadline)
{
	cn__wnode n;
	int err = 0;

	if (!wg)
		return fail(EINVAL);
	if (!cn__waiter_current())
		return -1;
	cn__lock_take(&wg->lock);
	if (wg->count)
		err = cn__waitq_wait(&wg->q, &n, &wg->lock, deadline, 0);
	else
		cn__lock_give(&wg->lock);
	return err ? fail(err) : 0;
}

/* ---- semaphore ---- */

int cn_sem_init(cn_sem *s, long value)
{
	if (!s || value < 0)
		return fail(EINVAL);
	s->value = value;
	return init_lock(&s->lock, &s->q);
}

int cn_sem_destroy(cn_sem *s)
{
	return s ? cn__waitq_destroy(&s->lock, &s->q) : fail(EINVAL);
}

int cn_sem_tryacquire(cn_sem *s)
{
	int err = 0;

	if (!s)
		return fail(EINVAL);
	cn__lock_take(&s->lock);
	if (s->value > 0 && !s->q.head)
		s->value--;
	else
		err = EAGAIN;
	cn__lock_give(&s->lock);
	return err ? fail(err) : 0;
}

int cn_sem_acquire(cn_sem *s, int64_t deadline)
{
	cn__wnode n;
	int err = 0;

	if (!s)
		return fail(EINVAL);
	if (!cn__waiter_current())
		return -1;
	cn__lock_take(&s->lock);
	if (s->value > 0 && !s->q.head) {
		s->value--;
		cn__lock_give(&s->lock);
	} else {
		err = cn__waitq_wait(&s->q, &n, &s->lock, deadline, 0);
	}
	return err ? fail(err) : 0;
}

int cn_sem_release(cn_sem *s)
{
	int err = 0;

	if (!s)
		return fail(EINVAL);
	cn__lock_take(&s->lock);
	if (!cn__waitq_wake_one(&s->q, 0)) {
		if (s->value == LONG_MAX)
			err = EOVERFLOW;
		else
			s->value++;
	}
	cn__lock_give(&s->lock);
	return err ? fail(err) : 0;
}
