/*
 * src/bias.h — a word biased to one scheduler: the coroutines of that
 * scheduler use the thing it guards without atomic read-modify-writes
 * until a coroutine of another thread needs it.
 *
 * Why: an uncontended cn_mutex lock + unlock shared by threads is two
 * atomic read-modify-writes, ~9.4 ns on the EPYC we measure on, while most
 * mutexes in a coroutine program are only ever taken by coroutines of one
 * runtime, which run on one thread and cannot interleave between two
 * instructions that do not yield. So a mutex's `bias` word (sync.h) names
 * the scheduler that first locked it, and that scheduler's coroutines take
 * and give it with plain loads and stores (mutex.c). This is the JVM's
 * biased locking, with the scheduler's run loop as the safepoint.
 *
 * The word's values:
 *   CN__BIAS_NONE (0)   fresh: the first locker claims it (CAS) for its
 *                       scheduler's id, or SHARED if it has none;
 *   CN__BIAS_SHARED (1) every thread uses the atomic protocol;
 *   an id (>= 2^20)     biased to the scheduler with that id.
 * It only ever moves NONE -> id -> SHARED or NONE -> SHARED.
 *
 * Revocation (cn__bias_revoke), when a coroutine of another thread finds
 * the word biased: under the id's slot lock, if the scheduler is gone or
 * not inside cn__sched_run, none of its coroutines can be half-way through
 * a plain access, so the revoker makes the word SHARED itself; else it
 * queues a request and the owner serves it between two coroutines (in the
 * inbox drain, or when its run ends), where none of its coroutines is
 * half-way either. The owner's release store of SHARED (and the slot lock)
 * publishes everything its coroutines wrote under the bias. A revoked word
 * never becomes biased again: a mutex shared by threads once pays the
 * atomic protocol from then on, as it did before biasing.
 *
 * Ids: a slot table (never freed, up to 2^20 live schedulers) hands each
 * scheduler a slot; an id is the slot's index plus its use count, so a
 * word biased to a scheduler that was destroyed never matches the id of
 * one that reuses its slot. A scheduler that finds no slot has id 0 and
 * never biases.
 *
 * Threads: attach/detach/run by the scheduler's thread (run: the thread
 * that runs it); cn__bias_here by any; revoke by a coroutine (a task parks
 * while it waits, a plain coroutine yields its thread between looks).
 */
#ifndef CORONET_BIAS_H
#define CORONET_BIAS_H

#include <stdint.h>

#include "base.h"

#define CN__BIAS_NONE ((uint64_t)0)
#define CN__BIAS_SHARED ((uint64_t)1)
/* What cn__bias_here() says on a thread that runs no biasing scheduler:
 * matches no word. */
#define CN__BIAS_NOBODY UINT64_MAX

struct cn__sched;

/* The id of the scheduler running on this thread, or CN__BIAS_NOBODY. */
#if defined(__APPLE__)
extern CN__HIDDEN __thread uint64_t cn__bias_tls;
#else
extern CN__HIDDEN __thread uint64_t cn__bias_tls __attribute__((tls_model("initial-exec")));
#endif
static inline uint64_t cn__bias_here(void)
{
	return cn__bias_tls;
}

/* Gives s a slot and an id (s->bias_id, 0 when none is left). */
void cn__bias_attach(struct cn__sched *s);
/* Ends s's id: words still biased to it are revoked by whoever next
 * needs them. s does not run. */
void cn__bias_detach(struct cn__sched *s);
/* s's run begins (1) or ends (0) on the calling thread; an end serves
 * the requests still queued. */
void cn__bias_run(struct cn__sched *s, int running);

/* Claims a fresh word *w for the calling thread's scheduler (or SHARED);
 * returns what *w says afterwards. */
uint64_t cn__bias_claim(uint64_t *w);

/* Returns once *w, which said b (an id that is not the caller's), is
 * SHARED; waits for b's scheduler to finish its round if it runs. */
void cn__bias_revoke(uint64_t *w, uint64_t b);

#endif
