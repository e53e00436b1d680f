/*
 * coronet/task.h — coroutines you can wait for and cancel: task handles,
 * and groups that keep a set of them inside one scope.
 *
 * cn_spawn() (runtime.h) stays the fire-and-forget way: no handle, nothing
 * to free, the cheapest spawn. cn_task_spawn() returns a handle that the
 * caller owns until it joins (which frees it) or detaches it; the coroutine
 * returns a pointer, which the join hands back.
 *
 * Cancellation: cn_task_cancel() makes the task's current wait (fd, sleep,
 * promise, join, channel, lock, cn_blocking job, cn_yield_now) and every
 * later one fail with ECANCELED, as a stop of its runtime would, until the
 * coroutine returns; it decides itself how to clean up and what to return.
 * It is a request, not a kill: a coroutine that computes without waiting
 * sees it at its next wait, or by asking cn_task_cancelled(). Waits that
 * must finish to keep memory valid (the relock of cn_cond_wait, a
 * cn_blocking job a worker already runs: its result is discarded and the
 * call fails with ECANCELED once the worker is done with the caller's
 * memory) wait out the cancel, as they do a stop.
 *
 * Groups (structured concurrency, as libdill's bundles): spawn into a
 * group, wait for all its members with one deadline, cancel them all;
 * cn_group_destroy() cancels and reaps what is left, so no member outlives
 * the scope that made the group. A group owns its members' handles.
 *
 * Threads: every call here may be made from any thread unless it says
 * "coroutine" (a coroutine of a running runtime, on its scheduler thread;
 * other callers get EPERM). A task and a group may span runtimes: a
 * coroutine of one runtime may join, or wait for a group of, tasks of
 * another (the wake-up crosses through the waiter's inbox).
 *
 * Undefined, not detected: using a handle after a successful join or a
 * detach (it may be freed), or a group after cn_group_destroy().
 */
#ifndef CORONET_TASK_H
#define CORONET_TASK_H

#include <stdint.h>

#include "coronet/coro.h"
#include "coronet/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cn_task cn_task;
typedef struct cn_group cn_group;

/* A task's entry: its return value is what cn_task_join() hands back. */
typedef void *(*cn_task_fn)(void *arg);

/* Spawns fn(arg) on rt, as cn_spawn() does (opts likewise; any thread),
 * and returns its handle, owned by the caller. NULL with errno EINVAL (rt
 * or fn NULL, bad opts), ENOMEM, ESHUTDOWN (rt is stopping). */
cn_task *cn_task_spawn(cn_runtime *rt, cn_task_fn fn, void *arg, const cn_coro_opts *opts);

/*
 * Coroutine. Waits until h's coroutine returned or deadline (absolute
 * cn_now(), CN_NO_DEADLINE for none) passed. On success stores its return
 * value in *result (when result is not NULL), frees h and returns 0.
 * Otherwise returns -1 with errno, and h stays the caller's:
 *   EINVAL    h is NULL;
 *   EPERM     not a runtime coroutine;
 *   EDEADLK   h is the caller's own task;
 *   EBUSY     another coroutine is joining h;
 *   ETIMEDOUT the deadline passed first;
 *   ECANCELED the caller was cancelled, or its runtime stops.
 * A task destroyed unrun (its runtime was destroyed before running it) is
 * joined with -1/ESRCH, and h is freed as on success.
 */
int cn_task_join(cn_task *h, void **result, int64_t deadline);

/* Gives h up: the task runs on and its result is dropped. 0, or -1 with
 * EINVAL (NULL) or EBUSY (a coroutine is joining it). Any thread. */
int cn_task_detach(cn_task *h);

/* Asks h's task to stop waiting (see "Cancellation"). Returns 0 (also when
 * the task has finished, or was cancelled before), -1/EINVAL for NULL. Any
 * thread: from the task's own scheduler thread its current wait ends
 * before the call returns; from another thread, when that scheduler next
 * drains its inbox. A task that has not started yet starts cancelled. */
int cn_task_cancel(cn_task *h);

/* Coroutine: 1 if the calling task was cancelled, 0 if not; -1/EPERM
 * outside a runtime coroutine. A stop of the runtime is not a cancel. */
int cn_task_cancelled(void);

/* A new, empty group: NULL with ENOMEM. Any thread. */
cn_group *cn_group_create(void);

/* Spawns fn(arg) on rt (as cn_task_spawn) as a member of g; its result is
 * dropped. 0, or -1 with errno: cn_task_spawn()'s, or ECANCELED (g was
 * cancelled or is being destroyed). */
int cn_group_spawn(cn_group *g, cn_runtime *rt, cn_task_fn fn, void *arg,
                   const cn_coro_opts *opts);

/* Coroutine. Waits until g has no member left (0, at once for an empty
 * group), or -1 with errno EINVAL (NULL), EPERM, EBUSY (another coroutine
 * waits on g), ETIMEDOUT, ECANCELED (the caller was cancelled, or its
 * runtime stops). */
int cn_group_wait(cn_group *g, int64_t deadline);

/* Cancels every member, and every member spawned later fails with
 * ECANCELED. 0, or -1/EINVAL. Any thread. */
int cn_group_cancel(cn_group *g);

/* The number of members that have not returned yet; -1/EINVAL. Any thread
 * (a moment's snapshot). */
long cn_group_size(const cn_group *g);

/*
 * Cancels every member, waits until all have returned (a cancel or stop of
 * the caller does not cut this wait short: the members must be reaped),
 * and frees g. 0, or -1 with errno EINVAL (NULL), EBUSY (a coroutine waits
 * on g), EPERM (members are left and the caller is not a runtime
 * coroutine: it could not wait for them; g is still valid, cancelled).
 * An empty group may be destroyed from any thread.
 */
int cn_group_destroy(cn_group *g);

#ifdef __cplusplus
}
#endif

#endif
