/*
 * src/netpoll_thread.c — thread mode's netpoll thread (netpoll_thread.h):
 * waits for readiness, fulfils the waiting promises, hands them over.
 *
 * The thread blocks in cn__poller_wait(fdp, ..., -1). For each event it
 * takes the waiting promises out of the fd's wait words (fdtable.h),
 * records them fulfilled and pushes them onto the completion ring, then
 * wakes the scheduler only if it announced that it sleeps (handoff.h). The
 * wake itself is merged by the poller's atomic flag, so a burst of
 * completions costs one wake system call however many promises it carries.
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
 * the end of its next round (cn__handoff_kick, from the run loop), i.e. once
 * it has drained the ring and run what the batch woke. Meanwhile readiness
 * piles up in the kernel's ready list, so the next wait returns it all at
 * once, as inline mode's poll after a round does. The protocol: `parked`
 * is set *before* the batch is pushed, so the scheduler, which must dequeue
 * that batch before it can sleep and ends a round (and kicks) after every
 * dequeue, always sees the flag; the kick clears it by exchange and wakes
 * npp (merged; counted in the wake system calls). The thread does not park,
 * and polls again at once, when it kept a backlog (ring full, below), found
 * the scheduler asleep (it had to wake it: no busy consumer to get ahead of)
 * or pushed fewer than two promises: a lone completion is no batch worth
 * waiting for, and parking after it would cost a kick (a wake system call)
 * per round trip with one connection. Timers are the scheduler's, so they
 * fire while this thread is parked; cn__netpoll_join wakes npp as well as
 * fdp.
 *
 * A full ring never loses a promise: the thread keeps the rest in a local
 * backlog (linked through promise->next), raises producer_blocked and
 * retries; the scheduler, after draining, sees the flag and wakes the fd
 * poller so the thread retries at once.
 *
 * Threads: np_main runs on the netpoll thread; everything else here on the
 * runtime's thread.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netpoll_thread.h"
#include "promise_internal.h"

#define CN__NP_EVENTS 256

typedef struct backlog {
	cn_promise *head, *tail;
} backlog;

static void backlog_add(backlog *b, cn_promise *p)
{
	p->next = NULL;
	if (b->tail)
		b->tail->next = p;
	else
		b->head = p;
	b->tail = p;
}

/* Pushes the backlog in order while there is room; returns how many went. */
static unsigned flush(cn__handoff *h, backlog *b)
{
	unsigned n = 0;

	while (b->head) {
		cn_promise *p = b->head;
		cn_promise *next = p->next; /* p is the scheduler's once pushed */

		if (!cn__handoff_push(h, p))
			break;
		b->head = next;
		n++;
	}
	if (!b->head)
		b->tail = NULL;
	return n;
}

/* Takes and records the promises n events released. */
static void collect(cn__netpoll *np, const cn__poll_event *ev, int n, backlog *b)
{
	for (int i = 0; i < n; i++) {
		cn_promise *ps[2];
		int k = cn__fd_event(np->fds, &ev[i], ps);

		for (int j = 0; j < k; j++) {
			cn__promise_record(ps[j], 0, 0);
			backlog_add(b, ps[j]);
		}
	}
}

/* Hands the backlog over; returns how many went and sets *asleep if the
 * scheduler slept (and was woken). */
static unsigned hand_over(cn__netpoll *np, backlog *b, int *asleep)
{
	cn__handoff *h = np->out;
	unsigned pushed = flush(h, b);

	if (b->head) {
		atomic_fetch_add_explicit(&np->st_ring_full, 1, memory_order_relaxed);
		/* Dekker with the scheduler's drain: it empties the ring,
		 * fences, reads the flag; we raise it, fence, retry. */
		atomic_store(&h->producer_blocked, 1);
		CN__FENCE();
		pushed += flush(h, b);
		if (!b->head)
			atomic_store(&h->producer_blocked, 0);
	}
	*asleep = 0;
	if (pushed) {
		atomic_fetch_add_explicit(&np->st_completions, pushed, memory_order_relaxed);
		CN__FENCE();
		if (atomic_load(&h->sleeping)) {
			cn__poller_wake(h->consumer_poller);
			*asleep = 1;
		}
	}
	return pushed;
}

static void *np_main(void *arg)
{
	cn__netpoll *np = arg;
	cn__poll_event ev[CN__NP_EVENTS];
	backlog b = {NULL, NULL};

	while (!atomic_load(&np->quit)) {
		int n = cn__poller_wait(np->fdp, ev, CN__NP_EVENTS, -1);
		unsigned pushed;
		int asleep;

		atomic_fetch_add_explicit(&np->st_polls, 1, memory_order_relaxed);
		if (n < 0) {
			fprintf(stderr, "coronet: netpoll thread: poller wait failed (%s)\n",
			        strerror(errno));
			abort();
		}
		collect(np, ev, n, &b);
		/* Before the push (see "Batching"): whoever dequeues one of
		 * these promises then sees the flag at its round end. */
		if (b.head)
			atomic_store(&np->parked, 1);
		pushed = hand_over(np, &b, &asleep);
		if (b.head || pushed < 2 || asleep) {
			/* No park ("Batching"). With a backlog, fdp gets the
			 * drain's wake. A kick that came in between left a
			 * merged wake on npp: the next park returns at once and
			 * re-checks. */
			atomic_store(&np->parked, 0);
			continue;
		}
		while (atomic_load(&np->parked) && !atomic_load(&np->quit)) {
			cn__poller_wait(np->npp, ev, 1, -1);
			atomic_fetch_add_explicit(&np->st_polls, 1, memory_order_relaxed);
		}
	}
	return NULL;
}

int cn__netpoll_init(cn__netpoll *np, cn__fdtable *fds, cn__poller *fdp, cn__handoff *out)
{
	memset(np, 0, sizeof(*np));
	np->npp = cn__poller_create();
	if (!np->npp)
		return -1;
	np->fds = fds;
	np->fdp = fdp;
	np->out = out;
	out->producer_poller = fdp;
	out->parked = &np->parked;
	out->park_poller = np->npp;
	return 0;
}

void cn__netpoll_free(cn__netpoll *np)
{
	if (np->npp)
		cn__poller_destroy(np->npp);
	np->npp = NULL;
}

int cn__netpoll_start(cn__netpoll *np)
{
	sigset_t all, old;
	int err;

	cn__handoff_reset(np->out);
	atomic_store(&np->quit, 0);
	atomic_store(&np->parked, 0);
	/* The netpoll thread takes no signals: a handler (SIGINT -> stop)
	 * belongs on the application's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&np->thread, NULL, np_main, np);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		errno = err;
		return -1;
	}
	np->started = 1;
	return 0;
}

void cn__netpoll_join(cn__netpoll *np)
{
	atomic_store(&np->quit, 1);
	cn__poller_wake(np->fdp);
	cn__poller_wake(np->npp);
	pthread_join(np->thread, NULL);
	np->started = 0;
}
