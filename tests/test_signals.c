/*
 * tests/test_signals.c — signals that land while a coroutine runs: the
 * handler runs even when that coroutine yields or ends right after, and a
 * handler's cn_runtime_stop() ends the run it interrupted. (ThreadSanitizer
 * keeps a signal that arrives outside an intercepted call with the fiber
 * that was running; coro.c flushes it before every switch out, and these
 * tests fail under TSan without that.) Both netpoll modes for the runtime
 * case.
 *
 * Threads: the test thread runs the coroutines; a helper thread sends the
 * signal to it with pthread_kill().
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "coronet.h"
#include "helpers/cn_test.h"

static atomic_int handled, computing;
static pthread_t target;
static cn_runtime *stop_rt;

static void on_usr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&handled, 1);
	if (stop_rt)
		cn_runtime_stop(stop_rt);
}

/* Sends SIGUSR1 to the test thread as soon as a coroutine computes. */
static void *sender(void *arg)
{
	(void)arg;
	while (!atomic_load(&computing))
		sched_yield();
	pthread_kill(target, SIGUSR1);
	return NULL;
}

/* Computes for ~0.1-0.3 s natively, touching no memory and calling nothing,
 * so no sanitizer hook runs between the signal's arrival and the switch
 * out of the coroutine (an atomic would run TSan's pending signals). */
static void compute(void)
{
	long n = cn_test_valgrind() || cn_test_qemu() ? 10000000L : 300000000L;

	atomic_store(&computing, 1);
	for (long i = 0; i < n; i++)
		__asm__ __volatile__("");
}

static void start(cn_runtime *rt, pthread_t *th)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	atomic_store(&handled, 0);
	atomic_store(&computing, 0);
	stop_rt = rt;
	target = pthread_self();
	assert_int_equal(pthread_create(th, NULL, sender, NULL), 0);
}

/* Waits up to 5 s for the handler (the kernel delivers it at once; a lost
 * one never comes). */
static void finish(pthread_t th)
{
	CN_TEST_WAIT_FOR(atomic_load(&handled), 5);
	assert_int_equal(pthread_join(th, NULL), 0);
	signal(SIGUSR1, SIG_DFL);
	stop_rt = NULL;
	assert_int_equal(atomic_load(&handled), 1);
}

static void computer(void *arg)
{
	(void)arg;
	compute();
}

/* A plain coroutine interrupted by a signal, then finished and destroyed
 * at once. */
static void test_signal_in_finishing_coroutine(void **state)
{
	pthread_t th;
	cn_coro *co;

	(void)state;
	start(NULL, &th);
	co = cn_coro_create(computer, NULL, NULL);
	assert_non_null(co);
	assert_int_equal(cn_coro_resume(co, NULL), 0);
	assert_int_equal(cn_coro_destroy(co), 0);
	finish(th);
}

/* Sleeps until the runtime stops (ECANCELED), or 10 s. */
static void sleeper(void *arg)
{
	atomic_int *stopped_by_stop = arg;

	if (cn_sleep(10 * CN_TEST_SEC) < 0 && errno == ECANCELED)
		atomic_store(stopped_by_stop, 1);
}

/* A SIGUSR1 handler that calls cn_runtime_stop() lands while a coroutine
 * of that runtime computes, and that coroutine ends right after: the stop
 * still reaches the runtime, and the sleeping one is cancelled. */
static void test_stop_from_handler_while_computing(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	atomic_int stopped = 0;
	pthread_t th;

	assert_int_equal(cn_spawn(rt, sleeper, &stopped, NULL), 0);
	assert_int_equal(cn_spawn(rt, computer, NULL, NULL), 0);
	start(rt, &th);
	assert_int_equal(cn_runtime_run(rt), 0);
	finish(th);
	assert_int_equal(atomic_load(&stopped), 1);
	cn_runtime_destroy(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_signal_in_finishing_coroutine),
	        CN_TEST_BOTH(test_stop_from_handler_while_computing),
	};

	cn_test_watchdog(120);
	return CN_TEST_RUN(tests, NULL, NULL);
}
