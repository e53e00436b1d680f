/*
 * tests/test_http.c — examples/http_server driven by real clients: keep-
 * alive, pipelining, HTTP/1.0, the header deadline against a slow-loris
 * client, curl and wrk where installed, and a clean SIGTERM. Both netpoll
 * modes. The server is a child process (exec'd, under qemu when the suite
 * runs there); the clients are blocking sockets with timeouts on this
 * thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
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

static const char ok_body[] = "Hello, world!\n";

struct srv {
	pid_t pid;
	int out; /* the server's stdout */
	int port;
};

static void start(struct srv *s, const char *mode)
{
	const char *build = getenv("CORONET_BUILD");
	const char *qemu = cn_test_qemu();
	char path[512], line[256];
	int p[2];
	size_t got = 0;

	snprintf(path, sizeof(path), "%s/examples/http_server", build ? build : "build");
	assert_int_equal(pipe(p), 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		char *argv[16];
		int n = 0;
		char words[256];

		dup2(p[1], 1);
		close(p[0]);
		if (qemu) {
			snprintf(words, sizeof(words), "%s", qemu);
			for (char *w = strtok(words, " "); w && n < 8; w = strtok(NULL, " "))
				argv[n++] = w;
		}
		argv[n++] = path;
		argv[n++] = "--port";
		argv[n++] = "0";
		argv[n++] = "--mode";
		argv[n++] = (char *)mode;
		argv[n++] = "--header-ms";
		argv[n++] = "300";
		argv[n] = NULL;
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	s->out = p[0];
	/* "http_server: listening on 127.0.0.1:PORT\n" */
	while (got + 1 < sizeof(line) && read(s->out, line + got, 1) == 1 && line[got] != '\n')
		got++;
	line[got] = '\0';
	assert_non_null(strstr(line, "listening on 127.0.0.1:"));
	s->port = atoi(strrchr(line, ':') + 1);
	assert_true(s->port > 0);
}

static void stop(struct srv *s)
{
	char buf[512];
	ssize_t n;
	size_t got = 0;
	int st;

	kill(s->pid, SIGTERM);
	while (got + 1 < sizeof(buf) && (n = read(s->out, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(s->out);
	assert_int_equal(waitpid(s->pid, &st, 0), s->pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_non_null(strstr(buf, "http_server: stopped;"));
}

static int connect_to(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {10, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

/* Reads until `count` complete responses (each ends with the body) came,
 * or EOF; returns how many, and whether the last said close. */
static int read_responses(int fd, int count, int *closed)
{
	static char buf[1 << 16];
	size_t have = 0;
	int seen = 0;

	*closed = 0;
	while (seen < count) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		char *p;

		if (n <= 0) {
			*closed = n == 0;
			break;
		}
		have += (size_t)n;
		buf[have] = '\0';
		seen = 0;
		for (p = buf; (p = strstr(p, ok_body)); p += sizeof(ok_body) - 1)
			seen++;
	}
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
	return seen;
}

static void test_keepalive(void **state)
{
	struct srv s;
	int fd, closed;
	const char *mode = CN_TEST_MODE(state) == CN_NETPOLL_THREAD ? "thread" : "inline";

	start(&s, mode);
	fd = connect_to(s.port);
	for (int i = 0; i < 100; i++) {
		static const char req[] = "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";

		send_all(fd, req, sizeof(req) - 1);
		assert_int_equal(read_responses(fd, 1, &closed), 1);
	}
	close(fd);
	stop(&s);
}

static void test_pipelining(void **state)
{
	char reqs[20 * 64];
	size_t n = 0;
	struct srv s;
	int fd, closed;

	start(&s, CN_TEST_MODE(state) == CN_NETPOLL_THREAD ? "thread" : "inline");
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(reqs + n, sizeof(reqs) - n,
		                      "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
	fd = connect_to(s.port);
	send_all(fd, reqs, n); /* all at once */
	assert_int_equal(read_responses(fd, 20, &closed), 20);
	/* The last one asks to close: the server answers, then closes. */
	send_all(fd, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 38);
	assert_int_equal(read_responses(fd, 2, &closed), 1);
	assert_true(closed);
	close(fd);
	/* HTTP/1.0 without keep-alive closes too. */
	fd = connect_to(s.port);
	send_all(fd, "GET / HTTP/1.0\r\n\r\n", 18);
	assert_int_equal(read_responses(fd, 2, &closed), 1);
	assert_true(closed);
	close(fd);
	stop(&s);
}

static void test_header_deadline(void **state)
{
	struct srv s;
	char b[64];
	int64_t t0;
	int fd;

	start(&s, CN_TEST_MODE(state) == CN_NETPOLL_THREAD ? "thread" : "inline");
	fd = connect_to(s.port);
	/* Slow loris: half a request, then nothing. */
	send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n", 25);
	t0 = cn_test_now();
	assert_int_equal(read(fd, b, sizeof(b)), 0); /* the server hung up */
	assert_true(cn_test_now() - t0 >= 200 * CN_TEST_MS);
	assert_true(cn_test_now() - t0 < 8000 * CN_TEST_MS);
	close(fd);
	stop(&s);
}

/* curl and wrk, the real clients, where they are installed. */
static void test_curl_wrk(void **state)
{
	char cmd[256], out[4096];
	struct srv s;
	int ran = 0;

	start(&s, CN_TEST_MODE(state) == CN_NETPOLL_THREAD ? "thread" : "inline");
	if (system("command -v curl >/dev/null 2>&1") == 0) {
		snprintf(cmd, sizeof(cmd),
		         "curl -s --max-time 10 http://127.0.0.1:%d/ http://127.0.0.1:%d/x", s.port,
		         s.port);
		assert_int_equal(cn_test_run_shell(cmd, out, sizeof(out)), 0);
		assert_string_equal(out, "Hello, world!\nHello, world!\n");
		ran++;
	}
	if (system("command -v wrk >/dev/null 2>&1") == 0) {
		snprintf(cmd, sizeof(cmd), "wrk -t1 -c20 -d1s http://127.0.0.1:%d/ 2>&1", s.port);
		assert_int_equal(cn_test_run_shell(cmd, out, sizeof(out)), 0);
		assert_non_null(strstr(out, "Requests/sec:"));
		assert_null(strstr(out, "Non-2xx"));
		assert_null(strstr(out, "Socket errors"));
		ran++;
	}
	stop(&s);
	if (!ran) {
		print_message("skipped: neither curl nor wrk is installed\n");
		skip();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        CN_TEST_BOTH(test_keepalive),
	        CN_TEST_BOTH(test_pipelining),
	        CN_TEST_BOTH(test_header_deadline),
	        CN_TEST_BOTH(test_curl_wrk),
	};

	signal(SIGPIPE, SIG_IGN);
	cn_test_watchdog(300);
	return CN_TEST_RUN(tests, NULL, NULL);
}
