/*
 * src/sched.c — one scheduler: spawning, the inbox's consumer side, stop,
 * the stale-wait sweep, the stall report, and the run loop of both netpoll
 * modes. Its run queue and parked list are runq.c's, its tasks' waits
 * task.c's.
 *
 * A task per spawned coroutine sits on an intrusive FIFO run queue. The
 * loop pops a task and resumes it; the coroutine yields either NULL
 * (cn_yield_now: back to the tail) or the promise it waits on (it set
 * task->waiting first): the task is parked on a doubly linked list, so stop
 * can find and cancel every waiter. Settling the promise (promise.c, through
 * the task's waiter ops) pushes the task back on the run queue. A finished
 * coroutine is destroyed and its task freed; run returns when none is left.
 *
 * A round: stop handling, what other threads handed in (the inbox), due
 * timers, the completion ring (thread mode) or now and then a non-blocking
 * poll (inline mode, CN__TICK_EVERY), then the tasks queued at the
 * start of the round; those they wake wait for the next round, after timers
 * and I/O had their turn. With nothing runnable the scheduler idles
 * (idle.c): thread mode spins a little and sleeps until the netpoll thread
 * wakes it; inline mode waits in the fd poller itself.
 *
 * Threads: cn__sched_stop() from any thread or signal handler;
 * cn__sched_spawn_remote() from any thread; cn__sched_spawn() from s's
 * thread, or while s does not run; everything else on s's thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "bias.h"
#include "coro_internal.h"
#include "sched.h"

/* Every this many rounds (a power of two) a round reads the clock even
 * with no timer armed, and inline mode may poll the kernel without
 * blocking, so busy coroutines cannot starve I/O: it does when
 * CN__BUSY_POLL_NS have passed since the last poll. Why not every round:
 * on the EPYC VMs one clock_gettime() costs ~21 ns and one epoll_wait(0)
 * far more, against ~50 ns for a whole channel message; a round that
 * only moves messages between coroutines needs neither. */
#define CN__TICK_EVERY 32u
#define CN__BUSY_POLL_NS ((int64_t)50000)

/* Ends parked t's wait with ECANCELED (fd waits the netpoll thread already
 * took arrive through the ring and fail on retry, as cn__task_stopping()
 * says so). */
static void cancel_wait(cn__sched *s, cn__task *t)
{
	cn_promise *p = t->waiting;
	cn__wait *w = p->priv;

	if (!w) {
		t->cancelled = ECANCELED;
		cn__unpark(s, t);
		cn__runq_push(s, t);
		// Same body as the next branch on purpose: a sleep always
		// has its promise to itself, an fd wait only if reclaimed.
		// NOLINTNEXTLINE(bugprone-branch-clone)
	} else if (w->kind == CN__WAIT_SLEEP) {
		cn__timer_del(&s->timers, &w->timer);
		cn__promise_settle(p, -1, ECANCELED);
	} else if (cn__fd_reclaim(w->ent, w->dir, p)) {
		cn__timer_del(&s->timers, &w->timer);
		cn__promise_settle(p, -1, ECANCELED);
	}
}

/* Stop: every parked waiter is resumed with ECANCELED. */
static void cancel_all(cn__sched *s)
{
	cn__task *t = s->parked, *next;

	s->cancelled_all = 1;
	for (; t; t = next) {
		next = t->park_next;
		cancel_wait(s, t);
	}
}

void cn__sched_cancel(cn__sched *s, cn__task *t)
{
	t->cancel = 1;
	if (t->parked)
		cancel_wait(s, t);
}

/*
 * Stale waits. Socket reads and writes skip the identity check that every
 * other call makes (fdreg.c, "Identity"): a system call per wait would cost
 * the echo benchmark 4-9% more CPU per round trip. So a coroutine can park
 * on a registration that died with its file (closed behind the runtime's
 * back), and no edge would ever wake it. Once a second the scheduler looks
 * at the fd waits parked for more than a second and checks their fd (one
 * fstat each, at most once a second); one whose number now names another
 * file, or nothing, gets its entry retired: the waiter is resumed with
 * ECANCELED, as if the fd had been cn_close()d, and the next call registers
 * whatever the number names. A busy server's waits are short: the sweep
 * then walks the parked list and checks nothing.
 */
