/*
 * src/netpoll_thread.c — thread mode's hand-off: the netpoll thread and the
 * completion ring.
 *
 * The netpoll thread blocks in cn__poller_wait(fdp, ..., -1). For each event
 * it takes the waiting promises out of the fd's wait words (fdtable.h),
 * marks them fulfilled and pushes them onto the completion ring, then wakes
 * the scheduler only if it announced that it sleeps. The wake itself is
 * merged by the poller's atomic flag, so a burst of completions costs one
 * wake system call however many promises it carries.
 *
 * Interest does not travel through a ring: the scheduler registers fds with
 * the kernel directly (poller add/del are thread-safe), once per fd, for both
 * directions, edge-triggered. That saves a ring slot and a netpoll wake per
 * registration, and waiting needs no registration at all: it is a CAS on
 * the fd's wait word.
 *
 * Batching ("don't poll ahead of a busy consumer"). After a hand-off the
 * netpoll thread does not go straight back into the fd poller: each call
 * would return the one or two fds that became ready since the last one, at
 * the price of a sleep and a wake-up of this thread per call. It parks in
 * its own wake-only poller (npp) instead, and the scheduler lets it go at
 * the end of its next round (cn__np_kick, from the run loop), i.e. once it
 * has drained the ring and run what the batch woke. Meanwhile readiness
 * piles up in the kernel's ready list, so the next wait returns it all at
 * once, as inline mode's poll after a round does. The protocol: np_parked
 * is set *before* the batch is pushed, so the scheduler, which must dequeue
 * that batch before it can sleep and ends a round (and kicks) after every
 * dequeue, always sees the flag; the kick clears it by exchange and wakes
 * npp (merged; counted in the wake system calls). The netpoll thread does
 * not park, and polls again at once, when it kept a backlog (ring full,
 * below), found the scheduler asleep (it had to wake it: no busy consumer to
 * get ahead of) or pushed fewer than two promises: a lone completion is no
 * batch worth waiting for, and parking after it would cost a kick (a wake
 * system call) per round trip with one connection.
 * Timers are the scheduler's, so they fire while this thread is parked;
 * stop wakes npp as well as fdp.
 *
 * A full ring never loses a promise: the netpoll thread keeps the rest in a
 * local backlog (linked through promise->next), raises producer_blocked and
 * retries; the scheduler, after draining, sees the flag and wakes the fd
 * poller so the netpoll thread retries at once.
 *
 * Threads: np_main runs on the netpoll thread; everything else here on the
 * scheduler thread (cn__np_join also on the destroying one).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"

#define CN__NP_EVENTS 256

typedef struct backlog {
	cn_promise *head, *tail;
} backlog;

/* Producer side of the ring: pushes the backlog in order while there is
 * room; returns how many went. Netpoll thread only. */
static unsigned flush(cn_runtime *rt, backlog *b)
{
	unsigned n = 0;

	while (b->head) {
		cn_promise *p = b->head;
		cn_promise *next = p->next; /* p is the scheduler's once pushed */
		bool ok;

		CN__TSAN_RELEASE(p);
		CN__TSAN_IGNORE_BEGIN();
		ok = ck_ring_enqueue_spsc(&rt->ring, rt->ring_buf, p);
		CN__TSAN_IGNORE_END();
		if (!ok)
			break;
		b->head = next;
		n++;
	}
	if (!b->head)
		b->tail = NULL;
	return n;
}

