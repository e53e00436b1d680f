/*
 * src/group.c — groups of tasks (coronet/task.h): a list of member handles
 * that the group owns, a count, and one waiter.
 *
 * A member leaves when its coroutine ends (its handle's on_end hook, on
 * the member's scheduler thread): it unlinks itself and, as the last one,
 * fulfils the waiter's promise, under the group's lock; the waiter takes
 * that lock after its await returned and before it returns, so nobody
 * writes into its frame afterwards (as handle.c's joins). Lock order: the
 * group's, then a handle's (cancel); a member's end releases its handle's
 * lock before it takes the group's.
 *
 * Threads: see task.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "handle.h"
#include "promise_internal.h"

struct cn_group {
	pthread_mutex_t lock;
	cn_task *head;      /* members, through their handles' prev/next */
	long n;             /* members; written under lock, read by size */
	cn_promise *waiter; /* the waiting coroutine's promise */
	int cancelled;
};

cn_group *cn_group_create(void)
{
	cn_group *g = calloc(1, sizeof(*g));

	if (!g) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&g->lock, NULL);
	return g;
}

/* A member's on_end hook. */
static void leave(cn_task *h)
{
	cn_group *g = h->owner;

	pthread_mutex_lock(&g->lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		g->head = h->next;
	if (h->next)
		h->next->prev = h->prev;
	__atomic_store_n(&g->n, g->n - 1, __ATOMIC_RELAXED);
	if (g->n == 0 && g->waiter) {
		cn_promise_fulfil(g->waiter, 0, 0);
		g->waiter = NULL;
	}
	pthread_mutex_unlock(&g->lock);
	cn__handle_unref(h); /* the group's reference, as its owner */
}

int cn_group_spawn(cn_group *g, cn_runtime *rt, cn_task_fn fn, void *arg, const cn_coro_opts *opts)
{
	cn_task *h;

	if (!g) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&g->lock);
	if (g->cancelled) {
		pthread_mutex_unlock(&g->lock);
		errno = ECANCELED;
		return -1;
	}
	/* Made, linked and queued under the lock: a cancel either comes
	 * first (and we fail) or finds the member on the list. */
	h = cn__handle_make(rt, fn, arg, opts);
	if (!h) {
		pthread_mutex_unlock(&g->lock);
		return -1;
	}
	h->on_end = leave;
	h->owner = g;
	h->next = g->head;
	if (g->head)
		g->head->prev = h;
	g->head = h;
	__atomic_store_n(&g->n, g->n + 1, __ATOMIC_RELAXED);
	cn__handle_start(h, rt);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static void cancel_locked(cn_group *g)
{
	g->cancelled = 1;
	for (cn_task *h = g->head; h; h = h->next)
		cn_task_cancel(h);
}

int cn_group_cancel(cn_group *g)
{
	if (!g) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&g->lock);
	cancel_locked(g);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

long cn_group_size(const cn_group *g)
{
	if (!g) {
		errno = EINVAL;
		return -1;
	}
	return __atomic_load_n(&g->n, __ATOMIC_RELAXED);
}

/* Waits until g is empty; called with g locked, returns with it unlocked.
 * 0, or -1 with errno. */
static int wait_empty(cn_group *g, int64_t deadline, int flags)
{
	cn_promise wp;
	int err;

	if (g->n == 0) {
		pthread_mutex_unlock(&g->lock);
		return 0;
	}
	if (g->waiter) {
		pthread_mutex_unlock(&g->lock);
		errno = EBUSY;
		return -1;
	}
	cn_promise_init(&wp);
	/* Cleared under the lock before wait_empty returns (the header
	 * comment): never left pointing into a dead frame. */
	g->waiter = &wp; // cppcheck-suppress autoVariables
	pthread_mutex_unlock(&g->lock);

	err = cn__promise_await(&wp, deadline, flags | CN__AWAIT_FOR(CN__WHAT_JOIN)) < 0 ? errno : 0;

	pthread_mutex_lock(&g->lock);
	if (g->waiter == &wp)
		g->waiter = NULL;
	if (g->n == 0) {
		pthread_mutex_unlock(&g->lock);
		return 0;
	}
	pthread_mutex_unlock(&g->lock);
	errno = err ? err : EIO;
	return -1;
}

int cn_group_wait(cn_group *g, int64_t deadline)
{
	if (!g) {
		errno = EINVAL;
		return -1;
	}
	if (!cn__waiter_current())
		return -1;
	pthread_mutex_lock(&g->lock);
	return wait_empty(g, deadline, 0);
}

int cn_group_destroy(cn_group *g)
{
	if (!g) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&g->lock);
	if (g->waiter) {
		pthread_mutex_unlock(&g->lock);
		errno = EBUSY;
		return -1;
	}
	cancel_locked(g);
	if (g->n && !cn__waiter_current()) {
		pthread_mutex_unlock(&g->lock);
		errno = EPERM;
		return -1;
	}
	/* A cancel or stop of ours must not cut this short: the members
	 * would outlive g. */
	if (wait_empty(g, CN_NO_DEADLINE, CN__AWAIT_NOCANCEL) < 0)
		return -1;
	pthread_mutex_destroy(&g->lock);
	free(g);
	return 0;
}
