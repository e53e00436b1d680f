/*
 * src/sched.h — one scheduler: its tasks, run queue, parked list, timers,
 * and the consumer side of its completion ring; plus the waits (on time or
 * an fd) that coroutines park in.
 *
 * A scheduler is distinct from the runtime that owns it (runtime.c): the
 * runtime holds the fd table, the fd poller and the netpoll thread, and
 * points each scheduler at them. Today a runtime has one scheduler; the
 * struct is shaped so that N of them can share one runtime.
 *
 * Who owns what: a scheduler, its tasks, run queue, parked list, timers and
 * the promises its coroutines wait on belong to its thread (the one that
 * runs cn__sched_run). Other threads touch only: `stopping` (cn__sched_stop,
 * async-signal-safe) and, for the netpoll thread, the completion ring's
 * producer side (handoff.h) and fd wait words (fdtable.h).
 */
#ifndef CORONET_SCHED_H
#define CORONET_SCHED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "coronet/coro.h"
#include "coronet/io.h"
#include "coronet/runtime.h"
#include "bcache.h"
#include "fdtable.h"
#include "handoff.h"
#include "inbox.h"
#include "lock.h"
#include "poller.h"
#include "pool.h"
#include "promise_internal.h"
#include "timer.h"

typedef struct cn__sched cn__sched;

/* One per spawned coroutine; its coroutine's owner data (cn__coro_user()
 * points at w). While it is queued or parked its coroutine is held
 * (coro_internal.h), so a user's cn_coro_resume() on it fails with EPERM. */
typedef struct cn__task {
	cn__waiter w; /* first: what promises ask */
	cn_coro *co;
	cn__sched *s;
	struct cn__task *next;                  /* run queue link */
	struct cn__task *park_prev, *park_next; /* parked list links */
	cn_promise *waiting;                    /* the promise it yields/waits on */
	int parked;                             /* on the parked list */
	int cancelled;          /* errno that ended a user promise's wait (stop, deadline) */
	int cancel;             /* cn_task_cancel() reached it: every wait fails */
	/* A task with a handle (handle.c): end(t, ran) runs on the scheduler's
	 * thread when its coroutine finished (ran = 1) or is destroyed unrun
	 * (0), before t is freed. NULL for cn_spawn(). */
	void (*end)(struct cn__task *t, int ran);
	void *h;
	/* What the dump (dump.c) shows, written by the scheduler's thread and
	 * read by any thread under the scheduler's dump_lock (relaxed
	 * atomics: a snapshot, each field on its own). */
	uint64_t id;                          /* 1, 2, ... in spawn order */
	struct cn__task *all_prev, *all_next; /* every queued task; dump_lock */
	_Atomic int what;                     /* CN__WHAT_* */
	_Atomic int what_fd;
	_Atomic int64_t what_since, what_until; /* cn_now(); until -1: none */
	ck_stack_entry_t inbox; /* spawned from another thread: in the inbox */
} cn__task;

/* A runtime-made wait: its promise (p.priv points back here; a user's own
 * promise has priv NULL), the timer of its deadline, and for an fd wait the
 * entry and direction. Lives on the waiting coroutine's stack. */
enum { CN__WAIT_SLEEP = 1, CN__WAIT_FD = 2 };
typedef struct cn__wait {
	cn_promise p;
	int kind;
	cn__timer timer;
	cn__fdent *ent; /* CN__WAIT_FD: the entry, fd number and direction */
	int fd, dir;
	int64_t since; /* when it parked (the round's clock) */
} cn__wait;

struct cn__sched {
	cn_runtime *rt; /* the owner; opaque here */
	cn_netpoll_mode mode;
	cn__fdtable *fds;  /* the runtime's */
	cn__poller *fdp;   /* the runtime's fd poller: inline mode waits in it */
	cn__handoff *ho;   /* thread mode: this scheduler's ring; NULL inline */
	cn__pool *pool;    /* the runtime's blocking-call pool */
	size_t stack_size; /* default for spawned coroutines, 0 = coro.h's */
	int64_t stall_ns;  /* CORONET_STALL_MS, in ns; 0 = no stall report */

