/*
 * src/handoff.h — the completion ring between the netpoll thread and one
 * scheduler, and the flags with which each side wakes the other.
 *
 * Producer: the netpoll thread (netpoll_thread.c) pushes promises it took
 * out of fd wait words and recorded. Consumer: one scheduler thread
 * (sched.c, idle.c) pops them and makes their waiters runnable. Each ring
 * has exactly that one producer and one consumer, so it is a Concurrency Kit
 * SPSC ring (ck_ring_enqueue_spsc / ck_ring_dequeue_spsc): no lock, no CAS.
 * Ownership of a promise passes with the push: after it, the netpoll thread
 * touches it no more.
 *
 * Two Dekker pairs, each a flag on one side and the ring on the other,
 * with a full fence (CN__FENCE) between the write and the read on both:
 *   sleeping          the consumer sets it, fences, looks at the ring, and
 *                     sleeps in consumer_poller only if it is empty; the
 *                     producer pushes, fences, and wakes consumer_poller only
 *                     if the flag is set. So a wake system call is made only
 *                     for a sleeping scheduler, and none is ever missed.
 *   producer_blocked  the producer found the ring full and kept the rest in a
 *                     backlog (a full ring never drops a promise): it sets the
 *                     flag, fences, retries; the consumer drains, fences, and
 *                     if it sees the flag clears it and wakes producer_poller,
 *                     so the producer retries at once.
 * And the netpoll thread's batching park (netpoll_thread.c, "Batching"): it
 * sets *parked before pushing a batch and waits in park_poller until a
 * consumer that ended a round clears the flag (cn__handoff_kick).
 *
 * Threads: as marked on each field and function.
 */
#ifndef CORONET_HANDOFF_H
#define CORONET_HANDOFF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <ck_ring.h>

#include "coronet/promise.h"
#include "poller.h"
#include "tsan.h"

typedef struct cn__handoff {
	ck_ring_t ring;
	ck_ring_buffer_t *buf;
	unsigned size; /* slots, a power of two */
	/* Consumer sets, producer reads (seq_cst, Dekker with the ring). */
	atomic_int sleeping;
	/* Producer sets, consumer clears by exchange (Dekker with the ring). */
	atomic_int producer_blocked;
	cn__poller *consumer_poller; /* wake only: the scheduler sleeps here */
	cn__poller *producer_poller; /* the netpoll thread waits here */
	/* The netpoll thread's park flag and poller; it sets the flag, any
	 * consumer clears it. NULL until the runtime connects them. */
	atomic_int *parked;
	cn__poller *park_poller;
	uint64_t batches; /* consumer only: non-empty drains */
} cn__handoff;

/* Allocates the ring's slots (size: a power of two >= 2). 0, or -1 with
 * ENOMEM. The creating thread, before either side runs. */
int cn__handoff_init(cn__handoff *h, unsigned size);
void cn__handoff_free(cn__handoff *h);
/* Empties the ring and clears the flags; neither side may be running. */
void cn__handoff_reset(cn__handoff *h);

/* Producer: pushes p; false if the ring is full (p stays the producer's). */
static inline bool cn__handoff_push(cn__handoff *h, cn_promise *p)
{
	bool ok;

	CN__TSAN_RELEASE(p);
	CN__TSAN_IGNORE_BEGIN();
	ok = ck_ring_enqueue_spsc(&h->ring, h->buf, p);
	CN__TSAN_IGNORE_END();
	return ok;
}

/* Consumer: the oldest promise, or NULL if the ring is empty. */
static inline cn_promise *cn__handoff_pop(cn__handoff *h)
{
	void *v;
	bool ok;

	CN__TSAN_IGNORE_BEGIN();
	ok = ck_ring_dequeue_spsc(&h->ring, h->buf, &v);
	CN__TSAN_IGNORE_END();
	if (!ok)
		return NULL;
	CN__TSAN_ACQUIRE(v);
	return v;
}

/* Consumer: whether a promise is waiting (for the spin before sleeping). */
static inline bool cn__handoff_pending(cn__handoff *h)
{
	bool r;

	CN__TSAN_IGNORE_BEGIN();
	r = ck_ring_size(&h->ring) != 0;
	CN__TSAN_IGNORE_END();
	return r;
}

/* Consumer, after a drain: lets a blocked producer retry at once. */
static inline void cn__handoff_unblock(cn__handoff *h)
{
	CN__FENCE();
	if (atomic_load(&h->producer_blocked) && atomic_exchange(&h->producer_blocked, 0))
		cn__poller_wake(h->producer_poller);
}

/* Consumer, at the end of every round: lets a parked netpoll thread poll
 * again. The plain load first: while the netpoll thread polls or hands off,
 * a round end costs no write to the shared line. */
static inline void cn__handoff_kick(cn__handoff *h)
{
	if (h->parked && atomic_load(h->parked) && atomic_exchange(h->parked, 0))
		cn__poller_wake(h->park_poller);
}

#endif
