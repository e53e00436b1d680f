/*
 * tests/test_io.c — coroutine I/O over the runtime, in both netpoll modes:
 * pipes, regular files, sockets; fd closed while waited on; peer reset;
 * half-close and EOF; partial writes of 16 MiB; a completion ring of two
 * slots under hundreds of concurrent completions; wake-up merging; accept on
 * EMFILE without spinning; connect; shutdown with waiters; errors; pending
 * errors handed over by the poller (injected as the kqueue backend would
 * deliver them, so the epoll build checks the same path).
 * Single test thread (a forked child in the EMFILE test).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "coronet.h"
#include "helpers/cn_test.h"
#include "sched.h" /* white box: cn__fd_event() for injected events */

#define MSEC CN_TEST_MS

static unsigned char pat(size_t i, unsigned seed)
{
	return (unsigned char)((i * 131u + seed * 7u + (i >> 13)) & 0xff);
}

/* --- pipe: a reader waits, a writer wakes it ----------------------------- */

struct pipe_t {
	int fd[2];
	char got[64];
	ssize_t n, eof;
};

static void pipe_reader(void *arg)
{
	struct pipe_t *p = arg;

	p->n = cn_read(p->fd[0], p->got, sizeof(p->got), CN_NO_DEADLINE);
	p->eof = cn_read(p->fd[0], p->got + 32, 8, CN_NO_DEADLINE);
	cn_close(p->fd[0]);
}

static void pipe_writer(void *arg)
{
	struct pipe_t *p = arg;

	cn_sleep(20 * MSEC); /* the reader parks first */
	assert_int_equal(cn_write(p->fd[1], "hello", 5, CN_NO_DEADLINE), 5);
	cn_sleep(10 * MSEC);
	cn_close(p->fd[1]); /* EOF */
}

static void test_pipe(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct pipe_t p;

	memset(&p, 0, sizeof(p));
	assert_int_equal(pipe(p.fd), 0);
	cn_spawn(rt, pipe_reader, &p, NULL);
	cn_spawn(rt, pipe_writer, &p, NULL);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(p.n, 5);
	assert_memory_equal(p.got, "hello", 5);
	assert_int_equal(p.eof, 0);
	cn_runtime_destroy(rt);
}

/* --- regular file: always ready ------------------------------------------- */

struct file_t {
	int fd;
	ssize_t w, r;
	char buf[32];
};

static void file_co(void *arg)
{
	struct file_t *f = arg;

	f->w = cn_write(f->fd, "file data!", 10, CN_NO_DEADLINE);
	lseek(f->fd, 0, SEEK_SET);
	f->r = cn_read(f->fd, f->buf, sizeof(f->buf), cn_deadline_after(0));
	cn_close(f->fd);
}

static void test_regular_file(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	char path[] = "/tmp/cn_test_io_XXXXXX";
	struct file_t f;

	memset(&f, 0, sizeof(f));
	f.fd = mkstemp(path);
	assert_true(f.fd >= 0);
	unlink(path);
	cn_spawn(rt, file_co, &f, NULL);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(f.w, 10);
	assert_int_equal(f.r, 10);
	assert_memory_equal(f.buf, "file data!", 10);
	cn_runtime_destroy(rt);
}

/* --- closed while waited on ------------------------------------------------- */

struct closew {
	int fd[2];
	ssize_t r;
	int err;
	int newfd[2];
	char buf[8];
};

static void closew_reader(void *arg)
{
	struct closew *c = arg;

	errno = 0;
	c->r = cn_read(c->fd[0], c->buf, sizeof(c->buf), CN_NO_DEADLINE);
	c->err = errno;
}

static void closew_closer(void *arg)
{
	struct closew *c = arg;

	cn_sleep(10 * MSEC);
	assert_int_equal(cn_close(c->fd[0]), 0);
	/* Reuse the number at once, with data ready: the old waiter must
	 * not read it. */
	assert_int_equal(pipe(c->newfd), 0);
	assert_int_equal(write(c->newfd[1], "NEW", 3), 3);
}

static void test_close_while_waiting(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct closew c;
	char b[4];

	memset(&c, 0, sizeof(c));
	assert_int_equal(pipe(c.fd), 0);
	cn_spawn(rt, closew_reader, &c, NULL);
	cn_spawn(rt, closew_closer, &c, NULL);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(c.r, -1);
	assert_int_equal(c.err, ECANCELED);
	assert_int_equal(read(c.newfd[0], b, 3), 3); /* still there */
	assert_memory_equal(b, "NEW", 3);
	close(c.newfd[0]);
	close(c.newfd[1]);
	close(c.fd[1]);
	cn_runtime_destroy(rt);
}

/* --- peer reset, half-close, EOF ------------------------------------------ */

struct sock2 {
	int fd[2];
	ssize_t r1, r2, r3;
	int e;
	char buf[16];
};

static void reset_reader(void *arg)
{
	struct sock2 *s = arg;

	errno = 0;
	s->r1 = cn_read(s->fd[0], s->buf, sizeof(s->buf), cn_deadline_after(5000 * MSEC));
	s->e = errno;
	cn_close(s->fd[0]);
}

