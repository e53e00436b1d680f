/*
 * tests/test_examples.c — the examples that teach run and do what they
 * say: each is started as a program of its own (from $CORONET_BUILD, under
 * qemu when the suite runs there) and its exit status and output are
 * checked.
 *
 * Threads: the test thread only (the examples are child processes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "helpers/cn_test.h"

/* Runs the example with args; its stdout into out. Returns its exit
 * status, or -1 when it could not be run or died. */
static int run_example(const char *name, const char *args, char *out, size_t outlen)
{
	const char *build = getenv("CORONET_BUILD");
	const char *qemu = cn_test_qemu();
	char cmd[1024];
	size_t got = 0;
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "%s %s/examples/%s %s 2>&1", qemu ? qemu : "",
	         build ? build : "build", name, args);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (got + 1 < outlen && fgets(out + got, (int)(outlen - got), f))
		got += strlen(out + got);
	out[got] = '\0';
	st = pclose(f);
	if (!WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void test_worker_feed(void **state)
{
	static char out[16384];

	(void)state;
	assert_int_equal(run_example("worker_feed", "20", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "  1 squared is 1\n"));
	assert_non_null(strstr(out, "worker: done with 20 requests"));
	assert_non_null(strstr(out, "0 wrong"));
}

static void test_resolve_client(void **state)
{
	char out[4096];

	(void)state;
	assert_int_equal(run_example("resolve_client", "", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "server says the line was 15\n"));
	assert_non_null(strstr(out, "(computed on the pool)"));
}

/* The worker pool: every answer but the slow job's, which is cancelled
 * when the collector's deadline passes. */
static void test_job_pool(void **state)
{
	static char out[16384];

	(void)state;
	assert_int_equal(run_example("job_pool", "20", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "job 12: 144\n"));
	assert_non_null(strstr(out, "job 13: cancelled\n"));
	assert_non_null(strstr(out, "19 answered, 1 cancelled (job 13), 0 wrong\n"));
}

static void test_tree_walk(void **state)
{
	char out[4096];

	(void)state;
	assert_int_equal(run_example("tree_walk", "", out, sizeof(out)), 0);
	assert_true(strlen(out) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_worker_feed),
	        cmocka_unit_test(test_resolve_client),
	        cmocka_unit_test(test_job_pool),
	        cmocka_unit_test(test_tree_walk),
	};

	cn_test_watchdog(300);
	return CN_TEST_RUN(tests, NULL, NULL);
}
