/*
 * coronet/runtime.h — the runtime: one scheduler thread running coroutines,
 * and the netpoll that wakes the ones waiting for I/O or time.
 *
 * Two netpoll modes, chosen per runtime so one binary can compare them:
 *   CN_NETPOLL_THREAD  a dedicated netpoll thread blocks in kevent() or
 *                      epoll_wait(), fulfils promises, hands them back over a
 *                      Concurrency Kit SPSC ring, and wakes the scheduler only
 *                      when it sleeps (merged wake-ups);
 *   CN_NETPOLL_INLINE  no second thread: when nothing is runnable the
 *                      scheduler blocks in the poller itself, with the nearest
 *                      timer as timeout.
 *
 * Scheduling is cooperative: a coroutine runs until it waits or yields
 * (cn_yield_now). One that computes for 300 ms without either holds its
 * whole runtime for 300 ms: no other coroutine runs, no timer fires, no I/O
 * completes, and a cn_runtime_stop() from another thread takes effect only
 * when it yields. Split long work with cn_yield_now(), or move it off the
 * scheduler thread. To find such coroutines, set the environment variable
 * CORONET_STALL_MS=N (read by cn_runtime_create()): every time a coroutine
 * ran longer than N ms before yielding, the runtime prints
 *   coronet: coroutine 'NAME' ran M ms without yielding (CORONET_STALL_MS=N): ...
 * on stderr when it yields (two clock reads per resume while it is set,
 * one untaken branch when not).
 *
 * Stop and run again: cn_runtime_stop() ends the run in progress or, when
 * none is, the next run: every waiting or yielding call (I/O, cn_sleep, any
 * cn_sleep(<= 0), cn_yield_now, cn_promise_await) fails with ECANCELED from
 * then on, cn_spawn() fails with ESHUTDOWN, and run returns once every
 * coroutine has finished. After run returned the runtime is as new: it can
 * be spawned on and run again.
 *
 * Threads: cn_runtime_run() makes the calling thread the scheduler thread.
 * cn_spawn() may be called from any thread at any time (before the run,
 * during it, from a coroutine of this or another runtime): from the
 * scheduler thread it queues the coroutine directly, from anywhere else
 * through the scheduler's inbox (lock-free, drained at the start of every
 * round and of every run, with one merged wake-up). cn_runtime_stop() may
 * be called from any thread and from a signal handler. Everything else:
 * scheduler thread only. While rt runs, cn_runtime_stats_get() from another
 * thread fails with EPERM, cn_runtime_run() and cn_runtime_destroy() with
 * EBUSY.
 *
 * Undefined, not detected: any call on rt after cn_runtime_destroy(rt) (a
 * second destroy included: rt's memory is freed, and reading it to detect
 * the misuse would be the misuse), and so a cn_spawn() from another thread
 * racing with the destroy.
 */
#ifndef CORONET_RUNTIME_H
#define CORONET_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include "coronet/coro.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cn_runtime cn_runtime;

typedef enum cn_netpoll_mode {
	CN_NETPOLL_THREAD = 0,
	CN_NETPOLL_INLINE = 1,
} cn_netpoll_mode;

typedef struct cn_runtime_opts {
	cn_netpoll_mode mode;
	unsigned ring_size;  /* completion ring slots, power of two >= 2; 0 = 4096 */
	size_t stack_size;   /* default for spawned coroutines; 0 = CN_CORO_STACK_DEFAULT */
	unsigned pool_size;  /* most worker threads for blocking calls; 0 = 8
			      * (coronet/blocking.h) */
} cn_runtime_opts;

/* Counters, for benchmarks and tests. */
typedef struct cn_runtime_stats {
	uint64_t spawned, finished;   /* coroutines */
	uint64_t completions;         /* I/O readiness delivered to waiters: handed over
				       * by the netpoll thread, or found by the
				       * scheduler's own polls in inline mode */
	uint64_t wake_syscalls;       /* wake system calls: to the scheduler, and (thread
				       * mode) to the parked netpoll thread */
	uint64_t ring_batches;        /* non-empty drains of the completion ring */
	uint64_t ring_full;           /* times the netpoll thread found the ring full */
	uint64_t polls;               /* poller waits (either thread) */
} cn_runtime_stats;

/* NULL opts = thread mode, defaults. NULL with errno EINVAL (bad ring_size,
 * mode, stack_size), ENOMEM, EMFILE. */
cn_runtime *cn_runtime_create(const cn_runtime_opts *opts);

/* Names for reports: "thread" / "inline"; NULL with EINVAL for other values. */
const char *cn_netpoll_mode_name(cn_netpoll_mode mode);

