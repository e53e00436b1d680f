/*
 * tests/test_echo.c — end-to-end echo: a coronet echo server and 1,000
 * concurrent coronet clients, every byte checked, in both netpoll modes.
 *
 * The server runtime runs on its own pthread (its scheduler thread; in thread
 * mode it has a netpoll thread as well); the clients are coroutines of a
 * second runtime on the test's main thread. Each client sends several
 * messages of varied sizes, some larger than 64 KiB through deliberately
 * small socket buffers so that writes on both sides come back partial; every
 * echoed byte is compared with a pattern unique to the client and message.
 * Afterwards the server is stopped from the main thread (cn_runtime_stop is
 * the one call allowed from any thread), its scheduler thread is joined, and
 * the counts of both sides must agree. A shutdown test stops the server while
 * connections are idle in cn_read(), and a tiny-ring test forces the netpoll
 * thread to find the completion ring full.
 *
 * Under Valgrind (RUNNING_ON_VALGRIND) the counts stay the same (the whole
 * file takes about 10 s there); only the watchdog and deadlines are longer.
 *
 * Threads: main thread = client runtime's scheduler; server thread = server
 * runtime's scheduler. They share only the atomics in cn_test_echo, the
 * listening port (set before the thread starts) and results read after
 * pthread_join().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <coronet.h>

#include "helpers/cn_echo.h"
#include "helpers/cn_test.h"

#define NS_PER_S CN_TEST_SEC
/* The test echo server reads at most this much at a time. */
#define SERVER_BUF 16384
#define STACK ((size_t)64 * 1024)
#define MSGS 4
#define BIG_SIZE ((size_t)200 * 1024)
/* Small enough that a 200 KiB message needs many partial writes. */
#define SMALL_SOCKBUF 8192

/* ---- server: helpers/cn_echo.c, on its own thread -------------------- */

static void server_start(cn_test_echo *s, cn_netpoll_mode mode, unsigned ring, int small_sndbuf)
{
	s->read_timeout = 0;
	s->sleepers = 0;
	s->small_sndbuf = small_sndbuf;
	cn_test_echo_start(s, mode, ring);
}

/* Connection errors of any kind but the stop's ECANCELED. */
static long conn_errors(cn_test_echo *s)
{
	return atomic_load(&s->errors) + atomic_load(&s->resets) + atomic_load(&s->timeouts) +
	       atomic_load(&s->accept_errors);
}

