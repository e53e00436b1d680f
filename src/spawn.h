/*
 * src/spawn.h — spawning on a runtime in two steps, for callers that must
 * attach something to the task before it may run (a handle, handle.c).
 *
 * cn__runtime_make: checks rt and fn and the stop as cn_spawn() does, and
 *   makes the task (any thread): NULL with errno EINVAL, ESHUTDOWN, or
 *   cn_coro_create's.
 * cn__runtime_queue: hands it to rt's scheduler, directly from its own
 *   thread, through its inbox from any other (any thread).
 * cn_spawn() is exactly these two.
 */
#ifndef CORONET_SPAWN_H
#define CORONET_SPAWN_H

#include "coronet/runtime.h"
#include "sched.h"

cn__task *cn__runtime_make(cn_runtime *rt, cn_coro_fn fn, void *arg, const cn_coro_opts *opts);
void cn__runtime_queue(cn_runtime *rt, cn__task *t);

#endif
