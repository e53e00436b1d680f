/*
 * src/slab.c — slabs of guarded coroutine stacks (slab.h).
 *
 * Layout. A slab is one mmap (MAP_NORESERVE: only touched pages cost memory)
 * holding stacks of one usable size, one guard size and one guard method:
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
 * guard bytes just below lo (stack.h says why the default is 64 KiB).
 * A slab whose stacks all came back is unmapped, so idle address space and
 * page tables do not pile up.
 *
 * Registry. Every mapped slab is also in a fixed array the overflow reporter
 * reads from its signal handler (atomic loads only, no lock), so a fault in
 * any stack's guard, not only the running coroutine's, is told by name. A
 * slab leaves the registry before it is unmapped. When the array is full a
 * slab still works, but its faults are reported as plain SIGSEGVs.
 *
 * Threads: any; the slab lists are under slab_lock.
 */
#include "slab.h"

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
#define BUCKETS 64
/* 2M stacks of the default size need 8,192 slabs. */
#define REGISTRY 16384

struct slab {
	struct slab *prev, *next; /* in its bucket while it has stacks to give */
	size_t map_len;
	size_t size;   /* usable bytes per stack */
	size_t guard;  /* guard bytes below each stack */
	size_t stride; /* guard + size */
	char *first;   /* guard of stack 0 */
	int method;
	bool listed;
	int reg; /* registry slot, -1 if none */
	unsigned nstacks;
	unsigned carved; /* stacks [0, carved) have their guard installed */
	unsigned nfree;  /* entries in free_idx */
	unsigned live;   /* carved stacks handed out or sitting in a cache */
	uint16_t free_idx[SLAB_STACKS];
	/* Owner names; written by the owning thread, read by the reporter. */
	_Atomic(const char *) label[SLAB_STACKS];
};

static size_t page_size = 4096;
static atomic_int method; /* for slabs mapped from now on */
static atomic_ulong nsyscalls;

static pthread_mutex_t slab_lock = PTHREAD_MUTEX_INITIALIZER;
/* Partial slabs (with a free or uncarved stack), hashed by shape. */
static struct slab *buckets[BUCKETS];
/* Writers hold slab_lock; the signal handler reads. */
static _Atomic(struct slab *) registry[REGISTRY];
static unsigned reg_hint;

void cn__slab_count_syscall(void)
{
	atomic_fetch_add_explicit(&nsyscalls, 1, memory_order_relaxed);
}

