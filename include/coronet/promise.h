/*
 * coronet/promise.h — promises: how a coroutine waits, and how any thread
 * of the program hands it a result.
 *
 * A coroutine that must wait yields a promise; its scheduler parks it;
 * whoever fulfils the promise records the outcome (a result, or an errno
 * value) and the waiter's scheduler resumes it, whose cn_promise_await()
 * returns it.
 *
 * Threads: cn_promise_fulfil() may be called from any thread at any time:
 * a coroutine of the waiter's runtime, another runtime's coroutine, a
 * worker thread, a library's callback thread; before the coroutine starts
 * awaiting, while it waits, or racing with its deadline or a stop. A fulfil
 * from another thread than the waiter's scheduler reaches it through that
 * scheduler's inbox (lock-free, unbounded: it never blocks and never fails
 * for lack of room) and one merged wake-up. Awaiting is for runtime
 * coroutines only. Not async-signal-safe.
 *
 * Lifetime: the rule. A promise's memory must stay valid until (1) its
 * await returned and (2) every cn_promise_fulfil() call on it returned. An
 * await that ends early (its deadline passed, or the runtime stops) returns
 * at once, without waiting for a fulfil that may never come, so when another
 * thread may still fulfil a promise whose waiter can give up, (2) is the
 * program's to ensure. The library's way: a heap promise from
 * cn_promise_new() with one reference per party: the waiter unrefs it after
 * its await returned, whatever the outcome; the fulfiller unrefs it after
 * cn_promise_fulfil() returned (or when it gives up); the last unref frees
 * it. A promise embedded in a coroutine's stack frame is fine when the
 * fulfiller is another coroutine of the same runtime, or a thread the
 * coroutine joins (or otherwise knows to be done) before it returns.
 *
 * Undefined, not detected: using a promise never passed to cn_promise_init()
 * (or cn_promise_new()), cn_promise_init() on a promise that is awaited or
 * being fulfilled, and breaking the lifetime rule above.
 */
#ifndef CORONET_PROMISE_H
#define CORONET_PROMISE_H

#include <stdint.h>
#include <sys/types.h>

#include "coronet/coro.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cn_promise_state {
	CN_PROMISE_PENDING = 0,
	CN_PROMISE_FULFILLED = 1,
} cn_promise_state;

/* Fields are the library's; read them only through the functions below.
 * state and waiter are accessed atomically (the library uses the compiler's
 * __atomic builtins, so this header needs no <stdatomic.h>). */
typedef struct cn_promise {
	int state;               /* cn_promise_state, plus the library's bits */
	int err;                 /* errno value travelling with the outcome, 0 = success */
	ssize_t result;          /* the outcome when err == 0 */
	cn_coro *waiter;         /* the parked coroutine, NULL if none */
	struct cn_promise *next; /* run/completion queue link */
	void *priv;              /* the runtime's (deadline timer, fd state) */
	void *link;              /* a scheduler inbox's link (src/inbox.h) */
	int refs;                /* heap promises (cn_promise_new): references */
	int heap;                /* 1 when cn_promise_new() made it */
} cn_promise;

/* Makes p pending with no waiter. Returns 0; -1/EINVAL if p is NULL. */
int cn_promise_init(cn_promise *p);

/* A pending promise on the heap with one reference (see "Lifetime"): NULL
 * with ENOMEM. Any thread. */
cn_promise *cn_promise_new(void);

/* Adds a reference to a cn_promise_new() promise and returns it; NULL with
 * EINVAL for NULL or an embedded promise. Any thread. */
cn_promise *cn_promise_ref(cn_promise *p);

/* Drops a reference; the last one frees p. NULL is ignored; an embedded
 * promise is left alone. Any thread. */
void cn_promise_unref(cn_promise *p);

/*
 * Records the outcome: result when err is 0, otherwise -1 with errno = err
 * for the waiter. Makes the waiter (if any) runnable; it runs after the
 * caller next yields (same runtime) or when its scheduler next drains its
 * inbox (any other thread). Any thread. Returns 0, or -1 with errno:
 *   EINVAL   p is NULL, or err is negative;
 *   EALREADY p was fulfilled already (the first outcome stands).
 */
int cn_promise_fulfil(cn_promise *p, ssize_t result, int err);

/*
 * Parks the calling coroutine until p is fulfilled (returns at once if it
 * already is) and returns the outcome: the result, or -1 with errno set to
 * the recorded errno value. Other errors (-1 with errno):
 *   EINVAL    p is NULL;
 *   EPERM     not called from a coroutine running on a runtime;
 *   EBUSY     another coroutine already waits on p (one waiter per promise);
 *   ECANCELED the runtime stops (p stays pending: it may still be
 *             fulfilled, and awaited again);
 *   ETIMEDOUT (cn_promise_await_until) the deadline passed first.
 * A fulfil that raced with the stop or the deadline and won is returned as
 * the outcome.
 */
ssize_t cn_promise_await(cn_promise *p);

/* cn_promise_await() with an absolute cn_now() deadline (CN_NO_DEADLINE, -1,
 * for none). */
ssize_t cn_promise_await_until(cn_promise *p, int64_t deadline);

/* p's state (CN_PROMISE_PENDING or CN_PROMISE_FULFILLED), or -1 with EINVAL.
 * Any thread; from another thread than the fulfiller's it may be stale. */
int cn_promise_state_of(const cn_promise *p);

#ifdef __cplusplus
}
#endif

#endif
