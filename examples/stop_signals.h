/*
 * examples/stop_signals.h — how the examples stop on SIGINT/SIGTERM (and
 * dump on SIGQUIT): a thread of their own takes the signals with
 * sigwait() and calls cn_runtime_stop() (or cn_runtime_dump()).
 *
 * Why not a handler: cn_runtime_stop() is async-signal-safe, but a handler
 * interrupts whatever its thread was doing, and two environments we test
 * in make that unsafe: libkqueue's kevent() takes a mutex (a handler that
 * caught the scheduler inside it deadlocked), and TSan runs handlers late.
 * A plain thread has neither problem. A second SIGINT/SIGTERM ends the
 * process the default way, in case the shutdown itself hangs.
 *
 * Use (the main thread, in this order):
 *   ex_signals_block();            before cn_runtime_create() and before
 *                                  any thread starts: every thread then
 *                                  inherits the mask, so only ours sees them
 *   ex_signals_start(&s, rt, dump) after creating rt; 0 or -1 with errno
 *   ... cn_runtime_run(rt) ...
 *   ex_signals_end(&s);            before cn_runtime_destroy(): no stop or
 *                                  dump may run into it; signals that come
 *                                  later stay blocked and unread
 * Header-only, public API only, for the examples.
 */
#ifndef CORONET_EXAMPLES_STOP_SIGNALS_H
#define CORONET_EXAMPLES_STOP_SIGNALS_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <coronet.h>

struct ex_signals {
	pthread_t thread;
	cn_runtime *rt;
	int dump; /* SIGQUIT prints the runtime dump on stderr */
};

/* SIGQUIT, SIGINT, SIGTERM, and SIGUSR2 (how ex_signals_end reaches the
 * thread). */
static inline void ex_signals_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGQUIT);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGUSR2);
}

static inline void ex_signals_block(void)
{
	sigset_t set;

	ex_signals_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static inline void *ex_signals_main(void *arg)
{
	struct ex_signals *s = arg;
	sigset_t set;
	int sig = 0, stops = 0;

	ex_signals_set(&set);
	while (sigwait(&set, &sig) == 0 && sig != SIGUSR2) {
		if (sig == SIGQUIT) {
			if (s->dump)
				cn_runtime_dump(s->rt, STDERR_FILENO);
		} else if (stops++ == 0) {
			cn_runtime_stop(s->rt);
		} else {
			sigset_t one;

			sigemptyset(&one);
			sigaddset(&one, sig);
			signal(sig, SIG_DFL);
			pthread_sigmask(SIG_UNBLOCK, &one, NULL);
			raise(sig);
		}
	}
	return NULL;
}

static inline int ex_signals_start(struct ex_signals *s, cn_runtime *rt, int dump)
{
	int e;

	s->rt = rt;
	s->dump = dump;
	e = pthread_create(&s->thread, NULL, ex_signals_main, s);
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}

static inline void ex_signals_end(struct ex_signals *s)
{
	pthread_kill(s->thread, SIGUSR2);
	pthread_join(s->thread, NULL);
}

#endif
