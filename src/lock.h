/*
 * src/lock.h — the short lock that guards the coroutine primitives'
 * waiter lists (channels, mutex, cond, wait group, semaphore, task
 * handles, groups, a scheduler's task list).
 *
 * Why not a pthread mutex: every channel message and every join took one
 * and released it, and glibc's unlock is an atomic read-modify-write as
 * its lock is; on the EPYC we measure on, one such instruction costs
 * ~4.6 ns. Here taking is one exchange and releasing is a plain release
 * store (x86: a mov; arm64: stlr), which halves what a channel message
 * pays in atomics. Why not ck_spinlock: CK's x86 atomics are inline
 * assembly that ThreadSanitizer cannot see (it would report the lists as
 * races), and its spin never gives the CPU back; these __atomic builtins
 * are what TSan models, and a waiter that spun for a while yields its
 * time slice, so a holder that was preempted (the machines have 2 cores)
 * gets to run.
 *
 * Held only for a few list operations and one element copy: nobody may
 * yield, park or call out to user code while holding it. Not reentrant.
 *
 * Threads: any.
 */
#ifndef CORONET_LOCK_H
#define CORONET_LOCK_H

#include "base.h"

/* 0 free, 1 held. Zero-initialised is free; nothing to destroy. */
typedef int cn__lock;

/* Contended: spins, then yields the CPU between tries. */
void cn__lock_wait(cn__lock *l);

static inline void cn__lock_take(cn__lock *l)
{
	if (CN__UNLIKELY(__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)))
		cn__lock_wait(l);
}

static inline void cn__lock_give(cn__lock *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

#endif