#define CN__SWEEP_EVERY ((int64_t)1000000000)

static void sweep_stale(cn__sched *s)
{
	int64_t old = s->round_now - CN__SWEEP_EVERY;
	cn__task *t = s->parked, *next;

	s->next_sweep = s->round_now + CN__SWEEP_EVERY;
	for (; t; t = next) {
		cn__wait *w = t->waiting->priv;

		/* Retiring may resume (unpark) this task: its successor first. */
		next = t->park_next;
		if (!w || w->kind != CN__WAIT_FD || w->since > old ||
		    w->ent->state != CN__FD_REGISTERED || !w->ent->sock)
			continue;
		w->since = s->round_now; /* checked: not again for a second */
		if (cn__fd_same_file(w->ent, w->fd) != 1)
			cn__sched_fd_retire(s, w->ent, w->fd);
	}
}

/* ---- spawn, resume, the loop ------------------------------------------ */

void cn__sched_init(cn__sched *s, cn_runtime *rt, cn_netpoll_mode mode, cn__fdtable *fds,
                    cn__poller *fdp, cn__handoff *ho)
{
	const char *stall = getenv("CORONET_STALL_MS");

	memset(s, 0, sizeof(*s));
	if (stall && atoll(stall) > 0)
		s->stall_ns = atoll(stall) * 1000000;
	s->rt = rt;
	s->mode = mode;
	s->fds = fds;
	s->fdp = fdp;
	s->ho = ho;
	s->inbox.wake = ho ? ho->consumer_poller : fdp;
	cn__bias_attach(s);
}

/* Tasks go through the cache of the scheduler running on this thread, if
 * any (bcache.h), whichever scheduler they were for. */
static void task_free(cn__task *t)
{
	cn__sched *here = cn__sched_here();

	if (!here || !cn__bcache_put(&here->tasks, t))
		free(t);
}

/* A task with its coroutine, held, not queued yet. Any thread. */
cn__task *cn__sched_make(cn__sched *s, cn_coro_fn fn, void *arg, const cn_coro_opts *opts)
{
	cn__sched *here = cn__sched_here();
	cn_coro_opts o = {0};
	cn__task *t;

	if (opts)
		o = *opts;
	if (o.stack_size == 0)
		o.stack_size = s->stack_size;
	t = here ? cn__bcache_get(&here->tasks) : NULL;
	if (t)
		memset(t, 0, sizeof(*t));
	else
		t = calloc(1, sizeof(*t));
	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	t->co = cn_coro_create(fn, arg, &o);
	if (!t->co) {
		int saved = errno;

		task_free(t);
		errno = saved;
		return NULL;
	}
	t->w.ops = &cn__task_ops;
	t->s = s;
	cn__coro_set_user(t->co, &t->w);
	cn__coro_hold(t->co);
	return t;
}

static void enqueue_new(cn__sched *s, cn__task *t)
{
	cn__runq_push(s, t);
	s->live++;
	s->st_spawned++;
	t->id = s->st_spawned;
	cn__lock_take(&s->dump_lock);
	t->all_next = s->all;
	if (s->all)
		s->all->all_prev = t;
	s->all = t;
	cn__lock_give(&s->dump_lock);
}

/* t is about to be freed: the dump forgets it. */
static void forget(cn__sched *s, cn__task *t)
{
	cn__lock_take(&s->dump_lock);
	if (t->all_prev)
		t->all_prev->all_next = t->all_next;
	else if (s->all == t)
		s->all = t->all_next;
	if (t->all_next)
		t->all_next->all_prev = t->all_prev;
	cn__lock_give(&s->dump_lock);
}

