/*
 * tests/test_fdreuse.c — an fd number whose history the runtime did not
 * see: closed with a plain close() and handed out again by the kernel for
 * another (blocking, unregistered) file, or handed over to another runtime
 * with cn_fd_release(). Whatever happened, a cn_* call must never block the
 * scheduler thread in a system call, its deadline must hold, and the new
 * file must work (its readiness wakes waiters). A ticker coroutine proves
 * the scheduler kept running while a call waited. Both netpoll modes.
 *
 * Threads: the test thread runs the runtimes, except in the hand-over test,
 * where runtime A runs on a thread of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "coronet.h"
#include "helpers/cn_test.h"

#define MS CN_TEST_MS

/* What kind of file the reused number was, and what it becomes. */
enum kind { K_SOCKET, K_PIPE, K_FILE };

struct reuse {
	enum kind before, after;
	int num;         /* the fd number that gets reused */
	int peer;        /* the new file's other end (write side) */
	int ticking;     /* the ticker runs while this is set */
	int ticks;       /* ticks seen while the timed-out read waited */
	ssize_t r_timeout, r_data;
	int e_timeout;
	int64_t took;
	int64_t cancelled_after; /* when the stale wait was cancelled, 0 if not */
	char got[8];
};

static void ticker(void *arg)
{
	struct reuse *u = arg;

	while (u->ticking) {
		u->ticks++;
		if (cn_sleep(2 * MS) < 0)
			break;
	}
}

/* Makes a file of kind k; *rd is the end the runtime reads, *wr the other
 * (-1 for a regular file). All blocking, as fresh fds are. */
static void make_file(enum kind k, int *rd, int *wr)
{
	int p[2];

	if (k == K_SOCKET) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
	} else if (k == K_PIPE) {
		assert_int_equal(pipe(p), 0);
	} else {
		char path[] = "/tmp/cn_test_fdreuse_XXXXXX";

		p[0] = mkstemp(path);
		assert_true(p[0] >= 0);
		unlink(path);
		p[1] = -1;
	}
	*rd = p[0];
	*wr = p[1];
}

static void late_writer(void *arg)
{
	struct reuse *u = arg;

	cn_sleep(20 * MS);
	assert_int_equal(write(u->peer, "new!", 4), 4);
}

static void reuse_main(void *arg)
{
	struct reuse *u = arg;
	int rd, wr, nrd, nwr;
	char b[8];
	int64_t t0;

	/* The runtime learns the first file... */
	make_file(u->before, &rd, &wr);
	if (wr >= 0)
		assert_int_equal(write(wr, "old", 3), 3);
	assert_true(cn_read(rd, b, sizeof b, cn_deadline_after(2000 * MS)) >= 0);
	u->num = rd;
	/* ...which is closed behind its back; the number goes to a new,
	 * blocking file the runtime never saw. */
	close(rd);
	if (wr >= 0)
		close(wr);
	make_file(u->after, &nrd, &nwr);
	if (nrd != u->num) {
		assert_int_equal(dup2(nrd, u->num), u->num);
		close(nrd);
	}
	u->peer = nwr;
	assert_false(fcntl(u->num, F_GETFL) & O_NONBLOCK);

	/* Nothing to read: the deadline must hold, the scheduler must run. */
	u->ticking = 1;
	cn_spawn(cn_runtime_current(), ticker, u, NULL);
	cn_sleep(1); /* the ticker starts */
	u->ticks = 0;
	t0 = cn_now();
	errno = 0;
	u->r_timeout = cn_read(u->num, b, sizeof b, cn_deadline_after(100 * MS));
	u->e_timeout = errno;
	u->took = cn_now() - t0;
	/* And the new file works. A socket read parked on the dead socket's
	 * registration is resumed with ECANCELED by the stale-wait sweep
	 * (about a second later: sched.c, "Stale waits"); every other kind was
	 * checked at the call and registered afresh, so the writer's bytes
	 * wake it directly. */
	u->ticking = 0; /* nothing else to run: the sweep must wake an idle scheduler */
	cn_spawn(cn_runtime_current(), late_writer, u, NULL);
	t0 = cn_now();
	errno = 0;
	u->r_data = cn_read(u->num, u->got, sizeof u->got, cn_deadline_after(5000 * MS));
	if (u->r_data < 0 && errno == ECANCELED) {
		u->cancelled_after = cn_now() - t0;
		u->r_data = cn_read(u->num, u->got, sizeof u->got, cn_deadline_after(5000 * MS));
	}
	cn_close(u->num);
	close(u->peer);
}

