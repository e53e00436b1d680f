/*
 * src/sched.c — the scheduler: tasks, the run queue, parking, timers, stop,
 * and the run loop of both netpoll modes.
 *
 * A task per spawned coroutine (attached with cn__coro_set_user()) sits on
 * an intrusive FIFO run queue. The loop pops a task and resumes it; the
 * coroutine yields either NULL (cn_yield_now: back to the tail) or the
 * promise it waits on (it set task->waiting first): the task is parked on a
 * doubly linked list, so stop can find and cancel every waiter. Whoever
 * fulfils the promise pushes the task back on the run queue. A finished
 * coroutine is destroyed and its task freed; run returns when none is left.
 *
 * Thread mode: the netpoll thread (netpoll_thread.c) owns the fd poller; the
 * scheduler sleeps in a second poller with no fds (only its wake channel,
 * the next timer as timeout), announcing it with `sleeping` so the netpoll
 * thread makes a wake system call only then. Before sleeping it spins on the
 * ring for up to a few tens of microseconds, adaptively (spin_for_work), so
 * completions that follow each other closely cost no wake at all. At the
 * end of each round it kicks the netpoll thread, which parks after handing
 * a batch to an awake scheduler so that it polls about once per round, in
 * batches (netpoll_thread.c, "Batching"). Inline mode: the scheduler
 * waits in the fd poller itself when nothing is runnable and handles the
 * events directly, like a libuv loop.
 *
 * Misuse: `running` (IDLE/STARTING/RUNNING, claimed by CAS) lets calls from
 * the wrong thread fail with EPERM/EBUSY instead of touching the run queue;
 * queued and parked coroutines are held (coro_internal.h), so a user's
 * cn_coro_resume() of one fails with EPERM instead of running it behind the
 * scheduler's back.
 *
 * Threads: cn_runtime_stop() from any thread or signal handler; cn_spawn()
 * before run or from the scheduler thread; everything else on the scheduler
 * thread.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coro_internal.h"
#include "sched.h"

#define CN__RING_DEFAULT 4096u
#define CN__EVENTS 256
/* Inline mode polls the kernel without blocking every this many rounds of
 * the run queue, so busy coroutines cannot starve I/O. */
#define CN__INLINE_POLL_EVERY 32
/* Thread mode's spin before sleeping, in ns (see spin_for_work);
 * -DCN__SPIN_MAX=0 turns it off, for comparisons. With the netpoll thread
 * batching, off saved CPU per round trip at 10 connections (2 cores) but
 * lost round trips/s and p99 there when the machine was quiet, and made no
 * difference at 100 and 1,000; so it stays on. */
#define CN__SPIN_MIN ((int64_t)2000)
#ifndef CN__SPIN_MAX
#define CN__SPIN_MAX ((int64_t)50000)
#endif

static _Thread_local cn_runtime *tls_rt;
#ifdef CN__TSAN
atomic_int cn__fence_word;
#endif

cn_runtime *cn__sched_runtime(void)
{
	return tls_rt;
}

cn__task *cn__task_current(void)
{
	cn_coro *co = cn_coro_current();
	cn__task *t = co ? cn__coro_user(co) : NULL;

	/* A plain coroutine nested inside a runtime coroutine has no task: a
	 * yield from it would go to its resumer, not to the scheduler. */
	if (!t || !tls_rt || t->rt != tls_rt) {
		errno = EPERM;
		return NULL;
	}
	return t;
}

int64_t cn_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void runq_push(cn_runtime *rt, cn__task *t)
{
	t->next = NULL;
	if (rt->runq_tail)
		rt->runq_tail->next = t;
	else
		rt->runq_head = t;
	rt->runq_tail = t;
}

static cn__task *runq_pop(cn_runtime *rt)
{
	cn__task *t = rt->runq_head;

	if (t) {
		rt->runq_head = t->next;
		if (!rt->runq_head)
			rt->runq_tail = NULL;
		t->next = NULL;
	}
	return t;
}

static void park(cn_runtime *rt, cn__task *t)
{
	t->park_prev = NULL;
	t->park_next = rt->parked;
	if (rt->parked)
		rt->parked->park_prev = t;
	rt->parked = t;
	t->parked = 1;
	rt->nparked++;
}

static void unpark(cn_runtime *rt, cn__task *t)
{
	if (t->park_prev)
		t->park_prev->park_next = t->park_next;
	else
		rt->parked = t->park_next;
	if (t->park_next)
		t->park_next->park_prev = t->park_prev;
	t->park_prev = t->park_next = NULL;
	t->parked = 0;
	rt->nparked--;
}

