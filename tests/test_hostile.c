/*
 * tests/test_hostile.c — faults and hostile clients against a coronet echo
 * server, in both netpoll modes.
 *
 * The server is this file's own small echo server: one acceptor coroutine
 * and one coroutine per connection looping cn_read() -> cn_write_all(), on a
 * runtime whose scheduler is a thread of the test process. Clients are plain
 * blocking sockets on the test's main thread with SO_RCVTIMEO/SO_SNDTIMEO, so
 * a stalled server fails a test instead of hanging it; a watchdog per test
 * catches anything else. Every byte a client should get back is compared
 * with the pattern it sent.
 *
 * Faults tried: idle clients, one-byte-at-a-time senders, a client that never
 * reads (its echo blocks the server's writes while others are served), reset
 * mid-message (SO_LINGER 0), half-close, accept churn, running out of file
 * descriptors (a child process with a low RLIMIT_NOFILE: accept backs off
 * without spinning, service resumes), deadlines firing on a half-read frame,
 * cn_close() of an fd another coroutine waits on, a completion ring of 2..8
 * slots under 1,000 connections, and shutdown (cn_runtime_stop, and SIGTERM
 * in a child) with thousands of coroutines waiting.
 *
 * The fd-exhaustion and SIGTERM tests re-execute this binary with
 * "--child-server" so that the server process is single-threaded from its
 * start (fork() of a process that has run threads is not safe under the
 * sanitizers).
 *
 * Counts are smaller under Valgrind (RUNNING_ON_VALGRIND), TSan
 * (__SANITIZE_THREAD__) and qemu-user (RUNNER in the environment), which are
 * 10-50 times slower: 5,000 churned connections become 500, 1,000
 * connections 200, 2,000 sleepers 400 (cn_test_scaled()); each test says which count
 * it scales. CN_TEST_CASE=<glob> runs a subset.
 *
 * Threads: the main thread runs cmocka and the clients; the server thread
 * runs the server runtime. They share only the atomics in cn_test_echo, the
 * port (set before the thread starts) and results read after pthread_join().
 * No cmocka assert runs on the server thread or in a coroutine (a failed
 * assert would longjmp off its stack): they count, the main thread checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <coronet.h>

#include "helpers/cn_echo.h"
#include "helpers/cn_test.h"


/* Client socket timeout: a server that stalls fails the call, not the run. */
#define CLIENT_TIMEOUT_S 20

static char self_exe[4096];

/* ---- clients: blocking sockets on the main thread --------------------- */

static void fill(unsigned char *buf, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
}

