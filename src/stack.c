/*
 * src/stack.c — guarded coroutine stacks: slabs, guards, per-thread cache.
 *
 * Layout. A slab is one mmap (MAP_NORESERVE: only touched pages cost memory)
 * holding stacks of one usable size and one guard method:
 *
 *   [header][guard 0][stack 0][guard 1][stack 1] ... [guard n-1][stack n-1]
 *
 * One mapping per stack would stop near 65,530 stacks (vm.max_map_count), so
 * a slab holds up to SLAB_STACKS of them. The header lives in the slab's
 * first page rather than in malloc'd memory, so nothing here is ever a heap
 * block Valgrind could call a leak. Stacks are carved lazily: a stack's guard
 * is installed the first time it is handed out, so a slab whose tail is never
 * used costs neither guard mappings (mprotect) nor page-table entries
 * (madvise). Each stack is [lo, hi) with hi page aligned; its guard is the
 * CN__STACK_GUARD bytes just below lo (see stack.h for why 64 KiB).
 *
 * Cache. Each thread keeps a LIFO array of freed stacks (at most CACHE_MAX
 * of them and CACHE_BYTES of usable size, since a cached stack keeps whatever
 * pages it touched). Alloc and free hit the cache without a system call or a
 * lock. When a free finds the cache full, the older half goes back to its
 * slabs in one batch: each such stack's pages are returned with
 * MADV_DONTNEED (the guard stays installed), and a slab whose stacks are all
 * back is unmapped. So memory held by idle stacks is bounded by the cache
 * per thread, and address space by the live stacks rounded up to slabs. A
 * thread's cache is emptied into the slabs when the thread exits (pthread
 * key destructor).
 *
 * Threads: any thread may allocate and free, and a stack may be freed by
 * another thread than the one that allocated it. The cache is thread-local;
 * the slab lists are under one mutex, taken only when the cache misses or
 * overflows.
 */
#include "stack.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "coronet/coro.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CN__VALGRIND 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CN__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CN__ASAN 1
#endif
#endif
#ifdef CN__ASAN
#include <sanitizer/asan_interface.h>
#endif

#if defined(__linux__) && !defined(MADV_GUARD_INSTALL)
#define MADV_GUARD_INSTALL 102
#endif

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

/* Slabs aim at this much address space (fewer mmaps, fewer VMAs) but never
 * hold more than SLAB_STACKS stacks, so the header fits one page. */
#define SLAB_BYTES ((size_t)64 * 1024 * 1024)
#define SLAB_STACKS 256

#define CACHE_MAX 64
#define CACHE_BYTES ((size_t)16 * 1024 * 1024)

#define BUCKETS 64

struct slab {
	struct slab *prev, *next; /* in its bucket while it has stacks to give */
	size_t map_len;
	size_t size;   /* usable bytes per stack */
	size_t stride; /* guard + size */
	char *first;   /* guard of stack 0 */
	int method;
	bool listed;
	unsigned nstacks;
	unsigned carved; /* stacks [0, carved) have their guard installed */
	unsigned nfree;  /* entries in free_idx */
	unsigned live;   /* carved stacks handed out or sitting in a cache */
	uint16_t free_idx[SLAB_STACKS];
	unsigned vg_id[SLAB_STACKS]; /* Valgrind stack ids, while handed out */
};

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
static size_t guard_size;
static atomic_int method; /* for slabs mapped from now on */
static pthread_key_t cache_key;
static atomic_ulong nsyscalls;
#ifdef CN__VALGRIND
static bool on_valgrind; /* asked once: the client request is not free */
#endif

/* Partial slabs (with a free or uncarved stack), hashed by size and method. */
static pthread_mutex_t slab_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slab *buckets[BUCKETS];

static _Thread_local struct cache tls_cache;

static void cache_destroy(void *arg);

static void count_syscall(void)
{
	atomic_fetch_add_explicit(&nsyscalls, 1, memory_order_relaxed);
}

/*
 * Whether MADV_GUARD_INSTALL works here: try it once on a scratch mapping
 * with the same flags the slabs use. Success of the call is not enough:
 * emulators (qemu-user) answer unknown advice with 0 and do nothing, which
 * would hand out unguarded stacks. So the probe also checks that the kernel
 * now refuses to read the page, without faulting: process_vm_readv() on
 * ourselves reports EFAULT for a guarded page. Anything else (ENOSYS, EPERM
 * under seccomp, a successful read) means mprotect.
 */
