/*
 * src/sched.h — the runtime's insides, shared by sched.c (run loop, spawn,
 * stop), promise.c, io.c, timer users and netpoll_thread.c (thread mode's
 * netpoll thread and the completion ring).
 *
 * Who owns what: the runtime, its tasks, run queue, parked list, timers and
 * every promise belong to the scheduler thread (the one in cn_runtime_run).
 * The netpoll thread touches only: the fd table (lookup, seq, wait words),
 * the fd poller (wait), a promise between taking it out of a wait word and
 * pushing it onto the completion ring, the ring's producer side, and the
 * atomics marked "netpoll" below.
 */
#ifndef CORONET_SCHED_H
#define CORONET_SCHED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <ck_ring.h>

#include "coronet/coro.h"
#include "coronet/promise.h"
#include "coronet/runtime.h"
#include "fdtable.h"
#include "poller.h"
#include "timer.h"

/* ThreadSanitizer cannot see ck_pr's inline assembly, so the ring hand-off
 * is annotated: release the promise before enqueue, acquire it after
 * dequeue, and hide the ring's own slot accesses (synchronised by ck's
 * indices, invisible to TSan) from it. */
#if defined(__SANITIZE_THREAD__)
#define CN__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CN__TSAN 1
#endif
#endif
#ifdef CN__TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
#define CN__TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#define CN__TSAN_RELEASE(p) __tsan_release((void *)(p))
#define CN__TSAN_IGNORE_BEGIN()                                \
	do {                                                   \
		AnnotateIgnoreReadsBegin(__FILE__, __LINE__);  \
		AnnotateIgnoreWritesBegin(__FILE__, __LINE__); \
	} while (0)
#define CN__TSAN_IGNORE_END()                                \
	do {                                                 \
		AnnotateIgnoreWritesEnd(__FILE__, __LINE__); \
		AnnotateIgnoreReadsEnd(__FILE__, __LINE__);  \
	} while (0)
#else
#define CN__TSAN_ACQUIRE(p) ((void)(p))
#define CN__TSAN_RELEASE(p) ((void)(p))
#define CN__TSAN_IGNORE_BEGIN() ((void)0)
#define CN__TSAN_IGNORE_END() ((void)0)
#endif

/* A full fence for the two Dekker pairs (sleeping/ring, producer_blocked/
 * ring). TSan does not model fences (gcc warns -Wtsan), so TSan builds use a
 * seq_cst read-modify-write on a dummy word instead: a full barrier on the
 * hardware, and an operation TSan understands. */
#ifdef CN__TSAN
extern atomic_int cn__fence_word;
#define CN__FENCE() ((void)atomic_fetch_add(&cn__fence_word, 0))
#else
#define CN__FENCE() atomic_thread_fence(memory_order_seq_cst)
#endif

enum { CN__RT_IDLE = 0, CN__RT_STARTING = 1, CN__RT_RUNNING = 2 };

/* A hint to the CPU that we spin: lets a sibling hyper-thread run and
 * saves power (x86 pause, arm64 yield). */
#if defined(__x86_64__) || defined(__i386__)
#define CN__CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define CN__CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define CN__CPU_RELAX() atomic_signal_fence(memory_order_seq_cst)
#endif

/* One per spawned coroutine; attached with cn__coro_set_user(). While it is
 * queued or parked its coroutine is held (coro_internal.h), so a user's
 * cn_coro_resume() on it fails with EPERM. */
typedef struct cn__task {
	cn_coro *co;
	cn_runtime *rt;
	struct cn__task *next;                  /* run queue link */
	struct cn__task *park_prev, *park_next; /* parked list links */
	cn_promise *waiting;                    /* the promise it yields/waits on */
	int parked;                             /* on the parked list */
	int cancelled;                          /* resumed by stop, not by fulfil */
} cn__task;

/* What a runtime-made promise waits for; promise->priv points here. A user
 * promise has priv == NULL. Lives on the waiting coroutine's stack. */
enum { CN__WAIT_SLEEP = 1, CN__WAIT_FD = 2 };
typedef struct cn__wait {
	cn_promise p;
	int kind;
	cn__timer timer;
	cn__fdent *ent; /* CN__WAIT_FD */
	int dir;
} cn__wait;

struct cn_runtime {
	cn_runtime_opts opts;
	cn__poller *fdp; /* fds; waited on by the netpoll thread (thread mode)
			  * or the scheduler (inline mode) */
	cn__poller *sp;  /* thread mode: the scheduler sleeps here (wake only) */
	cn__poller *npp; /* thread mode: the netpoll thread parks here (wake
			  * only) between a hand-off and the scheduler's next
			  * round end (netpoll_thread.c, "Batching") */
	cn__fdtable fds;
	cn__timer_heap timers;

