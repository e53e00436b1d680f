/*
 * src/clock.c — the monotonic clock every deadline is measured on:
 * cn_now() (coronet/runtime.h) and cn_deadline_after() (coronet/io.h).
 *
 * Threads: any.
 */
#include <stdint.h>
#include <time.h>

#include "coronet/io.h"
#include "coronet/runtime.h"

int64_t cn_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cn_deadline_after(int64_t ns)
{
	int64_t now;

	if (ns < 0)
		return CN_NO_DEADLINE;
	now = cn_now();
	return ns > INT64_MAX - now ? INT64_MAX : now + ns;
}