void cn__promise_wake(cn_runtime *rt, cn_promise *p)
{
	cn__task *t = p->waiter ? cn__coro_user(p->waiter) : NULL;

	if (t && t->parked && t->waiting == p) {
		unpark(rt, t);
		runq_push(rt, t);
	}
}

void cn__promise_complete(cn_runtime *rt, cn_promise *p, ssize_t result, int err)
{
	p->result = err ? -1 : result;
	p->err = err;
	p->state = CN_PROMISE_FULFILLED;
	cn__promise_wake(rt, p);
}

void cn__task_wait(cn__task *t, cn_promise *p)
{
	/* The run loop parks us when it sees t->waiting == p come back. */
	if (cn_coro_yield(p) < 0) {
		fprintf(stderr, "coronet: a runtime task could not yield (%s)\n", strerror(errno));
		abort();
	}
	t->waiting = NULL;
	p->waiter = NULL;
}

void cn__wait_timer_fire(cn__timer *tm, void *ctx)
{
	cn_runtime *rt = ctx;
	cn__wait *w = (cn__wait *)((char *)tm - offsetof(cn__wait, timer));

	if (w->kind == CN__WAIT_SLEEP)
		cn__promise_complete(rt, &w->p, 0, 0);
	else if (cn__fd_reclaim(w->ent, w->dir, &w->p))
		cn__promise_complete(rt, &w->p, -1, ETIMEDOUT);
	/* else: the netpoll side took it; the retry re-checks the deadline. */
}

/* Stop: every parked waiter is resumed with ECANCELED (fd waits the netpoll
 * thread already took arrive through the ring and fail on retry). */
static void cancel_all(cn_runtime *rt)
{
	cn__task *t = rt->parked, *next;

	rt->cancelled_all = 1;
	for (; t; t = next) {
		cn_promise *p = t->waiting;
		cn__wait *w = p->priv;

		next = t->park_next;
		if (!w) {
			/* A user promise stays pending: someone may still
			 * fulfil it; only this wait ends. */
			t->cancelled = 1;
			unpark(rt, t);
			runq_push(rt, t);
		// Same body as the next branch on purpose: a sleep always
		// has its promise to itself, an fd wait only if reclaimed.
		// NOLINTNEXTLINE(bugprone-branch-clone)
		} else if (w->kind == CN__WAIT_SLEEP) {
			cn__timer_del(&rt->timers, &w->timer);
			cn__promise_complete(rt, p, -1, ECANCELED);
		} else if (cn__fd_reclaim(w->ent, w->dir, p)) {
			cn__timer_del(&rt->timers, &w->timer);
			cn__promise_complete(rt, p, -1, ECANCELED);
		}
	}
}

int cn__fd_event(cn_runtime *rt, const cn__poll_event *ev, cn_promise **out)
{
	int fd = (int)(uint32_t)ev->token;
	uint32_t seq = (uint32_t)(ev->token >> 32);
	cn__fdent *e = cn__fd_lookup(&rt->fds, fd);
	int n = 0;

	/* A stale event for a closed (maybe reused) fd changes nothing. */
	if (!e || atomic_load_explicit(&e->seq, memory_order_acquire) != seq)
		return 0;
	/* Before the takes: the waiter they wake must find the error. */
	if (ev->error)
		cn__fd_set_error(e, seq, ev->error);
	if ((ev->events & CN__POLL_IN) && (out[n] = cn__fd_take(e, CN__DIR_READ)))
		n++;
	if ((ev->events & CN__POLL_OUT) && (out[n] = cn__fd_take(e, CN__DIR_WRITE)))
		n++;
	return n;
}

static void inline_poll(cn_runtime *rt, int64_t timeout)
{
	cn__poll_event ev[CN__EVENTS];
	int n = cn__poller_wait(rt->fdp, ev, CN__EVENTS, timeout);

	atomic_fetch_add_explicit(&rt->st_polls, 1, memory_order_relaxed);
	for (int i = 0; i < n; i++) {
		cn_promise *ps[2];
		int k = cn__fd_event(rt, &ev[i], ps);

		for (int j = 0; j < k; j++) {
			cn__promise_ready(ps[j]);
			cn__promise_wake(rt, ps[j]);
		}
		atomic_fetch_add_explicit(&rt->st_completions, (uint64_t)k, memory_order_relaxed);
	}
}

