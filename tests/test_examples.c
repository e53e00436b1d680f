/*
 * tests/test_examples.c — the examples that teach run and do what they
 * say: each is started as a program of its own (from $CORONET_BUILD, under
 * qemu when the suite runs there) and its exit status and output are
 * checked.
 *
 * Threads: the test thread only (the examples are child processes).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/cn_test.h"

/* Runs the example with args; its stdout into out. Returns its exit
 * status, or -1 when it could not be run or died. */
static int run_example(const char *name, const char *args, char *out, size_t outlen)
{
	const char *build = getenv("CORONET_BUILD");
	const char *qemu = cn_test_qemu();
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "%s %s/examples/%s %s 2>&1", qemu ? qemu : "",
	         build ? build : "build", name, args);
	return cn_test_run_shell(cmd, out, outlen);
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

/* One line from a blocking socket (5 s receive timeout), without the
 * newline; "" on timeout or EOF. */
static const char *read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len && read(fd, buf + n, 1) == 1 && buf[n] != '\n')
		n++;
	buf[n] = '\0';
	return buf;
}

/* The chat server: three clients join, a line from the first reaches all
 * three, "/shutdown" from the second ends the server through its group. */
static void test_chat_server(void **state)
{
	const char *build = getenv("CORONET_BUILD");
	const char *qemu = cn_test_qemu();
	struct timeval tv = {5, 0};
	char cmd[512], line[256], want[64];
	int fds[3], port = 0;
	FILE *srv;

	(void)state;
	snprintf(cmd, sizeof(cmd), "%s %s/examples/chat_server 0", qemu ? qemu : "",
	         build ? build : "build");
	srv = popen(cmd, "r");
	assert_non_null(srv);
	assert_non_null(fgets(line, sizeof(line), srv));
	assert_int_equal(sscanf(line, "listening on %d", &port), 1);
	for (int i = 0; i < 3; i++) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(fds[i] >= 0);
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		assert_int_equal(connect(fds[i], (struct sockaddr *)&a, sizeof(a)), 0);
		snprintf(want, sizeof(want), "welcome, you are client %d (%d online)", i + 1, i + 1);
		assert_string_equal(read_line(fds[i], line, sizeof(line)), want);
	}
	assert_int_equal(write(fds[0], "hi all\n", 7), 7);
	for (int i = 0; i < 3; i++)
		assert_string_equal(read_line(fds[i], line, sizeof(line)), "1: hi all");
	assert_int_equal(write(fds[1], "/shutdown\n", 10), 10);
	assert_non_null(fgets(line, sizeof(line), srv));
	assert_string_equal(line, "shutdown: 8 coroutines cancelled and reaped\n");
	assert_int_equal(pclose(srv), 0);
	for (int i = 0; i < 3; i++) {
		/* The server closed every client: EOF. */
		assert_string_equal(read_line(fds[i], line, sizeof(line)), "");
		close(fds[i]);
	}
}

/* SIGQUIT makes the echo server print the runtime dump, and it still
 * shuts down cleanly afterwards. */
static void test_echo_server_dump(void **state)
{
	const char *build = getenv("CORONET_BUILD");
	const char *qemu = cn_test_qemu();
	char cmd[1024], out[8192];

	(void)state;
	snprintf(cmd, sizeof(cmd),
	         "f=$(mktemp); %s %s/examples/echo_server --port 0 >$f 2>&1 & p=$!; i=0; "
	         "while ! grep -q listening $f && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; "
	         "kill -QUIT $p; i=0; "
	         "while ! grep -q 'coronet: runtime' $f && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; "
	         "kill -TERM $p; wait $p; echo \"exit $?\"; cat $f; rm -f $f",
	         qemu ? qemu : "", build ? build : "build");
	assert_int_equal(cn_test_run_shell(cmd, out, sizeof(out)), 0);
	if (!strstr(out, "exit 0\n") || !strstr(out, " mode: 1 coroutine\n") ||
	    !strstr(out, "#1 'echo-acceptor' waiting for fd ") || !strstr(out, " to be readable"))
		fail_msg("unexpected output:\n%s", out);
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
	        cmocka_unit_test(test_chat_server),
	        cmocka_unit_test(test_echo_server_dump),
	        cmocka_unit_test(test_tree_walk),
	};

	cn_test_watchdog(300);
	return CN_TEST_RUN(tests, NULL, NULL);
}
