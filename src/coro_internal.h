/*
 * src/coro_internal.h — what the rest of the library (the stack-overflow
 * reporter, the scheduler) may know about a coroutine beyond the public API.
 * Scheduler thread only, like the coroutine itself.
 */
#ifndef CORONET_CORO_INTERNAL_H
#define CORONET_CORO_INTERNAL_H

#include "coronet/coro.h"
#include "base.h"
#include "stack.h"

/* The coroutine running on this thread (coro.c), for the library's hot
 * paths: cn_coro_current() without the call. */
#if defined(__APPLE__)
extern CN__HIDDEN __thread cn_coro *cn__coro_tls;
#else
extern CN__HIDDEN __thread cn_coro *cn__coro_tls __attribute__((tls_model("initial-exec")));
#endif
static inline cn_coro *cn__coro_here(void)
{
	return cn__coro_tls;
}

/* One pointer of owner data (the scheduler's task); NULL until set. Read
 * on every wait and wake, so inline: coro.c asserts where it lies. */
#define CN__CORO_USER_AT (7 * sizeof(void *))
static inline void *cn__coro_user(const cn_coro *co)
{
	return *(void *const *)(const void *)((const char *)co + CN__CORO_USER_AT);
}
void cn__coro_set_user(cn_coro *co, void *user);

/*
 * The scheduler's claim on a coroutine it queues or parks (see "Held
 * coroutines" in coro.c): while held, cn_coro_resume() and cn_coro_destroy()
 * fail with EPERM; cn_coro_state_of() still says CREATED or SUSPENDED. hold
 * only a CREATED or SUSPENDED coroutine; unhold before resuming or
 * destroying it.
 */
void cn__coro_hold(cn_coro *co);
void cn__coro_unhold(cn_coro *co);

/* co's stack. */
const cn__stack *cn__coro_stack(const cn_coro *co);

/* Arms the stack-overflow reporter for the calling thread (overflow.h),
 * telling it how to find the running coroutine. 0, or -1 with errno. */
int cn__coro_arm(void);

#endif
