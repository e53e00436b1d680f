/*
 * tests/helpers/cn_echo.c — the test echo server (cn_echo.h). No cmocka
 * assert runs inside the server: a failed assert would longjmp off a
 * coroutine's stack. It counts; the test checks the counts afterwards.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/cn_echo.h"
#include "helpers/cn_test.h"

#define BUF 16384
#define STACK ((size_t)64 * 1024)
#define SMALL_STACK ((size_t)16 * 1024)
/* Loopback send buffers grow to megabytes, which would absorb any message
 * whole: small ones make the server's writes come back partial. */
#define SMALL_SOCKBUF 8192

struct conn {
	cn_test_echo *s;
	int fd;
};

static void count_error(cn_test_echo *s, int err)
{
	if (err == ECONNRESET || err == EPIPE)
		atomic_fetch_add(&s->resets, 1);
	else if (err == ETIMEDOUT)
		atomic_fetch_add(&s->timeouts, 1);
	else if (err == ECANCELED)
		atomic_fetch_add(&s->cancelled, 1);
	else
		atomic_fetch_add(&s->errors, 1);
}

/* cn_write rather than cn_write_all: the tests want to see the partial
 * writes they provoke. 0, or -1 with errno. */
static int echo_back(cn_test_echo *s, int fd, const unsigned char *buf, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = cn_write(fd, buf + off, n - off, CN_NO_DEADLINE);

		if (w < 0)
			return -1;
		if ((size_t)w < n - off)
			atomic_fetch_add(&s->partial_writes, 1);
		off += (size_t)w;
	}
	return 0;
}

static void conn_main(void *arg)
{
	struct conn *c = arg;
	cn_test_echo *s = c->s;
	int fd = c->fd;
	unsigned char buf[BUF];

	free(c);
	for (;;) {
		int64_t dl = s->read_timeout ? cn_deadline_after(s->read_timeout) : CN_NO_DEADLINE;
		ssize_t r = cn_read(fd, buf, sizeof buf, dl);

		if (r == 0) {
			atomic_fetch_add(&s->eofs, 1);
			break;
		}
		if (r < 0 || echo_back(s, fd, buf, (size_t)r) < 0) {
			count_error(s, errno);
			break;
		}
		atomic_fetch_add(&s->bytes, r);
	}
	cn_close(fd);
	atomic_fetch_sub(&s->open, 1);
}

static void sleeper_main(void *arg)
{
	cn_test_echo *s = arg;

	atomic_fetch_add(&s->sleeping, 1);
	/* An hour: only the shutdown ends it, with ECANCELED. */
	if (cn_sleep(3600 * CN_TEST_SEC) < 0 && errno == ECANCELED)
		atomic_fetch_add(&s->cancelled, 1);
	else
		atomic_fetch_add(&s->errors, 1);
	atomic_fetch_sub(&s->sleeping, 1);
}

static void serve(cn_test_echo *s, int fd, const cn_coro_opts *o)
{
	struct conn *c = malloc(sizeof *c);

	if (!c) {
		cn_close(fd);
		atomic_fetch_add(&s->errors, 1);
		return;
	}
	c->s = s;
	c->fd = fd;
	if (s->small_sndbuf) {
		int small = SMALL_SOCKBUF;

		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	}
	atomic_fetch_add(&s->open, 1);
	if (cn_spawn(cn_runtime_current(), conn_main, c, o) < 0) {
		free(c);
		cn_close(fd);
		atomic_fetch_sub(&s->open, 1);
		atomic_fetch_add(&s->errors, 1);
		return;
	}
	atomic_fetch_add(&s->accepted, 1);
}

static void acceptor_main(void *arg)
{
	cn_test_echo *s = arg;
	const cn_coro_opts o = {.stack_size = STACK, .name = "test-echo-conn"};
	const cn_coro_opts so = {.stack_size = SMALL_STACK, .name = "test-echo-sleeper"};

	for (int i = 0; i < s->sleepers; i++)
		if (cn_spawn(cn_runtime_current(), sleeper_main, s, &so) < 0)
			atomic_fetch_add(&s->errors, 1);
	for (;;) {
		/* cn_accept() itself backs off on EMFILE/ENFILE. */
		int fd = cn_accept(s->lfd, NULL, NULL, CN_NO_DEADLINE);

		if (fd >= 0) {
			serve(s, fd, &o);
			continue;
		}
		if (errno == ECANCELED)
			break;
		atomic_fetch_add(&s->accept_errors, 1);
		if (errno != ECONNABORTED && errno != EINTR && errno != EPROTO &&
		    cn_sleep(10 * CN_TEST_MS) < 0)
			break;
	}
	cn_close(s->lfd);
}

int cn_test_echo_init(cn_test_echo *s, cn_netpoll_mode mode, unsigned ring)
{
	cn_runtime_opts o = {.mode = mode, .ring_size = ring};
	int64_t rto = s->read_timeout;
	int sl = s->sleepers, small = s->small_sndbuf;
	uint16_t port;

	memset(s, 0, sizeof *s);
	s->read_timeout = rto;
	s->sleepers = sl;
	s->small_sndbuf = small;
	s->lfd = cn_test_listener(&port);
	if (s->lfd < 0)
		return -1;
	s->port = port;
	s->rt = cn_runtime_create(&o);
	if (!s->rt) {
		int err = errno;

		close(s->lfd);
		errno = err;
		return -1;
	}
	return 0;
}

void cn_test_echo_run(cn_test_echo *s)
{
	const cn_coro_opts o = {.stack_size = STACK, .name = "test-echo-acceptor"};

	if (cn_spawn(s->rt, acceptor_main, s, &o) < 0) {
		s->run_rc = -1;
		close(s->lfd);
	} else {
		s->run_rc = cn_runtime_run(s->rt);
	}
	cn_runtime_stats_get(s->rt, &s->stats);
	s->destroy_rc = cn_runtime_destroy(s->rt);
	s->rt = NULL;
}

static void *echo_thread(void *arg)
{
	cn_test_echo_run(arg);
	return NULL;
}

void cn_test_echo_start(cn_test_echo *s, cn_netpoll_mode mode, unsigned ring)
{
	assert_int_equal(cn_test_echo_init(s, mode, ring), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, echo_thread, s), 0);
}

void cn_test_echo_stop(cn_test_echo *s)
{
	/* rt is freed by the server thread once run returns: read it first. */
	assert_int_equal(cn_runtime_stop(s->rt), 0);
	assert_int_equal(pthread_join(s->thread, NULL), 0);
	assert_int_equal(s->run_rc, 0);
	assert_int_equal(s->destroy_rc, 0);
	assert_int_equal(atomic_load(&s->open), 0);
	assert_int_equal(atomic_load(&s->sleeping), 0);
	assert_int_equal(atomic_load(&s->errors), 0);
	assert_true(s->stats.spawned == s->stats.finished);
}
