/*
 * tests/helpers/cn_echo.h — the test echo server: a coronet runtime whose
 * acceptor spawns one echoing coroutine per connection, with counters the
 * test thread reads while it runs. Used by test_echo and test_hostile.
 *
 * Threads: set the options, then cn_test_echo_start() (the server runs on a
 * thread of its own) or cn_test_echo_init() + cn_test_echo_run() (on the
 * calling thread, e.g. a child process's main). The atomics may be read by
 * any thread while it runs; run_rc, destroy_rc and stats after it returned.
 */
#ifndef CN_ECHO_H
#define CN_ECHO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "coronet.h"

typedef struct cn_test_echo {
	/* Options, set before init/start (kept by them). */
	int64_t read_timeout; /* ns per cn_read(); 0 = none */
	int sleepers;         /* extra coroutines parked in a 1-hour cn_sleep() */
	int small_sndbuf;     /* small send buffers, so writes come back partial */

	cn_runtime *rt;
	int lfd, port;
	pthread_t thread;
	/* Written by the server, read by anyone while it runs. */
	atomic_int open, sleeping;
	/* resets: ECONNRESET/EPIPE; timeouts: ETIMEDOUT; cancelled: ECANCELED
	 * (the stop); errors: anything else a connection, sleeper or the
	 * acceptor's spawn met. */
	atomic_long accepted, eofs, resets, timeouts, cancelled, errors, accept_errors;
	atomic_long partial_writes;
	atomic_llong bytes;
	/* Read after the run returned. */
	int run_rc, destroy_rc;
	cn_runtime_stats stats;
} cn_test_echo;

/* Creates the runtime (mode, ring slots, 0 = default) and a 127.0.0.1
 * listener; 0, or -1 with errno. */
int cn_test_echo_init(cn_test_echo *s, cn_netpoll_mode mode, unsigned ring);

/* Runs the server on the calling thread until it is stopped, then destroys
 * the runtime (s->rt is NULL afterwards). */
void cn_test_echo_run(cn_test_echo *s);

/* init + a thread that runs it; fails the test on error. */
void cn_test_echo_start(cn_test_echo *s, cn_netpoll_mode mode, unsigned ring);

/* Stops the server from the calling thread, joins it and checks a clean
 * shutdown: run and destroy returned 0, no connection or sleeper left, no
 * unexpected error, every coroutine finished. */
void cn_test_echo_stop(cn_test_echo *s);

#endif
