/*
 * coronet/promise.h — promises: how a coroutine waits.
 *
 * A coroutine that must wait yields a promise; the scheduler parks it; whoever
 * fulfils the promise records the outcome (a result, or an errno value) and
 * the scheduler resumes the waiter, whose cn_promise_await() returns it.
 *
 * Threads: a promise belongs to the scheduler thread of the runtime whose
 * coroutine awaits it. cn_promise_fulfil() may be called from that thread
 * only (a coroutine, or the runtime's own code); the netpoll thread fulfils
 * I/O promises internally and hands them back over the completion ring.
 * Users embed promises in their own memory (a coroutine's stack is fine: the
 * waiter cannot return while it waits).
 *
 * Undefined, not detected: using a promise never passed to cn_promise_init()
 * (its fields are garbage: nothing can be checked), cn_promise_init() on a
 * promise a coroutine awaits (the waiter would never be woken), freeing a
 * promise while a coroutine awaits it, and fulfilling from another thread a
 * promise that has no waiter yet while a coroutine may start awaiting it.
 */
#ifndef CORONET_PROMISE_H
#define CORONET_PROMISE_H

#include <sys/types.h>

#include "coronet/coro.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cn_promise_state {
	CN_PROMISE_PENDING = 0,
	CN_PROMISE_FULFILLED = 1,
} cn_promise_state;

/* Fields are the library's; read them only through the functions below. */
typedef struct cn_promise {
	int state;               /* cn_promise_state */
	int err;                 /* errno value travelling with the outcome, 0 = success */
	ssize_t result;          /* the outcome when err == 0 */
	cn_coro *waiter;         /* the parked coroutine, NULL if none */
	struct cn_promise *next; /* run/completion queue link */
	void *priv;              /* the runtime's (deadline timer, fd state) */
} cn_promise;

/* Makes p pending with no waiter. Returns 0; -1/EINVAL if p is NULL. */
int cn_promise_init(cn_promise *p);

/*
 * Records the outcome: result when err is 0, otherwise -1 with errno = err
 * for the waiter. Makes the waiter (if any) runnable; it runs after the
 * caller next yields. Returns 0, or -1 with errno:
 *   EINVAL  p is NULL, or err is negative;
 *   EALREADY p was fulfilled already (the first outcome stands);
 *   EPERM   a coroutine awaits p and the caller is not on that coroutine's
 *           runtime's scheduler thread while it runs (another thread, or a
 *           different runtime). A promise nobody awaits yet belongs to no
 *           thread: fulfilling it is allowed anywhere, but the caller must
 *           make sure no coroutine starts awaiting it meanwhile.
 */
int cn_promise_fulfil(cn_promise *p, ssize_t result, int err);

/*
 * Parks the calling coroutine until p is fulfilled (returns at once if it
 * already is) and returns the outcome: the result, or -1 with errno set to
 * the recorded errno value. Other errors (-1 with errno):
 *   EINVAL  p is NULL;
 *   EPERM   not called from a coroutine running on a runtime;
 *   EBUSY   another coroutine already waits on p (one waiter per promise).
 */
ssize_t cn_promise_await(cn_promise *p);

/* p's state, or -1 with EINVAL. */
int cn_promise_state_of(const cn_promise *p);

#ifdef __cplusplus
}
#endif

#endif