static bool madvise_guard_works(void)
{
#ifdef __linux__
	char *p = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char byte;
	struct iovec local = {&byte, 1}, remote = {NULL, 1};
	bool ok;

	count_syscall();
	if (p == MAP_FAILED)
		return false;
	ok = madvise(p, page_size, MADV_GUARD_INSTALL) == 0;
	count_syscall();
	if (ok) {
		remote.iov_base = p;
		ok = process_vm_readv(getpid(), &local, 1, &remote, 1, 0) < 0 && errno == EFAULT;
		count_syscall();
	}
	munmap(p, 2 * page_size);
	count_syscall();
	return ok;
#else
	return false;
#endif
}

/* A child forked while another thread held slab_lock would find it locked
 * forever; holding it across fork() leaves the slab lists consistent in both
 * processes. */
static void fork_prepare(void)
{
	pthread_mutex_lock(&slab_lock);
}

static void fork_done(void)
{
	pthread_mutex_unlock(&slab_lock);
}

static void init(void)
{
	const char *env = getenv("CORONET_GUARD");
	long ps = sysconf(_SC_PAGESIZE);

	page_size = ps > 0 ? (size_t)ps : 4096;
#ifdef CN__VALGRIND
	on_valgrind = RUNNING_ON_VALGRIND != 0;
#endif
	guard_size = (CN__STACK_GUARD + page_size - 1) & ~(page_size - 1);
	if (env && strcmp(env, "mprotect") == 0)
		atomic_store(&method, CN__GUARD_MPROTECT);
	else
		atomic_store(&method,
		             madvise_guard_works() ? CN__GUARD_MADVISE : CN__GUARD_MPROTECT);
	pthread_atfork(fork_prepare, fork_done, fork_done);
	/* Without the key a thread's cache would leak at thread exit; there is
	 * no error path for a once routine, so such a process simply never
	 * caches (see cache_put). */
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
	return atomic_load_explicit(&method, memory_order_relaxed);
}

static unsigned bucket_of(size_t size, int m)
{
	return (unsigned)((size / page_size) * 2 + (unsigned)m) % BUCKETS;
}

static void slab_link(struct slab *s)
{
	struct slab **head = &buckets[bucket_of(s->size, s->method)];

	s->prev = NULL;
	s->next = *head;
	if (*head)
		(*head)->prev = s;
	*head = s;
	s->listed = true;
}

static void slab_unlink(struct slab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		buckets[bucket_of(s->size, s->method)] = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	s->listed = false;
}

/* Caller holds slab_lock. */
static struct slab *slab_new(size_t size, int m)
{
	size_t stride = guard_size + size;
	size_t hdr = (sizeof(struct slab) + page_size - 1) & ~(page_size - 1);
	size_t n = SLAB_BYTES / stride;
	struct slab *s;
	char *base;

