/*
 * src/dump.c — the runtime dump (cn_runtime_dump, coronet/runtime.h):
 * every coroutine of a scheduler with its id, name, state, what it waits
 * on and for how long, as Go's goroutine dump shows them.
 *
 * The scheduler keeps every task it queued on a list under dump_lock
 * (linked when queued, unlinked before the task is freed), and each task
 * says what it waits on in relaxed atomic fields its thread writes at
 * every wait and resume (sched.h). The dump holds the lock while it walks
 * the list, so no task is freed under it; the fields it reads are a
 * snapshot, each one consistent on its own. It formats into memory under
 * the lock and writes after releasing it, so however slowly fd drains,
 * the lock only ever delays the scheduler's spawns and exits by the time
 * of the formatting, and never its waits.
 *
 * Threads: any (not a signal handler: a lock and snprintf).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dump.h"

/* The report, formatted under the lock into memory and written after it:
 * a slow reader of fd must not hold up the scheduler's spawns and exits. */
typedef struct out {
	char *buf;
	size_t n, cap;
	int err;
} out;

__attribute__((format(printf, 2, 3))) static void put(out *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (o->err)
		return;
	if (o->cap - o->n < 512) {
		size_t cap = o->cap ? 2 * o->cap : 4096;
		char *nb = realloc(o->buf, cap);

		if (!nb) {
			o->err = ENOMEM;
			return;
		}
		o->buf = nb;
		o->cap = cap;
	}
	va_start(ap, fmt);
	// The analyzer loses va_start across the branch above.
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
	k = vsnprintf(o->buf + o->n, o->cap - o->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		o->n += (size_t)k < o->cap - o->n ? (size_t)k : o->cap - o->n - 1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno != EINTR)
			return errno;
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		}
	}
	return 0;
}

static const char *what_name(int what)
{
	switch (what) {
	case CN__WHAT_RUNNABLE: return "runnable";
	case CN__WHAT_RUNNING: return "running";
	case CN__WHAT_SLEEP: return "sleeping";
	case CN__WHAT_FD_READ:
	case CN__WHAT_FD_WRITE: return "waiting for fd";
	case CN__WHAT_PROMISE: return "waiting on a promise";
	case CN__WHAT_JOIN: return "joining a task";
	case CN__WHAT_CHAN: return "waiting on a channel";
	case CN__WHAT_LOCK: return "waiting for a lock";
	case CN__WHAT_BLOCKING: return "waiting for a blocking job";
	default: return "?";
	}
}

static long long ms(int64_t ns)
{
	return (long long)(ns / 1000000);
}

int cn__sched_dump(cn__sched *s, int fd, const char *mode)
{
	int64_t now = cn_now();
	uint64_t count = 0;
	out o = {NULL, 0, 0, 0};

	cn__lock_take(&s->dump_lock);
	for (cn__task *t = s->all; t; t = t->all_next)
		count++;
	put(&o, "coronet: runtime %p, %s mode: %llu coroutine%s\n", (void *)s->rt, mode,
	    (unsigned long long)count, count == 1 ? "" : "s");
	for (cn__task *t = s->all; t; t = t->all_next) {
		int what = atomic_load_explicit(&t->what, memory_order_relaxed);
		int wfd = atomic_load_explicit(&t->what_fd, memory_order_relaxed);
		int64_t since = atomic_load_explicit(&t->what_since, memory_order_relaxed);
		int64_t until = atomic_load_explicit(&t->what_until, memory_order_relaxed);
		const char *name = cn_coro_name(t->co);

		put(&o, "  #%llu '%s' %s", (unsigned long long)t->id, name ? name : "", what_name(what));
		if (what == CN__WHAT_FD_READ || what == CN__WHAT_FD_WRITE)
			put(&o, " %d to be %s", wfd, what == CN__WHAT_FD_READ ? "readable" : "writable");
		if (what >= CN__WHAT_SLEEP) {
			put(&o, ", for %lld ms", ms(now - since));
			if (until >= 0)
				put(&o, ", %s in %lld ms", what == CN__WHAT_SLEEP ? "wakes" : "deadline",
				    ms(until > now ? until - now : 0));
		}
		put(&o, "\n");
	}
	cn__lock_give(&s->dump_lock);
	if (!o.err)
		o.err = write_all(fd, o.buf, o.n);
	free(o.buf);
	if (o.err) {
		errno = o.err;
		return -1;
	}
	return 0;
}
