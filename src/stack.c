/*
 * src/stack.c — guarded coroutine stacks: the per-thread cache in front of
 * the slabs (slab.c), and what checkers must be told about a stack.
 *
 * Cache. Each thread keeps a LIFO array of freed stacks (at most CACHE_MAX
 * of them and CACHE_BYTES of usable size, since a cached stack keeps whatever
 * pages it touched). Alloc and free hit the cache without a system call or a
 * lock. When a free finds the cache full, the older half goes back to its
 * slabs in one batch (their pages returned with MADV_DONTNEED, the guard
 * kept). So memory held by idle stacks is bounded by the cache per thread,
 * and address space by the live stacks rounded up to slabs. A thread's cache
 * is emptied into the slabs when the thread exits (pthread key destructor).
 *
 * Threads: any thread may allocate and free, and a stack may be freed by
 * another thread than the one that allocated it. The cache is thread-local.
 */
#include "stack.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"
#include "coronet/coro.h"
#include "slab.h"

#ifdef CN__VALGRIND
#include <valgrind/valgrind.h>
#endif
#ifdef CN__ASAN
#include <sanitizer/asan_interface.h>
#endif

#define CACHE_MAX 64
#define CACHE_BYTES ((size_t)16 * 1024 * 1024)

/* Guards and stacks are whole pages; a cached stack matches a request
 * only if both its sizes do. */
