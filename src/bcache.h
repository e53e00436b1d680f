/*
 * src/bcache.h — a scheduler's cache of freed blocks of one size (its
 * tasks, its task handles).
 *
 * Why: a spawn + join allocated and freed two blocks, and glibc's malloc
 * and free cost ~600 instructions of the ~1,900 the pair took. A short
 * LIFO of blocks that only the scheduler's own thread touches costs a few
 * loads and stores and keeps the blocks warm in its cache. Blocks freed on
 * another thread go back to malloc. Sanitizer builds skip the cache, so
 * ASan still sees every use after free.
 *
 * Threads: the owning scheduler's thread only (callers check
 * cn__sched_here()).
 */
#ifndef CORONET_BCACHE_H
#define CORONET_BCACHE_H

#include <stdlib.h>

#include "base.h"

#define CN__BCACHE_MAX 64u

typedef struct cn__bcache {
	void *head;
	unsigned n;
} cn__bcache;

static inline void *cn__bcache_get(cn__bcache *c)
{
	void *b = c->head;

	if (b) {
		c->head = *(void **)b;
		c->n--;
	}
	return b;
}

/* 1 when c took b, 0 when the caller must free it. */
static inline int cn__bcache_put(cn__bcache *c, void *b)
{
#if defined(CN__ASAN) || defined(CN__TSAN)
	(void)c;
	(void)b;
	return 0;
#else
	if (c->n >= CN__BCACHE_MAX)
		return 0;
	*(void **)b = c->head;
	c->head = b;
	c->n++;
	return 1;
#endif
}

static inline void cn__bcache_drop(cn__bcache *c)
{
	void *b;

	while ((b = cn__bcache_get(c)))
		free(b);
}

#endif
