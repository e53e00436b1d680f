/*
 * src/coro_internal.h — what the rest of the library (the stack-overflow
 * reporter, the scheduler) may know about a coroutine beyond the public API.
 * Scheduler thread only, like the coroutine itself.
 */
#ifndef CORONET_CORO_INTERNAL_H
#define CORONET_CORO_INTERNAL_H

#include "coronet/coro.h"
#include "stack.h"

/* One pointer of owner data (the scheduler's task); NULL until set. */
void *cn__coro_user(const cn_coro *co);
void cn__coro_set_user(cn_coro *co, void *user);

/* co's stack, for the overflow reporter. */
const cn__stack *cn__coro_stack(const cn_coro *co);

#endif