unsigned long cn__slab_syscalls(void)
{
	return atomic_load_explicit(&nsyscalls, memory_order_relaxed);
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
int cn__slab_madvise_works(size_t ps)
{
#ifdef __linux__
	char *p = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char byte;
	struct iovec local = {&byte, 1}, remote = {NULL, 1};
	bool ok;

	cn__slab_count_syscall();
	if (p == MAP_FAILED)
		return 0;
	ok = madvise(p, ps, MADV_GUARD_INSTALL) == 0;
	cn__slab_count_syscall();
	if (ok) {
		remote.iov_base = p;
		ok = process_vm_readv(getpid(), &local, 1, &remote, 1, 0) < 0 && errno == EFAULT;
		cn__slab_count_syscall();
	}
	munmap(p, 2 * ps);
	cn__slab_count_syscall();
	return ok;
#else
	(void)ps;
	return 0;
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

void cn__slab_init(size_t ps, int m)
{
	page_size = ps;
	atomic_store(&method, m);
	pthread_atfork(fork_prepare, fork_done, fork_done);
}

void cn__slab_set_method(int m)
{
	atomic_store(&method, m);
}

int cn__slab_method(void)
{
	return atomic_load_explicit(&method, memory_order_relaxed);
}

static unsigned bucket_of(size_t size, size_t guard, int m)
{
	return (unsigned)(((size + guard) / page_size) * 2 + (unsigned)m) % BUCKETS;
}

static void slab_link(struct slab *s)
{
	struct slab **head = &buckets[bucket_of(s->size, s->guard, s->method)];

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
		buckets[bucket_of(s->size, s->guard, s->method)] = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	s->listed = false;
}

/* Caller holds slab_lock. */
static void registry_add(struct slab *s)
{
	s->reg = -1;
	for (unsigned i = 0; i < REGISTRY; i++) {
		unsigned k = (reg_hint + i) % REGISTRY;

		if (!atomic_load_explicit(&registry[k], memory_order_relaxed)) {
			atomic_store_explicit(&registry[k], s, memory_order_release);
			s->reg = (int)k;
			reg_hint = k + 1;
			return;
		}
	}
}

/* Caller holds slab_lock; s is unmapped right after. */
static void slab_unmap(struct slab *s)
{
	if (s->reg >= 0)
		atomic_store_explicit(&registry[s->reg], NULL, memory_order_release);
	munmap(s, s->map_len);
	cn__slab_count_syscall();
}

/* Caller holds slab_lock. */
static struct slab *slab_new(size_t size, size_t guard, int m)
{
	size_t stride = guard + size;
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
	cn__slab_count_syscall();
	if (base == MAP_FAILED)
		return NULL;
	/* Fresh anonymous memory is zero: only the non-zero fields are set. */
	s = (struct slab *)base;
	s->map_len = hdr + n * stride;
	s->size = size;
	s->guard = guard;
	s->stride = stride;
	s->first = base + hdr;
	s->method = m;
	s->nstacks = (unsigned)n;
	slab_link(s);
	registry_add(s);
	return s;
}

static int guard_install(char *g, size_t len, int m)
{
	cn__slab_count_syscall();
#ifdef __linux__
	if (m == CN__GUARD_MADVISE)
		return madvise(g, len, MADV_GUARD_INSTALL);
#endif
	(void)m;
	return mprotect(g, len, PROT_NONE);
}

static void stack_fill(struct slab *s, unsigned idx, cn__stack *st)
{
	st->guard = s->first + (size_t)idx * s->stride;
	st->lo = st->guard + s->guard;
	st->hi = st->lo + s->size;
	st->slab = s;
	st->label = &s->label[idx];
}

/* Only where a stack goes back to its slab: a division, off the cache's
 * hot path. */
static unsigned stack_index(const cn__stack *st)
{
	const struct slab *s = st->slab;

	return (unsigned)((size_t)(st->guard - s->first) / s->stride);
}

int cn__slab_take(size_t size, size_t guard, cn__stack *st)
{
	int m = cn__slab_method();
	struct slab *s;
	unsigned idx;
	int err = 0;

	pthread_mutex_lock(&slab_lock);
	for (s = buckets[bucket_of(size, guard, m)]; s; s = s->next)
		if (s->size == size && s->guard == guard && s->method == m)
			break;
	if (!s && !(s = slab_new(size, guard, m))) {
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
		if (guard_install(s->first + (size_t)idx * s->stride, guard, m) != 0) {
			err = ENOMEM;
			if (s->live == 0) {
				slab_unlink(s);
				slab_unmap(s);
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
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

void cn__slab_give(cn__stack *sts, unsigned n)
{
	unsigned i;

	/* The pages go back first, outside the lock: the stacks are ours
	 * alone until they are listed. */
	for (i = 0; i < n; i++) {
#ifdef __linux__
		madvise(sts[i].lo, (size_t)(sts[i].hi - sts[i].lo), MADV_DONTNEED);
#elif defined(MADV_FREE)
		madvise(sts[i].lo, (size_t)(sts[i].hi - sts[i].lo), MADV_FREE);
#endif
		cn__slab_count_syscall();
	}
	pthread_mutex_lock(&slab_lock);
	for (i = 0; i < n; i++) {
		struct slab *s = sts[i].slab;
		unsigned idx = stack_index(&sts[i]);

		atomic_store_explicit(&s->label[idx], NULL, memory_order_relaxed);
		s->free_idx[s->nfree++] = (uint16_t)idx;
		s->live--;
		if (s->live == 0) {
			if (s->listed)
				slab_unlink(s);
			slab_unmap(s);
		} else if (!s->listed) {
			slab_link(s);
		}
	}
	pthread_mutex_unlock(&slab_lock);
}

int cn__slab_find(const void *addr, cn__stack *out, int *in_guard, const char **label)
{
	const char *a = addr;

	for (unsigned i = 0; i < REGISTRY; i++) {
		struct slab *s = atomic_load_explicit(&registry[i], memory_order_acquire);
		size_t off;
		unsigned idx;

		if (!s || a < s->first || a >= s->first + (size_t)s->nstacks * s->stride)
			continue;
		off = (size_t)(a - s->first);
		idx = (unsigned)(off / s->stride);
		stack_fill(s, idx, out);
		*in_guard = off % s->stride < s->guard;
		*label = atomic_load_explicit(&s->label[idx], memory_order_acquire);
		return 1;
	}
	return 0;
}
