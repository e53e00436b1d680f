/*
 * src/stack.h — guarded coroutine stacks and the stack-overflow reporter.
 *
 * Stacks are carved from mmap'd slabs (many stacks per mapping, so a million
 * stacks do not hit vm.max_map_count), page aligned, each with a guard page
 * below it: MADV_GUARD_INSTALL where the kernel has it (no mapping split),
 * mprotect(PROT_NONE) otherwise. Freed stacks go to a per-thread LIFO cache so
 * create/destroy costs no system call in the steady state.
 *
 * Threads: every function acts on the calling thread's cache; a stack may be
 * freed by a different thread than the one that allocated it.
 */
#ifndef CORONET_STACK_H
#define CORONET_STACK_H

#include <stddef.h>

typedef struct cn__stack {
	char *lo;    /* lowest usable byte; the guard lies just below */
	char *hi;    /* one past the highest usable byte (16-byte aligned) */
	char *guard; /* start of the guard region [guard, lo) */
	void *slab;  /* owning slab, internal to stack.c */
} cn__stack;

enum cn__guard_method {
	CN__GUARD_MADVISE = 1,  /* madvise(MADV_GUARD_INSTALL), Linux >= 6.13 */
	CN__GUARD_MPROTECT = 2, /* mprotect(PROT_NONE): one extra mapping each */
};

/*
 * Gives st a stack with at least size usable bytes (rounded up to pages).
 * Returns 0, or -1 with errno: EINVAL size outside
 * CN_CORO_STACK_MIN..CN_CORO_STACK_MAX; ENOMEM no address space, or no guard
 * page could be installed (never hands out an unguarded stack).
 */
int cn__stack_alloc(size_t size, cn__stack *st);

/* Returns st's stack to this thread's cache (or to the kernel). */
void cn__stack_free(cn__stack *st);

/* Which guard method this process uses (decided at first allocation). */
int cn__stack_guard_method(void);

/*
 * Arms the overflow reporter for the calling thread: a SIGSEGV/SIGBUS
 * handler (installed once per process, chaining to any previous handler for
 * faults that are not coroutine stack overflows) running on this thread's
 * alternate signal stack (made once per thread). A fault inside the running
 * coroutine's guard region prints
 *   coronet: coroutine 'NAME' overflowed its N-byte stack
 * on stderr and aborts. Returns 0, or -1 with errno.
 */
int cn__overflow_arm(void);

#endif
