/*
 * tests/test_dump.c — cn_runtime_dump(): taken from another thread while
 * the runtime runs, it names every coroutine and what it waits on (sleep,
 * fd and direction, channel, lock, join, blocking job, promise), and the
 * running and runnable ones; misuse. Both netpoll modes; make check runs it
 * under ASan, TSan (the dump reads the scheduler's tasks from another
 * thread) and Valgrind.
 *
 * Threads: the test thread runs the runtime; a helper thread dumps, then
 * stops it.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "coronet.h"
#include "helpers/cn_test.h"

#define MS CN_TEST_MS

struct scene {
	cn_runtime *rt;
	int sock[2];
	cn_chan *ch;
	cn_mutex m;
	cn_promise never;
	cn_task *sleeper;
	atomic_int started, job_go;
	char report[8192];
};

static void *sleeper(void *arg)
{
	struct scene *x = arg;

	atomic_fetch_add(&x->started, 1);
	cn_sleep(60 * CN_TEST_SEC);
	return NULL;
}

static void *reader(void *arg)
{
	struct scene *x = arg;
	char c;

	atomic_fetch_add(&x->started, 1);
	cn_read(x->sock[0], &c, 1, cn_deadline_after(60 * CN_TEST_SEC));
	return NULL;
}

static void *chan_waiter(void *arg)
{
	struct scene *x = arg;
	int v;

	atomic_fetch_add(&x->started, 1);
	cn_chan_recv(x->ch, &v, CN_NO_DEADLINE);
	return NULL;
}

static void *holder(void *arg)
{
	struct scene *x = arg;

	cn_mutex_lock(&x->m);
	atomic_fetch_add(&x->started, 1);
	cn_sleep(60 * CN_TEST_SEC);
	cn_mutex_unlock(&x->m);
	return NULL;
}

static void *locker(void *arg)
{
	struct scene *x = arg;

	atomic_fetch_add(&x->started, 1);
	if (cn_mutex_lock(&x->m) == 0)
		cn_mutex_unlock(&x->m);
	return NULL;
}

static void *joiner(void *arg)
{
	struct scene *x = arg;

	atomic_fetch_add(&x->started, 1);
	cn_task_join(x->sleeper, NULL, CN_NO_DEADLINE);
	return NULL;
}

static ssize_t job(void *arg)
{
	struct scene *x = arg;

	while (!atomic_load(&x->job_go)) {
		struct timespec ts = {0, MS};

		nanosleep(&ts, NULL);
	}
	return 0;
}

static void *blocker(void *arg)
{
	struct scene *x = arg;

	atomic_fetch_add(&x->started, 1);
	cn_blocking(job, x);
	return NULL;
}

static void *promiser(void *arg)
{
	struct scene *x = arg;

	atomic_fetch_add(&x->started, 1);
	cn_promise_await(&x->never);
	return NULL;
}

static void *spinner(void *arg)
{
	struct scene *x = arg;

	atomic_fetch_add(&x->started, 1);
	while (cn_yield_now() == 0)
		;
	return NULL;
}

#define ACTORS 9

static void *dumper(void *arg)
{
	struct scene *x = arg;
	int p[2];
	ssize_t n, got = 0;

	CN_TEST_WAIT_FOR(atomic_load(&x->started) == ACTORS, 30);
	struct timespec ts = {0, 20 * MS};
	nanosleep(&ts, NULL);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(cn_runtime_dump(x->rt, p[1]), 0);
	close(p[1]);
	while ((n = read(p[0], x->report + got, sizeof(x->report) - 1 - (size_t)got)) > 0)
		got += n;
	x->report[got] = '\0';
	close(p[0]);
	atomic_store(&x->job_go, 1);
	cn_runtime_stop(x->rt);
	return NULL;
}

static void spawn_named(struct scene *x, cn_task_fn fn, const char *name, cn_task **out)
{
	cn_coro_opts o = {.name = name};
	cn_task *h = cn_task_spawn(x->rt, fn, x, &o);

	assert_non_null(h);
	if (out)
		*out = h;
	else
		assert_int_equal(cn_task_detach(h), 0);
}

static void expect_line(const char *report, const char *name, const char *what)
{
	char key[64];
	const char *l;

	snprintf(key, sizeof(key), "'%s' ", name);
	l = strstr(report, key);
	if (!l || strncmp(l + strlen(key), what, strlen(what)) != 0)
		fail_msg("no line for '%s' %s in the dump:\n%s", name, what, report);
}

static void test_dump_scene(void **state)
{
	struct scene *x = calloc(1, sizeof(*x));
	pthread_t th;
	char fdwait[64];

	x->rt = cn_test_runtime_for(state);
	assert_int_equal(cn_test_tcp_pair(x->sock), 0);
	x->ch = cn_chan_create(sizeof(int), 0);
	cn_mutex_init(&x->m);
	cn_promise_init(&x->never);
	spawn_named(x, sleeper, "sleeper", &x->sleeper);
	spawn_named(x, reader, "reader", NULL);
	spawn_named(x, chan_waiter, "chan", NULL);
	spawn_named(x, holder, "holder", NULL);
	spawn_named(x, locker, "locker", NULL);
	spawn_named(x, joiner, "joiner", NULL);
	spawn_named(x, blocker, "blocker", NULL);
	spawn_named(x, promiser, "promiser", NULL);
	spawn_named(x, spinner, "spinner", NULL);
	assert_int_equal(pthread_create(&th, NULL, dumper, x), 0);
	assert_int_equal(cn_runtime_run(x->rt), 0);
	pthread_join(th, NULL);
	/* Its joiner was cut off by the stop: the handle is still ours. */
	assert_int_equal(cn_task_detach(x->sleeper), 0);

	assert_non_null(strstr(x->report, "coronet: runtime "));
	assert_non_null(strstr(x->report, ": 9 coroutines\n"));
	expect_line(x->report, "sleeper", "sleeping, for ");
	assert_non_null(strstr(x->report, "wakes in "));
	snprintf(fdwait, sizeof(fdwait), "waiting for fd %d to be readable, for ", x->sock[0]);
	expect_line(x->report, "reader", fdwait);
	assert_non_null(strstr(x->report, "deadline in "));
	expect_line(x->report, "chan", "waiting on a channel");
	expect_line(x->report, "holder", "sleeping");
	expect_line(x->report, "locker", "waiting for a lock");
	expect_line(x->report, "joiner", "joining a task");
	expect_line(x->report, "blocker", "waiting for a blocking job");
	expect_line(x->report, "promiser", "waiting on a promise");
	/* The only one that can run: caught running or between its turns. */
	expect_line(x->report, "spinner", "run");

	cn_chan_destroy(x->ch);
	cn_mutex_destroy(&x->m);
	cn_runtime_destroy(x->rt);
	close(x->sock[0]);
	close(x->sock[1]);
	free(x);
}