	/* This scheduler's thread only. */
	cn__timer_heap timers;
	cn__task *runq_head, *runq_tail;
	cn__task *parked;
	uint64_t live; /* spawned and not finished */
	uint64_t nparked;
	int64_t spin_ns; /* thread mode: spin before sleeping (idle.c) */
	unsigned rounds;
	int cancelled_all;
	int64_t round_now;   /* cn_now() at the start of a recent round (sched.c) */
	int64_t last_poll;   /* inline mode: when the kernel was last polled */
	int clock_due;       /* the scheduler idled: the next round reads the clock */
	cn__bcache tasks, handles; /* freed blocks for reuse (bcache.h) */
	unsigned pool_waits; /* coroutines waiting for a pool job (blocking.c) */
	int64_t next_sweep;  /* when stale waits are looked for next */
	uint64_t st_spawned, st_finished, st_polls, st_completions;
	uint64_t bias_id; /* bias.h: this scheduler's id, 0 none */

	/* Every task queued and not yet finished (the dump's list): this
	 * thread links and unlinks under the lock, any thread reads. */
	cn__lock dump_lock;
	cn__task *all;

	/* Any thread pushes, this scheduler's thread takes (inbox.h). */
	cn__inbox inbox;
	/* Any thread or signal handler sets (cn__sched_stop); this
	 * scheduler's thread reads it, and clears it when the run it ended
	 * returns. */
	atomic_int stopping;
};

/* Sets s up (fds, fdp: the runtime's; ho: its ring in thread mode, else
 * NULL). Cannot fail. */
void cn__sched_init(cn__sched *s, cn_runtime *rt, cn_netpoll_mode mode, cn__fdtable *fds,
                    cn__poller *fdp, cn__handoff *ho);

/* Destroys every task left (spawned but never run, or cut off); s must not
 * be running. */
void cn__sched_free(cn__sched *s);

/* Creates a coroutine for fn(arg) (opts as cn_coro_create; stack size 0 =
 * s's default) and queues it. 0, or -1 with errno (cn_coro_create's).
 * s's thread, or any thread while s does not run. */
int cn__sched_spawn(cn__sched *s, cn_coro_fn fn, void *arg, const cn_coro_opts *opts);

/* cn__sched_spawn() from a thread that is not s's while s may run: the
 * coroutine is made here (errors are the caller's: EINVAL, ENOMEM) and
 * handed over through s's inbox; s queues it when it next drains. */
int cn__sched_spawn_remote(cn__sched *s, cn_coro_fn fn, void *arg, const cn_coro_opts *opts);

/* Runs s on the calling thread until no task is left. */
void cn__sched_run(cn__sched *s);

/* Asks s to stop: every wait fails with ECANCELED from now on. Any thread,
 * async-signal-safe (atomics and a poller wake only). */
void cn__sched_stop(cn__sched *s);

/* Whether a stop came that s has not handled yet (its waiters are still
 * to be cancelled). s's thread. */
static inline int cn__sched_stop_pending(const cn__sched *s)
{
	return atomic_load_explicit(&s->stopping, memory_order_relaxed) && !s->cancelled_all;
}

/* How long s may block with nothing to run: until its next timer, and
 * while coroutines wait at most until its next stale-wait sweep (sched.c,
 * "Stale waits"); -1 for no limit. s's thread. */
static inline int64_t cn__sched_timeout(const cn__sched *s, int64_t now)
{
	int64_t to = cn__timer_timeout(&s->timers, now);

	if (s->nparked) {
		int64_t sw = s->next_sweep > now ? s->next_sweep - now : 0;

		if (to < 0 || sw < to)
			to = sw;
	}
	return to;
}

/* The scheduler running on this thread, or NULL (runq.c); set by the run
 * loop for the length of a run. */
cn__sched *cn__sched_here(void);
void cn__sched_set_here(cn__sched *s);

