/*
 * coronet/sync.h — coroutine-aware mutex, condition variable, wait group
 * and counting semaphore.
 *
 * Waiting parks the calling coroutine, never its thread: the other
 * coroutines of its runtime run meanwhile. Coroutines of different
 * runtimes (threads) may share any of these. Waiters are served in arrival
 * order (FIFO): an unlock hands the mutex to the oldest waiter, so a
 * coroutine that locks again at once cannot barge ahead of it; a release
 * hands its unit likewise.
 *
 * Every wait takes an absolute cn_now() deadline (CN_NO_DEADLINE, -1, for
 * none) where the name ends in _until or the call has a deadline argument,
 * and fails with ETIMEDOUT when it passes, ECANCELED when the caller is
 * cancelled (coronet/task.h) or its runtime stops, EPERM when the caller is
 * not a runtime coroutine. A wait that raced with its give-up and was
 * served is reported as served: the mutex is held, the unit taken.
 *
 * The structs are embedded by the user (no allocation); their fields are
 * the library's. Init before use; destroy fails with EBUSY while anyone
 * waits (or, for a mutex, holds it). Undefined, not detected: using one
 * that was not initialised, or after destroy.
 *
 * Mutex cost: a mutex is biased to the first runtime that locks it; that
 * runtime's coroutines lock and unlock it with plain loads and stores (no
 * atomic read-modify-write: ~2.5 ns a pair where two CASes cost 9.4 ns).
 * The first lock or trylock from another thread revokes the bias for good:
 * if the owning runtime is running, the caller waits for it to finish its
 * current coroutine's stretch (a task parks meanwhile; a plain coroutine
 * yields its thread, so even trylock may wait that long once), and from
 * then on every locker uses the atomic protocol. The mutex's behaviour is
 * the same either way.
 *
 * Threads: waits from runtime coroutines; cn_cond_signal/broadcast,
 * cn_waitgroup_add/done, cn_sem_release, trylock/tryacquire and init/
 * destroy from any thread.
 */
#ifndef CORONET_SYNC_H
#define CORONET_SYNC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's waiter list (src/waitq.h), guarded by `lock`, a short
 * spin lock of the library's own (src/lock.h; 0 is unlocked). */
struct cn__wnode;
typedef struct cn__waitq {
	struct cn__wnode *head, *tail;
} cn__waitq;

typedef struct cn_mutex {
	uintptr_t state; /* 0 free, else the holding coroutine | 1 if maybe waited for */
	uint64_t bias;   /* 0 fresh, 1 shared, else the runtime locking it without atomics */
	int lock;        /* guards q */
	cn__waitq q;
} cn_mutex;

typedef struct cn_cond {
	int lock;
	cn__waitq q;
} cn_cond;

typedef struct cn_waitgroup {
	int lock;
	long count;
	cn__waitq q;
} cn_waitgroup;

typedef struct cn_sem {
	int lock;
	long value;
	cn__waitq q;
} cn_sem;

/* ---- mutex ---- */

/* 0, or -1/EINVAL (m NULL). */
int cn_mutex_init(cn_mutex *m);
/* 0, or -1 with EINVAL (NULL) or EBUSY (held). */
int cn_mutex_destroy(cn_mutex *m);

/* Locks m, parking the coroutine while another holds it. 0, or -1 with
 * EINVAL (NULL), EPERM, EDEADLK (the caller holds m already), and for the
 * _until form ETIMEDOUT; ECANCELED. Not recursive. */
int cn_mutex_lock(cn_mutex *m);
int cn_mutex_lock_until(cn_mutex *m, int64_t deadline);

/* Locks m if it is free: 0, or -1 with EBUSY (held), EINVAL, EPERM (not a
 * coroutine: the owner is a coroutine). Never waits for m's holder; the
 * first call from another thread than m's biased runtime waits for that
 * runtime's current round (see "Mutex cost"). */
int cn_mutex_trylock(cn_mutex *m);

/* Unlocks m; hands it to the oldest waiter if any. 0, or -1 with EINVAL,
 * EPERM (the caller does not hold m). */
int cn_mutex_unlock(cn_mutex *m);

/* ---- condition variable ---- */

int cn_cond_init(cn_cond *c);
/* EBUSY while coroutines wait on c. */
int cn_cond_destroy(cn_cond *c);

/*
 * Atomically releases m (which the caller must hold) and waits for a
 * signal or the deadline, then locks m again before returning, in every
 * case: the relock waits for m however long it takes (a cancel or stop
 * does not cut it short: the caller's critical section needs m). 0 (woken
 * by a signal; as with pthreads, re-check the condition), or -1 with
 * EINVAL (NULL), EPERM (not a coroutine, or m not held), ETIMEDOUT,
 * ECANCELED.
 */
int cn_cond_wait(cn_cond *c, cn_mutex *m, int64_t deadline);

/* Wakes the oldest waiter / every waiter. 0, or -1/EINVAL. */
int cn_cond_signal(cn_cond *c);
int cn_cond_broadcast(cn_cond *c);

/* ---- wait group ---- */

int cn_waitgroup_init(cn_waitgroup *wg);
int cn_waitgroup_destroy(cn_waitgroup *wg);

/* Adds n (may be negative) to the count; at 0 every waiter wakes. 0, or
 * -1 with EINVAL (NULL, or the count would go below 0: it is unchanged). */
int cn_waitgroup_add(cn_waitgroup *wg, long n);
/* cn_waitgroup_add(wg, -1). */
int cn_waitgroup_done(cn_waitgroup *wg);
/* Waits until the count is 0 (0 at once if it is); any number of
 * coroutines may wait. */
int cn_waitgroup_wait(cn_waitgroup *wg, int64_t deadline);

/* ---- counting semaphore ---- */

/* value >= 0, else EINVAL. */
int cn_sem_init(cn_sem *s, long value);
int cn_sem_destroy(cn_sem *s);
/* Takes one unit, waiting while there is none. */
int cn_sem_acquire(cn_sem *s, int64_t deadline);
/* Takes one unit if one is free now (and nobody waits): 0, or -1 with
 * EAGAIN, EINVAL. */
int cn_sem_tryacquire(cn_sem *s);
/* Returns one unit (to the oldest waiter, if any). 0, or -1 with EINVAL,
 * EOVERFLOW (the value is LONG_MAX). */
int cn_sem_release(cn_sem *s);

#ifdef __cplusplus
}
#endif

#endif