struct cache {
	unsigned n;
	bool registered; /* the key destructor will run for this thread */
	bool dead;       /* destructor ran: frees go straight to the slabs */
	size_t bytes;
	cn__stack e[CACHE_MAX]; /* e[n - 1] is the most recently freed */
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static atomic_int inited;
static size_t page_size;
static pthread_key_t cache_key;
#ifdef CN__VALGRIND
static bool on_valgrind; /* asked once: the client request is not free */
#endif

static _Thread_local struct cache tls_cache;

static void cache_destroy(void *arg);

static void init(void)
{
	const char *env = getenv("CORONET_GUARD");
	long ps = sysconf(_SC_PAGESIZE);
	int m;

	page_size = ps > 0 ? (size_t)ps : 4096;
#ifdef CN__VALGRIND
	on_valgrind = RUNNING_ON_VALGRIND != 0;
#endif
	if (env && strcmp(env, "mprotect") == 0)
		m = CN__GUARD_MPROTECT;
	else
		m = cn__slab_madvise_works(page_size) ? CN__GUARD_MADVISE : CN__GUARD_MPROTECT;
	cn__slab_init(page_size, m);
	/* Without the key a thread's cache would leak at thread exit; there is
	 * no error path for a once routine, so such a process simply never
	 * caches (see cn__stack_free). */
	if (pthread_key_create(&cache_key, cache_destroy) == 0)
		atomic_store_explicit(&inited, 1, memory_order_release);
	else
		atomic_store_explicit(&inited, 2, memory_order_release);
}

static inline void ensure_init(void)
{
	if (atomic_load_explicit(&inited, memory_order_acquire) == 0)
		pthread_once(&init_once, init);
}

int cn__stack_guard_method(void)
{
	ensure_init();
	return cn__slab_method();
}

static size_t guard_of(const cn__stack *st)
{
	return (size_t)(st->lo - st->guard);
}

static void cache_flush(struct cache *c, unsigned keep)
{
	unsigned out = c->n - keep;
	unsigned i;

	if (c->n <= keep)
		return;
	/* The oldest entries are the coldest: they go, the newest stay. */
	cn__slab_give(c->e, out);
	for (i = 0; i < out; i++)
		c->bytes -= (size_t)(c->e[i].hi - c->e[i].lo);
	memmove(c->e, c->e + out, keep * sizeof(c->e[0]));
	c->n = keep;
}

static void cache_destroy(void *arg)
{
	struct cache *c = arg;

	cache_flush(c, 0);
	c->dead = true;
}

/* Tells Valgrind that st is a stack now, so switching onto it is not taken
 * for a wild stack-pointer change. */
static void hand_out(cn__stack *st)
{
#ifdef CN__VALGRIND
	if (on_valgrind)
		st->vg_id = VALGRIND_STACK_REGISTER(st->lo, st->hi);
#endif
	(void)st;
}

/* Makes st clean again, whoever gets it next. */
static void take_back(const cn__stack *st)
{
#ifdef CN__ASAN
	/* A coroutine destroyed while suspended leaves its frames' redzones
	 * poisoned. Unpoisoning here rather than at reuse means a stack that
	 * is not handed out is always clean: the next coroutine to take it
	 * from a cache does not trip over them, and neither does whoever
	 * gets the address range after its slab is unmapped. */
	ASAN_UNPOISON_MEMORY_REGION(st->lo, (size_t)(st->hi - st->lo));
#endif
#ifdef CN__VALGRIND
	if (on_valgrind)
		VALGRIND_STACK_DEREGISTER(st->vg_id);
#endif
	cn__stack_label(st, NULL);
}

int cn__stack_alloc(size_t size, size_t guard, cn__stack *st)
{
	struct cache *c = &tls_cache;
	unsigned i;

	if (!st || size < CN_CORO_STACK_MIN || size > CN_CORO_STACK_MAX ||
	    guard > CN_CORO_GUARD_MAX) {
		errno = EINVAL;
		return -1;
	}
	ensure_init();
	if (guard == 0)
		guard = CN__STACK_GUARD;
	size = (size + page_size - 1) & ~(page_size - 1);
	guard = (guard + page_size - 1) & ~(page_size - 1);
	/* Newest first: the top entry matches whenever one shape is in use. */
	for (i = c->n; i-- > 0;) {
		if ((size_t)(c->e[i].hi - c->e[i].lo) == size && guard_of(&c->e[i]) == guard) {
			*st = c->e[i];
			c->e[i] = c->e[--c->n];
			c->bytes -= size;
			hand_out(st);
			return 0;
		}
	}
	if (cn__slab_take(size, guard, st) != 0)
		return -1;
	hand_out(st);
	return 0;
}

void cn__stack_free(cn__stack *st)
{
	struct cache *c = &tls_cache;
	size_t size;

	if (!st || !st->lo)
		return;
	size = (size_t)(st->hi - st->lo);
	take_back(st);
	if (c->dead || size > CACHE_BYTES ||
	    atomic_load_explicit(&inited, memory_order_relaxed) != 1) {
		cn__slab_give(st, 1);
		goto out;
	}
	if (!c->registered) {
		if (pthread_setspecific(cache_key, c) != 0) {
			cn__slab_give(st, 1);
			goto out;
		}
		c->registered = true;
	}
	if (c->n == CACHE_MAX || c->bytes + size > CACHE_BYTES) {
		cache_flush(c, c->n / 2);
		while (c->n > 0 && c->bytes + size > CACHE_BYTES)
			cache_flush(c, c->n / 2);
	}
	c->e[c->n++] = *st;
	c->bytes += size;
out:
	st->lo = st->hi = st->guard = NULL;
	st->slab = NULL;
}

int cn__stack_set_guard_method(int m)
{
	ensure_init();
	if (m != CN__GUARD_MADVISE && m != CN__GUARD_MPROTECT) {
		errno = EINVAL;
		return -1;
	}
	if (m == CN__GUARD_MADVISE && !cn__slab_madvise_works(page_size)) {
		errno = ENOTSUP;
		return -1;
	}
	cn__slab_set_method(m);
	cache_flush(&tls_cache, 0);
	return 0;
}

unsigned long cn__stack_syscalls(void)
{
	return cn__slab_syscalls();
}

size_t cn__stack_cached(void)
{
	return tls_cache.n;
}

void cn__stack_cache_flush(void)
{
	cache_flush(&tls_cache, 0);
}