static void check_reuse(void **state, enum kind before, enum kind after)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct reuse u;

	memset(&u, 0, sizeof u);
	u.before = before;
	u.after = after;
	assert_int_equal(cn_spawn(rt, reuse_main, &u, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(u.r_timeout, -1);
	assert_int_equal(u.e_timeout, ETIMEDOUT);
	assert_true(u.took >= 100 * MS);
	assert_true(u.took < 3000 * MS); /* generous: it did not hang */
	/* 2 ms ticks over 100 ms: the scheduler was not stuck in read(2). */
	assert_true(u.ticks >= 5);
	assert_int_equal(u.r_data, 4);
	assert_memory_equal(u.got, "new!", 4);
	if (before == K_SOCKET && after == K_SOCKET) {
		assert_true(u.cancelled_after >= 900 * MS);  /* a parked, long wait */
		assert_true(u.cancelled_after < 4000 * MS); /* the sweep found it */
	} else {
		assert_int_equal(u.cancelled_after, 0);
	}
	cn_runtime_destroy(rt);
}

static void test_socket_reused_by_socket(void **state)
{
	check_reuse(state, K_SOCKET, K_SOCKET);
}

static void test_pipe_reused_by_pipe(void **state)
{
	check_reuse(state, K_PIPE, K_PIPE);
}

static void test_socket_reused_by_pipe(void **state)
{
	check_reuse(state, K_SOCKET, K_PIPE);
}

static void test_pipe_reused_by_socket(void **state)
{
	check_reuse(state, K_PIPE, K_SOCKET);
}

static void test_file_reused_by_socket(void **state)
{
	check_reuse(state, K_FILE, K_SOCKET);
}

/* --- cn_fd_release ------------------------------------------------------- */

struct rel {
	int s[2];
	ssize_t r;
	int e, released, still_open;
};

static void rel_waiter(void *arg)
{
	struct rel *x = arg;
	char b[4];

	x->r = cn_read(x->s[0], b, sizeof b, cn_deadline_after(5000 * MS));
	x->e = errno;
}

static void rel_main(void *arg)
{
	struct rel *x = arg;

	cn_spawn(cn_runtime_current(), rel_waiter, x, NULL);
	cn_sleep(10 * MS); /* the waiter parks */
	x->released = cn_fd_release(x->s[0]);
	x->still_open = fcntl(x->s[0], F_GETFD) >= 0;
	assert_int_equal(cn_fd_release(-1), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(cn_fd_release(12345), 0); /* never known: nothing to do */
}

static void test_release(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct rel x;
	char b[4];

	memset(&x, 0, sizeof x);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, x.s), 0);
	assert_int_equal(cn_fd_release(x.s[0]), -1); /* not in a coroutine */
	assert_int_equal(errno, EPERM);
	assert_int_equal(cn_spawn(rt, rel_main, &x, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(x.released, 0);
	assert_int_equal(x.r, -1);
	assert_int_equal(x.e, ECANCELED);
	assert_true(x.still_open);
	/* Still a working (non-blocking) socket outside the runtime. */
	assert_int_equal(write(x.s[1], "ok", 2), 2);
	assert_int_equal(read(x.s[0], b, sizeof b), 2);
	close(x.s[0]);
	close(x.s[1]);
	cn_runtime_destroy(rt);
}

/* --- hand-over between two runtimes (the acceptor/worker pattern) -------- */

struct hand {
	cn_netpoll_mode mode;
	int s[2];        /* s[0] goes from runtime A to runtime B */
	int ctl[2];      /* the test thread tells A that B is done */
	atomic_int phase; /* 1: A released s[0]; 2: A finished */
	uint64_t polls_during;
	ssize_t r_reuse;
	int e_reuse;
	int64_t took_reuse;
	int rounds;
};

static void a_main(void *arg)
{
	struct hand *h = arg;
	cn_runtime_stats st0, st1;
	char b[64];
	int n[2];
	int64_t t0;

	/* A uses s[0] first, so it is registered in A's poller... */
	assert_int_equal(write(h->s[1], "a", 1), 1);
	assert_int_equal(cn_read(h->s[0], b, sizeof b, cn_deadline_after(2000 * MS)), 1);
	/* ...and hands it over. */
	assert_int_equal(cn_fd_release(h->s[0]), 0);
	assert_int_equal(cn_runtime_stats_get(cn_runtime_current(), &st0), 0);
	atomic_store(&h->phase, 1);
	/* While B works on s[0], A waits for one byte on ctl: nothing else. */
	assert_int_equal(cn_read(h->ctl[0], b, 1, CN_NO_DEADLINE), 1);
	assert_int_equal(cn_runtime_stats_get(cn_runtime_current(), &st1), 0);
	h->polls_during = st1.polls - st0.polls;
	/* B closed s[0]; the kernel gives its number to a new blocking
	 * socket of A's. It must neither block A nor ignore its deadline. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, n), 0);
	if (n[0] != h->s[0]) {
		assert_int_equal(dup2(n[0], h->s[0]), h->s[0]);
		close(n[0]);
	}
	t0 = cn_now();
	h->r_reuse = cn_read(h->s[0], b, sizeof b, cn_deadline_after(100 * MS));
	h->e_reuse = errno;
	h->took_reuse = cn_now() - t0;
	cn_close(h->s[0]);
	close(n[1]);
	cn_close(h->ctl[0]);
}

static void *a_thread(void *arg)
{
	struct hand *h = arg;
	cn_runtime_opts o = {.mode = h->mode};
	cn_runtime *rt = cn_runtime_create(&o);

	if (rt && cn_spawn(rt, a_main, h, NULL) == 0)
		cn_runtime_run(rt);
	if (rt)
		cn_runtime_destroy(rt);
	atomic_store(&h->phase, 2);
	return NULL;
}

static void b_main(void *arg)
{
	struct hand *h = arg;
	char out[64], in[64];

	memset(out, 'b', sizeof out);
	for (h->rounds = 0; h->rounds < 200; h->rounds++) {
		int from = h->rounds & 1, to = !from;

		if (cn_write_all(h->s[from], out, sizeof out, cn_deadline_after(5000 * MS),
		                 NULL) < 0 ||
		    cn_recv(h->s[to], in, sizeof in, MSG_WAITALL, cn_deadline_after(5000 * MS)) !=
		            (ssize_t)sizeof in)
			break;
	}
	cn_close(h->s[0]);
}

static void test_handover(void **state)
{
	struct hand h;
	pthread_t th;
	cn_runtime *b;

	memset(&h, 0, sizeof h);
	h.mode = CN_TEST_MODE(state);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, h.s), 0);
	assert_int_equal(pipe(h.ctl), 0);
	assert_int_equal(pthread_create(&th, NULL, a_thread, &h), 0);
	CN_TEST_WAIT_FOR(atomic_load(&h.phase) >= 1, 30);
	assert_int_equal(atomic_load(&h.phase), 1);
	b = cn_test_runtime(CN_NETPOLL_INLINE, 0);
	assert_int_equal(cn_spawn(b, b_main, &h, NULL), 0);
	assert_int_equal(cn_runtime_run(b), 0);
	cn_runtime_destroy(b);
	assert_int_equal(h.rounds, 200);
	assert_int_equal(write(h.ctl[1], "g", 1), 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	/* 400 edges on s[0] in B's 200 round trips; A, which released it,
	 * saw none of them: a handful of polls for ctl and its own sleep. */
	assert_true(h.polls_during < 20);
	assert_int_equal(h.r_reuse, -1);
	assert_int_equal(h.e_reuse, ETIMEDOUT);
	assert_true(h.took_reuse >= 100 * MS && h.took_reuse < 3000 * MS);
	close(h.s[1]);
	close(h.ctl[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        CN_TEST_BOTH(test_socket_reused_by_socket),
	        CN_TEST_BOTH(test_pipe_reused_by_pipe),
	        CN_TEST_BOTH(test_socket_reused_by_pipe),
	        CN_TEST_BOTH(test_pipe_reused_by_socket),
	        CN_TEST_BOTH(test_file_reused_by_socket),
	        CN_TEST_BOTH(test_release),
	        CN_TEST_BOTH(test_handover),
	};

	cn_test_watchdog(300);
	return CN_TEST_RUN(tests, NULL, NULL);
}
