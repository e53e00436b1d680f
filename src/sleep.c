/*
 * src/sleep.c — the coroutine-facing waits that are not I/O: cn_sleep()
 * and cn_yield_now() (coronet/runtime.h).
 *
 * Threads: a runtime coroutine on its scheduler's thread (else EPERM).
 */
#include <errno.h>
#include <stdint.h>

#include "sched.h"

int cn_yield_now(void)
{
	cn__task *t = cn__task_current();

	if (!t)
		return -1;
	/* A coroutine that loops on yields must see the stop too, or run
	 * would never return. */
	if (cn__task_stopping(t)) {
		errno = ECANCELED;
		return -1;
	}
	cn_coro_yield(NULL);
	return 0;
}

int cn_sleep(int64_t ns)
{
	cn__task *t = cn__task_current();
	int64_t now;
	cn__wait w;
	int err;

	if (!t)
		return -1;
	if (cn__task_stopping(t)) {
		errno = ECANCELED;
		return -1;
	}
	if (ns <= 0)
		return cn_yield_now();
	now = cn_now();
	if (cn__wait_begin(t, &w, CN__WAIT_SLEEP, NULL, -1, 0,
	                   ns > INT64_MAX - now ? INT64_MAX : now + ns) < 0)
		return -1;
	err = cn__wait_park(t, &w);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}
