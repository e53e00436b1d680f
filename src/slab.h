/*
 * src/slab.h — where coroutine stacks come from: mmap'd slabs of guarded
 * stacks, and the registry the overflow reporter searches. Used by stack.c
 * (the per-thread cache in front of it) and overflow.c (the registry).
 *
 * Threads: any thread may take and give back stacks (one mutex, taken only
 * here, i.e. when a thread's cache misses or overflows). cn__slab_find() is
 * async-signal-safe: it reads the registry with atomic loads only.
 */
#ifndef CORONET_SLAB_H
#define CORONET_SLAB_H

#include <stddef.h>

#include "stack.h"

/* Called once (stack.c's init): page size, guard method (probed, or
 * CORONET_GUARD=mprotect), fork handlers. */
void cn__slab_init(size_t page_size, int method);

/* A stack of size usable bytes (a page multiple) with a guard of guard
 * bytes (a page multiple) below it, from a slab of stacks of that shape and
 * the current guard method. 0, or -1 with ENOMEM. */
int cn__slab_take(size_t size, size_t guard, cn__stack *st);

/* Gives n stacks back to their slabs (their pages to the kernel first). */
void cn__slab_give(cn__stack *sts, unsigned n);

/* The guard method of slabs mapped from now on; switching it affects
 * only new slabs. */
void cn__slab_set_method(int method);
int cn__slab_method(void);

/* Whether MADV_GUARD_INSTALL really guards here (see slab.c). */
int cn__slab_madvise_works(size_t page_size);

/*
 * Which handed-out stack addr lies in: fills *out (its bounds) and returns
 * 1 with *in_guard saying whether addr is in its guard, and *label its
 * label; 0 if addr is in no registered slab's stacks. Async-signal-safe; a
 * slab unmapped by another thread at the same moment may be missed.
 */
int cn__slab_find(const void *addr, cn__stack *out, int *in_guard, const char **label);

/* System calls made here (mmap, munmap, madvise, mprotect). */
void cn__slab_count_syscall(void);
unsigned long cn__slab_syscalls(void);

#endif
