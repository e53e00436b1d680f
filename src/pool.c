/*
 * src/pool.c — the blocking-call pool (pool.h).
 *
 * Threads: workers run worker(); the rest is called from scheduler threads
 * and the runtime's creating/destroying thread. Everything shared is under
 * pool->lock.
 */
#include <errno.h>
#include <signal.h>
#include <time.h>

#include "pool.h"

void cn__pool_init(cn__pool *pool, unsigned max)
{
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pthread_cond_init(&pool->gone, NULL);
	pool->head = pool->tail = NULL;
	pool->max = max ? max : CN__POOL_DEFAULT;
	pool->threads = pool->idle = 0;
	pool->quit = 0;
}

static cn__job *pop(cn__pool *pool)
{
	cn__job *j = pool->head;

	if (j) {
		pool->head = j->next;
		if (!pool->head)
			pool->tail = NULL;
	}
	return j;
}

static void *worker(void *arg)
{
	cn__pool *pool = arg;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		cn__job *j;
		void (*done)(cn__job *);

		while (!pool->head && !pool->quit) {
			struct timespec until;
			int r;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += CN__POOL_IDLE_S;
			pool->idle++;
			r = pthread_cond_timedwait(&pool->work, &pool->lock, &until);
			pool->idle--;
			if (r == ETIMEDOUT && !pool->head)
				goto out; /* retire */
		}
		j = pop(pool);
		if (!j)
			break; /* quit, nothing queued */
		pthread_mutex_unlock(&pool->lock);
		/* Read before run: once run fulfilled it, a job on its waiter's
		 * stack may be gone. */
		done = j->done;
		j->run(j);
		if (done)
			done(j);
		pthread_mutex_lock(&pool->lock);
	}
out:
	pool->threads--;
	pthread_cond_broadcast(&pool->gone);
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* Caller holds the lock. */
static int start_worker(cn__pool *pool)
{
	pthread_attr_t a;
	sigset_t all, old;
	pthread_t th;
	int err;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	/* Workers take no signals: a handler belongs on the program's own
	 * threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&th, &a, worker, pool);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
	if (err == 0)
		pool->threads++;
	return err;
}

int cn__pool_submit(cn__pool *pool, cn__job *j)
{
	int err = 0;

	j->next = NULL;
	pthread_mutex_lock(&pool->lock);
	if (pool->idle == 0 && pool->threads < pool->max)
		err = start_worker(pool);
	if (err && pool->threads == 0) {
		pthread_mutex_unlock(&pool->lock);
		errno = EAGAIN;
		return -1;
	}
	if (pool->tail)
		pool->tail->next = j;
	else
		pool->head = j;
	pool->tail = j;
	if (pool->idle)
		pthread_cond_signal(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	return 0;
}

int cn__pool_withdraw(cn__pool *pool, cn__job *j)
{
	cn__job **pp;
	int found = 0;

	pthread_mutex_lock(&pool->lock);
	for (pp = &pool->head; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			found = 1;
			break;
		}
	}
	if (found) {
		pool->tail = NULL;
		for (cn__job *k = pool->head; k; k = k->next)
			pool->tail = k;
	}
	pthread_mutex_unlock(&pool->lock);
	return found;
}

void cn__pool_destroy(cn__pool *pool)
{
	cn__job *j;

	pthread_mutex_lock(&pool->lock);
	pool->quit = 1;
	pthread_cond_broadcast(&pool->work);
	while ((j = pop(pool))) {
		void (*done)(cn__job *) = j->done;

		pthread_mutex_unlock(&pool->lock);
		cn_promise_fulfil(&j->p, -1, ECANCELED);
		if (done)
			done(j);
		pthread_mutex_lock(&pool->lock);
	}
	while (pool->threads)
		pthread_cond_wait(&pool->gone, &pool->lock);
	pthread_mutex_unlock(&pool->lock);
	pthread_cond_destroy(&pool->work);
	pthread_cond_destroy(&pool->gone);
	pthread_mutex_destroy(&pool->lock);
}
