/*
 * src/runtime.c — the runtime (coronet/runtime.h): create, run, stop,
 * destroy, stats and spawn, over its scheduler (sched.c) and, in thread
 * mode, its netpoll thread (netpoll_thread.c).
 *
 * What a runtime owns: the fd table and the fd poller (shared by its
 * scheduler and netpoll thread), one scheduler, the blocking-call pool,
 * and in thread mode the
 * scheduler's completion ring, the poller it sleeps in and the netpoll
 * thread. The scheduler and the netpoll thread know each other only through
 * that ring (handoff.h).
 *
 * Misuse: `running` (IDLE/STARTING/RUNNING, claimed by CAS) lets calls from
 * the wrong thread fail with EPERM/EBUSY instead of touching the run queue.
 *
 * Threads: cn_runtime_stop() from any thread or signal handler; cn_spawn()
 * before run or from the scheduler thread; create and destroy on any thread
 * while the runtime does not run; everything else on the scheduler thread.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "coro_internal.h"
#include "netpoll_thread.h"
#include "sched.h"
#include "spawn.h"
#include "dump.h"

#define CN__RING_DEFAULT 4096u

enum { CN__RT_IDLE = 0, CN__RT_STARTING = 1, CN__RT_RUNNING = 2 };

struct cn_runtime {
	cn_runtime_opts opts;
	cn__fdtable fds;
	cn__poller *fdp; /* fds; waited on by the netpoll thread (thread mode)
			  * or the scheduler (inline mode) */
	cn__sched sched;
	/* Thread mode only. */
	cn__handoff ho; /* the scheduler's completion ring */
	cn__poller *sp; /* the scheduler sleeps here (wake only) */
	cn__netpoll np;
	cn__pool pool;    /* blocking calls (pool.h) */
	pthread_t thread; /* the scheduler thread while running */
	/* CN__RT_*. cn_runtime_run() claims rt by CAS IDLE -> STARTING (one
	 * winner among racing threads), writes `thread`, then stores RUNNING
	 * (release); any thread reads it (acquire) to refuse cn_spawn(),
	 * stats and destroy from the wrong thread with EPERM / EBUSY. */
	atomic_int running;
	/* cn_runtime_stop() calls in progress (any thread); destroy waits for
	 * 0, so a stop that made run return is done with rt before rt goes. */
	atomic_int stop_calls;
};

static int bad_ring_size(unsigned n)
{
	return n < 2 || (n & (n - 1)) != 0 || n > (1u << 30);
}

static void runtime_free(cn_runtime *rt)
{
	cn__netpoll_free(&rt->np);
	cn__handoff_free(&rt->ho);
	if (rt->sp)
		cn__poller_destroy(rt->sp);
	if (rt->fdp)
		cn__poller_destroy(rt->fdp);
	cn__fdtable_free(&rt->fds);
	free(rt);
}

cn_runtime *cn_runtime_create(const cn_runtime_opts *opts)
{
	cn_runtime_opts o = {.mode = CN_NETPOLL_THREAD};
	cn_runtime *rt;
	int err;

	if (opts)
		o = *opts;
	if (o.ring_size == 0)
		o.ring_size = CN__RING_DEFAULT;
	if ((o.mode != CN_NETPOLL_THREAD && o.mode != CN_NETPOLL_INLINE) ||
	    bad_ring_size(o.ring_size) ||
	    (o.stack_size &&
	     (o.stack_size < CN_CORO_STACK_MIN || o.stack_size > CN_CORO_STACK_MAX))) {
		errno = EINVAL;
		return NULL;
	}
	rt = calloc(1, sizeof(*rt));
	if (!rt) {
		errno = ENOMEM;
		return NULL;
	}
	rt->opts = o;
	if (cn__fdtable_init(&rt->fds) < 0 || !(rt->fdp = cn__poller_create()))
		goto error;
	if (o.mode == CN_NETPOLL_THREAD) {
		if (!(rt->sp = cn__poller_create()) || cn__handoff_init(&rt->ho, o.ring_size) < 0 ||
		    cn__netpoll_init(&rt->np, &rt->fds, rt->fdp, &rt->ho) < 0)
			goto error;
		rt->ho.consumer_poller = rt->sp;
	}
	cn__sched_init(&rt->sched, rt, o.mode, &rt->fds, rt->fdp,
	               o.mode == CN_NETPOLL_THREAD ? &rt->ho : NULL);
	rt->sched.stack_size = o.stack_size;
	cn__pool_init(&rt->pool, o.pool_size);
	rt->sched.pool = &rt->pool;
	return rt;

error:
	err = errno;
	runtime_free(rt);
	errno = err;
	return NULL;
}

const char *cn_netpoll_mode_name(cn_netpoll_mode mode)
{
	switch (mode) {
	case CN_NETPOLL_THREAD:
		return "thread";
	case CN_NETPOLL_INLINE:
		return "inline";
	}
	errno = EINVAL;
	return NULL;
}

int cn_netpoll_mode_parse(const char *name, cn_netpoll_mode *mode)
{
	if (name && mode && strcmp(name, "thread") == 0) {
		*mode = CN_NETPOLL_THREAD;
		return 0;
	}
	if (name && mode && strcmp(name, "inline") == 0) {
		*mode = CN_NETPOLL_INLINE;
		return 0;
	}
	errno = EINVAL;
	return -1;
}

/* Whether the calling thread may touch rt's scheduler-only state: rt is
 * idle, or runs on this thread. */
static int on_sched_thread(const cn_runtime *rt)
{
	int r = atomic_load_explicit(&rt->running, memory_order_acquire);

	return r == CN__RT_IDLE ||
	       (r == CN__RT_RUNNING && pthread_equal(rt->thread, pthread_self()));
}

