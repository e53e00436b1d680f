/*
 * src/stack.h — guarded coroutine stacks, with a per-thread cache in front
 * of the slabs they are carved from (slab.c).
 *
 * Stacks are carved from mmap'd slabs (many stacks per mapping, so a million
 * stacks do not hit vm.max_map_count), page aligned, each with a guard page
 * below it: MADV_GUARD_INSTALL where the kernel has it (no mapping split),
 * mprotect(PROT_NONE) otherwise. Freed stacks go to a per-thread LIFO cache so
 * create/destroy costs no system call in the steady state.
 *
 * Threads: every function acts on the calling thread's cache; a stack may be
 * freed by a different thread than the one that allocated it.
 *
 * Guard size: CN__STACK_GUARD bytes by default (at least one page; the
 * caller may ask for more, coronet/coro.h). Stacks in a slab are
 * adjacent, so a single guard page only stops frames that touch memory page
 * by page; a function with a large frame (a 16 KiB local buffer, compiled
 * without -fstack-clash-protection) can step over one page and write into
 * the neighbour's stack. A MADV_GUARD_INSTALL guard and an untouched
 * PROT_NONE range cost no memory however large they are, so the guard is
 * 64 KiB: a frame whose first write lands up to 64 KiB below the stack is
 * caught (code built with -fstack-clash-protection probes every page and is
 * caught whatever its frame size). The price is address space and page
 * tables: stacks sit 64 KiB further apart, so an idle default coroutine needs
 * about 640 bytes of page table instead of about 520 with a one-page guard
 * (measured by tests/bench/bench_coro_mem.c); its resident memory is the same.
 *
 * Test hook: the environment variable CORONET_GUARD=mprotect, read once per
 * process (at the first allocation), forces the mprotect method even where
 * MADV_GUARD_INSTALL works, so the fallback can be tested on new kernels.
 */
#ifndef CORONET_STACK_H
#define CORONET_STACK_H

#include <stdatomic.h>
#include <stddef.h>

#include "coronet/coro.h"

#define CN__STACK_GUARD CN_CORO_GUARD_DEFAULT

typedef struct cn__stack {
	char *lo;    /* lowest usable byte; the guard lies just below */
	char *hi;    /* one past the highest usable byte (16-byte aligned) */
	char *guard; /* start of the guard region [guard, lo) */
	void *slab;  /* owning slab (slab.c) */
	/* Its slot's owner name in the slab header, which the overflow
	 * reporter reads (slab.c, "Registry"); kept here so naming costs one
	 * store. */
	_Atomic(const char *) *label;
	unsigned vg_id; /* Valgrind's stack id while handed out (stack.c) */
} cn__stack;

enum cn__guard_method {
	CN__GUARD_MADVISE = 1,  /* madvise(MADV_GUARD_INSTALL), Linux >= 6.13 */
	CN__GUARD_MPROTECT = 2, /* mprotect(PROT_NONE): one extra mapping each */
};

/*
 * Gives st a stack with at least size usable bytes (rounded up to pages)
 * and a guard of at least guard bytes below it (rounded up to pages; 0 =
 * CN__STACK_GUARD). Returns 0, or -1 with errno: EINVAL size outside
 * CN_CORO_STACK_MIN..CN_CORO_STACK_MAX or guard above CN_CORO_GUARD_MAX;
 * ENOMEM no address space, or no guard could be installed (never hands out
 * an unguarded stack).
 */
int cn__stack_alloc(size_t size, size_t guard, cn__stack *st);

/* Returns st's stack to this thread's cache (or to the kernel). */
void cn__stack_free(cn__stack *st);

/* Names st's owner for the overflow reporter (label must outlive st's
 * use; NULL = none). The owning thread only. */
static inline void cn__stack_label(const cn__stack *st, const char *label)
{
	atomic_store_explicit(st->label, label, memory_order_release);
}

/* Which guard method this process uses (decided at first allocation). */
int cn__stack_guard_method(void);

/*
 * Test and benchmark hooks.
 *
 * cn__stack_set_guard_method() switches the method used for slabs mapped
 * from now on and empties the calling thread's cache, so the caller's next
 * allocations come from slabs guarded the new way (stacks already handed
 * out keep their guards). Returns 0, or -1 with EINVAL (unknown method) or
 * ENOTSUP (CN__GUARD_MADVISE on a kernel without MADV_GUARD_INSTALL).
 *
 * cn__stack_syscalls() counts the system calls stack.c has made (mmap,
 * munmap, madvise, mprotect) in this process; a cache hit makes none.
 * cn__stack_cached() is the number of stacks in the calling thread's cache;
 * cn__stack_cache_flush() hands them all back to the slabs.
 */
int cn__stack_set_guard_method(int method);
unsigned long cn__stack_syscalls(void);
size_t cn__stack_cached(void);
void cn__stack_cache_flush(void);

#endif