/* The one that runs while it dumps itself is "running". */
static void self_dump(void *arg)
{
	int *p = arg;

	assert_int_equal(cn_runtime_dump(cn_runtime_current(), p[1]), 0);
}

static void test_dump_self_and_misuse(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	char buf[1024];
	int p[2];
	ssize_t n;

	assert_int_equal(cn_runtime_dump(NULL, 1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cn_runtime_dump(rt, -1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(pipe(p), 0);
	/* Not running, nothing queued yet: an empty report. */
	assert_int_equal(cn_runtime_dump(rt, p[1]), 0);
	n = read(p[0], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, ": 0 coroutines\n"));
	assert_int_equal(cn_spawn(rt, self_dump, p, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	n = read(p[0], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, ": 1 coroutine\n"));
	assert_non_null(strstr(buf, "#1 '"));
	assert_non_null(strstr(buf, "' running\n"));
	/* A closed fd: write's error. */
	close(p[0]);
	close(p[1]);
	assert_int_equal(cn_runtime_dump(rt, p[1]), -1);
	assert_int_equal(errno, EBADF);
	cn_runtime_destroy(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CN_TEST_BOTH(test_dump_scene),
		CN_TEST_BOTH(test_dump_self_and_misuse),
	};

	cn_test_watchdog(300);
	return CN_TEST_RUN(tests, NULL, NULL);
}