	if (n < 1)
		n = 1;
	if (n > SLAB_STACKS)
		n = SLAB_STACKS;
	base = mmap(NULL, hdr + n * stride, PROT_READ | PROT_WRITE,
	            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	count_syscall();
	if (base == MAP_FAILED)
		return NULL;
	/* Fresh anonymous memory is zero: only the non-zero fields are set. */
	s = (struct slab *)base;
	s->map_len = hdr + n * stride;
	s->size = size;
	s->stride = stride;
	s->first = base + hdr;
	s->method = m;
	s->nstacks = (unsigned)n;
	slab_link(s);
	return s;
}

static int guard_install(char *g, int m)
{
	count_syscall();
#ifdef __linux__
	if (m == CN__GUARD_MADVISE)
		return madvise(g, guard_size, MADV_GUARD_INSTALL);
#endif
	(void)m;
	return mprotect(g, guard_size, PROT_NONE);
}

static void stack_fill(struct slab *s, unsigned idx, cn__stack *st)
{
	st->guard = s->first + (size_t)idx * s->stride;
	st->lo = st->guard + guard_size;
	st->hi = st->lo + s->size;
	st->slab = s;
}

static unsigned stack_index(const cn__stack *st)
{
	const struct slab *s = st->slab;

	return (unsigned)((size_t)(st->guard - s->first) / s->stride);
}

/* The slow path: a stack from a partial slab, or from a new one. */
static int slab_alloc(size_t size, cn__stack *st)
{
	int m = atomic_load_explicit(&method, memory_order_relaxed);
	struct slab *s, *unmap = NULL;
	unsigned idx;
	int err = 0;

	pthread_mutex_lock(&slab_lock);
	for (s = buckets[bucket_of(size, m)]; s; s = s->next)
		if (s->size == size && s->method == m)
			break;
	if (!s && !(s = slab_new(size, m))) {
		err = ENOMEM;
		goto out;
	}
	if (s->nfree > 0) {
		idx = s->free_idx[--s->nfree];
	} else {
		idx = s->carved;
		/* The guard goes in under the lock: it is one system call on
		 * a path that already missed the cache, and it keeps
		 * [0, carved) the exact set of guarded stacks. */
		if (guard_install(s->first + (size_t)idx * s->stride, m) != 0) {
			err = ENOMEM;
			if (s->live == 0) {
				slab_unlink(s);
				unmap = s;
			}
			goto out;
		}
		s->carved++;
	}
	s->live++;
	if (s->nfree == 0 && s->carved == s->nstacks)
		slab_unlink(s);
	stack_fill(s, idx, st);
out:
	pthread_mutex_unlock(&slab_lock);
	if (unmap) {
		munmap(unmap, unmap->map_len);
		count_syscall();
	}
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

/* Gives n stacks back to their slabs. Their memory goes back to the kernel
 * first, outside the lock: the stacks are ours alone until they are listed. */
static void slab_free(cn__stack *sts, unsigned n)
{
	struct slab *empty[CACHE_MAX];
	unsigned i, nempty = 0;

	for (i = 0; i < n; i++) {
#ifdef __linux__
		madvise(sts[i].lo, (size_t)(sts[i].hi - sts[i].lo), MADV_DONTNEED);
#elif defined(MADV_FREE)
		madvise(sts[i].lo, (size_t)(sts[i].hi - sts[i].lo), MADV_FREE);
#endif
		count_syscall();
	}
	pthread_mutex_lock(&slab_lock);
	for (i = 0; i < n; i++) {
		struct slab *s = sts[i].slab;

		s->free_idx[s->nfree++] = (uint16_t)stack_index(&sts[i]);
		s->live--;
		if (s->live == 0) {
			/* Every stack is back: the whole slab goes, even one
			 * never fully carved, so idle address space and
			 * page tables do not pile up. */
			if (s->listed)
				slab_unlink(s);
			empty[nempty++] = s;
		} else if (!s->listed) {
			slab_link(s);
		}
	}
	pthread_mutex_unlock(&slab_lock);
	for (i = 0; i < nempty; i++) {
		munmap(empty[i], empty[i]->map_len);
		count_syscall();
	}
}

static void cache_flush(struct cache *c, unsigned keep)
{
	unsigned out = c->n - keep;
	unsigned i;

	if (c->n <= keep)
		return;
	/* The oldest entries are the coldest: they go, the newest stay. */
	slab_free(c->e, out);
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
		((struct slab *)st->slab)->vg_id[stack_index(st)] =
		        VALGRIND_STACK_REGISTER(st->lo, st->hi);
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
		VALGRIND_STACK_DEREGISTER(((struct slab *)st->slab)->vg_id[stack_index(st)]);
#endif
	(void)st;
}

int cn__stack_alloc(size_t size, cn__stack *st)
{
	struct cache *c = &tls_cache;
	unsigned i;

	if (!st || size < CN_CORO_STACK_MIN || size > CN_CORO_STACK_MAX) {
		errno = EINVAL;
		return -1;
	}
	ensure_init();
	size = (size + page_size - 1) & ~(page_size - 1);
	/* Newest first: the top entry matches whenever one size is in use. */
	for (i = c->n; i-- > 0;) {
		if ((size_t)(c->e[i].hi - c->e[i].lo) == size) {
			*st = c->e[i];
			c->e[i] = c->e[--c->n];
			c->bytes -= size;
			hand_out(st);
			return 0;
		}
	}
	if (slab_alloc(size, st) != 0)
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
		slab_free(st, 1);
		goto out;
	}
	if (!c->registered) {
		if (pthread_setspecific(cache_key, c) != 0) {
			slab_free(st, 1);
			goto out;
		}
		c->registered = true;
	}
	if (c->n == CACHE_MAX || c->bytes + size > CACHE_BYTES) {
		unsigned keep = c->n / 2;

		cache_flush(c, keep);
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
	if (m == CN__GUARD_MADVISE && !madvise_guard_works()) {
		errno = ENOTSUP;
		return -1;
	}
	atomic_store(&method, m);
	cache_flush(&tls_cache, 0);
	return 0;
}

unsigned long cn__stack_syscalls(void)
{
	return atomic_load_explicit(&nsyscalls, memory_order_relaxed);
}

size_t cn__stack_cached(void)
{
	return tls_cache.n;
}

void cn__stack_cache_flush(void)
{
	cache_flush(&tls_cache, 0);
}