static void *np_main(void *arg)
{
	cn_runtime *rt = arg;
	cn__poll_event ev[CN__NP_EVENTS];
	backlog b = {NULL, NULL};

	while (!atomic_load(&rt->np_quit)) {
		int n = cn__poller_wait(rt->fdp, ev, CN__NP_EVENTS, -1);
		unsigned pushed;
		int asleep = 0;

		atomic_fetch_add_explicit(&rt->st_polls, 1, memory_order_relaxed);
		if (n < 0) {
			fprintf(stderr, "coronet: netpoll thread: poller wait failed (%s)\n",
			        strerror(errno));
			abort();
		}
		for (int i = 0; i < n; i++) {
			cn_promise *ps[2];
			int k = cn__fd_event(rt, &ev[i], ps);

			for (int j = 0; j < k; j++) {
				cn__promise_ready(ps[j]);
				ps[j]->next = NULL;
				if (b.tail)
					b.tail->next = ps[j];
				else
					b.head = ps[j];
				b.tail = ps[j];
			}
		}
		/* Before the push (see "Batching"): whoever dequeues one
		 * of these promises then sees the flag at its round end. */
		if (b.head)
			atomic_store(&rt->np_parked, 1);
		pushed = flush(rt, &b);
		if (b.head) {
			atomic_fetch_add_explicit(&rt->st_ring_full, 1, memory_order_relaxed);
			/* Dekker with the scheduler's drain: it empties the ring,
			 * fences, reads the flag; we raise it, fence, retry. */
			atomic_store(&rt->producer_blocked, 1);
			CN__FENCE();
			pushed += flush(rt, &b);
			if (!b.head)
				atomic_store(&rt->producer_blocked, 0);
		}
		if (pushed) {
			atomic_fetch_add_explicit(&rt->st_completions, pushed,
			                          memory_order_relaxed);
			CN__FENCE();
			if (atomic_load(&rt->sleeping)) {
				cn__poller_wake(rt->sp);
				/* It slept: no consumer to get ahead of. */
				asleep = 1;
			}
		}
		if (b.head || pushed < 2 || asleep) {
			/* No park ("Batching"). With a backlog, fdp gets the
			 * drain's wake.
			 * A kick that came in between left a merged wake on
			 * npp: the next park returns at once and re-checks. */
			atomic_store(&rt->np_parked, 0);
			continue;
		}
		while (atomic_load(&rt->np_parked) && !atomic_load(&rt->np_quit)) {
			cn__poller_wait(rt->npp, ev, 1, -1);
			atomic_fetch_add_explicit(&rt->st_polls, 1, memory_order_relaxed);
		}
	}
	return NULL;
}

int cn__np_start(cn_runtime *rt)
{
	sigset_t all, old;
	int err;

	ck_ring_init(&rt->ring, rt->opts.ring_size);
	atomic_store(&rt->np_quit, 0);
	atomic_store(&rt->producer_blocked, 0);
	atomic_store(&rt->np_parked, 0);
	/* The netpoll thread takes no signals: a handler (SIGINT -> stop)
	 * belongs on the application's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&rt->np_thread, NULL, np_main, rt);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		errno = err;
		return -1;
	}
	rt->np_started = 1;
	return 0;
}

void cn__np_join(cn_runtime *rt)
{
	atomic_store(&rt->np_quit, 1);
	cn__poller_wake(rt->fdp);
	cn__poller_wake(rt->npp);
	pthread_join(rt->np_thread, NULL);
	rt->np_started = 0;
}

unsigned cn__np_drain(cn_runtime *rt)
{
	unsigned n = 0;

	for (;;) {
		void *v;
		bool ok;

		CN__TSAN_IGNORE_BEGIN();
		ok = ck_ring_dequeue_spsc(&rt->ring, rt->ring_buf, &v);
		CN__TSAN_IGNORE_END();
		if (!ok)
			break;
		CN__TSAN_ACQUIRE(v);
		cn__promise_wake(rt, v);
		n++;
	}
	if (n)
		rt->st_batches++;
	CN__FENCE();
	if (atomic_load(&rt->producer_blocked) && atomic_exchange(&rt->producer_blocked, 0))
		cn__poller_wake(rt->fdp);
	return n;
}

void cn__np_kick(cn_runtime *rt)
{
	/* The plain load first: while the netpoll thread polls or hands off,
	 * a round end costs no write to the shared line. */
	if (atomic_load(&rt->np_parked) && atomic_exchange(&rt->np_parked, 0))
		cn__poller_wake(rt->npp);
}
