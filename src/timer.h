/*
 * src/timer.h — the runtime's timers: a binary min-heap keyed by absolute
 * deadline (cn_now() nanoseconds).
 *
 * Why a heap: the scheduler needs the nearest deadline (the poller timeout)
 * in O(1) and insert/remove in O(log n); every waiting I/O call with a
 * deadline adds one entry and removes it when the call returns, usually long
 * before it expires, so removal by index matters as much as expiry. Entries
 * live in the caller's memory (a waiting coroutine's stack) and remember
 * their heap index, so nothing is allocated per timer except heap growth.
 *
 * Threads: scheduler thread only.
 */
#ifndef CORONET_TIMER_H
#define CORONET_TIMER_H

#include <stddef.h>
#include <stdint.h>

#define CN__TIMER_IDLE ((size_t)-1)

typedef struct cn__timer cn__timer;
struct cn__timer {
	int64_t deadline;                      /* absolute, cn_now() time base */
	size_t idx;                            /* heap slot, CN__TIMER_IDLE if not armed */
	void (*fire)(cn__timer *t, void *ctx); /* called once it expired, already removed */
};

typedef struct cn__timer_heap {
	cn__timer **a;
	size_t n, cap;
} cn__timer_heap;

/* Arms t (t->deadline, t->fire set by the caller). 0, or -1/ENOMEM. */
int cn__timer_add(cn__timer_heap *h, cn__timer *t);

/* Disarms t if armed; harmless otherwise. */
void cn__timer_del(cn__timer_heap *h, cn__timer *t);

/* Nanoseconds until the nearest deadline (0 if already due), -1 if none. */
int64_t cn__timer_timeout(const cn__timer_heap *h, int64_t now);

/* Removes and fires every timer whose deadline is <= now; returns how many. */
size_t cn__timer_run(cn__timer_heap *h, int64_t now, void *ctx);

void cn__timer_heap_free(cn__timer_heap *h);

#endif
