/*
 * src/fdtable.c — the two-level fd table and the wait-word transitions
 * (the states are described one by one in fdtable.h).
 *
 * Threads: cn__fd_get() and table init/free: scheduler thread only;
 * cn__fd_lookup() and cn__fd_take(): any thread.
 */
#include <errno.h>
#include <stdlib.h>

#include "fdtable.h"

int cn__fdtable_init(cn__fdtable *t)
{
	t->chunks = calloc(CN__FD_CHUNKS, sizeof(*t->chunks));
	if (!t->chunks) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void cn__fdtable_free(cn__fdtable *t)
{
	if (!t->chunks)
		return;
	for (unsigned i = 0; i < CN__FD_CHUNKS; i++)
		free(atomic_load_explicit(&t->chunks[i], memory_order_relaxed));
	free(t->chunks);
	t->chunks = NULL;
}

cn__fdent *cn__fd_lookup(cn__fdtable *t, int fd)
{
	cn__fdent *c;

	if (fd < 0 || (unsigned)fd >= CN__FD_MAX)
		return NULL;
	c = atomic_load_explicit(&t->chunks[(unsigned)fd >> CN__FD_CHUNK_SHIFT],
	                         memory_order_acquire);
	return c ? &c[(unsigned)fd & (CN__FD_CHUNK - 1)] : NULL;
}

cn__fdent *cn__fd_get(cn__fdtable *t, int fd)
{
	cn__fdent *e = cn__fd_lookup(t, fd);
	cn__fdent *c;

	if (e)
		return e;
	if (fd < 0 || (unsigned)fd >= CN__FD_MAX) {
		errno = EBADF;
		return NULL;
	}
	/* All-zero is a valid entry: seq 0, unknown, no waiters. */
	c = calloc(CN__FD_CHUNK, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	atomic_store_explicit(&t->chunks[(unsigned)fd >> CN__FD_CHUNK_SHIFT], c,
	                      memory_order_release);
	return &c[(unsigned)fd & (CN__FD_CHUNK - 1)];
}

cn_promise *cn__fd_take(cn__fdent *e, int dir)
{
	_Atomic uintptr_t *w = &e->wait[dir];
	uintptr_t old = atomic_load_explicit(w, memory_order_acquire);

	for (;;) {
		uintptr_t want;

		if (old == CN__FD_READY)
			return NULL;
		want = old == 0 ? CN__FD_READY : 0;
		/* acq_rel: acquire the waiter's promise initialisation, which
		 * it published with its own CAS 0->promise. */
		if (atomic_compare_exchange_weak_explicit(w, &old, want, memory_order_acq_rel,
		                                          memory_order_acquire))
			return old == 0 ? NULL : (cn_promise *)old;
	}
}

int cn__fd_reclaim(cn__fdent *e, int dir, cn_promise *p)
{
	uintptr_t old = (uintptr_t)p;

	return atomic_compare_exchange_strong_explicit(&e->wait[dir], &old, 0, memory_order_acq_rel,
	                                               memory_order_acquire);
}