/*
 * Thread mode, nothing runnable: before sleeping, spin for a while on the
 * ring. A sleep costs a wake system call on the netpoll side and a kernel
 * round trip here; when completions trickle in a few microseconds apart (the
 * netpoll thread is handling the next edge already) it is cheaper to wait
 * for them awake, with the CPU's pause hint, as Go's spinning Ms do.
 *
 * How long adapts, like Linux's haltpoll governor: spin_ns grows (x2, from
 * CN__SPIN_MIN up to CN__SPIN_MAX) when a sleep ended sooner than
 * CN__SPIN_MAX after we went idle (a longer spin would have caught it), and
 * halves when it ended later (spinning would have burnt the CPU for
 * nothing); below CN__SPIN_MIN it is 0. So a busy server spins, an idle one
 * sleeps at once, and a timer due sooner than the spin cuts it short.
 * Returns 1 if work came (completions drained, or a stop to handle).
 */
static int spin_for_work(cn_runtime *rt, int64_t t0)
{
	int64_t limit = rt->spin_ns, to;

	if (limit == 0)
		return 0;
	to = cn__timer_timeout(&rt->timers, t0);
	if (to >= 0 && to < limit)
		limit = to;
	for (;;) {
		for (int i = 0; i < 8; i++)
			CN__CPU_RELAX();
		if (cn__np_drain(rt))
			return 1;
		if (atomic_load_explicit(&rt->stopping, memory_order_relaxed) && !rt->cancelled_all)
			return 1;
		if (cn_now() - t0 >= limit)
			return 0;
	}
}

/* Thread mode: nothing runnable; sleep until the netpoll thread, a timer or
 * a stop wakes us. `sleeping` and the ring form a Dekker pair with the
 * netpoll thread (it pushes, fences, reads sleeping), so either it sees us
 * asleep and wakes us, or we see its promise here and do not sleep. */
static void thread_sleep(cn_runtime *rt)
{
	int64_t t0 = cn_now(), idle;

	if (spin_for_work(rt, t0))
		return;
	atomic_store(&rt->sleeping, 1);
	CN__FENCE();
	if (cn__np_drain(rt) == 0 && !(atomic_load(&rt->stopping) && !rt->cancelled_all)) {
		cn__poll_event ev[4];

		cn__poller_wait(rt->sp, ev, 4, cn__timer_timeout(&rt->timers, cn_now()));
		atomic_fetch_add_explicit(&rt->st_polls, 1, memory_order_relaxed);
	}
	atomic_store(&rt->sleeping, 0);
	idle = cn_now() - t0;
	if (idle <= CN__SPIN_MAX) {
		rt->spin_ns = rt->spin_ns ? rt->spin_ns * 2 : CN__SPIN_MIN;
		if (rt->spin_ns > CN__SPIN_MAX)
			rt->spin_ns = CN__SPIN_MAX;
	} else {
		rt->spin_ns /= 2;
		if (rt->spin_ns < CN__SPIN_MIN)
			rt->spin_ns = 0;
	}
}

