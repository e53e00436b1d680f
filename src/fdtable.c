/*
 * src/fdtable.c — the two-level fd table and every wait-word transition
 * (the states are described one by one in fdtable.h).
 *
 * Threads: as fdtable.h says for each function: cn__fd_lookup(),
 * cn__fd_event() and cn__fd_take() on any thread, the rest on the scheduler
 * thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

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

int cn__fd_event(cn__fdtable *t, const cn__poll_event *ev, cn_promise **out)
{
	int fd = (int)(uint32_t)ev->token;
	uint32_t seq = (uint32_t)(ev->token >> 32);
	cn__fdent *e = cn__fd_lookup(t, fd);
	int n = 0;

	if (!e || atomic_load_explicit(&e->seq, memory_order_acquire) != seq)
		return 0;
	/* Before the takes: the waiter they wake must find the error. */
	if (ev->error)
		cn__fd_set_error(e, seq, ev->error);
	if ((ev->events & CN__POLL_IN) && (out[n] = cn__fd_take(e, CN__DIR_READ)))
		n++;
	if ((ev->events & CN__POLL_OUT) && (out[n] = cn__fd_take(e, CN__DIR_WRITE)))
		n++;
	return n;
}

int cn__fd_arm(cn__fdent *e, int dir)
{
	uintptr_t old = CN__FD_READY;

	if (atomic_compare_exchange_strong(&e->wait[dir], &old, 0))
		return 1;
	if (old != 0) {
		errno = EBUSY;
		return -1;
	}
	return 0;
}

int cn__fd_publish(cn__fdent *e, int dir, cn_promise *p)
{
	uintptr_t old = 0;

	/* seq_cst (release at least): the netpoll side acquires p with its
	 * own CAS, so it sees p's set-up. */
	if (atomic_compare_exchange_strong(&e->wait[dir], &old, (uintptr_t)p))
		return 0;
	/* Only READY can have appeared (the netpoll side never stores a
	 * promise): consume it. */
	atomic_compare_exchange_strong(&e->wait[dir], &old, 0);
	return 1;
}

int cn__fd_retire(cn__fdent *e, cn_promise **out)
{
	int n = 0;

	atomic_fetch_add_explicit(&e->seq, 1, memory_order_release);
	atomic_store_explicit(&e->error, 0, memory_order_relaxed);
	for (int dir = 0; dir < 2; dir++) {
		uintptr_t old = atomic_load(&e->wait[dir]);

		if (old > CN__FD_READY && cn__fd_reclaim(e, dir, (cn_promise *)old))
			out[n++] = (cn_promise *)old;
		old = CN__FD_READY;
		atomic_compare_exchange_strong(&e->wait[dir], &old, 0);
	}
	return n;
}

void cn__fd_renew(cn__fdent *e)
{
	atomic_fetch_add_explicit(&e->seq, 1, memory_order_release);
	atomic_store(&e->wait[CN__DIR_READ], 0);
	atomic_store(&e->wait[CN__DIR_WRITE], 0);
	atomic_store(&e->error, 0);
	e->state = CN__FD_UNKNOWN;
}

int cn__fd_next_registered(cn__fdtable *t, int from)
{
	for (unsigned fd = from < 0 ? 0 : (unsigned)from; fd < CN__FD_MAX;) {
		cn__fdent *c = atomic_load_explicit(&t->chunks[fd >> CN__FD_CHUNK_SHIFT],
		                                    memory_order_relaxed);

		if (!c) {
			fd = (fd | (CN__FD_CHUNK - 1)) + 1;
			continue;
		}
		if (c[fd & (CN__FD_CHUNK - 1)].state == CN__FD_REGISTERED)
			return (int)fd;
		fd++;
	}
	return -1;
}

int cn__fd_same_file(const cn__fdent *e, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	return (uint64_t)st.st_dev == e->dev && (uint64_t)st.st_ino == e->ino;
}
