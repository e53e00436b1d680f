/*
 * netpoll/wakeflag.h — the merged wake-up that both backends share: one
 * atomic flag in front of the kernel wake channel (an eventfd, or
 * EVFILT_USER), so a burst of wakes costs one system call.
 *
 * pending is 1 from the wake that made the system call until the wait that
 * received and drained the wake event. Producers: cn__poller_wake() on any
 * thread or in a signal handler (lock-free atomics only); consumer: the one
 * thread waiting on the poller, which clears it only AFTER draining the
 * channel, so a wake that lands in between is merged into the wait that is
 * returning anyway. Clearing before draining could swallow a fresh trigger
 * and leave the flag at 1 over an empty channel: every later wake would
 * then be merged into nothing and the waiter would sleep forever.
 */
#ifndef CORONET_NETPOLL_WAKEFLAG_H
#define CORONET_NETPOLL_WAKEFLAG_H

#include <stdatomic.h>
#include <stdint.h>

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the wake flag must be lock-free");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the wake counter must be lock-free");

typedef struct cn__wakeflag {
	atomic_uint pending;
	atomic_ullong calls; /* wake system calls made, for benchmarks */
} cn__wakeflag;

static inline void cn__wakeflag_init(cn__wakeflag *w)
{
	atomic_init(&w->pending, 0);
	atomic_init(&w->calls, 0);
}

/* Waker: 1 if this wake flipped the flag and must make the system call
 * (counted), 0 if it is merged into one still pending. acq_rel pairs with
 * the consumer's exchange, so what the waker published before waking (a
 * ring entry) is visible once the wait returns. */
static inline int cn__wakeflag_claim(cn__wakeflag *w)
{
	if (atomic_exchange_explicit(&w->pending, 1, memory_order_acq_rel))
		return 0;
	atomic_fetch_add_explicit(&w->calls, 1, memory_order_relaxed);
	return 1;
}

/* Waker, after its system call failed: nothing was triggered, so nothing
 * will clear the flag; clear it here, or every later wake would be merged
 * into this lost one. */
static inline void cn__wakeflag_unclaim(cn__wakeflag *w)
{
	atomic_store_explicit(&w->pending, 0, memory_order_release);
}

/* Waiting thread, after it received and drained the wake event. */
static inline void cn__wakeflag_consumed(cn__wakeflag *w)
{
	atomic_exchange_explicit(&w->pending, 0, memory_order_acq_rel);
}

static inline uint64_t cn__wakeflag_calls(const cn__wakeflag *w)
{
	/* C11 atomic_load does not take a pointer to const. */
	return atomic_load_explicit((atomic_ullong *)&w->calls, memory_order_relaxed);
}

#endif