/* Waits (bounded) until the server has seen every client close. */
static void server_wait_idle(cn_test_echo *s, long expect_accepted)
{
	int64_t until = cn_now() + 60 * NS_PER_S;
	while ((atomic_load(&s->accepted) < expect_accepted || atomic_load(&s->open) > 0) &&
	       cn_now() < until) {
		struct timespec ts = {0, 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(atomic_load(&s->accepted), expect_accepted);
	assert_int_equal(atomic_load(&s->open), 0);
}

/* ---- clients: coroutines of a runtime on the main thread ------------- */

struct client_run {
	int port;
	int nclients;
	int big_every;    /* every n-th client sends a BIG_SIZE message; 0 = none */
	int wait_for_eof; /* after the messages, wait for the server to close */
	int64_t deadline; /* for every call, so a stall fails instead of hanging */
	/* Main (client scheduler) thread only. */
	long done, eofs, errors, mismatches;
	uint64_t bytes;
	long echoed; /* clients whose messages were all checked */
	cn_promise all_echoed;
	int stopper_waiting;
	cn_test_echo *server;
};

struct client {
	struct client_run *run;
	int idx, fd;
};

struct writer {
	int fd;
	const unsigned char *buf;
	size_t len;
	int64_t deadline;
	cn_promise done;
};

static size_t msg_size(const struct client_run *run, int c, int k)
{
	switch (k) {
	case 0:
		return 1 + (size_t)(c % 61);
	case 1:
		return 512 + (size_t)(c * 37 % 4096);
	case 2:
		return SERVER_BUF + 1 + (size_t)(c % 1000); /* two server reads at least */
	default:
		if (run->big_every && c % run->big_every == 0)
			return BIG_SIZE + (size_t)c;
		return 100 + (size_t)(c % 200);
	}
}

static void fill_pattern(unsigned char *buf, size_t len, int c, int k)
{
	uint64_t x = ((uint64_t)(unsigned)c << 32 | (unsigned)k) * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < len; i++) {
		/* xorshift64: cheap, and no two clients or messages look alike */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
}

static void writer_main(void *arg)
{
	struct writer *w = arg;
	if (cn_write_all(w->fd, w->buf, w->len, w->deadline, NULL) < 0)
		cn_promise_fulfil(&w->done, 0, errno);
	else
		cn_promise_fulfil(&w->done, (ssize_t)w->len, 0);
}

static void client_fail(struct client *cl, const char *what, int err)
{
	cl->run->errors++;
	if (cl->run->errors <= 5)
		print_error("client %d: %s: %s\n", cl->idx, what,
		            err ? strerror(err) : "unexpected EOF");
}

/* One message out and its echo back, compared byte by byte. */
static int client_message(struct client *cl, int k)
{
	struct client_run *run = cl->run;
	size_t n = msg_size(run, cl->idx, k);
	unsigned char *sbuf = malloc(n), *rbuf = malloc(n);
	int rc = 0;
	if (!sbuf || !rbuf) {
		client_fail(cl, "malloc", ENOMEM);
		rc = -1;
		goto out;
	}
	fill_pattern(sbuf, n, cl->idx, k);

	struct writer w;
	int split = n > 64 * 1024;
	if (split) {
		/* Too big for the socket buffers: read while a helper writes. */
		w.fd = cl->fd;
		w.buf = sbuf;
		w.len = n;
		w.deadline = run->deadline;
		cn_promise_init(&w.done);
		const cn_coro_opts o = {.stack_size = STACK, .name = "test-echo-writer"};
		if (cn_spawn(cn_runtime_current(), writer_main, &w, &o) < 0) {
			client_fail(cl, "spawn writer", errno);
			rc = -1;
			goto out;
		}
		/* Not reading for a moment fills our small receive buffer, so the
		 * server's writes to us come back partial and it must wait. */
		if (cn_sleep(10 * 1000 * 1000) < 0) {
			client_fail(cl, "sleep", errno);
			rc = -1;
		}
	} else if (cn_write_all(cl->fd, sbuf, n, run->deadline, NULL) != (ssize_t)n) {
		client_fail(cl, "write", errno);
		rc = -1;
		goto out;
	}
	size_t got = 0;
	while (rc == 0 && got < n) {
		ssize_t r = cn_read(cl->fd, rbuf + got, n - got, run->deadline);
		if (r <= 0) {
			client_fail(cl, "read", r < 0 ? errno : 0);
			rc = -1;
			break;
		}
		got += (size_t)r;
	}
	if (split) {
		if (rc < 0) {
			cn_close(cl->fd); /* wakes the writer with ECANCELED */
			cl->fd = -1;
		}
		if (cn_promise_await(&w.done) != (ssize_t)n && rc == 0) {
			client_fail(cl, "write (helper)", errno);
			rc = -1;
		}
	}
	if (rc == 0 && memcmp(sbuf, rbuf, n) != 0) {
		size_t at = 0;
		while (sbuf[at] == rbuf[at])
			at++;
		run->mismatches++;
		print_error(
		        "client %d message %d (%zu bytes): byte %zu is 0x%02x, expected 0x%02x\n",
		        cl->idx, k, n, at, rbuf[at], sbuf[at]);
		rc = -1;
	}
	if (rc == 0)
		run->bytes += n;
out:
	free(sbuf);
	free(rbuf);
	return rc;
}

static void client_main(void *arg)
{
	struct client *cl = arg;
	struct client_run *run = cl->run;

	cl->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (cl->fd < 0) {
		client_fail(cl, "socket", errno);
		goto out;
	}
	int one = 1;
	setsockopt(cl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (run->big_every && cl->idx % run->big_every == 0) {
		int small = SMALL_SOCKBUF;
		setsockopt(cl->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
		setsockopt(cl->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	}
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)run->port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (cn_connect(cl->fd, (struct sockaddr *)&a, sizeof a, run->deadline) < 0) {
		client_fail(cl, "connect", errno);
		goto out;
	}
	for (int k = 0; k < MSGS; k++)
		if (client_message(cl, k) < 0)
			goto out;
	if (++run->echoed == run->nclients && run->stopper_waiting)
		cn_promise_fulfil(&run->all_echoed, 0, 0);
	if (run->wait_for_eof) {
		/* The server is being stopped: its connection coroutine is
		 * cancelled, closes the socket, and we must see a clean EOF. */
		char c;
		ssize_t r = cn_read(cl->fd, &c, 1, run->deadline);
		if (r == 0)
			run->eofs++;
		else
			client_fail(cl, "wait for EOF", r < 0 ? errno : EPROTO);
	}
	run->done++;
out:
	if (cl->fd >= 0)
		cn_close(cl->fd);
	cl->fd = -1;
}

/* Stops the server once every client has its echoes and is idle in cn_read. */
static void stopper_main(void *arg)
{
	struct client_run *run = arg;
	if (run->echoed < run->nclients) {
		run->stopper_waiting = 1;
		if (cn_promise_await(&run->all_echoed) < 0) {
			run->errors++;
			print_error("stopper: await: %s\n", strerror(errno));
		}
	}
	/* Let every client get back into its cn_read() first. */
	if (cn_yield_now() < 0 || cn_runtime_stop(run->server->rt) < 0) {
		run->errors++;
		print_error("stopper: %s\n", strerror(errno));
	}
}

static void clients_run(struct client_run *run, cn_netpoll_mode mode, unsigned ring)
{
	cn_runtime_opts o = {.mode = mode, .ring_size = ring};
	cn_runtime *rt = cn_runtime_create(&o);
	assert_non_null(rt);
	struct client *cls = calloc((size_t)run->nclients, sizeof *cls);
	assert_non_null(cls);
	cn_promise_init(&run->all_echoed);
	run->deadline = cn_deadline_after((cn_test_valgrind() ? 240 : 60) * NS_PER_S);
	const cn_coro_opts co = {.stack_size = STACK, .name = "test-echo-client"};
	for (int i = 0; i < run->nclients; i++) {
		cls[i].run = run;
		cls[i].idx = i;
		cls[i].fd = -1;
		assert_int_equal(cn_spawn(rt, client_main, &cls[i], &co), 0);
	}
	if (run->wait_for_eof)
		assert_int_equal(cn_spawn(rt, stopper_main, run, &co), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	cn_runtime_stats st;
	assert_int_equal(cn_runtime_stats_get(rt, &st), 0);
	assert_int_equal(st.spawned, st.finished);
	assert_int_equal(cn_runtime_destroy(rt), 0);
	free(cls);
}

static uint64_t expected_bytes(const struct client_run *run)
{
	uint64_t sum = 0;
	for (int c = 0; c < run->nclients; c++)
		for (int k = 0; k < MSGS; k++)
			sum += msg_size(run, c, k);
	return sum;
}

/* ---- watchdog ---------------------------------------------------------- */

static void on_watchdog(int sig)
{
	(void)sig;
	static const char msg[] = "test_echo: watchdog: a test hung; aborting\n";
	ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
	(void)ignored;
	_exit(99);
}

static void watchdog_arm(void)
{
	signal(SIGALRM, on_watchdog);
	alarm(cn_test_valgrind() ? 900 : 120);
}

static int n_clients(void)
{
	return 1000;
}

/* ---- tests ------------------------------------------------------------- */

static void echo_round(cn_netpoll_mode mode, unsigned server_ring, unsigned client_ring,
                       int nclients, int big_every)
{
	watchdog_arm();
	cn_test_echo s;
	server_start(&s, mode, server_ring, big_every != 0);

	struct client_run run = {.port = s.port, .nclients = nclients, .big_every = big_every};
	clients_run(&run, mode, client_ring);
	assert_int_equal(run.errors, 0);
	assert_int_equal(run.mismatches, 0);
	assert_int_equal(run.done, nclients);
	assert_int_equal(run.bytes, expected_bytes(&run));

	/* Every client has closed; once the server has seen all the EOFs,
	 * nothing is waiting and the stop cancels nobody. */
	server_wait_idle(&s, nclients);
	cn_test_echo_stop(&s);
	assert_int_equal(conn_errors(&s), 0);
	assert_int_equal(atomic_load(&s.cancelled), 0);
	assert_int_equal(s.bytes, run.bytes);
	assert_int_equal(s.stats.spawned, s.stats.finished);
	assert_int_equal(s.stats.spawned, (uint64_t)nclients + 1);
	if (big_every)
		assert_true(s.partial_writes > 0);
	if (mode == CN_NETPOLL_THREAD) {
		/* Everything a waiting coroutine got back came over the ring. */
		assert_true(s.stats.completions > 0);
		assert_true(s.stats.ring_batches > 0);
		assert_true(s.stats.ring_batches <= s.stats.completions);
		assert_true(s.stats.wake_syscalls <= s.stats.completions);
	}
	print_message("  [%s] %d clients, %llu bytes echoed, %llu partial server writes, "
	              "%llu completions, %llu wake syscalls, %llu batches, %llu ring-full\n",
	              cn_netpoll_mode_name(mode), nclients, (unsigned long long)s.bytes,
	              (unsigned long long)s.partial_writes, (unsigned long long)s.stats.completions,
	              (unsigned long long)s.stats.wake_syscalls,
	              (unsigned long long)s.stats.ring_batches,
	              (unsigned long long)s.stats.ring_full);
	alarm(0);
}

static void test_echo_1000(void **state)
{
	echo_round(CN_TEST_MODE(state), 0, 0, n_clients(), 10);
}

/* Server thread mode, clients inline, and the other way round: the two
 * runtimes must not depend on each other's mode. */
static void test_echo_mixed_modes(void **state)
{
	(void)state;
	watchdog_arm();
	for (int m = 0; m < 2; m++) {
		cn_netpoll_mode sm = m ? CN_NETPOLL_INLINE : CN_NETPOLL_THREAD;
		cn_netpoll_mode cm = m ? CN_NETPOLL_THREAD : CN_NETPOLL_INLINE;
		cn_test_echo s;
		server_start(&s, sm, 0, 1);
		struct client_run run = {.port = s.port, .nclients = 100, .big_every = 25};
		clients_run(&run, cm, 0);
		assert_int_equal(run.errors + run.mismatches, 0);
		assert_int_equal(run.bytes, expected_bytes(&run));
		server_wait_idle(&s, 100);
		cn_test_echo_stop(&s);
		assert_int_equal(s.bytes, run.bytes);
		assert_int_equal(conn_errors(&s), 0);
	}
	alarm(0);
}

/* A completion ring of 2 slots: the netpoll thread finds it full again and
 * again, keeps the promises and retries; not one echo may be lost. */
static void test_echo_tiny_ring(void **state)
{
	(void)state;
	watchdog_arm();
	int n = 300;
	cn_test_echo s;
	server_start(&s, CN_NETPOLL_THREAD, 2, 1);
	struct client_run run = {.port = s.port, .nclients = n, .big_every = 30};
	clients_run(&run, CN_NETPOLL_THREAD, 4);
	assert_int_equal(run.errors + run.mismatches, 0);
	assert_int_equal(run.done, n);
	assert_int_equal(run.bytes, expected_bytes(&run));
	server_wait_idle(&s, n);
	cn_test_echo_stop(&s);
	assert_int_equal(s.bytes, run.bytes);
	assert_int_equal(conn_errors(&s), 0);
	assert_true(s.stats.completions > 0);
	/* 300 busy connections cannot fit through 2 slots without the netpoll
	 * thread finding the ring full; under Valgrind's one-thread-at-a-time
	 * execution that is not guaranteed, so only the echoes are checked. */
	if (!cn_test_valgrind())
		assert_true(s.stats.ring_full > 0);
	print_message(
	        "  [ring 2] %llu completions, %llu ring-full, %llu batches (%.2f per batch)\n",
	        (unsigned long long)s.stats.completions, (unsigned long long)s.stats.ring_full,
	        (unsigned long long)s.stats.ring_batches,
	        s.stats.ring_batches ? (double)s.stats.completions / (double)s.stats.ring_batches
	                             : 0.0);
	alarm(0);
}

/* Stop the server while every connection coroutine waits in cn_read(): each
 * is resumed with ECANCELED, closes its socket (the client sees EOF), the
 * listener is closed, and run returns with nothing leaked (ASan/Valgrind). */
static void shutdown_with_idle(cn_netpoll_mode mode)
{
	watchdog_arm();
	int n = 500;
	cn_test_echo s;
	server_start(&s, mode, 0, 0);
	struct client_run run = {.port = s.port, .nclients = n, .wait_for_eof = 1};
	run.server = &s;
	clients_run(&run, mode, 0);
	assert_int_equal(run.errors + run.mismatches, 0);
	assert_int_equal(run.eofs, n);
	assert_int_equal(pthread_join(s.thread, NULL), 0);
	assert_int_equal(s.run_rc, 0);
	assert_int_equal(s.destroy_rc, 0);
	assert_int_equal(atomic_load(&s.open), 0);
	assert_int_equal(atomic_load(&s.cancelled), n);
	assert_int_equal(conn_errors(&s), 0);
	assert_int_equal(s.stats.spawned, s.stats.finished);
	/* The listener is closed: nobody accepts any more. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), -1);
	assert_int_equal(errno, ECONNREFUSED);
	close(fd);
	alarm(0);
}

static void test_shutdown_with_idle_connections(void **state)
{
	shutdown_with_idle(CN_TEST_MODE(state));
}

static int group_setup(void **state)
{
	(void)state;
	/* Two fds per client in this one process. */
	cn_test_raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        CN_TEST_BOTH(test_echo_1000),
	        cmocka_unit_test(test_echo_mixed_modes),
	        cmocka_unit_test(test_echo_tiny_ring),
	        CN_TEST_BOTH(test_shutdown_with_idle_connections),
	};
	return CN_TEST_RUN(tests, group_setup, NULL);
}