static void resume(cn_runtime *rt, cn__task *t)
{
	void *v = NULL;
	int r;

	cn__coro_unhold(t->co);
	r = cn_coro_resume(t->co, &v);
	if (r == 1) {
		cn__coro_hold(t->co);
		if (v && v == t->waiting)
			park(rt, t);
		else
			runq_push(rt, t); /* cn_yield_now, or a stray yield */
		return;
	}
	if (r < 0) {
		fprintf(stderr, "coronet: scheduler could not resume coroutine '%s' (%s)\n",
		        cn_coro_name(t->co), strerror(errno));
		abort();
	}
	cn_coro_destroy(t->co);
	free(t);
	rt->live--;
	rt->st_finished++;
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
	unsigned rounds = 0;
	int idle = CN__RT_IDLE;

	if (!rt) {
		errno = EINVAL;
		return -1;
	}
	/* The CAS lets only one of two threads racing to run rt win. */
	if (tls_rt || cn_coro_current() ||
	    !atomic_compare_exchange_strong(&rt->running, &idle, CN__RT_STARTING)) {
		errno = EBUSY;
		return -1;
	}
	rt->thread = pthread_self();
	atomic_store_explicit(&rt->running, CN__RT_RUNNING, memory_order_release);
	tls_rt = rt;
	/* Best effort: without it an overflow is a bare SIGSEGV. */
	(void)cn__overflow_arm();
	if (rt->opts.mode == CN_NETPOLL_THREAD && cn__np_start(rt) < 0) {
		tls_rt = NULL;
		atomic_store(&rt->running, CN__RT_IDLE);
		errno = EAGAIN;
		return -1;
	}
	for (;;) {
		cn__task *last;

		if (atomic_load(&rt->stopping) && !rt->cancelled_all)
			cancel_all(rt);
		cn__timer_run(&rt->timers, cn_now(), rt);
		if (rt->opts.mode == CN_NETPOLL_THREAD)
			cn__np_drain(rt);
		else if (rt->runq_head && ++rounds % CN__INLINE_POLL_EVERY == 0)
			inline_poll(rt, 0);

		/* One round: the tasks queued now; those they wake wait for
		 * the next round, after timers and I/O had their turn. */
		last = rt->runq_tail;
		while (rt->runq_head) {
			cn__task *t = runq_pop(rt);
			int was_last = t == last;

			resume(rt, t);
			if (was_last)
				break;
		}
		/* After the round, before sleeping: the netpoll thread may
		 * harvest what became ready meanwhile, as one batch. */
		if (rt->opts.mode == CN_NETPOLL_THREAD)
			cn__np_kick(rt);
		if (rt->live == 0)
			break;
		if (rt->runq_head)
			continue;
		if (rt->opts.mode == CN_NETPOLL_THREAD) {
			thread_sleep(rt);
		} else {
			int64_t to = cn__timer_timeout(&rt->timers, cn_now());

			if (atomic_load(&rt->stopping) && !rt->cancelled_all)
				to = 0;
			inline_poll(rt, to);
		}
	}
	if (rt->np_started)
		cn__np_join(rt);
	tls_rt = NULL;
	atomic_store(&rt->running, CN__RT_IDLE);
	return 0;
}

static int bad_ring_size(unsigned n)
{
	return n < 2 || (n & (n - 1)) != 0 || n > (1u << 30);
}