static int client_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = CLIENT_TIMEOUT_S};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static int write_full(int fd, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads exactly n bytes; -1 on error, timeout or early EOF. */
static int read_full(int fd, void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n) {
		ssize_t r = recv(fd, p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EPIPE;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Reads n bytes and compares them with fill(seed); 0 if all match. */
static int expect_echo(int fd, size_t n, uint64_t seed)
{
	unsigned char *want = malloc(n), *got = malloc(n);
	int rc = -1;

	if (want && got && read_full(fd, got, n) == 0) {
		fill(want, n, seed);
		rc = memcmp(want, got, n) == 0 ? 0 : -1;
		if (rc)
			print_error("echo of %zu bytes (seed %llu) differs\n", n,
			            (unsigned long long)seed);
	} else {
		print_error("echo of %zu bytes (seed %llu): %s\n", n, (unsigned long long)seed,
		            strerror(errno));
	}
	free(want);
	free(got);
	return rc;
}

/* One message out, its echo checked. */
static int roundtrip(int fd, size_t n, uint64_t seed)
{
	unsigned char *buf = malloc(n);
	int rc = -1;

	if (buf) {
		fill(buf, n, seed);
		if (write_full(fd, buf, n) == 0)
			rc = expect_echo(fd, n, seed);
	}
	free(buf);
	return rc;
}

/* A well-behaved client: k round trips on a fresh connection. Returns the
 * bytes echoed. */
static long good_client(int port, int k)
{
	int fd = client_connect(port);
	long bytes = 0;

	assert_true(fd >= 0);
	for (int i = 0; i < k; i++) {
		size_t n = 1 + (size_t)(i * 97 % 3000);
		assert_int_equal(roundtrip(fd, n, 1000 + (uint64_t)i), 0);
		bytes += (long)n;
	}
	close(fd);
	return bytes;
}

static void reset_close(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	close(fd);
}

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - (strcmp(path, "/proc/self/fd") == 0); /* the DIR's own fd */
}

/* The fd count once it stops changing: libkqueue closes a destroyed
 * kqueue's fds later, from its own thread (elsewhere this returns after
 * one 20 ms look). Bounded at 5 s. */
static int settled_fd_count(void)
{
	int n = count_dir("/proc/self/fd");

	for (int i = 0; i < 250; i++) {
		struct timespec ts = {0, 20 * CN_TEST_MS};
		nanosleep(&ts, NULL);
		int m = count_dir("/proc/self/fd");
		if (m == n)
			break;
		n = m;
	}
	return n;
}

/* A watchdog per test: generous, it only catches hangs. */
static int setup(void **state)
{
	(void)state;
	cn_test_watchdog(cn_test_valgrind() || CN_TEST_TSAN ? 600 : 120);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	alarm(0);
	return 0;
}

#define BOTH(f) CN_TEST_BOTH_SETUP(f, setup, teardown)

/* ---- the tests -------------------------------------------------------- */

/* Clients that connect and never send: the server keeps a waiting coroutine
 * for each and still serves others. */
static void test_idle_clients(void **state)
{
	cn_test_echo s = {0};
	int n = cn_test_scaled(300, 5);
	int *fds = calloc((size_t)n, sizeof *fds);

	assert_non_null(fds);
	cn_test_echo_start(&s, (cn_netpoll_mode)(CN_TEST_MODE(state)), 0);
	for (int i = 0; i < n; i++)
		assert_true((fds[i] = client_connect(s.port)) >= 0);
	CN_TEST_WAIT_FOR(atomic_load(&s.accepted) == n, 30);
	assert_int_equal(atomic_load(&s.accepted), n);
	good_client(s.port, 50);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	CN_TEST_WAIT_FOR(atomic_load(&s.open) == 0, 30);
	assert_int_equal(atomic_load(&s.open), 0);
	assert_int_equal(atomic_load(&s.eofs), n + 1);
	cn_test_echo_stop(&s);
	free(fds);
}

/* Several clients each sending one byte at a time with pauses, interleaved;
 * each gets its exact bytes back. */
static void test_slow_senders(void **state)
{
	enum { CLIENTS = 8, LEN = 100 };
	cn_test_echo s = {0};
	int fds[CLIENTS];
	unsigned char msg[CLIENTS][LEN];
	long good = 0;

	cn_test_echo_start(&s, (cn_netpoll_mode)(CN_TEST_MODE(state)), 0);
	for (int c = 0; c < CLIENTS; c++) {
		assert_true((fds[c] = client_connect(s.port)) >= 0);
		fill(msg[c], LEN, 7 + (uint64_t)c);
	}
	for (int i = 0; i < LEN; i++) {
		for (int c = 0; c < CLIENTS; c++)
			assert_int_equal(write_full(fds[c], &msg[c][i], 1), 0);
		struct timespec ts = {0, 2 * CN_TEST_MS};
		nanosleep(&ts, NULL);
		/* A good client in the middle of it all. */
		if (i == LEN / 2)
			good = good_client(s.port, 5);
	}
	for (int c = 0; c < CLIENTS; c++) {
		assert_int_equal(expect_echo(fds[c], LEN, 7 + (uint64_t)c), 0);
		close(fds[c]);
	}
	CN_TEST_WAIT_FOR(atomic_load(&s.open) == 0, 30);
	assert_int_equal(atomic_load(&s.bytes), CLIENTS * LEN + good);
	cn_test_echo_stop(&s);
}

/* A client that sends and never reads: the server's writes to it block (its
 * coroutine waits), yet a well-behaved client is served meanwhile; at the end
 * the hog reads and every byte it sent comes back. */
static void test_non_reader(void **state)
{
	cn_test_echo s = {0};
	/* Fixed (no autotuning), but several loopback MSS (64 KiB) wide: a tiny
	 * window makes TCP itself crawl. */
	int small = 256 * 1024;
	size_t cap = (size_t)64 << 20, sent = 0;
	unsigned char *all = malloc(cap);

	assert_non_null(all);
	fill(all, cap, 42);
	cn_test_echo_start(&s, (cn_netpoll_mode)(CN_TEST_MODE(state)), 0);
	int hog = client_connect(s.port);
	assert_true(hog >= 0);
	setsockopt(hog, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	assert_int_equal(fcntl(hog, F_SETFL, O_NONBLOCK), 0);
	/* Send until both directions are full: EAGAIN that lasts 300 ms. */
	int64_t quiet_since = cn_test_now();
	while (cn_test_now() - quiet_since < 300 * CN_TEST_MS && sent < cap) {
		ssize_t w = send(hog, all + sent, cap - sent < 65536 ? cap - sent : 65536,
		                 MSG_NOSIGNAL);
		if (w > 0) {
			sent += (size_t)w;
			quiet_since = cn_test_now();
		} else {
			assert_true(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
			struct timespec ts = {0, 5 * CN_TEST_MS};
			nanosleep(&ts, NULL);
		}
	}
	print_message("non-reader: %zu bytes in before the server stopped reading\n", sent);
	assert_true(sent < cap); /* the server really stopped reading from it */
	assert_true(sent > 0);
	/* The server's coroutine for the hog is stuck in a write; others go on. */
	good_client(s.port, 100);
	/* Now the hog reads, and gets back every byte it sent. */
	assert_int_equal(fcntl(hog, F_SETFL, 0), 0);
	unsigned char *got = malloc(sent);
	assert_non_null(got);
	assert_int_equal(read_full(hog, got, sent), 0);
	assert_memory_equal(got, all, sent);
	free(got);
	close(hog);
	CN_TEST_WAIT_FOR(atomic_load(&s.open) == 0, 30);
	assert_int_equal(atomic_load(&s.open), 0);
	cn_test_echo_stop(&s);
	free(all);
}

/* Clients that reset (SO_LINGER 0) in the middle of a message, some before
 * reading any of the echo, some after part of it; the server closes each
 * connection cleanly and keeps serving. */
static void test_reset_mid_message(void **state)
{
	cn_test_echo s = {0};
	int n = cn_test_scaled(200, 5);
	unsigned char buf[4000];

	cn_test_echo_start(&s, (cn_netpoll_mode)(CN_TEST_MODE(state)), 0);
	for (int i = 0; i < n; i++) {
		int fd = client_connect(s.port);
		assert_true(fd >= 0);
		fill(buf, sizeof buf, (uint64_t)i);
		/* Half of a 4000-byte message. */
		assert_int_equal(write_full(fd, buf, 2000), 0);
		if (i % 2)
			assert_int_equal(expect_echo(fd, 1000, (uint64_t)i), 0);
		reset_close(fd);
	}
	CN_TEST_WAIT_FOR(atomic_load(&s.accepted) == n && atomic_load(&s.open) == 0, 30);
	assert_int_equal(atomic_load(&s.accepted), n);
	assert_int_equal(atomic_load(&s.open), 0);
	good_client(s.port, 20);
	cn_test_echo_stop(&s);
	print_message("resets: %d connections, server saw %ld resets, %ld EOFs\n", n,
	              atomic_load(&s.resets), atomic_load(&s.eofs));
}

/* shutdown(SHUT_WR) after sending: every byte still comes back, then EOF. */
static void test_half_close(void **state)
{
	cn_test_echo s = {0};
	int n = cn_test_scaled(20, 4);

	cn_test_echo_start(&s, (cn_netpoll_mode)(CN_TEST_MODE(state)), 0);
	for (int i = 0; i < n; i++) {
		size_t len = 1 + (size_t)i * 3001;
		unsigned char *buf = malloc(len), c;
		assert_non_null(buf);
		int fd = client_connect(s.port);
		assert_true(fd >= 0);
		fill(buf, len, 500 + (uint64_t)i);
		assert_int_equal(write_full(fd, buf, len), 0);
		assert_int_equal(shutdown(fd, SHUT_WR), 0);
		assert_int_equal(expect_echo(fd, len, 500 + (uint64_t)i), 0);
		assert_int_equal(recv(fd, &c, 1, 0), 0); /* EOF, not a timeout */
		close(fd);
		free(buf);
	}
	CN_TEST_WAIT_FOR(atomic_load(&s.open) == 0, 30);
	assert_int_equal(atomic_load(&s.eofs), n);
	cn_test_echo_stop(&s);
}

/* Connect and close at a high rate: 5,000 connections (500 under Valgrind and
 * TSan), a third closed at once, a third after a byte, a third reset. */
static void test_accept_churn(void **state)
{
	cn_test_echo s = {0};
	int n = cn_test_scaled(5000, 10);
	int64_t t0 = cn_test_now();

	cn_test_echo_start(&s, (cn_netpoll_mode)(CN_TEST_MODE(state)), 0);
	for (int i = 0; i < n; i++) {
		int fd = client_connect(s.port);
		assert_true(fd >= 0);
		if (i % 3 == 1)
			assert_int_equal(write_full(fd, "x", 1), 0);
		if (i % 3 == 2)
			reset_close(fd);
		else
			close(fd);
	}
	CN_TEST_WAIT_FOR(atomic_load(&s.accepted) == n && atomic_load(&s.open) == 0, 60);
	assert_int_equal(atomic_load(&s.accepted), n);
	assert_int_equal(atomic_load(&s.open), 0);
	good_client(s.port, 10);
	cn_test_echo_stop(&s);
	print_message("churn: %d connections in %.2f s\n", n,
	              (double)(cn_test_now() - t0) / CN_TEST_SEC);
}

/* The server closes a connection whose read deadline fires after part of a
 * message arrived: the part is echoed, then EOF. */
static void test_server_read_deadline(void **state)
{
	cn_test_echo s = {.read_timeout = 300 * CN_TEST_MS};
	unsigned char c;

	cn_test_echo_start(&s, (cn_netpoll_mode)(CN_TEST_MODE(state)), 0);
	int fd = client_connect(s.port);
	assert_true(fd >= 0);
	assert_int_equal(roundtrip(fd, 30, 77), 0); /* 30 of a longer message */
	int64_t t0 = cn_test_now();
	assert_int_equal(recv(fd, &c, 1, 0), 0); /* the server gave up */
	int64_t waited = cn_test_now() - t0;
	assert_true(waited >= 200 * CN_TEST_MS);
	assert_true(waited < 10 * CN_TEST_SEC);
	close(fd);
	CN_TEST_WAIT_FOR(atomic_load(&s.open) == 0, 30);
	assert_int_equal(atomic_load(&s.timeouts), 1);
	cn_test_echo_stop(&s);
}

/* ---- coroutine-level faults: a runtime on the main thread ------------- */

struct frame {
	int fd[2];
	unsigned char sent[100], got[100];
	size_t first;           /* bytes read before the deadline fired */
	int first_err;          /* errno of the read that timed out */
	size_t second;          /* bytes read afterwards */
	int writer_err;
};

static void frame_reader(void *arg)
{
	struct frame *f = arg;
	int64_t dl = cn_deadline_after(200 * CN_TEST_MS);

	f->first_err = 0;
	while (f->first < sizeof f->got) {
		ssize_t r = cn_read(f->fd[0], f->got + f->first, sizeof f->got - f->first, dl);
		if (r <= 0) {
			f->first_err = r < 0 ? errno : EPIPE;
			break;
		}
		f->first += (size_t)r;
	}
	/* The deadline fired mid-frame; the rest must still arrive, in order. */
	dl = cn_deadline_after(10 * CN_TEST_SEC);
	while (f->first + f->second < sizeof f->got) {
		size_t at = f->first + f->second;
		ssize_t r = cn_read(f->fd[0], f->got + at, sizeof f->got - at, dl);
		if (r <= 0)
			break;
		f->second += (size_t)r;
	}
}

static void frame_writer(void *arg)
{
	struct frame *f = arg;

	if (cn_write_all(f->fd[1], f->sent, 40, CN_NO_DEADLINE, NULL) != 40 ||
	    cn_sleep(600 * CN_TEST_MS) < 0 ||
	    cn_write_all(f->fd[1], f->sent + 40, 60, CN_NO_DEADLINE, NULL) != 60)
		f->writer_err = errno;
}

static void test_deadline_half_read(void **state)
{
	struct frame f;
	cn_runtime_opts o = {.mode = (cn_netpoll_mode)CN_TEST_MODE(state)};

	memset(&f, 0, sizeof f);
	fill(f.sent, sizeof f.sent, 3);
	assert_int_equal(cn_test_tcp_pair(f.fd), 0);
	cn_runtime *rt = cn_runtime_create(&o);
	assert_non_null(rt);
	assert_int_equal(cn_spawn(rt, frame_reader, &f, NULL), 0);
	assert_int_equal(cn_spawn(rt, frame_writer, &f, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(cn_runtime_destroy(rt), 0);
	assert_int_equal(f.writer_err, 0);
	assert_int_equal(f.first, 40);
	assert_int_equal(f.first_err, ETIMEDOUT);
	assert_int_equal(f.second, 60);
	assert_memory_equal(f.got, f.sent, sizeof f.sent);
	close(f.fd[0]);
	close(f.fd[1]);
}

struct closer {
	int fd[2], fresh[2];
	ssize_t reader_rc;
	int reader_err;
	int64_t reader_waited;
	int closer_rc, fresh_ok;
};

static void blocked_reader(void *arg)
{
	struct closer *c = arg;
	char b[16];
	int64_t t0 = cn_now();

	c->reader_rc = cn_read(c->fd[0], b, sizeof b, cn_deadline_after(10 * CN_TEST_SEC));
	c->reader_err = errno;
	c->reader_waited = cn_now() - t0;
}

static void closing_coroutine(void *arg)
{
	struct closer *c = arg;
	char b[5];

	cn_sleep(50 * CN_TEST_MS); /* the reader is waiting by now */
	c->closer_rc = cn_close(c->fd[0]);
	/* The number is probably reused at once: the old waiter must not see
	 * this socket's data. */
	if (cn_test_tcp_pair(c->fresh) < 0)
		return;
	if (cn_write_all(c->fresh[1], "hello", 5, cn_deadline_after(5 * CN_TEST_SEC), NULL) != 5)
		return;
	ssize_t r = cn_read(c->fresh[0], b, 5, cn_deadline_after(5 * CN_TEST_SEC));
	c->fresh_ok = r == 5 && memcmp(b, "hello", 5) == 0;
	cn_close(c->fresh[0]);
	cn_close(c->fresh[1]);
}

static void test_close_while_reading(void **state)
{
	struct closer c;
	cn_runtime_opts o = {.mode = (cn_netpoll_mode)CN_TEST_MODE(state)};

	memset(&c, 0, sizeof c);
	assert_int_equal(cn_test_tcp_pair(c.fd), 0);
	cn_runtime *rt = cn_runtime_create(&o);
	assert_non_null(rt);
	assert_int_equal(cn_spawn(rt, blocked_reader, &c, NULL), 0);
	assert_int_equal(cn_spawn(rt, closing_coroutine, &c, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(cn_runtime_destroy(rt), 0);
	assert_int_equal(c.closer_rc, 0);
	assert_int_equal(c.reader_rc, -1);
	assert_int_equal(c.reader_err, ECANCELED);
	assert_true(c.reader_waited < 5 * CN_TEST_SEC);
	assert_true(c.fresh_ok);
	close(c.fd[1]);
}

/* ---- load ------------------------------------------------------------- */

/* 1,000 connections (200 under Valgrind and TSan) through a completion ring
 * of 2, 4 and 8 slots: three rounds of a message on every connection, then
 * every echo checked. In inline mode the ring size is accepted and unused. */
static void test_tiny_ring(void **state)
{
	int n = cn_test_scaled(1000, 5);
	int *fds = calloc((size_t)n, sizeof *fds);
	unsigned char *buf = malloc(3000);

	assert_non_null(fds);
	assert_non_null(buf);
	for (unsigned ring = 2; ring <= 8; ring *= 2) {
		cn_test_echo s = {0};
		cn_test_echo_start(&s, (cn_netpoll_mode)(CN_TEST_MODE(state)), ring);
		for (int i = 0; i < n; i++)
			assert_true((fds[i] = client_connect(s.port)) >= 0);
		for (int round = 0; round < 3; round++) {
			for (int i = 0; i < n; i++) {
				size_t len = 1 + (size_t)((i * 131 + round * 17) % 3000);
				fill(buf, len, (uint64_t)(i * 3 + round));
				assert_int_equal(write_full(fds[i], buf, len), 0);
			}
			for (int i = 0; i < n; i++) {
				size_t len = 1 + (size_t)((i * 131 + round * 17) % 3000);
				assert_int_equal(expect_echo(fds[i], len, (uint64_t)(i * 3 + round)),
				                 0);
			}
		}
		for (int i = 0; i < n; i++)
			close(fds[i]);
		CN_TEST_WAIT_FOR(atomic_load(&s.open) == 0, 30);
		cn_test_echo_stop(&s);
		assert_int_equal(s.stats.finished, (uint64_t)n + 1);
		print_message("ring %u: %d connections, %llu completions, %llu ring-full\n", ring,
		              n, (unsigned long long)s.stats.completions,
		              (unsigned long long)s.stats.ring_full);
	}
	free(buf);
	free(fds);
}

/* cn_runtime_stop() from another thread while 1,000 connections wait in
 * cn_read() and 2,000 coroutines in cn_sleep(): run returns, every coroutine
 * finished, the netpoll thread is joined (thread count back), no fd left. */
static void test_stop_many_waiting(void **state)
{
	cn_test_echo s = {.sleepers = cn_test_scaled(2000, 5)};
	int n = cn_test_scaled(1000, 5);
	int *fds = calloc((size_t)n, sizeof *fds);
	/* Warm-up, as in child_server(): process-wide fds of a poller
	 * library are not this runtime's leaks. */
	cn_runtime *warm = cn_runtime_create(NULL);
	assert_non_null(warm);
	assert_int_equal(cn_runtime_destroy(warm), 0);
	int threads0 = count_dir("/proc/self/task"), fds0 = settled_fd_count();

	assert_non_null(fds);
	cn_test_echo_start(&s, (cn_netpoll_mode)(CN_TEST_MODE(state)), 0);
	for (int i = 0; i < n; i++) {
		assert_true((fds[i] = client_connect(s.port)) >= 0);
		assert_int_equal(roundtrip(fds[i], 10, (uint64_t)i), 0);
	}
	CN_TEST_WAIT_FOR(atomic_load(&s.sleeping) == s.sleepers, 30);
	assert_int_equal(atomic_load(&s.sleeping), s.sleepers);
	assert_int_equal(atomic_load(&s.open), n);
	int64_t t0 = cn_test_now();
	cn_test_echo_stop(&s);
	print_message("stop with %d connections + %d sleepers waiting: %.3f s\n", n, s.sleepers,
	              (double)(cn_test_now() - t0) / CN_TEST_SEC);
	/* acceptor + conns + sleepers, each resumed with ECANCELED */
	assert_int_equal(atomic_load(&s.cancelled), n + s.sleepers);
	assert_int_equal(s.stats.finished, (uint64_t)(1 + n + s.sleepers));
	/* "<=": a thread of an earlier test may still have been leaving when
	 * threads0 was taken (qemu-user shows that). */
	CN_TEST_WAIT_FOR(count_dir("/proc/self/task") <= threads0, 5);
	assert_true(count_dir("/proc/self/task") <= threads0);
	/* The server closed its side of every connection: EOF here. */
	for (int i = 0; i < n; i++) {
		char c;
		assert_int_equal(recv(fds[i], &c, 1, 0), 0);
		close(fds[i]);
	}
	assert_int_equal(settled_fd_count(), fds0);
	free(fds);
}

/* ---- child-process servers -------------------------------------------- */

static cn_test_echo child_srv;

static void child_on_term(int sig)
{
	(void)sig;
	cn_runtime_stop(child_srv.rt);
}

/* argv: --child-server MODE FD_HEADROOM SLEEPERS. Prints "port N" on stdout,
 * serves until SIGTERM, then checks its own shutdown and exits 0 if clean:
 * 10 bad run/destroy, 11 coroutines left, 12 fds leaked, 13 threads left. */
static int child_server(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	int mode = atoi(argv[2]), headroom = atoi(argv[3]);
	cn_test_echo *s = &child_srv;

	alarm(120); /* never outlive a lost parent */
	signal(SIGPIPE, SIG_IGN);
	/* A throwaway runtime first: a poller library may keep process-wide
	 * fds and threads from its first use on (libkqueue keeps two fds and
	 * its monitoring thread), and those are not this runtime's leaks. */
	cn_runtime *warm = cn_runtime_create(NULL);
	if (!warm || cn_runtime_destroy(warm) < 0)
		return 3;
	int fds0 = settled_fd_count(), threads0 = count_dir("/proc/self/task");
	s->sleepers = atoi(argv[4]);
	if (cn_test_echo_init(s, (cn_netpoll_mode)mode, 0) < 0)
		return 3;
	if (headroom > 0) {
		/* Room for the runtime's own fds (poller, wake-up) and headroom
		 * connections: beyond that accept() fails with EMFILE. */
		struct rlimit rl;
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = (rlim_t)(count_dir("/proc/self/fd") + headroom);
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return 4;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = child_on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	/* A signal mask survives fork and exec: if SIGTERM was blocked on the
	 * parent's thread when it forked (a sanitizer runtime blocks signals
	 * around fork), it would stay pending for ever here. */
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_UNBLOCK, &term, NULL);
	printf("port %d\n", s->port);
	fflush(stdout);
	cn_test_echo_run(s);
	fprintf(stderr,
	        "child server: accepted %ld, accept errors %ld, cancelled %ld, "
	        "spawned %llu, finished %llu\n",
	        atomic_load(&s->accepted), atomic_load(&s->accept_errors),
	        atomic_load(&s->cancelled), (unsigned long long)s->stats.spawned,
	        (unsigned long long)s->stats.finished);
	if (s->run_rc || s->destroy_rc)
		return 10;
	if (atomic_load(&s->open) || atomic_load(&s->sleeping) ||
	    s->stats.spawned != s->stats.finished)
		return 11;
	fclose(stdout);
	if (settled_fd_count() != fds0 - 1) {
		fprintf(stderr, "child server: %d fds open at exit, %d at start\n",
		        count_dir("/proc/self/fd"), fds0);
		return 12;
	}
	/* TSan starts a background thread of its own with the first
	 * pthread_create(): allow for it. */
	if (count_dir("/proc/self/task") > threads0 + CN_TEST_TSAN)
		return 13;
	return 0;
}

struct child {
	pid_t pid;
	int port;
};

static void child_start(struct child *c, int mode, int headroom, int sleepers)
{
	int p[2];
	char m[16], h[16], sl[16], line[64];

	snprintf(m, sizeof m, "%d", mode);
	snprintf(h, sizeof h, "%d", headroom);
	snprintf(sl, sizeof sl, "%d", sleepers);
	assert_int_equal(pipe(p), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		char *argv[32], words[512];
		int k = 0;
		if (cn_test_qemu()) {
			/* No binfmt_misc for arm64 here: run the child the way
			 * this process was run. */
			snprintf(words, sizeof words, "%s", cn_test_qemu());
			for (char *w = strtok(words, " "); w && k < 24; w = strtok(NULL, " "))
				argv[k++] = w;
		}
		argv[k++] = self_exe;
		argv[k++] = "--child-server";
		argv[k++] = m;
		argv[k++] = h;
		argv[k++] = sl;
		argv[k] = NULL;
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	FILE *f = fdopen(p[0], "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof line, f));
	assert_int_equal(sscanf(line, "port %d", &c->port), 1);
	fclose(f);
}

/* SIGTERM, then the exit status within 60 s: 0 means a clean shutdown. */
static int child_stop(struct child *c)
{
	int st = 0;
	int64_t until = cn_test_now() + 60 * CN_TEST_SEC;

	kill(c->pid, SIGTERM);
	while (waitpid(c->pid, &st, WNOHANG) == 0) {
		if (cn_test_now() > until) {
			char path[64], line[256];
			FILE *f;

			/* Say what the child's threads had blocked and pending. */
			snprintf(path, sizeof path, "/proc/%d/status", (int)c->pid);
			if ((f = fopen(path, "r"))) {
				while (fgets(line, sizeof line, f))
					if (strncmp(line, "Sig", 3) == 0 || strncmp(line, "ShdPnd", 6) == 0)
						print_error("child: %s", line);
				fclose(f);
			}
			kill(c->pid, SIGKILL);
			waitpid(c->pid, &st, 0);
			print_error("child server hangs on SIGTERM\n");
			return -1;
		}
		struct timespec ts = {0, 5 * CN_TEST_MS};
		nanosleep(&ts, NULL);
	}
	if (!WIFEXITED(st)) {
		print_error("child server died of signal %d\n", WTERMSIG(st));
		return -1;
	}
	return WEXITSTATUS(st);
}

/* CPU seconds (user + system) the process has used so far. */
static double proc_cpu(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	/* after the comm: state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime stime */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
	                 &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* SIGTERM to a server process with thousands of coroutines waiting. */
static void test_sigterm_many_waiting(void **state)
{
	struct child c;
	int n = cn_test_scaled(1000, 5);
	int *fds = calloc((size_t)n, sizeof *fds);

	assert_non_null(fds);
	child_start(&c, CN_TEST_MODE(state), 0, cn_test_scaled(2000, 5));
	for (int i = 0; i < n; i++) {
		assert_true((fds[i] = client_connect(c.port)) >= 0);
		assert_int_equal(roundtrip(fds[i], 10, (uint64_t)i), 0);
	}
	assert_int_equal(child_stop(&c), 0);
	for (int i = 0; i < n; i++) {
		char ch;
		assert_int_equal(recv(fds[i], &ch, 1, 0), 0);
		close(fds[i]);
	}
	free(fds);
}

/* The server process runs out of fds: connections beyond its limit wait in
 * the listen backlog, cn_accept() backs off without spinning the CPU, and
 * once served clients leave the waiting ones are served, every byte. */
static void test_fd_exhaustion(void **state)
{
	enum { HEADROOM = 16, CLIENTS = 40 };
	struct child c;
	int fds[CLIENTS], served[CLIENTS];
	int nserved = 0;

	child_start(&c, CN_TEST_MODE(state), HEADROOM, 0);
	for (int i = 0; i < CLIENTS; i++) {
		assert_true((fds[i] = client_connect(c.port)) >= 0);
		unsigned char b[100];
		fill(b, sizeof b, (uint64_t)i);
		assert_int_equal(write_full(fds[i], b, sizeof b), 0);
	}
	/* Let the server hit the limit and sit there. */
	struct timespec settle = {0, 300 * CN_TEST_MS};
	nanosleep(&settle, NULL);
	double cpu0 = proc_cpu(c.pid);
	int64_t t0 = cn_test_now();
	struct timespec idle = {1, 0};
	nanosleep(&idle, NULL);
	double cpu = proc_cpu(c.pid) - cpu0;
	double wall = (double)(cn_test_now() - t0) / CN_TEST_SEC;
	print_message("fd limit: server used %.3f s CPU in %.3f s while out of fds\n", cpu, wall);
	assert_true(cpu0 >= 0);
	/* A spinning accept loop would burn about the whole second. */
	assert_true(cpu < 0.25 * wall + (cn_test_valgrind() ? 0.5 : 0.0));
	for (int i = 0; i < CLIENTS; i++) {
		struct pollfd p = {.fd = fds[i], .events = POLLIN};
		served[i] = poll(&p, 1, 0) == 1;
		nserved += served[i];
	}
	print_message("fd limit: %d of %d clients served before any left\n", nserved, CLIENTS);
	assert_true(nserved > 0);
	assert_true(nserved < CLIENTS);
	/* Served clients check their echo and leave: their fds free up. */
	for (int i = 0; i < CLIENTS; i++) {
		if (!served[i])
			continue;
		assert_int_equal(expect_echo(fds[i], 100, (uint64_t)i), 0);
		close(fds[i]);
	}
	/* The rest are served now (the accept back-off is at most 100 ms). */
	for (int i = 0; i < CLIENTS; i++) {
		if (served[i])
			continue;
		assert_int_equal(expect_echo(fds[i], 100, (uint64_t)i), 0);
		close(fds[i]);
	}
	assert_int_equal(child_stop(&c), 0);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--child-server") == 0)
		return child_server(argc, argv);

	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
	if (n <= 0)
		return 1;
	self_exe[n] = 0;
	signal(SIGPIPE, SIG_IGN);
	/* 1,000 connections are 2,000 fds in this process (both ends). */
	cn_test_raise_nofile();

	const struct CMUnitTest tests[] = {
		BOTH(test_idle_clients),
		BOTH(test_slow_senders),
		BOTH(test_non_reader),
		BOTH(test_reset_mid_message),
		BOTH(test_half_close),
		BOTH(test_accept_churn),
		BOTH(test_server_read_deadline),
		BOTH(test_deadline_half_read),
		BOTH(test_close_while_reading),
		BOTH(test_tiny_ring),
		BOTH(test_stop_many_waiting),
		BOTH(test_sigterm_many_waiting),
		BOTH(test_fd_exhaustion),
	};
	return CN_TEST_RUN(tests, NULL, NULL);
}
