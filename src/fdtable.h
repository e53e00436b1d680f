/*
 * src/fdtable.h — per-runtime state of every fd used through cn_* calls, and
 * the wait words through which the netpoll side hands readiness to waiters.
 * Every transition of a wait word is in fdtable.c, beside nothing else, so
 * the protocol below can be checked in one place.
 *
 * Layout: a two-level table indexed by fd. The top level is a fixed array of
 * chunk pointers; a chunk of CN__FD_CHUNK entries is allocated on demand by
 * the scheduler and never moved or freed until the runtime is destroyed, so
 * the netpoll thread can read an entry while the scheduler adds chunks (the
 * chunk pointer is published with a release store, read with acquire). A
 * growable flat array would move under the netpoll thread's feet.
 *
 * Each entry holds:
 *   seq    bumped by cn_close(); the poller token is (seq << 32) | fd, and the
 *          netpoll side ignores an event whose seq differs from the entry's:
 *          it was queued for a closed fd whose number was reused since;
 *   state  scheduler-only: unknown / registered / always ready (the poller
 *          said EPERM: regular files and the like, whose syscalls never block);
 *   sock   scheduler-only: the fd is a socket, so reads and writes go
 *          through recv/send/recvmsg/sendmsg with MSG_DONTWAIT (they never
 *          block, whatever O_NONBLOCK says) and MSG_NOSIGNAL (a closed peer
 *          gives EPIPE, never SIGPIPE);
 *   dev, ino  scheduler-only: which file the fd number named when it was
 *          registered (fstat). The number can be closed behind the
 *          runtime's back (a plain close(), another runtime's cn_close())
 *          and handed out again for another file; io.c compares before
 *          any call that could block or wait, and registers the new file
 *          afresh when they differ (fdreg.c);
 *   error  the fd's pending error as the poller reported it with an event
 *          (cn__poll_event.error), packed as (seq << 32) | errno so an error
 *          learnt for a closed fd is never given to a reused one; 0 = none.
 *          libkqueue consumes SO_ERROR when it builds the event, so this is
 *          the only copy left: the fd's next I/O call that fails, would block
 *          or sees EOF reports it instead, and clears it (io.c). Written by
 *          whoever handles events (the netpoll thread in thread mode, with a
 *          release store before it takes the waiting promises, so the waiter
 *          woken by that event sees it); exchanged to 0 by the scheduler;
 *   wait   one atomic word per direction (read, write), moved only by CAS.
 *
 * The wait word, state by state (like Go's pollDesc rg/wg):
 *   0              nothing: no edge pending, nobody waits;
 *   CN__FD_READY   an edge arrived while nobody waited: the next waiter
 *                  retries its syscall at once instead of parking;
 *   a cn_promise*  that promise's coroutine waits for an edge.
 * Transitions (function names in brackets):
 *   waiter (scheduler, after EAGAIN) [cn__fd_arm, cn__fd_publish]: CAS
 *     READY->0 wins => retry the syscall; else CAS 0->promise and park
 *     (losing to READY => consume it and retry);
 *   netpoll side, on an event for a direction [cn__fd_take, from
 *     cn__fd_event]: loop { old = load; old == READY => done; new = (old ==
 *     0) ? READY : 0; CAS(old, new) wins => if old was a promise, the caller
 *     now owns it: fulfil and hand over };
 *   deadline or cn_close (scheduler) [cn__fd_reclaim, cn__fd_retire]: CAS
 *     promise->0 wins => the scheduler owns it and fulfils it with ETIMEDOUT
 *     / ECANCELED; loses => the netpoll thread took it and it is on its way
 *     through the completion ring: do nothing; the waiter retries, and the
 *     I/O call re-checks its deadline and the entry's seq, so it fails with
 *     ETIMEDOUT or ECANCELED and never touches a reused fd;
 *   a new life for the fd number [cn__fd_retire at cn_close, cn__fd_renew
 *     for an accepted fd]: seq bumped first, then the words emptied.
 * No wake-up can be lost: an edge either finds a promise (and wakes it) or
 * leaves READY behind for the next waiter.
 *
 * Threads: lookup-or-create, state, sock and seq writes, cn__fd_take_error(),
 * the waiter's and close's transitions: scheduler thread only.
 * cn__fd_lookup(), seq reads, cn__fd_event(), cn__fd_take() and
 * cn__fd_set_error(): any thread (the netpoll thread in thread mode).
 */
#ifndef CORONET_FDTABLE_H
#define CORONET_FDTABLE_H

#include <stdatomic.h>
#include <stdint.h>

#include "coronet/promise.h"
#include "poller.h"

#define CN__FD_CHUNK_SHIFT 10
#define CN__FD_CHUNK (1u << CN__FD_CHUNK_SHIFT) /* entries per chunk */
#define CN__FD_CHUNKS 4096u                     /* up to 4M fds */
#define CN__FD_MAX (CN__FD_CHUNK * CN__FD_CHUNKS)

#define CN__FD_READY ((uintptr_t)1)

enum { CN__DIR_READ = 0, CN__DIR_WRITE = 1 };

