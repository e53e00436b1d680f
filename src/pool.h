/*
 * src/pool.h — a runtime's pool of worker threads for calls that block:
 * cn_blocking(), name resolution, regular files (blocking.c, resolve.c,
 * io.c).
 *
 * A job is queued under the pool's mutex (workers are ordinary threads:
 * they may block; the scheduler holds the mutex only to link a job in or
 * out). A worker runs it and fulfils the job's promise, which reaches the
 * waiting coroutine through its scheduler's inbox. Threads start lazily,
 * one when a job finds no idle worker (up to the pool's size), and retire
 * after CN__POOL_IDLE_S seconds without work. Workers take no signals.
 *
 * Threads: submit and withdraw from a scheduler thread (any thread, in
 * fact); init and destroy on the runtime's creating/destroying thread.
 */
#ifndef CORONET_POOL_H
#define CORONET_POOL_H

#include <pthread.h>
#include <stdatomic.h>

#include "coronet/promise.h"

#define CN__POOL_DEFAULT 8
#define CN__POOL_IDLE_S 10

typedef struct cn__job cn__job;
struct cn__job {
	cn__job *next; /* queue link; the pool's */
	/* Runs on a worker and fulfils p as its last touch of j: a job may
	 * live on its waiter's stack, gone as soon as the waiter resumes. */
	void (*run)(cn__job *j);
	/* For jobs that outlive their waiter (heap, referenced): called after
	 * run (or instead of it, for a job the pool drops at destroy), read
	 * before run. NULL for a job on a waiter's stack. */
	void (*done)(cn__job *j);
	cn_promise p;
};

typedef struct cn__pool {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job came, or quit */
	pthread_cond_t gone; /* a worker exited */
	cn__job *head, *tail;
	unsigned max, threads, idle;
	int quit;
} cn__pool;

void cn__pool_init(cn__pool *pool, unsigned max);

/* Drops queued jobs (their done() runs, their promise is fulfilled with
 * ECANCELED first) and waits for running ones to return. */
void cn__pool_destroy(cn__pool *pool);

/* Queues j (run, done, p set up). 0, or -1 with EAGAIN (no worker exists
 * and none could be started). */
int cn__pool_submit(cn__pool *pool, cn__job *j);

/* Takes j out of the queue if no worker took it yet: 1 if so (it will
 * never run), 0 if it runs or ran. */
int cn__pool_withdraw(cn__pool *pool, cn__job *j);

#endif