/* Parses "thread" / "inline"; -1 with EINVAL otherwise. */
int cn_netpoll_mode_parse(const char *name, cn_netpoll_mode *mode);

/*
 * Creates a coroutine running fn(arg) and queues it. opts as cn_coro_create
 * (NULL for the runtime's defaults). Any thread. The coroutine (and its
 * stack) is made on the calling thread, so every error is reported here:
 * returns 0, or -1 with errno EINVAL (rt or fn NULL, bad opts), ENOMEM,
 * ESHUTDOWN (rt is stopping: a stop was asked and the run it ends has not
 * returned yet). A coroutine spawned from another thread just as a run ends
 * runs in the next run, or is destroyed unrun by cn_runtime_destroy().
 * cn_runtime_stats_get()'s `spawned` counts it once the scheduler took it.
 */
int cn_spawn(cn_runtime *rt, cn_coro_fn fn, void *arg, const cn_coro_opts *opts);

/*
 * Runs rt on the calling thread until every coroutine has finished, or until
 * cn_runtime_stop(). On stop, coroutines still waiting are resumed with
 * ECANCELED from their waiting call, so they can clean up; run returns when
 * all have finished. Returns 0, or -1 with errno EINVAL (rt NULL), EBUSY
 * (rt already runs, here or on another thread; or the calling thread already
 * runs a runtime, or is inside a coroutine), or the netpoll thread's start
 * failure (EAGAIN). A runtime may be run again after run returned, a
 * stopped one included (see "Stop and run again").
 */
int cn_runtime_run(cn_runtime *rt);

/* Asks rt to stop; safe from any thread and from a signal handler. Returns 0,
 * -1/EINVAL if rt is NULL. One exception: built against libkqueue (the
 * kqueue backend on Linux), whose kevent() takes a mutex, a handler that
 * interrupts one of rt's threads inside kevent() deadlocks; there, and in
 * general where a program has threads, take the signal with sigwait() in
 * a thread of its own and call this from it (examples/stop_signals.h). */
int cn_runtime_stop(cn_runtime *rt);

/* Copies rt's counters. Returns 0, or -1 with EINVAL (rt or out NULL) or
 * EPERM (rt runs on another thread: its counters are the scheduler's). */
int cn_runtime_stats_get(const cn_runtime *rt, cn_runtime_stats *out);

/* Frees rt (joins its netpoll thread). Returns 0, or -1 with EINVAL (NULL),
 * EBUSY (still running, on this thread or another; from a coroutine of rt).
 * Coroutines spawned but never run are destroyed unrun. rt is invalid
 * afterwards: a second destroy is undefined (see above). */
int cn_runtime_destroy(cn_runtime *rt);

/* The runtime of the calling coroutine, or NULL with errno EPERM (not a
 * runtime coroutine running on its scheduler thread). */
cn_runtime *cn_runtime_current(void);

/* Lets every other runnable coroutine run once, then returns 0. -1 with
 * EPERM outside a runtime coroutine, ECANCELED (without yielding) while the
 * runtime is stopping. */
int cn_yield_now(void);

/*
 * Writes a report of every coroutine of rt to fd, one line each: its id
 * (spawn order), name, state (running, runnable, or what it waits on: an
 * fd and direction, a sleep and when it wakes, a promise, a join, a
 * channel, a lock, a blocking job), for how long, and its deadline:
 *   coronet: runtime 0x..., thread mode: 3 coroutines
 *     #1 'acceptor' waiting for fd 5 to be readable, for 1520 ms
 *     #2 'conn' sleeping, for 10 ms, wakes in 90 ms
 * Safe from any thread at any time while rt exists (run or not): a
 * snapshot, taken under a lock that only holds up rt's spawns and exits.
 * A coroutine spawned from another thread is listed once the scheduler
 * has taken it from its inbox.
 * Not from a signal handler (it locks and formats): for SIGQUIT, sigwait()
 * in a thread of your own, as examples/echo_server.c does. The report is
 * formatted in memory and written after the lock is released: a slow fd
 * delays only the caller. 0, or -1 with EINVAL (rt NULL, fd negative),
 * ENOMEM, or write(2)'s errno.
 */
int cn_runtime_dump(cn_runtime *rt, int fd);

/* Monotonic clock in nanoseconds: the time base of every deadline. */
int64_t cn_now(void);

/* Sleeps ns nanoseconds (<= 0: just yields). Returns 0, or -1 with EPERM
 * (not in a runtime coroutine) or ECANCELED (the runtime is stopping, also
 * for ns <= 0). */
int cn_sleep(int64_t ns);

#ifdef __cplusplus
}
#endif

#endif