enum cn__fd_state {
	CN__FD_UNKNOWN = 0,    /* not (or no longer) registered */
	CN__FD_REGISTERED = 1, /* in the poller, edge-triggered, both directions */
	CN__FD_ALWAYS = 2,     /* poller refused it: syscalls never block */
};

typedef struct cn__fdent {
	_Atomic uint32_t seq;
	int state;                 /* enum cn__fd_state; scheduler only */
	int sock;                  /* a socket; scheduler only */
	uint64_t dev, ino;         /* the registered file; scheduler only */
	_Atomic uint64_t error;    /* (seq << 32) | pending errno, 0 = none */
	_Atomic uintptr_t wait[2]; /* CN__DIR_READ, CN__DIR_WRITE */
} cn__fdent;

typedef struct cn__fdtable {
	/* Written (release) by the scheduler when a chunk is added; read
	 * (acquire) by the netpoll thread. */
	_Atomic(cn__fdent *) *chunks;
} cn__fdtable;

int cn__fdtable_init(cn__fdtable *t);
void cn__fdtable_free(cn__fdtable *t);

/* The entry of fd, or NULL if its chunk does not exist. Any thread. */
cn__fdent *cn__fd_lookup(cn__fdtable *t, int fd);

/* The entry of fd, creating its chunk; NULL with EBADF (fd < 0 or beyond
 * CN__FD_MAX) or ENOMEM. Scheduler thread only. */
cn__fdent *cn__fd_get(cn__fdtable *t, int fd);

static inline uint64_t cn__fd_token(int fd, uint32_t seq)
{
	return ((uint64_t)seq << 32) | (uint32_t)fd;
}

/* Records err (non-zero) as the pending error of the fd's life seq. Any
 * thread (whoever handles the poller's events). */
static inline void cn__fd_set_error(cn__fdent *e, uint32_t seq, int err)
{
	atomic_store_explicit(&e->error, ((uint64_t)seq << 32) | (uint32_t)err,
	                      memory_order_release);
}

/* Takes the pending error of the fd's life seq: the errno value, or 0 if
 * there is none (an error recorded for an older life is dropped).
 * Scheduler thread only. */
static inline int cn__fd_take_error(cn__fdent *e, uint32_t seq)
{
	uint64_t v;

	if (!atomic_load_explicit(&e->error, memory_order_relaxed))
		return 0;
	v = atomic_exchange_explicit(&e->error, 0, memory_order_acquire);
	return (uint32_t)(v >> 32) == seq ? (int)(uint32_t)v : 0;
}

/*
 * The netpoll side of an event for direction dir (see the transitions
 * above). Returns the promise it now owns (to fulfil and hand over), or NULL.
 * Any thread; the entry may be stale (the caller checked seq).
 */
cn_promise *cn__fd_take(cn__fdent *e, int dir);

/*
 * The scheduler side of a deadline or close: tries CAS promise->0. Returns 1
 * if the scheduler now owns p, 0 if the netpoll side took it first.
 */
int cn__fd_reclaim(cn__fdent *e, int dir, cn_promise *p);

/*
 * One poller event (any thread): drops it if it is stale (its seq is not the
 * entry's: the fd was closed, maybe reused), records the fd's pending error
 * if it carries one, then takes the promises whose directions fired. Returns
 * how many it stored into out[0..1]; the caller now owns them (records and
 * hands them over).
 */
int cn__fd_event(cn__fdtable *t, const cn__poll_event *ev, cn_promise **out);

/*
 * The waiter's first step after EAGAIN in direction dir: 1 if an edge was
 * pending (consumed: retry the syscall now), 0 if the word is empty (set up
 * a promise and cn__fd_publish() it), -1 with EBUSY if another coroutine
 * waits in that direction.
 */
int cn__fd_arm(cn__fdent *e, int dir);

/*
 * Publishes p (fully set up: from here the netpoll side may own and write
 * it) as dir's waiter: 0 if it now waits, 1 if an edge came in between
 * (consumed; p was not published: retry the syscall).
 */
int cn__fd_publish(cn__fdent *e, int dir, cn_promise *p);

/*
 * cn_close's transition: a new seq (events queued for the old life are
 * stale from here on), no pending error, pending edges dropped, and every
 * waiting promise the scheduler could reclaim stored in out[] (the caller
 * settles them with ECANCELED). Returns how many.
 */
int cn__fd_retire(cn__fdent *e, cn_promise **out);

/* A fresh life for an fd number the kernel handed out again (cn_accept):
 * new seq, empty words, no error, state unknown. No promise may wait. */
void cn__fd_renew(cn__fdent *e);

/* Whether fd still names the file e was registered for (fstat against
 * e's dev, ino): 1 yes, 0 another file, -1 with errno (EBADF: closed).
 * Scheduler only. */
int cn__fd_same_file(const cn__fdent *e, int fd);

/* The first fd >= from in state CN__FD_REGISTERED, or -1. Scheduler only. */
int cn__fd_next_registered(cn__fdtable *t, int from);

#endif