void cn__sched_queue(cn__sched *s, cn__task *t, int remote)
{
	if (remote)
		cn__inbox_push(&s->inbox, &s->inbox.tasks, &t->inbox, t);
	else
		enqueue_new(s, t);
}

int cn__sched_spawn(cn__sched *s, cn_coro_fn fn, void *arg, const cn_coro_opts *opts)
{
	cn__task *t = cn__sched_make(s, fn, arg, opts);

	if (!t)
		return -1;
	cn__sched_queue(s, t, 0);
	return 0;
}

int cn__sched_spawn_remote(cn__sched *s, cn_coro_fn fn, void *arg, const cn_coro_opts *opts)
{
	cn__task *t = cn__sched_make(s, fn, arg, opts);

	if (!t)
		return -1;
	cn__sched_queue(s, t, 1);
	return 0;
}

/* Everything other threads handed over: fulfilled promises (delivered,
 * their waiters made runnable), spawned tasks (queued), then calls (a
 * cancel after the spawn it cancels). */
static void drain_inbox(cn__sched *s)
{
	ck_stack_entry_t *e, *next;

	for (e = cn__inbox_take(&s->inbox.promises); e; e = next) {
		cn_promise *p = CN__CONTAINER_OF(e, cn_promise, link);

		CN__TSAN_ACQUIRE(p);
		next = e->next;
		__atomic_fetch_or(&p->state, CN__P_DELIVERED, __ATOMIC_RELAXED);
		cn__sched_wake(p);
	}
	for (e = cn__inbox_take(&s->inbox.tasks); e; e = next) {
		cn__task *t = CN__CONTAINER_OF(e, cn__task, inbox);

		CN__TSAN_ACQUIRE(t);
		next = e->next;
		enqueue_new(s, t);
	}
	for (e = cn__inbox_take(&s->inbox.calls); e; e = next) {
		cn__call *c = CN__CONTAINER_OF(e, cn__call, link);

		CN__TSAN_ACQUIRE(c);
		next = e->next;
		c->fn(c);
	}
}

/* The opt-in stall report (CORONET_STALL_MS): a coroutine that ran longer
 * than the limit before yielding is named once it yields. Cooperative
 * scheduling means nothing else ran meanwhile: no timer, no I/O. */
static CN__COLD void stall_report(const cn__sched *s, const cn_coro *co, int64_t ran)
{
	fprintf(stderr,
	        "coronet: coroutine '%s' ran %lld ms without yielding (CORONET_STALL_MS=%lld): "
	        "timers and I/O of its runtime waited meanwhile\n",
	        cn_coro_name(co), (long long)(ran / 1000000), (long long)(s->stall_ns / 1000000));
}

static void resume(cn__sched *s, cn__task *t)
{
	int64_t t0 = s->stall_ns ? cn_now() : 0;
	void *v = NULL;
	int r;

	cn__coro_unhold(t->co);
	atomic_store_explicit(&t->what, CN__WHAT_RUNNING, memory_order_relaxed);
	r = cn_coro_resume(t->co, &v);
	if (CN__UNLIKELY(t0) && cn_now() - t0 > s->stall_ns)
		stall_report(s, t->co, cn_now() - t0);
	if (r == 1) {
		cn__coro_hold(t->co);
		if (v && v == t->waiting)
			cn__park(s, t);
		else
			cn__runq_push(s, t); /* cn_yield_now, or a stray yield */
		return;
	}
	if (r < 0) {
		fprintf(stderr, "coronet: scheduler could not resume coroutine '%s' (%s)\n",
		        cn_coro_name(t->co), strerror(errno));
		abort();
	}
	forget(s, t);
	cn_coro_destroy(t->co);
	if (t->end)
		t->end(t, 1);
	task_free(t);
	s->live--;
	s->st_finished++;
}

/* The consumer side of the completion ring: wakes every waiter handed
 * over; returns how many. */