	/* Scheduler only. */
	cn__task *runq_head, *runq_tail;
	cn__task *parked;
	uint64_t live; /* spawned and not finished */
	int64_t spin_ns; /* thread mode: spin before sleeping (sched.c) */
	uint64_t nparked;
	int cancelled_all;
	pthread_t thread; /* the scheduler thread while running */
	/* CN__RT_*. cn_runtime_run() claims rt by CAS IDLE -> STARTING (one
	 * winner among racing threads), writes `thread`, then stores RUNNING
	 * (release); any thread reads it (acquire) to refuse cn_spawn(),
	 * stats and destroy from the wrong thread with EPERM / EBUSY. */
	atomic_int running;

	/* The completion ring. Producer: the netpoll thread
	 * (ck_ring_enqueue_spsc); consumer: the scheduler thread
	 * (ck_ring_dequeue_spsc). opts.ring_size slots. */
	ck_ring_t ring;
	ck_ring_buffer_t *ring_buf;
	pthread_t np_thread;
	int np_started;

	/* Scheduler sets, netpoll reads: 1 while the scheduler is (about to
	 * be) blocked in sp; seq_cst on both sides (Dekker with the ring). */
	atomic_int sleeping;
	/* Netpoll sets when the ring was full and it kept promises back;
	 * scheduler clears it after draining and wakes fdp. */
	atomic_int producer_blocked;
	/* Any thread / signal handler sets; scheduler reads. */
	atomic_int stopping;
	/* cn_runtime_stop() calls in progress (any thread); destroy waits for
	 * 0, so a stop that made run return is done with rt before rt goes. */
	atomic_int stop_calls;
	/* Scheduler sets at the end of run; netpoll thread exits. */
	atomic_int np_quit;
	/* Netpoll sets (before pushing the batch it will park after),
	 * scheduler clears by exchange at a round end and then wakes npp. */
	atomic_int np_parked;

	/* Counters: the scheduler's plain, the netpoll thread's atomic. */
	uint64_t st_spawned, st_finished, st_batches;
	_Atomic uint64_t st_completions, st_ring_full, st_polls;
};

/* The runtime whose scheduler loop runs on this thread, or NULL. */
cn_runtime *cn__sched_runtime(void);

/* The calling coroutine's task if it runs on a running runtime on this
 * thread; NULL with errno EPERM otherwise. */
cn__task *cn__task_current(void);

/* Parks the calling task on p: the caller set p->waiter = t->co and
 * t->waiting = p first (for fd waits, before publishing p in a wait word, so
 * the scheduler never reads a promise the netpoll thread may be writing).
 * Yields p; returns when made runnable, with p->waiter and t->waiting reset. */
void cn__task_wait(cn__task *t, cn_promise *p);

/* Records the outcome of p and makes its waiter runnable. Scheduler only. */
void cn__promise_complete(cn_runtime *rt, cn_promise *p, ssize_t result, int err);

/* Makes p's parked waiter runnable (p's outcome was recorded already, e.g.
 * by the netpoll thread). Scheduler only. */
void cn__promise_wake(cn_runtime *rt, cn_promise *p);

/* Handles one poller event (either thread): records the fd's pending error
 * if the event carries one, then takes the promises whose directions fired. Returns how many it stored into out[0..1]; the caller
 * fulfils/hands them over. */
int cn__fd_event(cn_runtime *rt, const cn__poll_event *ev, cn_promise **out);

/* The timer callback of a cn__wait (sleep: fulfil; fd: reclaim, ETIMEDOUT). */
void cn__wait_timer_fire(cn__timer *tm, void *ctx);

/* Marks p fulfilled by readiness (result 0): the netpoll side's fulfil. */
static inline void cn__promise_ready(cn_promise *p)
{
	p->err = 0;
	p->result = 0;
	p->state = CN_PROMISE_FULFILLED;
}

/* Thread mode (netpoll_thread.c). */
int cn__np_start(cn_runtime *rt);
void cn__np_join(cn_runtime *rt);
/* Scheduler: drains the completion ring, waking waiters; returns how many. */
unsigned cn__np_drain(cn_runtime *rt);
/* Scheduler, at the end of every round: lets a parked netpoll thread poll
 * again (one merged wake of npp if it is parked, else one atomic load). */
void cn__np_kick(cn_runtime *rt);

#endif
