/*
 * src/mutex.c — the coroutine mutex and condition variable
 * (coronet/sync.h).
 *
 * The mutex word names its holder: 0 free, else the holding coroutine,
 * with bit 0 (WAITED) set when someone may wait. Everything but the free
 * lock and the unwaited unlock happens under m->lock: a locker that finds
 * m held sets WAITED (and owns m if it found it free) or queues itself; an
 * unlock that finds WAITED hands m straight to the oldest waiter by
 * writing its name into the word (nobody can barge in between), or frees
 * it if nobody waits. Since WAITED is only set under m->lock, the unlocker
 * may clear it when it hands over to the last waiter.
 *
 * The free lock and the unwaited unlock come in two kinds, chosen by
 * m->bias (bias.h). Biased to the caller's scheduler: a plain load and
 * store each, since only that scheduler's thread touches the word and
 * nothing in between yields. Shared: one CAS each (0 -> me, me -> 0, the
 * owner check being the same CAS), the two read-modify-writes any mutex
 * shared by threads needs. The slow paths are the same for both kinds:
 * their atomics are correct whoever runs them.
 *
 * Threads: see sync.h.
 */
#include <errno.h>

#include "coronet/coro.h"
#include "coronet/io.h"
#include "bias.h"
#include "coro_internal.h"
#include "promise_internal.h"
#include "waitq.h"

#define WAITED ((uintptr_t)1)

int cn_mutex_init(cn_mutex *m)
{
	if (!m) {
		errno = EINVAL;
		return -1;
	}
	m->state = 0;
	m->bias = CN__BIAS_NONE;
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

static cn_coro *holder(const cn_mutex *m)
{
	return (cn_coro *)(__atomic_load_n(&m->state, __ATOMIC_RELAXED) & ~WAITED);
}

static __attribute__((noinline)) int lock_slow(cn_mutex *m, cn_coro *me, int64_t deadline,
                                               int flags)
{
	cn__wnode n;
	int err;

	if (holder(m) == me) {
		errno = EDEADLK;
		return -1;
	}
	if (!cn__waiter_current())
		return -1;
	cn__lock_take(&m->lock);
	if (__atomic_fetch_or(&m->state, WAITED, __ATOMIC_ACQUIRE) == 0) {
		/* It was free: ours. The word said only WAITED meanwhile, so
		 * no CAS could take it; no waiter is queued (we hold m->lock
		 * and found it free). */
		__atomic_store_n(&m->state, (uintptr_t)me, __ATOMIC_RELAXED);
		cn__lock_give(&m->lock);
		return 0;
	}
	/* Served (0): the unlocker wrote our name into the word. */
	err = cn__waitq_wait(&m->q, &n, &m->lock, deadline, flags);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

/* m->bias said b, neither the caller's scheduler's id nor SHARED: claims
 * a fresh m, or waits for its owner to give it up. 1 when m is now biased
 * to the caller's scheduler, 0 when it is shared. */
static __attribute__((noinline)) int settle_bias(cn_mutex *m, uint64_t b)
{
	for (;;) {
		if (b == CN__BIAS_NONE) {
			b = cn__bias_claim(&m->bias);
		} else {
			cn__bias_revoke(&m->bias, b);
			b = __atomic_load_n(&m->bias, __ATOMIC_ACQUIRE);
		}
		if (b == cn__bias_here())
			return 1;
		if (b == CN__BIAS_SHARED)
			return 0;
	}
}

/* Whether the caller may use m's word with plain accesses (m is biased
 * to its scheduler). Acquire: a word that became SHARED publishes what
 * its owner's coroutines wrote. */
static inline int biased(cn_mutex *m)
{
	uint64_t b = __atomic_load_n(&m->bias, __ATOMIC_ACQUIRE);

	return CN__LIKELY(b == cn__bias_here()) || (b != CN__BIAS_SHARED && settle_bias(m, b));
}

/* The fast path of lock and trylock: 1 when it took a free m (the
 * caller, *me, holds it), 0 when m is held, -1 with EINVAL / EPERM. */
static inline int try_take(cn_mutex *m, cn_coro **me)
{
	uintptr_t free_ = 0;

	if (!m) {
		errno = EINVAL;
		return -1;
	}
	*me = cn__coro_here();
	if (!*me) {
		errno = EPERM;
		return -1;
	}
	if (biased(m)) {
		if (__atomic_load_n(&m->state, __ATOMIC_RELAXED))
			return 0;
		__atomic_store_n(&m->state, (uintptr_t)*me, __ATOMIC_RELAXED);
		return 1;
	}
	return __atomic_compare_exchange_n(&m->state, &free_, (uintptr_t)*me, 0, __ATOMIC_ACQUIRE,
	                                   __ATOMIC_RELAXED);
}

static inline int lock_flags(cn_mutex *m, int64_t deadline, int flags)
{
	cn_coro *me;
	int r = try_take(m, &me);

	if (CN__LIKELY(r > 0))
		return 0;
	if (r < 0)
		return -1;
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

/* An unlock that found WAITED (or m not held by me, who holds `held`). */
static __attribute__((noinline)) int unlock_slow(cn_mutex *m, cn_coro *me, uintptr_t held)
{
	if ((held & ~WAITED) != (uintptr_t)me) {
		errno = EPERM;
		return -1;
	}
	cn__lock_take(&m->lock);
	if (m->q.head) {
		cn__wnode *n = m->q.head;

		/* Hand over: the word names the waiter; WAITED stays while
		 * others wait. Release: it publishes our critical section. */
		__atomic_store_n(&m->state, (uintptr_t)n->p.waiter | (n != m->q.tail ? WAITED : 0),
		                 __ATOMIC_RELEASE);
		cn__waitq_wake_one(&m->q, 0);
	} else {
		__atomic_store_n(&m->state, 0, __ATOMIC_RELEASE);
	}
	cn__lock_give(&m->lock);
	return 0;
}

int cn_mutex_unlock(cn_mutex *m)
{
	cn_coro *me = cn__coro_here();
	uintptr_t held = (uintptr_t)me;

	if (!m) {
		errno = EINVAL;
		return -1;
	}
	if (!me) {
		errno = EPERM;
		return -1;
	}
	if (biased(m)) {
		held = __atomic_load_n(&m->state, __ATOMIC_RELAXED);
		if (CN__LIKELY(held == (uintptr_t)me)) {
			__atomic_store_n(&m->state, 0, __ATOMIC_RELAXED);
			return 0;
		}
	} else if (CN__LIKELY(__atomic_compare_exchange_n(&m->state, &held, 0, 0, __ATOMIC_RELEASE,
	                                                  __ATOMIC_RELAXED))) {
		return 0;
	}
	return unlock_slow(m, me, held);
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
	if (holder(m) != cn__coro_here()) {
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