cn_runtime *cn_runtime_create(const cn_runtime_opts *opts)
{
	cn_runtime_opts o = {.mode = CN_NETPOLL_THREAD};
	cn_runtime *rt;
	int saved;

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
	if (cn__fdtable_init(&rt->fds) < 0)
		goto error1;
	rt->fdp = cn__poller_create();
	if (!rt->fdp)
		goto error2;
	if (o.mode == CN_NETPOLL_THREAD) {
		rt->sp = cn__poller_create();
		if (!rt->sp)
			goto error3;
		rt->npp = cn__poller_create();
		if (!rt->npp)
			goto error4;
		rt->ring_buf = calloc(o.ring_size, sizeof(*rt->ring_buf));
		if (!rt->ring_buf) {
			errno = ENOMEM;
			goto error5;
		}
		ck_ring_init(&rt->ring, o.ring_size);
	}
	return rt;

error5:
	saved = errno;
	cn__poller_destroy(rt->npp);
	errno = saved;
error4:
	saved = errno;
	cn__poller_destroy(rt->sp);
	errno = saved;
error3:
	saved = errno;
	cn__poller_destroy(rt->fdp);
	errno = saved;
error2:
	saved = errno;
	cn__fdtable_free(&rt->fds);
	errno = saved;
error1:
	saved = errno;
	free(rt);
	errno = saved;
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

int cn_spawn(cn_runtime *rt, cn_coro_fn fn, void *arg, const cn_coro_opts *opts)
{
	cn_coro_opts o = {0};
	cn__task *t;

	if (!rt || !fn) {
		errno = EINVAL;
		return -1;
	}
	if (!on_sched_thread(rt)) {
		errno = EPERM;
		return -1;
	}
	if (atomic_load(&rt->stopping)) {
		errno = ESHUTDOWN;
		return -1;
	}
	if (opts)
		o = *opts;
	if (o.stack_size == 0)
		o.stack_size = rt->opts.stack_size;
	t = calloc(1, sizeof(*t));
	if (!t) {
		errno = ENOMEM;
		return -1;
	}
	t->co = cn_coro_create(fn, arg, &o);
	if (!t->co) {
		int saved = errno;

		free(t);
		errno = saved;
		return -1;
	}
	t->rt = rt;
	cn__coro_set_user(t->co, t);
	cn__coro_hold(t->co);
	runq_push(rt, t);
	rt->live++;
	rt->st_spawned++;
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
	atomic_store(&rt->stopping, 1);
	if (rt->sp)
		cn__poller_wake(rt->sp);
	else
		cn__poller_wake(rt->fdp);
	atomic_fetch_sub(&rt->stop_calls, 1);
	return 0;
}

int cn_runtime_stats_get(const cn_runtime *rt, cn_runtime_stats *out)
{
	if (!rt || !out) {
		errno = EINVAL;
		return -1;
	}
	if (!on_sched_thread(rt)) {
		errno = EPERM; /* the scheduler's counters are not atomic */
		return -1;
	}
	memset(out, 0, sizeof(*out));
	out->spawned = rt->st_spawned;
	out->finished = rt->st_finished;
	out->completions = atomic_load_explicit(&rt->st_completions, memory_order_relaxed);
	/* Thread mode: the netpoll thread's wakes (npp) count too. */
	out->wake_syscalls = cn__poller_wake_syscalls(rt->sp ? rt->sp : rt->fdp) +
	                     (rt->npp ? cn__poller_wake_syscalls(rt->npp) : 0);
	out->ring_batches = rt->st_batches;
	out->ring_full = atomic_load_explicit(&rt->st_ring_full, memory_order_relaxed);
	out->polls = atomic_load_explicit(&rt->st_polls, memory_order_relaxed);
	return 0;
}

/* Takes every fd the program did not cn_close() out of the poller, here on
 * the destroying thread: libkqueue would otherwise tear the registrations
 * down on its own thread after the kqueue is closed, racing with the
 * program's later close() of those fds. An fd closed behind our back just
 * makes the del fail (EBADF, ENOENT). */
static void unregister_all(cn_runtime *rt)
{
	for (unsigned c = 0; c < CN__FD_CHUNKS; c++) {
		cn__fdent *e = atomic_load_explicit(&rt->fds.chunks[c], memory_order_relaxed);

		for (unsigned i = 0; e && i < CN__FD_CHUNK; i++) {
			if (e[i].state != CN__FD_REGISTERED)
				continue;
			cn__poller_del(rt->fdp, (int)(c * CN__FD_CHUNK + i));
			e[i].state = CN__FD_UNKNOWN;
		}
	}
}

int cn_runtime_destroy(cn_runtime *rt)
{
	cn__task *t;

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
	if (rt->np_started)
		cn__np_join(rt);
	while ((t = runq_pop(rt)) || (t = rt->parked)) {
		/* Every task on the parked list has t->parked set (park() and
		 * unpark() keep them together), so t leaves the list before it is
		 * freed; the analyzer cannot see that invariant. */
		if (t->parked) // NOLINT(clang-analyzer-unix.Malloc)
			unpark(rt, t);
		cn__coro_unhold(t->co);
		cn_coro_destroy(t->co);
		free(t);
	}
	unregister_all(rt);
	if (rt->sp)
		cn__poller_destroy(rt->sp);
	if (rt->npp)
		cn__poller_destroy(rt->npp);
	cn__poller_destroy(rt->fdp);
	cn__fdtable_free(&rt->fds);
	cn__timer_heap_free(&rt->timers);
	free(rt->ring_buf);
	free(rt);
	return 0;
}

cn_runtime *cn_runtime_current(void)
{
	cn__task *t = cn__task_current();

	return t ? t->rt : NULL;
}

int cn_yield_now(void)
{
	if (!cn__task_current())
		return -1;
	cn_coro_yield(NULL);
	return 0;
}

int cn_sleep(int64_t ns)
{
	cn__task *t = cn__task_current();
	cn_runtime *rt;
	cn__wait w;

	if (!t)
		return -1;
	if (ns <= 0)
		return cn_yield_now();
	rt = t->rt;
	if (atomic_load(&rt->stopping)) {
		errno = ECANCELED;
		return -1;
	}
	cn_promise_init(&w.p);
	w.p.priv = &w;
	w.kind = CN__WAIT_SLEEP;
	w.ent = NULL;
	w.dir = 0;
	w.timer.fire = cn__wait_timer_fire;
	w.timer.deadline = cn_now();
	w.timer.deadline = ns > INT64_MAX - w.timer.deadline ? INT64_MAX : w.timer.deadline + ns;
	if (cn__timer_add(&rt->timers, &w.timer) < 0)
		return -1;
	w.p.waiter = t->co;
	t->waiting = &w.p;
	cn__task_wait(t, &w.p);
	cn__timer_del(&rt->timers, &w.timer);
	if (w.p.err) {
		errno = w.p.err;
		return -1;
	}
	return 0;
}
