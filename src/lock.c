/*
 * src/lock.c — the contended half of the short lock (lock.h).
 *
 * Threads: any.
 */
#include <sched.h>

#include "lock.h"

/* About a microsecond of spinning: longer than any critical section the
 * lock guards, unless the holder was preempted, which yielding fixes. */
#define SPINS 256

void cn__lock_wait(cn__lock *l)
{
	for (;;) {
		for (int i = 0; i < SPINS; i++) {
			/* Read before writing: spinners share the line instead
			 * of bouncing it between cores. */
			if (!__atomic_load_n(l, __ATOMIC_RELAXED) &&
			    !__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
				return;
			CN__CPU_RELAX();
		}
		sched_yield();
	}
}