static void reset_peer(void *arg)
{
	struct sock2 *s = arg;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	cn_sleep(10 * MSEC);
	setsockopt(s->fd[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	cn_close(s->fd[1]); /* RST */
}

static void test_peer_reset(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct sock2 s;

	memset(&s, 0, sizeof(s));
	assert_int_equal(cn_test_tcp_pair(s.fd), 0);
	cn_spawn(rt, reset_reader, &s, NULL);
	cn_spawn(rt, reset_peer, &s, NULL);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(s.r1, -1);
	assert_int_equal(s.e, ECONNRESET);
	cn_runtime_destroy(rt);
}

static void half_reader(void *arg)
{
	struct sock2 *s = arg;

	s->r1 = cn_read(s->fd[0], s->buf, sizeof(s->buf), cn_deadline_after(5000 * MSEC));
	s->r2 = cn_read(s->fd[0], s->buf + 8, 8, cn_deadline_after(5000 * MSEC));
	/* Our direction is still open after the peer's half-close. */
	s->r3 = cn_write(s->fd[0], "back", 4, CN_NO_DEADLINE);
	cn_close(s->fd[0]);
}

static void half_peer(void *arg)
{
	struct sock2 *s = arg;
	char b[8];

	cn_sleep(10 * MSEC);
	assert_int_equal(cn_write(s->fd[1], "bye", 3, CN_NO_DEADLINE), 3);
	shutdown(s->fd[1], SHUT_WR);
	assert_int_equal(cn_read(s->fd[1], b, sizeof(b), cn_deadline_after(5000 * MSEC)), 4);
	assert_memory_equal(b, "back", 4);
	assert_int_equal(cn_read(s->fd[1], b, sizeof(b), cn_deadline_after(5000 * MSEC)), 0);
	cn_close(s->fd[1]);
}

static void test_half_close_eof(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct sock2 s;

	memset(&s, 0, sizeof(s));
	assert_int_equal(cn_test_tcp_pair(s.fd), 0);
	cn_spawn(rt, half_reader, &s, NULL);
	cn_spawn(rt, half_peer, &s, NULL);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(s.r1, 3);
	assert_int_equal(s.r2, 0);
	assert_int_equal(s.r3, 4);
	cn_runtime_destroy(rt);
}

/* --- partial writes of a large buffer ------------------------------------- */

#define BIG ((size_t)16 << 20)

struct big {
	int fd[2];
	unsigned char *out;
	size_t got;
	int bad;
	ssize_t w;
	size_t written;
};

static void big_writer(void *arg)
{
	struct big *b = arg;

	b->w = cn_write_all(b->fd[0], b->out, BIG, CN_NO_DEADLINE, &b->written);
	cn_close(b->fd[0]);
}

static void big_reader(void *arg)
{
	struct big *b = arg;
	unsigned char buf[65536];

	for (;;) {
		/* Odd sizes so reads and writes never line up. */
		ssize_t n = cn_read(b->fd[1], buf, 4093 + (b->got % 7) * 9000, CN_NO_DEADLINE);

		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pat(b->got + (size_t)i, 1))
				b->bad++;
		b->got += (size_t)n;
	}
	cn_close(b->fd[1]);
}

static void test_partial_writes(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct big b;
	int small = 64 * 1024;

	memset(&b, 0, sizeof(b));
	assert_int_equal(cn_test_tcp_pair(b.fd), 0);
	/* Small buffers force many partial writes. */
	setsockopt(b.fd[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(b.fd[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	b.out = malloc(BIG);
	assert_non_null(b.out);
	for (size_t i = 0; i < BIG; i++)
		b.out[i] = pat(i, 1);
	cn_spawn(rt, big_writer, &b, NULL);
	cn_spawn(rt, big_reader, &b, NULL);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(b.w, (ssize_t)BIG);
	assert_int_equal(b.written, BIG);
	assert_int_equal(b.got, BIG);
	assert_int_equal(b.bad, 0);
	free(b.out);
	cn_runtime_destroy(rt);
}

/* --- many concurrent completions through a 2-slot ring --------------------- */

#define NPAIR 300
#define ROUNDS 20
#define MSG 48

struct fan {
	int fd[NPAIR][2];
	cn_promise round_done;
	int left;
	int bad;
	uint64_t bytes;
	int finished;
};

struct fan_arg {
	struct fan *f;
	int i;
};

static void fan_reader(void *arg)
{
	struct fan_arg *a = arg;
	struct fan *f = a->f;
	unsigned char buf[MSG];

	for (int r = 0; r < ROUNDS; r++) {
		size_t have = 0;

		while (have < MSG) {
			ssize_t n = cn_read(f->fd[a->i][1], buf + have, MSG - have,
			                    cn_deadline_after(20000 * MSEC));

			if (n <= 0) {
				f->bad++;
				return;
			}
			have += (size_t)n;
		}
		for (size_t k = 0; k < MSG; k++)
			if (buf[k] != pat(k + (size_t)r * MSG, (unsigned)a->i))
				f->bad++;
		f->bytes += MSG;
		if (--f->left == 0)
			cn_promise_fulfil(&f->round_done, r, 0);
	}
	cn_close(f->fd[a->i][1]);
	cn_close(f->fd[a->i][0]);
	f->finished++;
}

static void fan_writer(void *arg)
{
	struct fan *f = arg;
	unsigned char buf[MSG];

	for (int r = 0; r < ROUNDS; r++) {
		cn_promise_init(&f->round_done);
		f->left = NPAIR;
		/* One burst: every socket becomes readable while we run. */
		for (int i = 0; i < NPAIR; i++) {
			for (size_t k = 0; k < MSG; k++)
				buf[k] = pat(k + (size_t)r * MSG, (unsigned)i);
			assert_int_equal(cn_write(f->fd[i][0], buf, MSG, CN_NO_DEADLINE), MSG);
		}
		assert_int_equal(cn_promise_await(&f->round_done), r);
	}
}

static void run_fan(void **state, unsigned ring, cn_runtime_stats *st)
{
	cn_runtime *rt = cn_test_runtime(CN_TEST_MODE(state), ring);
	struct fan *f = calloc(1, sizeof(*f));
	struct fan_arg *args = calloc(NPAIR, sizeof(*args));

	for (int i = 0; i < NPAIR; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, f->fd[i]), 0);
		args[i].f = f;
		args[i].i = i;
		assert_int_equal(cn_spawn(rt, fan_reader, &args[i], NULL), 0);
	}
	assert_int_equal(cn_spawn(rt, fan_writer, f, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(f->bad, 0);
	assert_int_equal(f->finished, NPAIR);
	assert_int_equal(f->bytes, (uint64_t)NPAIR * ROUNDS * MSG);
	assert_int_equal(cn_runtime_stats_get(rt, st), 0);
	cn_runtime_destroy(rt);
	free(args);
	free(f);
}

static void test_ring_full_nothing_lost(void **state)
{
	cn_runtime_stats st;

	run_fan(state, 2, &st);
	/* Every reader parked once per round at least. */
	assert_true(st.completions >= (uint64_t)NPAIR * ROUNDS);
	if (CN_TEST_MODE(state) == CN_NETPOLL_THREAD)
		assert_true(st.ring_full > 0);
	print_message("  ring 2: completions %llu, ring_full %llu, batches %llu, wakes %llu\n",
	              (unsigned long long)st.completions, (unsigned long long)st.ring_full,
	              (unsigned long long)st.ring_batches, (unsigned long long)st.wake_syscalls);
}

static void test_wake_merging(void **state)
{
	cn_runtime_stats st;

	run_fan(state, 0, &st);
	assert_true(st.completions >= (uint64_t)NPAIR * ROUNDS);
	/* A burst of 300 completions per round must not cost a wake each. */
	assert_true(st.wake_syscalls * 10 < st.completions);
	print_message("  burst: %llu completions, %llu wake syscalls = %.1f per 1000, "
	              "%llu ring batches\n",
	              (unsigned long long)st.completions, (unsigned long long)st.wake_syscalls,
	              1000.0 * (double)st.wake_syscalls / (double)st.completions,
	              (unsigned long long)st.ring_batches);
}

/* --- accept on EMFILE: no spin, recovers ----------------------------------- */

struct emf {
	int lfd;
	int fillers[64];
	int nfill;
	int accepted;
	int accept_err;
	double cpu_ms;
};

static double cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 +
	       ru.ru_stime.tv_usec / 1e3;
}

static void emf_acceptor(void *arg)
{
	struct emf *e = arg;

	e->accepted = cn_accept(e->lfd, NULL, NULL, cn_deadline_after(10000 * MSEC));
	e->accept_err = errno;
	/* Through the runtime: with libkqueue, a registration left to the
	 * runtime's destroy is torn down by libkqueue's own thread, racing
	 * with a plain close() afterwards. */
	if (e->accepted >= 0)
		cn_close(e->accepted);
	cn_close(e->lfd);
	e->lfd = -1;
}

static void emf_freer(void *arg)
{
	struct emf *e = arg;
	double c0 = cpu_ms();

	cn_sleep(400 * MSEC); /* the acceptor is stuck on EMFILE meanwhile */
	e->cpu_ms = cpu_ms() - c0;
	close(e->fillers[--e->nfill]);
}

static int emfile_child(int mode)
{
	cn_runtime_opts o = {.mode = (cn_netpoll_mode)mode};
	struct emf e;
	struct sockaddr_in a;
	uint16_t port;
	struct rlimit rl;
	int c, fd, rc = 0;
	cn_runtime *rt = cn_runtime_create(&o);

	memset(&e, 0, sizeof(e));
	e.accepted = -1;
	if (!rt)
		return 10;
	e.lfd = cn_test_listener(&port);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (e.lfd < 0 || c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0) {
		rc = 11;
		goto out;
	}
	/* Leave no descriptor free below a small limit. */
	fd = dup(0);
	rl.rlim_cur = rl.rlim_max = (rlim_t)fd + 8;
	close(fd);
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		/* Valgrind refuses to move the limit below its own fds. */
		fprintf(stderr, "  EMFILE: skipped, setrlimit: %s\n", strerror(errno));
		goto out;
	}
	while (e.nfill < 64 && (fd = dup(0)) >= 0)
		e.fillers[e.nfill++] = fd;
	if (errno != EMFILE) {
		rc = 13;
		goto out;
	}
	cn_spawn(rt, emf_acceptor, &e, NULL);
	cn_spawn(rt, emf_freer, &e, NULL);
	if (cn_runtime_run(rt) < 0) {
		rc = 14;
		goto out;
	}
	if (e.accepted < 0) {
		fprintf(stderr, "accept failed: %s\n", strerror(e.accept_err));
		rc = 15;
		goto out;
	}
	fprintf(stderr, "  EMFILE: %.1f ms CPU over 400 ms of fd shortage\n", e.cpu_ms);
	if (e.cpu_ms > 150)
		rc = 16;
out:
	cn_runtime_destroy(rt);
	while (e.nfill > 0)
		close(e.fillers[--e.nfill]);
	if (c >= 0)
		close(c);
	if (e.lfd >= 0)
		close(e.lfd);
	return rc;
}

static void test_accept_emfile(void **state)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(emfile_child(CN_TEST_MODE(state)));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* --- connect, accept ----------------------------------------------------------- */

struct conn {
	int lfd;
	uint16_t port, dead_port;
	int r_ok, r_ref, e_ref;
	char echoed[8];
};

static void conn_server(void *arg)
{
	struct conn *c = arg;
	char b[8];
	int fd = cn_accept(c->lfd, NULL, NULL, cn_deadline_after(5000 * MSEC));
	ssize_t n;

	assert_true(fd >= 0);
	n = cn_read(fd, b, sizeof(b), cn_deadline_after(5000 * MSEC));
	assert_int_equal(n, 4);
	assert_int_equal(cn_write(fd, b, (size_t)n, CN_NO_DEADLINE), n);
	cn_close(fd);
	cn_close(c->lfd);
}

static void conn_client(void *arg)
{
	struct conn *c = arg;
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(c->port);
	c->r_ok = cn_connect(fd, (struct sockaddr *)&a, sizeof(a), cn_deadline_after(5000 * MSEC));
	cn_write(fd, "ping", 4, CN_NO_DEADLINE);
	cn_read(fd, c->echoed, 4, cn_deadline_after(5000 * MSEC));
	cn_close(fd);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_port = htons(c->dead_port);
	errno = 0;
	c->r_ref = cn_connect(fd, (struct sockaddr *)&a, sizeof(a), cn_deadline_after(5000 * MSEC));
	c->e_ref = errno;
	cn_close(fd);
}

static void test_connect_accept(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct conn c;
	int dead;

	memset(&c, 0, sizeof(c));
	c.lfd = cn_test_listener(&c.port);
	dead = cn_test_listener(&c.dead_port);
	close(dead); /* nobody listens there now */
	cn_spawn(rt, conn_server, &c, NULL);
	cn_spawn(rt, conn_client, &c, NULL);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(c.r_ok, 0);
	assert_memory_equal(c.echoed, "ping", 4);
	assert_int_equal(c.r_ref, -1);
	assert_int_equal(c.e_ref, ECONNREFUSED);
	cn_runtime_destroy(rt);
}

/* --- shutdown with coroutines still waiting -------------------------------- */

#define NWAIT 50

struct shut {
	int fd[NWAIT][2];
	int cancelled;
	int sleep_cancelled;
	cn_promise never;
	int promise_cancelled;
};

struct shut_arg {
	struct shut *s;
	int i;
};

static void shut_reader(void *arg)
{
	struct shut_arg *a = arg;
	char b[4];

	errno = 0;
	if (cn_read(a->s->fd[a->i][0], b, sizeof(b), CN_NO_DEADLINE) == -1 && errno == ECANCELED)
		a->s->cancelled++;
	cn_close(a->s->fd[a->i][0]);
	cn_close(a->s->fd[a->i][1]);
}

static void shut_sleeper(void *arg)
{
	struct shut *s = arg;

	if (cn_sleep(3600 * 1000 * MSEC) == -1 && errno == ECANCELED)
		s->sleep_cancelled = 1;
}

static void shut_awaiter(void *arg)
{
	struct shut *s = arg;

	if (cn_promise_await(&s->never) == -1 && errno == ECANCELED)
		s->promise_cancelled = 1;
}

static void *stop_later(void *arg)
{
	usleep(50 * 1000);
	cn_runtime_stop(arg);
	return NULL;
}

static void test_shutdown_with_waiters(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct shut *s = calloc(1, sizeof(*s));
	struct shut_arg args[NWAIT];
	pthread_t th;

	cn_promise_init(&s->never);
	for (int i = 0; i < NWAIT; i++) {
		assert_int_equal(pipe(s->fd[i]), 0);
		args[i].s = s;
		args[i].i = i;
		cn_spawn(rt, shut_reader, &args[i], NULL);
	}
	cn_spawn(rt, shut_sleeper, s, NULL);
	cn_spawn(rt, shut_awaiter, s, NULL);
	assert_int_equal(pthread_create(&th, NULL, stop_later, rt), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	pthread_join(th, NULL);
	assert_int_equal(s->cancelled, NWAIT);
	assert_int_equal(s->sleep_cancelled, 1);
	assert_int_equal(s->promise_cancelled, 1);
	assert_int_equal(cn_runtime_destroy(rt), 0);
	free(s);
}

/* --- close racing with readiness from another thread ------------------------ */

/* The race the wait word exists for: the netpoll side takes the promise at
 * the moment cn_close() tries to reclaim it. Whatever wins, the reader gets
 * the byte or ECANCELED, never a hang and never a read of a reused fd. */

#define RACES 1500

struct race {
	int s[2];
	sem_t go, done;
	int quit;
	cn_promise reader_done;
	int got_byte, got_cancel, got_other;
	unsigned seed;
};

static void *race_writer(void *arg)
{
	struct race *r = arg;

	for (;;) {
		sem_wait(&r->go);
		if (r->quit)
			return NULL;
		/* EPIPE when the close won: expected. */
		(void)!write(r->s[1], "x", 1);
		sem_post(&r->done);
	}
}

static void race_reader(void *arg)
{
	struct race *r = arg;
	char b;
	ssize_t n;

	errno = 0;
	n = cn_read(r->s[0], &b, 1, cn_deadline_after(10000 * MSEC));
	if (n == 1 && b == 'x')
		r->got_byte++;
	else if (n == -1 && errno == ECANCELED)
		r->got_cancel++;
	else
		r->got_other++;
	cn_promise_fulfil(&r->reader_done, 0, 0);
}

static void race_controller(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < RACES; i++) {
		unsigned spin;

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, r->s), 0);
		cn_promise_init(&r->reader_done);
		cn_spawn(cn_runtime_current(), race_reader, r, NULL);
		cn_yield_now(); /* the reader parks (or reads) */
		sem_post(&r->go);
		r->seed = r->seed * 1103515245u + 12345u;
		spin = (r->seed >> 16) % 100000;
		for (volatile unsigned k = 0; k < spin; k++)
			;
		/* Sometimes let the reader run first (it then reads the
		 * byte); otherwise close while its promise may be in flight. */
		for (unsigned y = (r->seed >> 8) % 4; y > 0; y--)
			cn_yield_now();
		cn_close(r->s[0]);
		assert_int_equal(cn_promise_await(&r->reader_done), 0);
		sem_wait(&r->done);
		close(r->s[1]);
	}
}

static void test_close_race(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct race *r = calloc(1, sizeof(*r));
	cn_runtime_stats st;
	pthread_t th;

	r->seed = 42;
	sem_init(&r->go, 0, 0);
	sem_init(&r->done, 0, 0);
	assert_int_equal(pthread_create(&th, NULL, race_writer, r), 0);
	cn_spawn(rt, race_controller, r, NULL);
	assert_int_equal(cn_runtime_run(rt), 0);
	r->quit = 1;
	sem_post(&r->go);
	pthread_join(th, NULL);
	cn_runtime_stats_get(rt, &st);
	/* In thread mode, completions that arrived before the close were
	 * taken by the netpoll thread: the reclaim lost and the ring
	 * delivered them. */
	print_message("  close race: %d byte, %d cancelled, %d other, %llu completions\n",
	              r->got_byte, r->got_cancel, r->got_other, (unsigned long long)st.completions);
	assert_int_equal(r->got_other, 0);
	assert_int_equal(r->got_byte + r->got_cancel, RACES);
	sem_destroy(&r->go);
	sem_destroy(&r->done);
	cn_runtime_destroy(rt);
	free(r);
}

/* --- errors ------------------------------------------------------------------- */

struct ioerr {
	int fd[2];
	int e_badf, e_busy, e_inval, e_timedout;
	int other_done;
};

static void ioerr_first(void *arg)
{
	struct ioerr *x = arg;
	char b[4];

	/* Times out after the second reader tried. */
	errno = 0;
	if (cn_read(x->fd[0], b, sizeof(b), cn_deadline_after(50 * MSEC)) == -1)
		x->e_timedout = errno;
}

static void ioerr_second(void *arg)
{
	struct ioerr *x = arg;
	char b[4];

	errno = 0;
	assert_int_equal(cn_read(x->fd[0], b, sizeof(b), CN_NO_DEADLINE), -1);
	x->e_busy = errno;
	errno = 0;
	assert_int_equal(cn_read(-1, b, sizeof(b), CN_NO_DEADLINE), -1);
	x->e_badf = errno;
	errno = 0;
	assert_int_equal(cn_fd_wait(x->fd[0], CN_FD_READ | CN_FD_WRITE, CN_NO_DEADLINE), -1);
	x->e_inval = errno;
	/* Writable at once; readable after the other end writes. */
	assert_int_equal(cn_fd_wait(x->fd[1], CN_FD_WRITE, CN_NO_DEADLINE), 0);
	x->other_done = 1;
}

static void test_io_errors(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct ioerr x;
	char b[4];

	memset(&x, 0, sizeof(x));
	assert_int_equal(pipe(x.fd), 0);
	errno = 0;
	assert_int_equal(cn_read(x.fd[0], b, 1, CN_NO_DEADLINE), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(cn_write_all(x.fd[1], b, 1, CN_NO_DEADLINE, NULL), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(cn_accept(x.fd[0], NULL, NULL, CN_NO_DEADLINE), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(cn_close(x.fd[0]), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(cn_deadline_after(-1), CN_NO_DEADLINE);
	cn_spawn(rt, ioerr_first, &x, NULL);
	cn_spawn(rt, ioerr_second, &x, NULL);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(x.e_busy, EBUSY);
	assert_int_equal(x.e_badf, EBADF);
	assert_int_equal(x.e_inval, EINVAL);
	assert_int_equal(x.e_timedout, ETIMEDOUT);
	assert_int_equal(x.other_done, 1);
	close(x.fd[0]);
	close(x.fd[1]);
	cn_runtime_destroy(rt);
}

/* --- pending errors from the poller ------------------------------------------ */

/* What a backend that consumed SO_ERROR (libkqueue) hands over: an event for
 * fd with its error, handled as the event loop would. */
static void inject_error(int fd, int err)
{
	cn__fdtable *fds = cn__task_current()->s->fds;
	cn__fdent *e = cn__fd_lookup(fds, fd);
	cn__poll_event ev;
	cn_promise *ps[2];

	ev.token = cn__fd_token(fd, atomic_load(&e->seq));
	ev.events = CN__POLL_IN | CN__POLL_OUT;
	ev.error = err;
	/* Nobody waits on fd here, so no promise is taken. */
	assert_int_equal(cn__fd_event(fds, &ev, ps), 0);
}

struct pend {
	int s[2];
	ssize_t r[8];
	int e[8];
	int done;
};

static void pend_co(void *arg)
{
	struct pend *p = arg;
	char b[8];
	int k = 0, old, fds[2];

	/* Registers s[0] without reading from it. */
	assert_int_equal(cn_fd_wait(p->s[0], CN_FD_WRITE, CN_NO_DEADLINE), 0);

	/* Nothing readable: the read fails with the error, once. */
	inject_error(p->s[0], ECONNRESET);
	errno = 0;
	p->r[k] = cn_read(p->s[0], b, sizeof(b), cn_deadline_after(20 * MSEC));
	p->e[k++] = errno;
	errno = 0;
	p->r[k] = cn_read(p->s[0], b, sizeof(b), cn_deadline_after(20 * MSEC));
	p->e[k++] = errno;

	/* Bytes already there come first, then the error. */
	assert_int_equal(write(p->s[1], "abc", 3), 3);
	inject_error(p->s[0], ECONNRESET);
	errno = 0;
	p->r[k] = cn_read(p->s[0], b, sizeof(b), cn_deadline_after(20 * MSEC));
	p->e[k++] = errno;
	errno = 0;
	p->r[k] = cn_read(p->s[0], b, sizeof(b), cn_deadline_after(20 * MSEC));
	p->e[k++] = errno;

	/* A write that succeeds keeps it; the EOF of a closed peer is where
	 * it shows (the error a consumed SO_ERROR would have given). */
	inject_error(p->s[0], ECONNRESET);
	p->r[k] = cn_write(p->s[0], "x", 1, CN_NO_DEADLINE);
	p->e[k++] = 0;
	close(p->s[1]);
	errno = 0;
	p->r[k] = cn_read(p->s[0], b, sizeof(b), cn_deadline_after(20 * MSEC));
	p->e[k++] = errno;

	/* An error recorded for a closed fd never reaches the next fd that
	 * gets its number. */
	old = p->s[0];
	inject_error(p->s[0], ECONNREFUSED);
	cn_close(p->s[0]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	/* The old number for the new socket, whatever else is free. */
	if (fds[1] == old) {
		fds[1] = fds[0];
		fds[0] = old;
	} else if (fds[0] != old) {
		assert_int_equal(dup2(fds[0], old), old);
		close(fds[0]);
		fds[0] = old;
	}
	assert_int_equal(cn_write(fds[1], "new", 3, CN_NO_DEADLINE), 3);
	errno = 0;
	p->r[k] = cn_read(fds[0], b, sizeof(b), cn_deadline_after(20 * MSEC));
	p->e[k++] = errno;
	cn_close(fds[0]);
	cn_close(fds[1]);
	p->done = k;
}

static void test_pending_error(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct pend p;

	memset(&p, 0, sizeof(p));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p.s), 0);
	cn_spawn(rt, pend_co, &p, NULL);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(p.done, 7);
	assert_int_equal(p.r[0], -1);
	assert_int_equal(p.e[0], ECONNRESET);
	assert_int_equal(p.r[1], -1);
	assert_int_equal(p.e[1], ETIMEDOUT); /* reported once */
	assert_int_equal(p.r[2], 3);
	assert_int_equal(p.r[3], -1);
	assert_int_equal(p.e[3], ECONNRESET);
	assert_int_equal(p.r[4], 1);
	assert_int_equal(p.r[5], -1);
	assert_int_equal(p.e[5], ECONNRESET);
	assert_int_equal(p.r[6], 3); /* the new fd: data, no stale error */
	cn_runtime_destroy(rt);
}

/* --- AF_UNIX connect to a full backlog waits, within its deadline ----------- */

struct ubl {
	struct sockaddr_un a;
	int lfd;
	int filler[64];
	int nfill;
	int r_timeout, e_timeout, r_ok;
	int64_t took;
};

static void ubl_acceptor(void *arg)
{
	struct ubl *u = arg;
	int fd;

	cn_sleep(30 * MSEC); /* the connect is waiting by now */
	fd = cn_accept(u->lfd, NULL, NULL, cn_deadline_after(5000 * MSEC));
	assert_true(fd >= 0);
	cn_close(fd);
}

static void ubl_main(void *arg)
{
	struct ubl *u = arg;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	int64_t t0 = cn_now();

	assert_true(fd >= 0);
	errno = 0;
	u->r_timeout = cn_connect(fd, (struct sockaddr *)&u->a, sizeof(u->a),
	                          cn_deadline_after(100 * MSEC));
	u->e_timeout = errno;
	u->took = cn_now() - t0;
	cn_close(fd);
	/* Room comes when the acceptor takes one: then the connect goes. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cn_spawn(cn_runtime_current(), ubl_acceptor, u, NULL);
	u->r_ok = cn_connect(fd, (struct sockaddr *)&u->a, sizeof(u->a),
	                     cn_deadline_after(5000 * MSEC));
	cn_close(fd);
}

static void test_unix_connect_full_backlog(void **state)
{
#ifdef __linux__
	cn_runtime *rt = cn_test_runtime_for(state);
	struct ubl u;

	memset(&u, 0, sizeof(u));
	u.a.sun_family = AF_UNIX;
	/* Abstract name: nothing to clean up in the file system. */
	snprintf(u.a.sun_path + 1, sizeof(u.a.sun_path) - 1, "cn_test_io_%d_%d", (int)getpid(),
	         CN_TEST_MODE(state));
	u.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(u.lfd, (struct sockaddr *)&u.a, sizeof(u.a)), 0);
	assert_int_equal(listen(u.lfd, 0), 0);
	/* Fill the backlog until the kernel says EAGAIN. */
	for (u.nfill = 0; u.nfill < 64; u.nfill++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

		u.filler[u.nfill] = fd;
		if (connect(fd, (struct sockaddr *)&u.a, sizeof(u.a)) < 0) {
			assert_int_equal(errno, EAGAIN);
			close(fd);
			break;
		}
	}
	assert_true(u.nfill < 64);
	assert_int_equal(cn_spawn(rt, ubl_main, &u, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(u.r_timeout, -1);
	assert_int_equal(u.e_timeout, ETIMEDOUT);
	assert_true(u.took >= 100 * MSEC && u.took < 3000 * MSEC);
	assert_int_equal(u.r_ok, 0);
	for (int i = 0; i < u.nfill; i++)
		close(u.filler[i]);
	close(u.lfd);
	cn_runtime_destroy(rt);
#else
	(void)state;
	skip(); /* Linux's EAGAIN for a full AF_UNIX backlog */
#endif
}

/* --- cn_recv with MSG_WAITALL waits for all n bytes --------------------------- */

struct waitall {
	int s[2];
	ssize_t r_full, r_eof, r_deadline;
	char got[16];
};

static void waitall_writer(void *arg)
{
	struct waitall *w = arg;

	assert_int_equal(cn_write(w->s[1], "01234", 5, CN_NO_DEADLINE), 5);
	cn_sleep(20 * MSEC);
	assert_int_equal(cn_write(w->s[1], "56789", 5, CN_NO_DEADLINE), 5);
	cn_sleep(20 * MSEC);
	assert_int_equal(cn_write(w->s[1], "ab", 2, CN_NO_DEADLINE), 2);
	cn_sleep(100 * MSEC); /* the reader's 50 ms deadline passes first */
	assert_int_equal(cn_write(w->s[1], "xyz", 3, CN_NO_DEADLINE), 3);
	cn_close(w->s[1]); /* EOF after 3 bytes */
}

static void waitall_reader(void *arg)
{
	struct waitall *w = arg;
	char b[16];

	w->r_full = cn_recv(w->s[0], w->got, 10, MSG_WAITALL, cn_deadline_after(5000 * MSEC));
	w->r_deadline = cn_recv(w->s[0], b, 10, MSG_WAITALL, cn_deadline_after(50 * MSEC));
	w->r_eof = cn_recv(w->s[0], b, 10, MSG_WAITALL, cn_deadline_after(5000 * MSEC));
	cn_close(w->s[0]);
}

static void test_recv_waitall(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct waitall w;

	memset(&w, 0, sizeof(w));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, w.s), 0);
	cn_spawn(rt, waitall_reader, &w, NULL);
	cn_spawn(rt, waitall_writer, &w, NULL);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(w.r_full, 10);
	assert_memory_equal(w.got, "0123456789", 10);
	assert_int_equal(w.r_deadline, 2); /* what came before the deadline */
	assert_int_equal(w.r_eof, 3);      /* what came before EOF */
	cn_runtime_destroy(rt);
}

/* --- datagrams and messages: UDP and AF_UNIX datagram sockets -------------- */

struct dgram {
	int udp[2];  /* two bound UDP sockets on 127.0.0.1 */
	struct sockaddr_in to;
	int ux[2];   /* an AF_UNIX datagram pair */
	ssize_t r_from, r_msg, r_empty, r_timeout;
	int e_timeout, from_port_ok, fault;
	char got[64], got2[64];
};

static void dgram_reader(void *arg)
{
	struct dgram *d = arg;
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	struct iovec iov = {d->got2, sizeof(d->got2)};
	struct msghdr m;
	char b[8];

	/* Nothing sent yet: waits, then the datagram arrives. */
	d->r_from = cn_recvfrom(d->udp[1], d->got, sizeof(d->got), 0, (struct sockaddr *)&from,
	                        &flen, cn_deadline_after(5000 * MSEC));
	d->from_port_ok = flen == sizeof(from) && from.sin_port != 0;
	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	d->r_msg = cn_recvmsg(d->ux[1], &m, 0, cn_deadline_after(5000 * MSEC));
	d->r_empty = cn_recvfrom(d->ux[1], b, sizeof(b), 0, NULL, NULL, cn_deadline_after(5000 * MSEC));
	errno = 0;
	d->r_timeout = cn_recvfrom(d->udp[1], b, sizeof(b), 0, NULL, NULL, cn_deadline_after(30 * MSEC));
	d->e_timeout = errno;
	errno = 0;
	d->fault = cn_recvmsg(d->ux[1], NULL, 0, CN_NO_DEADLINE) == -1 && errno == EFAULT &&
	           cn_recvfrom(d->udp[1], b, 1, 0, (struct sockaddr *)&from, NULL, 0) == -1 &&
	           errno == EFAULT;
}

static void dgram_writer(void *arg)
{
	struct dgram *d = arg;
	struct iovec iov[2] = {{"mes", 3}, {"sage", 4}};
	struct msghdr m;

	cn_sleep(20 * MSEC); /* the reader waits first */
	assert_int_equal(cn_sendto(d->udp[0], "datagram", 8, 0, (struct sockaddr *)&d->to,
	                           sizeof(d->to), CN_NO_DEADLINE),
	                 8);
	memset(&m, 0, sizeof(m));
	m.msg_iov = iov;
	m.msg_iovlen = 2;
	cn_sleep(10 * MSEC);
	assert_int_equal(cn_sendmsg(d->ux[0], &m, 0, CN_NO_DEADLINE), 7);
	assert_int_equal(cn_send(d->ux[0], "", 0, 0, CN_NO_DEADLINE), 0); /* empty datagram */
}

static void test_datagrams(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	struct dgram d;

	memset(&d, 0, sizeof(d));
	for (int i = 0; i < 2; i++) {
		d.udp[i] = socket(AF_INET, SOCK_DGRAM, 0);
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(bind(d.udp[i], (struct sockaddr *)&a, sizeof(a)), 0);
	}
	assert_int_equal(getsockname(d.udp[1], (struct sockaddr *)&d.to, &len), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, d.ux), 0);
	cn_spawn(rt, dgram_reader, &d, NULL);
	cn_spawn(rt, dgram_writer, &d, NULL);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(d.r_from, 8);
	assert_memory_equal(d.got, "datagram", 8);
	assert_true(d.from_port_ok);
	assert_int_equal(d.r_msg, 7);
	assert_memory_equal(d.got2, "message", 7);
	assert_int_equal(d.r_empty, 0);
	assert_int_equal(d.r_timeout, -1);
	assert_int_equal(d.e_timeout, ETIMEDOUT);
	assert_true(d.fault);
	for (int i = 0; i < 2; i++) {
		close(d.udp[i]);
		close(d.ux[i]);
	}
	cn_runtime_destroy(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        CN_TEST_BOTH(test_pipe),
	        CN_TEST_BOTH(test_regular_file),
	        CN_TEST_BOTH(test_close_while_waiting),
	        CN_TEST_BOTH(test_peer_reset),
	        CN_TEST_BOTH(test_half_close_eof),
	        CN_TEST_BOTH(test_partial_writes),
	        CN_TEST_BOTH(test_ring_full_nothing_lost),
	        CN_TEST_BOTH(test_wake_merging),
	        CN_TEST_BOTH(test_accept_emfile),
	        CN_TEST_BOTH(test_connect_accept),
	        CN_TEST_BOTH(test_shutdown_with_waiters),
	        CN_TEST_BOTH(test_close_race),
	        CN_TEST_BOTH(test_io_errors),
	        CN_TEST_BOTH(test_pending_error),
	        CN_TEST_BOTH(test_unix_connect_full_backlog),
	        CN_TEST_BOTH(test_recv_waitall),
	        CN_TEST_BOTH(test_datagrams),
	};

	signal(SIGPIPE, SIG_IGN);
	cn_test_watchdog(300);
	return CN_TEST_RUN(tests, NULL, NULL);
}
