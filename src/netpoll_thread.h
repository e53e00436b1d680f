/*
 * src/netpoll_thread.h — thread mode's netpoll thread: the producer side
 * of the completion rings (handoff.h).
 *
 * The runtime (runtime.c) owns one and starts it with each run; the thread
 * knows the fd table, the fd poller and the rings it feeds, never a
 * scheduler: it reaches one only through its ring and the ring's wake.
 *
 * Threads: init/free/start/join on the runtime's thread (the one that runs
 * or destroys it); the thread itself runs np_main (netpoll_thread.c).
 */
#ifndef CORONET_NETPOLL_THREAD_H
#define CORONET_NETPOLL_THREAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "fdtable.h"
#include "handoff.h"
#include "poller.h"

typedef struct cn__netpoll {
	cn__fdtable *fds; /* the runtime's */
	cn__poller *fdp;  /* the runtime's fd poller: the thread waits in it */
	cn__poller *npp;  /* wake only: the thread parks here between batches */
	cn__handoff *out; /* the ring it feeds */
	pthread_t thread;
	int started; /* the runtime's thread only */
	/* The runtime's thread sets at the end of run; the thread exits. */
	atomic_int quit;
	/* The thread sets before it pushes a batch it will park after; a
	 * consumer clears it by exchange at its round end (handoff.h). */
	atomic_int parked;
	/* The thread's counters; read by stats on the scheduler thread. */
	_Atomic uint64_t st_completions, st_ring_full, st_polls;
} cn__netpoll;

/* Makes npp and connects out's producer side to np. 0, or -1 with errno
 * (the poller's). */
int cn__netpoll_init(cn__netpoll *np, cn__fdtable *fds, cn__poller *fdp, cn__handoff *out);
void cn__netpoll_free(cn__netpoll *np);

/* Starts the thread (it takes no signals). 0, or -1 with errno
 * (pthread_create's). */
int cn__netpoll_start(cn__netpoll *np);

/* Tells the thread to quit, wakes it wherever it waits, joins it. */
void cn__netpoll_join(cn__netpoll *np);

#endif