int cn_runtime_run(cn_runtime *rt)
{
	int idle = CN__RT_IDLE;

	if (!rt) {
		errno = EINVAL;
		return -1;
	}
	/* The CAS lets only one of two threads racing to run rt win. */
	if (cn__sched_here() || cn_coro_current() ||
	    !atomic_compare_exchange_strong(&rt->running, &idle, CN__RT_STARTING)) {
		errno = EBUSY;
		return -1;
	}
	rt->thread = pthread_self();
	atomic_store_explicit(&rt->running, CN__RT_RUNNING, memory_order_release);
	/* Best effort: without it an overflow is a bare SIGSEGV. */
	(void)cn__coro_arm();
	if (rt->opts.mode == CN_NETPOLL_THREAD && cn__netpoll_start(&rt->np) < 0) {
		atomic_store(&rt->running, CN__RT_IDLE);
		errno = EAGAIN;
		return -1;
	}
	cn__sched_run(&rt->sched);
	if (rt->np.started)
		cn__netpoll_join(&rt->np);
	atomic_store(&rt->running, CN__RT_IDLE);
	return 0;
}

cn__task *cn__runtime_make(cn_runtime *rt, cn_coro_fn fn, void *arg, const cn_coro_opts *opts)
{
	if (!rt || !fn) {
		errno = EINVAL;
		return NULL;
	}
	if (atomic_load(&rt->sched.stopping)) {
		errno = ESHUTDOWN;
		return NULL;
	}
	return cn__sched_make(&rt->sched, fn, arg, opts);
}

void cn__runtime_queue(cn_runtime *rt, cn__task *t)
{
	/* From a coroutine (or code) on the scheduler thread of a running rt:
	 * straight onto the run queue. From anywhere else (another thread,
	 * or before the run, which may be starting on another thread): through
	 * the scheduler's inbox, which every run drains first. */
	cn__sched_queue(&rt->sched, t, cn__sched_here() != &rt->sched);
}

int cn_spawn(cn_runtime *rt, cn_coro_fn fn, void *arg, const cn_coro_opts *opts)
{
	cn__task *t = cn__runtime_make(rt, fn, arg, opts);

	if (!t)
		return -1;
	cn__runtime_queue(rt, t);
	return 0;
}

int cn_runtime_stop(cn_runtime *rt)
{
	if (!rt) {
		errno = EINVAL;
		return -1;
	}
	/* Only atomics and wake writes: async-signal-safe. stop_calls is
	 * raised before stopping, so the run this stop ends cannot return and
	 * be followed by a destroy that misses it (destroy waits for 0). */
	atomic_fetch_add(&rt->stop_calls, 1);
	cn__sched_stop(&rt->sched);
	atomic_fetch_sub(&rt->stop_calls, 1);
	return 0;
}

static uint64_t relaxed(const _Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

int cn_runtime_stats_get(const cn_runtime *rt, cn_runtime_stats *out)
{
	const cn__sched *s;

	if (!rt || !out) {
		errno = EINVAL;
		return -1;
	}
	if (!on_sched_thread(rt)) {
		errno = EPERM; /* the scheduler's counters are not atomic */
		return -1;
	}
	s = &rt->sched;
	memset(out, 0, sizeof(*out));
	out->spawned = s->st_spawned;
	out->finished = s->st_finished;
	out->completions = s->st_completions + relaxed(&rt->np.st_completions);
	out->polls = s->st_polls + relaxed(&rt->np.st_polls);
	out->ring_full = relaxed(&rt->np.st_ring_full);
	out->ring_batches = rt->ho.batches;
	/* Thread mode: the netpoll thread's wakes (npp) count too. */
	if (rt->sp)
		out->wake_syscalls =
		        cn__poller_wake_syscalls(rt->sp) + cn__poller_wake_syscalls(rt->np.npp);
	else
		out->wake_syscalls = cn__poller_wake_syscalls(rt->fdp);
	return 0;
}

/* Takes every fd the program did not cn_close() out of the poller, here on
 * the destroying thread: libkqueue would otherwise tear the registrations
 * down on its own thread after the kqueue is closed, racing with the
 * program's later close() of those fds. An fd closed behind our back just
 * makes the del fail (EBADF, ENOENT). */
static void unregister_all(cn_runtime *rt)
{
	for (int fd = 0; (fd = cn__fd_next_registered(&rt->fds, fd)) >= 0; fd++) {
		cn__poller_del(rt->fdp, fd);
		cn__fd_lookup(&rt->fds, fd)->state = CN__FD_UNKNOWN;
	}
}

int cn_runtime_destroy(cn_runtime *rt)
{
	if (!rt) {
		errno = EINVAL;
		return -1;
	}
	if (atomic_load(&rt->running) != CN__RT_IDLE) {
		errno = EBUSY;
		return -1;
	}
	/* Another thread's cn_runtime_stop() may still be writing the wake-up
	 * that ended the run: let it finish before its fds and rt go. */
	while (atomic_load(&rt->stop_calls))
		sched_yield();
	if (rt->np.started)
		cn__netpoll_join(&rt->np);
	cn__pool_destroy(&rt->pool);
	cn__sched_free(&rt->sched);
	unregister_all(rt);
	runtime_free(rt);
	return 0;
}

cn_runtime *cn_runtime_current(void)
{
	cn__task *t = cn__task_current();

	return t ? t->s->rt : NULL;
}

int cn_runtime_dump(cn_runtime *rt, int fd)
{
	if (!rt || fd < 0) {
		errno = EINVAL;
		return -1;
	}
	return cn__sched_dump(&rt->sched, fd, cn_netpoll_mode_name(rt->opts.mode));
}
