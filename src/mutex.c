/*
 * src/mutex.c — the coroutine mutex and condition variable
 * (coronet/sync.h).
 *
 * The mutex word: 0 free, 1 held, 2 held and maybe waited for. Locking
 * free is one CAS 0 -> 1 and unlocking uncontended one CAS 1 -> 0, with no
 * other lock taken. Everything else happens under m->lock: a locker that
 * finds m held swaps in 2 (and owns m if the swap found 0) or queues
 * itself; an unlock that finds 2 hands m straight to the oldest waiter
 * (the word stays "held": nobody can barge in between), or frees it if
 * nobody waits. Since every move to 2 is under m->lock, the unlocker may
 * set the word back to 1 when it hands over to the last waiter.
 *
 * Threads: see sync.h.
 */
#include <errno.h>

#include "coronet/coro.h"
#include "coronet/io.h"
#include "promise_internal.h"
#include "waitq.h"

int cn_mutex_init(cn_mutex *m)
{
	if (!m) {
		errno = EINVAL;
		return -1;
	}
	m->state = 0;
	m->owner = NULL;
	m->q.head = m->q.tail = NULL;
	m->lock = 0;
	return 0;
}

int cn_mutex_destroy(cn_mutex *m)
{
	if (!m) {
		errno = EINVAL;
		return -1;
	}
	if (__atomic_load_n(&m->state, __ATOMIC_ACQUIRE) != 0) {
		errno = EBUSY;
		return -1;
	}
	return 0;
}

static void *owner_of(const cn_mutex *m)
{
	return __atomic_load_n(&m->owner, __ATOMIC_RELAXED);
}

static int lock_slow(cn_mutex *m, cn_coro *me, int64_t deadline, int flags)
{
	cn__wnode n;
	int err;

	if (owner_of(m) == me) {
		errno = EDEADLK;
		return -1;
	}
	if (!cn__waiter_current())
		return -1;
	cn__lock_take(&m->lock);
	if (__atomic_exchange_n(&m->state, 2, __ATOMIC_ACQUIRE) == 0) {
		cn__lock_give(&m->lock);
		err = 0;
	} else {
		/* Served (0): the unlocker handed m over, the word says held. */
		err = cn__waitq_wait(&m->q, &n, &m->lock, deadline, flags);
	}
	if (err) {
		errno = err;
		return -1;
	}
	__atomic_store_n(&m->owner, me, __ATOMIC_RELAXED);
	return 0;
}

/* The fast path of lock and trylock: 1 when it took a free m (the
 * caller, *me, owns it), 0 when m is held, -1 with EINVAL / EPERM. */
static int try_take(cn_mutex *m, cn_coro **me)
{
	int free_ = 0;

	if (!m) {
		errno = EINVAL;
		return -1;
	}
	*me = cn_coro_current();
	if (!*me) {
		errno = EPERM;
		return -1;
	}
	if (!__atomic_compare_exchange_n(&m->state, &free_, 1, 0, __ATOMIC_ACQUIRE,
	                                 __ATOMIC_RELAXED))
		return 0;
	__atomic_store_n(&m->owner, *me, __ATOMIC_RELAXED);
	return 1;
}

static int lock_flags(cn_mutex *m, int64_t deadline, int flags)
{
	cn_coro *me;
	int r = try_take(m, &me);

	if (r)
		return r > 0 ? 0 : -1;
	return lock_slow(m, me, deadline, flags);
}

int cn_mutex_lock(cn_mutex *m)
{
	return lock_flags(m, CN_NO_DEADLINE, 0);
}

int cn_mutex_lock_until(cn_mutex *m, int64_t deadline)
{
	return lock_flags(m, deadline, 0);
}

int cn_mutex_trylock(cn_mutex *m)
{
	cn_coro *me;
	int r = try_take(m, &me);

	if (r == 0)
		errno = EBUSY;
	return r > 0 ? 0 : -1;
}

int cn_mutex_unlock(cn_mutex *m)
{
	int held = 1;

	if (!m) {
		errno = EINVAL;
		return -1;
	}
	if (owner_of(m) != cn_coro_current() || !owner_of(m)) {
		errno = EPERM;
		return -1;
	}
	__atomic_store_n(&m->owner, NULL, __ATOMIC_RELAXED);
	if (__atomic_compare_exchange_n(&m->state, &held, 0, 0, __ATOMIC_RELEASE,
	                                __ATOMIC_RELAXED))
		return 0;
	cn__lock_take(&m->lock);
	if (m->q.head) {
		/* Hand over: the word stays held; 1 once the last waiter goes. */
		if (m->q.head == m->q.tail)
			__atomic_store_n(&m->state, 1, __ATOMIC_RELAXED);
		cn__waitq_wake_one(&m->q, 0);
	} else {
		__atomic_store_n(&m->state, 0, __ATOMIC_RELEASE);
	}
	cn__lock_give(&m->lock);
	return 0;
}

/* ---- condition variable ---- */

int cn_cond_init(cn_cond *c)
{
	if (!c) {
		errno = EINVAL;
		return -1;
	}
	c->q.head = c->q.tail = NULL;
	c->lock = 0;
	return 0;
}

int cn_cond_destroy(cn_cond *c)
{
	if (!c) {
		errno = EINVAL;
		return -1;
	}
	return cn__waitq_destroy(&c->lock, &c->q);
}

int cn_cond_wait(cn_cond *c, cn_mutex *m, int64_t deadline)
{
	cn__wnode n;
	int err;

	if (!c || !m) {
		errno = EINVAL;
		return -1;
	}
	if (!cn__waiter_current())
		return -1;
	if (owner_of(m) != cn_coro_current()) {
		errno = EPERM;
		return -1;
	}
	/* Queued before m is released: a signal after the release finds us. */
	cn__lock_take(&c->lock);
	cn__waitq_enqueue(&c->q, &n);
	cn__lock_give(&c->lock);
	cn_mutex_unlock(m);
	err = cn__waitq_await(&c->q, &n, &c->lock, deadline, 0);
	/* The caller's critical section goes on: m is retaken whatever
	 * happened, a cancel or a stop included. */
	lock_flags(m, CN_NO_DEADLINE, CN__AWAIT_NOCANCEL);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

static int cond_wake(cn_cond *c, int all)
{
	if (!c) {
		errno = EINVAL;
		return -1;
	}
	cn__lock_take(&c->lock);
	if (all)
		cn__waitq_wake_all(&c->q, 0);
	else
		cn__waitq_wake_one(&c->q, 0);
	cn__lock_give(&c->lock);
	return 0;
}

int cn_cond_signal(cn_cond *c)
{
	return cond_wake(c, 0);
}

int cn_cond_broadcast(cn_cond *c)
{
	return cond_wake(c, 1);
}
