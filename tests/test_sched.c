/*
 * tests/test_sched.c — the scheduler: spawn/run/finish, round-robin
 * yield order, spawning from coroutines, option and call errors, stop from
 * another thread and from a signal handler, destroy of a runtime never run,
 * a stack overflow reported by name on a scheduler thread that never created
 * a coroutine. Each runtime test runs in both netpoll modes. Test thread plus the helper
 * threads named in a test.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "coronet.h"
#include "helpers/cn_test.h"


#define MSEC CN_TEST_MS

struct rr {
	char log[64];
	int n;
};

struct rr_arg {
	struct rr *r;
	char id;
};

static void rr_co(void *arg)
{
	struct rr_arg *a = arg;

	for (int i = 0; i < 3; i++) {
		a->r->log[a->r->n++] = a->id;
		assert_int_equal(cn_yield_now(), 0);
	}
}

static void test_round_robin(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct rr r = {.n = 0};
	struct rr_arg a[3] = {{&r, 'a'}, {&r, 'b'}, {&r, 'c'}};
	cn_runtime_stats st;

	for (int i = 0; i < 3; i++)
		assert_int_equal(cn_spawn(rt, rr_co, &a[i], NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	r.log[r.n] = 0;
	assert_string_equal(r.log, "abcabcabc");
	cn_runtime_stats_get(rt, &st);
	assert_int_equal(st.spawned, 3);
	assert_int_equal(st.finished, 3);
	/* A runtime can run again after it emptied. */
	r.n = 0;
	assert_int_equal(cn_spawn(rt, rr_co, &a[1], NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	r.log[r.n] = 0;
	assert_string_equal(r.log, "bbb");
	assert_int_equal(cn_runtime_destroy(rt), 0);
}

/* --- spawn from coroutines: a tree ---------------------------------------- */

static int tree_count;

static void tree_co(void *arg)
{
	intptr_t depth = (intptr_t)arg;
	cn_coro_opts o = {.stack_size = 32 * 1024, .name = "tree"};

	tree_count++;
	if (depth > 0) {
		assert_int_equal(cn_spawn(cn_runtime_current(), tree_co, (void *)(depth - 1), &o),
		                 0);
		cn_yield_now();
		assert_int_equal(cn_spawn(cn_runtime_current(), tree_co, (void *)(depth - 1), NULL),
		                 0);
	}
}

static void test_spawn_from_coroutine(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	cn_runtime_stats st;

	tree_count = 0;
	assert_int_equal(cn_spawn(rt, tree_co, (void *)(intptr_t)10, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(tree_count, 2047);
	cn_runtime_stats_get(rt, &st);
	assert_int_equal(st.spawned, 2047);
	assert_int_equal(st.finished, 2047);
	cn_runtime_destroy(rt);
}

/* --- errors --------------------------------------------------------------- */

static void noop(void *arg)
{
	(void)arg;
}

struct errs {
	cn_runtime *rt;
	int run_e, destroy_e, spawn_thread_e;
};

static void *spawn_from_thread(void *arg)
{
	struct errs *e = arg;

	errno = 0;
	if (cn_spawn(e->rt, noop, NULL, NULL) == -1)
		e->spawn_thread_e = errno;
	return NULL;
}

static void errs_co(void *arg)
{
	struct errs *e = arg;
	pthread_t th;

	errno = 0;
	assert_int_equal(cn_runtime_run(e->rt), -1);
	e->run_e = errno;
	errno = 0;
	assert_int_equal(cn_runtime_destroy(e->rt), -1);
	e->destroy_e = errno;
	assert_int_equal(pthread_create(&th, NULL, spawn_from_thread, e), 0);
	pthread_join(th, NULL);
	assert_ptr_equal(cn_runtime_current(), e->rt);
}

static void test_errors(void **state)
{
	cn_runtime_opts bad;
	cn_runtime *rt;
	cn_netpoll_mode m;
	struct errs e;
	cn_runtime_stats st;
	cn_coro_opts tiny = {.stack_size = 1};

	memset(&bad, 0, sizeof(bad));
	bad.ring_size = 3;
	errno = 0;
	assert_null(cn_runtime_create(&bad));
	assert_int_equal(errno, EINVAL);
	bad.ring_size = 1;
	assert_null(cn_runtime_create(&bad));
	bad.ring_size = 0;
	bad.mode = (cn_netpoll_mode)7;
	errno = 0;
	assert_null(cn_runtime_create(&bad));
	assert_int_equal(errno, EINVAL);
	bad.mode = CN_NETPOLL_INLINE;
	bad.stack_size = 100;
	errno = 0;
	assert_null(cn_runtime_create(&bad));
	assert_int_equal(errno, EINVAL);

	assert_string_equal(cn_netpoll_mode_name(CN_NETPOLL_THREAD), "thread");
	assert_string_equal(cn_netpoll_mode_name(CN_NETPOLL_INLINE), "inline");
	assert_null(cn_netpoll_mode_name((cn_netpoll_mode)9));
	assert_int_equal(cn_netpoll_mode_parse("inline", &m), 0);
	assert_int_equal(m, CN_NETPOLL_INLINE);
	assert_int_equal(cn_netpoll_mode_parse("thread", &m), 0);
	assert_int_equal(m, CN_NETPOLL_THREAD);
	errno = 0;
	assert_int_equal(cn_netpoll_mode_parse("fast", &m), -1);
	assert_int_equal(errno, EINVAL);

	errno = 0;
	assert_int_equal(cn_spawn(NULL, noop, NULL, NULL), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(cn_runtime_run(NULL), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(cn_runtime_stop(NULL), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(cn_runtime_destroy(NULL), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(cn_runtime_stats_get(NULL, &st), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(cn_yield_now(), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(cn_sleep(1000), -1);
	assert_int_equal(errno, EPERM);
	assert_null(cn_runtime_current());

	rt = cn_test_runtime_for(state);
	errno = 0;
	assert_int_equal(cn_spawn(rt, NULL, NULL, NULL), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(cn_spawn(rt, noop, NULL, &tiny), -1);
	assert_int_equal(errno, EINVAL);
	memset(&e, 0, sizeof(e));
	e.rt = rt;
	assert_int_equal(cn_spawn(rt, errs_co, &e, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(e.run_e, EBUSY);
	assert_int_equal(e.destroy_e, EBUSY);
	/* From another thread while it runs: accepted, through the inbox. */
	assert_int_equal(e.spawn_thread_e, 0);
	cn_runtime_destroy(rt);
}

/* --- destroy unrun ----------------------------------------------------------- */

static void test_destroy_unrun(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);

	for (int i = 0; i < 100; i++)
		assert_int_equal(cn_spawn(rt, noop, NULL, NULL), 0);
	assert_int_equal(cn_runtime_destroy(rt), 0); /* no leak under ASan/Valgrind */
}

/* --- stop from a signal handler ------------------------------------------- */

static cn_runtime *sig_rt;
static pthread_t main_thread;

static void on_usr1(int sig)
{
	(void)sig;
	cn_runtime_stop(sig_rt);
}

static void *signal_later(void *arg)
{
	(void)arg;
	usleep(50 * 1000);
	pthread_kill(main_thread, SIGUSR1);
	return NULL;
}

static int sig_cancelled;

static void long_sleeper(void *arg)
{
	(void)arg;
	if (cn_sleep(3600 * 1000 * MSEC) == -1 && errno == ECANCELED)
		sig_cancelled++;
}

static void busy_yielder(void *arg)
{
	(void)arg;
	/* Wakes every millisecond until the stop is seen. */
	while (cn_sleep(1 * MSEC) == 0)
		;
	sig_cancelled++;
}

static void test_stop_from_signal(void **state)
{
	struct sigaction sa;
	pthread_t th;
	int64_t t0 = cn_test_now();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sig_rt = cn_test_runtime_for(state);
	sig_cancelled = 0;
	main_thread = pthread_self();
	cn_spawn(sig_rt, long_sleeper, NULL, NULL);
	cn_spawn(sig_rt, busy_yielder, NULL, NULL);
	assert_int_equal(pthread_create(&th, NULL, signal_later, NULL), 0);
	assert_int_equal(cn_runtime_run(sig_rt), 0);
	pthread_join(th, NULL);
	assert_int_equal(sig_cancelled, 2);
	assert_true(cn_test_now() - t0 < 5000 * MSEC);
	cn_runtime_destroy(sig_rt);
	signal(SIGUSR1, SIG_DFL);
}

/* --- stop before run ---------------------------------------------------------- */

static void test_stop_before_run(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);

	sig_cancelled = 0;
	cn_spawn(rt, long_sleeper, NULL, NULL);
	cn_runtime_stop(rt);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(sig_cancelled, 1);
	cn_runtime_destroy(rt);
}

/* --- stop reaches coroutines that only yield ---------------------------------- */

static cn_runtime *stop_rt;
static long yield_calls[3];
static int yield_errno[3];

/* Loops on a call that does not wait: cn_yield_now(), cn_sleep(0), and
 * cn_sleep(-5). Each must report the stop, or run never returns. */
static void yield_looper(void *arg)
{
	int which = (int)(intptr_t)arg;
	int r;

	do {
		yield_calls[which]++;
		r = which == 0 ? cn_yield_now() : cn_sleep(which == 1 ? 0 : -5);
	} while (r == 0);
	yield_errno[which] = errno;
}

static void *stop_later(void *arg)
{
	(void)arg;
	usleep(50 * 1000);
	cn_runtime_stop(stop_rt);
	return NULL;
}

static void test_stop_yield_loops(void **state)
{
	pthread_t th;
	int64_t t0 = cn_test_now();

	stop_rt = cn_test_runtime_for(state);
	for (int i = 0; i < 3; i++) {
		yield_calls[i] = 0;
		yield_errno[i] = 0;
		assert_int_equal(cn_spawn(stop_rt, yield_looper, (void *)(intptr_t)i, NULL), 0);
	}
	assert_int_equal(pthread_create(&th, NULL, stop_later, NULL), 0);
	assert_int_equal(cn_runtime_run(stop_rt), 0);
	pthread_join(th, NULL);
	for (int i = 0; i < 3; i++) {
		assert_true(yield_calls[i] > 1);
		assert_int_equal(yield_errno[i], ECANCELED);
	}
	assert_true(cn_test_now() - t0 < 10000 * MSEC); /* generous: not hung */
	cn_runtime_destroy(stop_rt);
}

/* --- a stopped runtime runs again ---------------------------------------------- */

static int reran;

static void short_job(void *arg)
{
	(void)arg;
	if (cn_sleep(1 * MSEC) == 0 && cn_yield_now() == 0)
		reran++;
}

static void test_run_again_after_stop(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	pthread_t th;

	/* A stop before the first run ends that run... */
	sig_cancelled = 0;
	assert_int_equal(cn_spawn(rt, long_sleeper, NULL, NULL), 0);
	assert_int_equal(cn_runtime_stop(rt), 0);
	assert_int_equal(cn_spawn(rt, short_job, NULL, NULL), -1);
	assert_int_equal(errno, ESHUTDOWN);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(sig_cancelled, 1);
	/* ...and only that one. */
	reran = 0;
	assert_int_equal(cn_spawn(rt, short_job, NULL, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(reran, 1);
	/* A stop during a run, then a third run. */
	stop_rt = rt;
	assert_int_equal(cn_spawn(rt, long_sleeper, NULL, NULL), 0);
	assert_int_equal(pthread_create(&th, NULL, stop_later, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	pthread_join(th, NULL);
	assert_int_equal(sig_cancelled, 2);
	assert_int_equal(cn_spawn(rt, short_job, NULL, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(reran, 2);
	cn_runtime_destroy(rt);
}

/* --- the opt-in stall report ---------------------------------------------------- */

static void hog(void *arg)
{
	int64_t until = cn_now() + 60 * MSEC;

	(void)arg;
	while (cn_now() < until) /* computes without yielding */
		;
}

static void polite(void *arg)
{
	(void)arg;
	for (int i = 0; i < 5; i++)
		cn_yield_now();
}

static void test_stall_report(void **state)
{
	cn_runtime *rt;
	char err[512];
	int fds[2], saved;
	ssize_t n;

	/* The variable is read when the runtime is made. */
	setenv("CORONET_STALL_MS", "30", 1);
	rt = cn_test_runtime_for(state);
	unsetenv("CORONET_STALL_MS");
	assert_int_equal(pipe(fds), 0);
	fflush(stderr);
	saved = dup(2);
	assert_int_equal(dup2(fds[1], 2), 2);
	cn_coro_opts hog_o = {.name = "the-hog"}, polite_o = {.name = "polite"};
	assert_int_equal(cn_spawn(rt, hog, NULL, &hog_o), 0);
	assert_int_equal(cn_spawn(rt, polite, NULL, &polite_o), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fds[1]);
	n = read(fds[0], err, sizeof err - 1);
	close(fds[0]);
	assert_true(n > 0);
	err[n] = '\0';
	assert_non_null(strstr(err, "coronet: coroutine 'the-hog' ran "));
	assert_non_null(strstr(err, " ms without yielding (CORONET_STALL_MS=30)"));
	assert_null(strstr(err, "'polite'"));
	cn_runtime_destroy(rt);
}

/* --- overflow on a scheduler thread that created no coroutine --------------- */

static void recurse_forever(void *arg);
/* Through a volatile pointer: no warning, no tail call, no optimising away. */
static void (*volatile recurse_next)(void *) = recurse_forever;

static void recurse_forever(void *arg)
{
	volatile char buf[512];

	buf[0] = 1;
	recurse_next(arg);
	buf[511] = buf[0];
}

/* The overflow test forks and starts threads in the child. With libkqueue
 * a monitor thread outlives every runtime, so the fork happens in a
 * multi-threaded process, which TSan refuses by default; the child only has
 * to overflow and report, so let it. */
#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#ifdef TEST_TSAN
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "die_after_fork=0";
}
#endif

/* SIGSEGV/SIGBUS as a program using coronet has them (the reporter
 * installed), saved in main() before cmocka puts its own handlers in place
 * around each test; the child puts them back. */
static struct sigaction program_segv, program_bus;

static void *run_thread(void *arg)
{
	cn_runtime_run(arg);
	return NULL;
}

/* Child: the coroutine is created (cn_spawn) on the main thread; only the
 * runtime's thread resumes it, and that thread never created one, so only
 * cn_runtime_run() can have given it the alternate signal stack the report
 * needs. */
static int overflow_child(int mode)
{
	cn_runtime_opts o = {.mode = (cn_netpoll_mode)mode};
	cn_coro_opts co = {.stack_size = CN_CORO_STACK_MIN, .name = "sched-diver"};
	cn_runtime *rt = cn_runtime_create(&o);
	pthread_t th;

	if (!rt || cn_spawn(rt, recurse_forever, NULL, &co) < 0)
		return 3;
	if (pthread_create(&th, NULL, run_thread, rt) != 0)
		return 4;
	pthread_join(th, NULL);
	return 5; /* not reached: the overflow aborts */
}

static void test_overflow_on_sched_thread(void **state)
{
	char err[2048], want[128];
	size_t got = 0;
	int fds[2], status;
	ssize_t r;
	pid_t pid;

	if (cn_test_valgrind()) {
		print_message("  skipped under Valgrind (it reports the fault itself)\n");
		return;
	}
	snprintf(want, sizeof(want),
	         "coronet: coroutine 'sched-diver' overflowed its %zu-byte stack\n",
	         (size_t)CN_CORO_STACK_MIN);
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		sigaction(SIGSEGV, &program_segv, NULL);
		sigaction(SIGBUS, &program_bus, NULL);
		_exit(overflow_child(CN_TEST_MODE(state)));
	}
	close(fds[1]);
	while (got + 1 < sizeof(err) && (r = read(fds[0], err + got, sizeof(err) - 1 - got)) > 0)
		got += (size_t)r;
	err[got] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!strstr(err, want))
		print_message("want: %sgot:  %s\n", want, err);
	assert_non_null(strstr(err, want));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        CN_TEST_BOTH(test_round_robin),      CN_TEST_BOTH(test_spawn_from_coroutine),
	        CN_TEST_BOTH(test_errors),           CN_TEST_BOTH(test_destroy_unrun),
	        CN_TEST_BOTH(test_stop_from_signal), CN_TEST_BOTH(test_stop_before_run),
	        CN_TEST_BOTH(test_overflow_on_sched_thread),
	        CN_TEST_BOTH(test_stop_yield_loops), CN_TEST_BOTH(test_run_again_after_stop),
	        CN_TEST_BOTH(test_stall_report),
	};
	cn_coro *co = cn_coro_create(recurse_forever, NULL, NULL);

	/* Creating a coroutine installs the reporter (and arms this thread
	 * only); keep the dispositions it leaves for the overflow test. */
	if (!co || cn_coro_destroy(co) != 0)
		return 1;
	sigaction(SIGSEGV, NULL, &program_segv);
	sigaction(SIGBUS, NULL, &program_bus);

	cn_test_watchdog(120);
	return CN_TEST_RUN(tests, NULL, NULL);
}