/* The run queue (FIFO) and the parked list (runq.c). s's thread. */
void cn__runq_push(cn__sched *s, cn__task *t);
cn__task *cn__runq_pop(cn__sched *s);
void cn__park(cn__sched *s, cn__task *t);
void cn__unpark(cn__sched *s, cn__task *t);
/* Makes p's parked waiter runnable if it still waits on p (its outcome is
 * recorded already). The waiter's scheduler's thread. */
void cn__sched_wake(cn_promise *p);

/* A task's ops as a promise's waiter (task.c). */
extern const cn__waiter_ops cn__task_ops;

/* The calling coroutine's task if it runs on its scheduler's thread; NULL
 * with errno EPERM otherwise. */
cn__task *cn__task_current(void);

/* Whether t's wait must end at once: its scheduler stops, or t was
 * cancelled (cn_task_cancel). */
static inline int cn__task_stopping(const cn__task *t)
{
	return t->cancel || atomic_load_explicit(&t->s->stopping, memory_order_relaxed);
}

/* Records what t waits on now, for the dump. t's scheduler's thread. */
static inline void cn__task_what(cn__task *t, int what, int fd, int64_t since, int64_t until)
{
	atomic_store_explicit(&t->what, what, memory_order_relaxed);
	atomic_store_explicit(&t->what_fd, fd, memory_order_relaxed);
	atomic_store_explicit(&t->what_since, since, memory_order_relaxed);
	atomic_store_explicit(&t->what_until, until, memory_order_relaxed);
}

/* Cancels t (its scheduler's thread): sets t->cancel and, when t is
 * parked, ends its wait with ECANCELED as a stop would. */
void cn__sched_cancel(cn__sched *s, cn__task *t);

/* cn__sched_spawn() in two steps, so the caller can give the task its end
 * hook and handle before anyone may run it: make (any thread; NULL with
 * cn_coro_create's errno), then queue (remote: through the inbox, from a
 * thread that is not s's while s may run). */
cn__task *cn__sched_make(cn__sched *s, cn_coro_fn fn, void *arg, const cn_coro_opts *opts);
void cn__sched_queue(cn__sched *s, cn__task *t, int remote);

/*
 * The three steps of a runtime-made wait by the calling task t.
 * begin: sets w up (kind, fd entry, number and direction for CN__WAIT_FD, deadline
 *   or CN_NO_DEADLINE; for a sleep the deadline is required) with t as its
 *   waiter; 0, or -1 with ENOMEM (timer heap).
 * abandon: undoes begin when the wait is not needed after all (an fd wait
 *   whose publish lost to an edge).
 * park: parks t until w's promise is settled (by readiness, its deadline or
 *   a stop); returns the errno value it was settled with (0: success).
 */
int cn__wait_begin(cn__task *t, cn__wait *w, int kind, cn__fdent *e, int fd, int dir,
                   int64_t deadline);
void cn__wait_abandon(cn__task *t, cn__wait *w);
int cn__wait_park(cn__task *t, cn__wait *w);

/* Runs fn(arg) on t's runtime's pool while t waits (blocking.c):
 * cn_blocking()'s body, also used for regular files. */
ssize_t cn__pool_call(cn__task *t, ssize_t (*fn)(void *), void *arg);

/* Ends s's knowledge of fd's current life (entry e): waiters are resumed
 * with ECANCELED, the poller forgets fd, the entry becomes unknown (a new
 * seq), so the next call registers whatever fd names then. s's thread. */
void cn__sched_fd_retire(cn__sched *s, cn__fdent *e, int fd);

/* What a scheduler does with nothing to run (idle.c). Each returns without
 * waking anyone: the run loop drains and wakes. */
/* Thread mode: spins, then sleeps in its ring's consumer poller until the
 * netpoll thread, a timer or a stop wakes it. */
void cn__idle_sleep(cn__sched *s);
/* Inline mode: waits up to timeout ns (-1: no limit, 0: just looks) in the
 * fd poller; returns the promises the events released, recorded, linked
 * through ->next. */
cn_promise *cn__idle_poll(cn__sched *s, int64_t timeout);

#endif