static unsigned drain(cn__sched *s)
{
	cn_promise *p;
	unsigned n = 0;

	while ((p = cn__handoff_pop(s->ho))) {
		cn__sched_wake(p);
		n++;
	}
	if (n)
		s->ho->batches++;
	cn__handoff_unblock(s->ho);
	return n;
}

static void wake_list(cn__sched *s, cn_promise *p)
{
	while (p) {
		cn_promise *next = p->next;

		cn__sched_wake(p);
		s->st_completions++;
		p = next;
	}
}

void cn__sched_run(cn__sched *s)
{
	int threaded = s->mode == CN_NETPOLL_THREAD;

	cn__sched_set_here(s);
	cn__bias_run(s, 1);
	s->clock_due = 1;
	for (;;) {
		cn__task *last;

		int tick = (++s->rounds & (CN__TICK_EVERY - 1)) == 0 || s->clock_due;

		if (cn__sched_stop_pending(s))
			cancel_all(s);
		/* round_now is also the dump's "since": at most a tick old. */
		if (tick || s->timers.n) {
			s->round_now = cn_now();
			s->clock_due = 0;
		}
		if (cn__inbox_pending(&s->inbox))
			drain_inbox(s);
		if (s->timers.n)
			cn__timer_run(&s->timers, s->round_now, s);
		if (tick && s->round_now >= s->next_sweep)
			sweep_stale(s);
		if (threaded) {
			drain(s);
		} else if (tick && s->runq_head && s->round_now - s->last_poll >= CN__BUSY_POLL_NS) {
			s->last_poll = s->round_now;
			wake_list(s, cn__idle_poll(s, 0));
		}

		last = s->runq_tail;
		while (s->runq_head) {
			cn__task *t = cn__runq_pop(s);
			int was_last = t == last;

			resume(s, t);
			if (was_last)
				break;
		}
		/* After the round, before sleeping: the netpoll thread may
		 * harvest what became ready meanwhile, as one batch. */
		if (threaded)
			cn__handoff_kick(s->ho);
		if (s->live == 0 && !cn__inbox_pending(&s->inbox))
			break;
		if (s->runq_head)
			continue;
		/* Time passed while idle: the next round reads the clock. */
		s->clock_due = 1;
		if (threaded) {
			cn__idle_sleep(s);
		} else {
			int64_t now = cn_now(), to = cn__sched_timeout(s, now);

			wake_list(s, cn__idle_poll(s, cn__sched_stop_pending(s) ? 0 : to));
			s->last_poll = now;
		}
	}
	/* A stop ends the run it came to (or, made before the run, the next
	 * one); after that the runtime can run again. */
	atomic_store(&s->stopping, 0);
	s->cancelled_all = 0;
	cn__bias_run(s, 0);
	cn__sched_set_here(NULL);
}

void cn__sched_stop(cn__sched *s)
{
	atomic_store(&s->stopping, 1);
	cn__poller_wake(s->ho ? s->ho->consumer_poller : s->fdp);
}

void cn__sched_free(cn__sched *s)
{
	cn__task *t;

	/* Spawns handed over after the last run: destroyed unrun. */
	drain_inbox(s);
	while ((t = cn__runq_pop(s)) || (t = s->parked)) {
		/* Every task on the parked list has t->parked set (cn__park() and
		 * cn__unpark() keep them together), so t leaves the list before it is
		 * freed; the analyzer cannot see that invariant. */
		if (t->parked) // NOLINT(clang-analyzer-unix.Malloc)
			cn__unpark(s, t);
		forget(s, t);
		cn__coro_unhold(t->co);
		cn_coro_destroy(t->co);
		if (t->end)
			t->end(t, 0);
		free(t);
	}
	cn__timer_heap_free(&s->timers);
	cn__bcache_drop(&s->tasks);
	cn__bcache_drop(&s->handles);
	/* After the drain: the inbox held the last call of s's slot. */
	cn__bias_detach(s);
}
