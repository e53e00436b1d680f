/*
 * tests/test_blocking.c — the blocking-call pool (coronet/blocking.h):
 * cn_blocking's value and errno, other coroutines running meanwhile, the
 * pool's size bound, what a stop does to queued and running jobs, name
 * resolution with a deadline, cn_dial / cn_listen_tcp, and regular files.
 * Both netpoll modes.
 *
 * Threads: the test thread runs the runtime; jobs run on its workers.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
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

static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static cn_runtime *runtime_pool(void **state, unsigned pool)
{
	cn_runtime_opts o = {.mode = CN_TEST_MODE(state), .pool_size = pool};
	cn_runtime *rt = cn_runtime_create(&o);

	assert_non_null(rt);
	return rt;
}

/* --- value, errno, and the scheduler keeps running ------------------------ */

struct basic {
	int ticking, ticks;
	ssize_t r_ok, r_err;
	int e_err;
	int main_thread_ran_fn;
	pthread_t sched_thread;
};

static ssize_t slow_double(void *arg)
{
	struct basic *b = arg;

	if (pthread_equal(pthread_self(), b->sched_thread))
		b->main_thread_ran_fn = 1;
	nap_ms(60);
	return 21 * 2;
}

static ssize_t fails(void *arg)
{
	(void)arg;
	errno = ENOSPC;
	return -1;
}

static void ticker(void *arg)
{
	struct basic *b = arg;

	while (b->ticking) {
		b->ticks++;
		cn_sleep(2 * MS);
	}
}

static void basic_co(void *arg)
{
	struct basic *b = arg;

	b->ticking = 1;
	cn_spawn(cn_runtime_current(), ticker, b, NULL);
	b->r_ok = cn_blocking(slow_double, b);
	errno = 0;
	b->r_err = cn_blocking(fails, NULL);
	b->e_err = errno;
	b->ticking = 0;
	errno = 0;
	assert_int_equal(cn_blocking(NULL, NULL), -1);
	assert_int_equal(errno, EINVAL);
}

static void test_blocking_basic(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct basic b;

	memset(&b, 0, sizeof(b));
	b.sched_thread = pthread_self();
	errno = 0;
	assert_int_equal(cn_blocking(fails, NULL), -1); /* not a coroutine */
	assert_int_equal(errno, EPERM);
	assert_int_equal(cn_spawn(rt, basic_co, &b, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(b.r_ok, 42);
	assert_int_equal(b.r_err, -1);
	assert_int_equal(b.e_err, ENOSPC);
	assert_int_equal(b.main_thread_ran_fn, 0);
	assert_true(b.ticks >= 10); /* 60 ms of 2 ms ticks, generously */
	cn_runtime_destroy(rt);
}

/* --- the pool's size bounds concurrency ----------------------------------- */

struct bound {
	atomic_int now, max, done;
};

static ssize_t occupy(void *arg)
{
	struct bound *x = arg;
	int n = atomic_fetch_add(&x->now, 1) + 1, m = atomic_load(&x->max);

	while (n > m && !atomic_compare_exchange_weak(&x->max, &m, n))
		;
	nap_ms(10);
	atomic_fetch_sub(&x->now, 1);
	return 0;
}

static void bound_co(void *arg)
{
	struct bound *x = arg;

	if (cn_blocking(occupy, x) == 0)
		atomic_fetch_add(&x->done, 1);
}

static void test_pool_bound(void **state)
{
	cn_runtime *rt = runtime_pool(state, 3);
	struct bound x;

	memset(&x, 0, sizeof(x));
	for (int i = 0; i < 30; i++)
		assert_int_equal(cn_spawn(rt, bound_co, &x, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(atomic_load(&x.done), 30);
	assert_true(atomic_load(&x.max) >= 1);
	assert_true(atomic_load(&x.max) <= 3);
	cn_runtime_destroy(rt);
}

/* --- stop: queued jobs never run, a running one is waited for ------------- */

struct stopj {
	cn_runtime *rt;
	atomic_int started, finished;
	ssize_t r_running;
	int e[4];
	ssize_t r[4];
};

static ssize_t long_job(void *arg)
{
	struct stopj *x = arg;

	atomic_fetch_add(&x->started, 1);
	nap_ms(150);
	atomic_fetch_add(&x->finished, 1);
	return 7;
}

static void running_co(void *arg)
{
	struct stopj *x = arg;

	x->r_running = cn_blocking(long_job, x);
}

static void queued_co(void *arg)
{
	struct stopj *x = (struct stopj *)((void **)arg)[0];
	int i = (int)(intptr_t)((void **)arg)[1];

	errno = 0;
	x->r[i] = cn_blocking(long_job, x);
	x->e[i] = errno;
}

static void *stop_soon(void *arg)
{
	struct stopj *x = arg;

	while (atomic_load(&x->started) == 0)
		nap_ms(1);
	nap_ms(20);
	cn_runtime_stop(x->rt);
	return NULL;
}

static void test_stop_with_jobs(void **state)
{
	struct stopj x;
	void *args[4][2];
	pthread_t th;

	memset(&x, 0, sizeof(x));
	x.rt = runtime_pool(state, 1); /* one worker: the others queue */
	assert_int_equal(cn_spawn(x.rt, running_co, &x, NULL), 0);
	for (int i = 0; i < 4; i++) {
		args[i][0] = &x;
		args[i][1] = (void *)(intptr_t)i;
		assert_int_equal(cn_spawn(x.rt, queued_co, args[i], NULL), 0);
	}
	assert_int_equal(pthread_create(&th, NULL, stop_soon, &x), 0);
	assert_int_equal(cn_runtime_run(x.rt), 0);
	pthread_join(th, NULL);
	/* The running job finished and its caller got its value... */
	assert_int_equal(x.r_running, 7);
	assert_int_equal(atomic_load(&x.started), 1);
	assert_int_equal(atomic_load(&x.finished), 1);
	/* ...the queued ones never ran. */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(x.r[i], -1);
		assert_int_equal(x.e[i], ECANCELED);
	}
	cn_runtime_destroy(x.rt);
}

/* --- name resolution ------------------------------------------------------- */

struct names {
	int rc_local, rc_bad, timeouts, quick, queued_timeouts;
	int have_addr;
	atomic_int holding, release;
};

/* Keeps the pool's only worker busy until told to let go. */
static ssize_t hold_worker(void *arg)
{
	struct names *n = arg;

	atomic_store(&n->holding, 1);
	while (!atomic_load(&n->release))
		nap_ms(1);
	return 0;
}

static void holder_co(void *arg)
{
	cn_blocking(hold_worker, arg);
}

static void names_co(void *arg)
{
	struct names *n = arg;
	struct addrinfo hints, *res = NULL;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	n->rc_local =
	        cn_getaddrinfo("127.0.0.1", "8080", &hints, &res, cn_deadline_after(5000 * MS));
	if (n->rc_local == 0) {
		n->have_addr = res && res->ai_family == AF_INET;
		freeaddrinfo(res);
	}
	res = NULL;
	n->rc_bad = cn_getaddrinfo("not an address", "1", &hints, &res, CN_NO_DEADLINE);
	/* With the only worker busy, a lookup waits in the queue: at its
	 * deadline the caller leaves and the job is withdrawn, every time. */
	cn_spawn(cn_runtime_current(), holder_co, n, NULL);
	while (!atomic_load(&n->holding))
		cn_sleep(1 * MS);
	for (int i = 0; i < 20; i++) {
		res = NULL;
		errno = 0;
		if (cn_getaddrinfo("127.0.0.1", "80", &hints, &res, cn_deadline_after(2 * MS)) ==
		            EAI_SYSTEM &&
		    errno == ETIMEDOUT && !res)
			n->queued_timeouts++;
	}
	atomic_store(&n->release, 1);
	/* A deadline already past: the caller leaves at once (ETIMEDOUT)
	 * unless the worker was quicker still, so this races a running
	 * lookup against its caller's leaving; which side wins is the
	 * schedulers' business (under Valgrind the worker can win all 50),
	 * but the result must be freed either way (ASan and Valgrind). */
	for (int i = 0; i < 50; i++) {
		int rc;

		res = NULL;
		errno = 0;
		rc = cn_getaddrinfo("127.0.0.1", "80", &hints, &res, cn_now() - 1);
		if (rc == 0) {
			n->quick++;
			freeaddrinfo(res);
		} else if (rc == EAI_SYSTEM && errno == ETIMEDOUT) {
			n->timeouts++;
		}
	}
}

static void test_getaddrinfo(void **state)
{
	cn_runtime *rt = runtime_pool(state, 1);
	struct names n;
	struct addrinfo *res = NULL;

	memset(&n, 0, sizeof(n));
	assert_int_equal(cn_getaddrinfo("x", "1", NULL, &res, CN_NO_DEADLINE), EAI_SYSTEM);
	assert_int_equal(errno, EPERM);
	assert_int_equal(cn_getaddrinfo(NULL, NULL, NULL, &res, CN_NO_DEADLINE), EAI_SYSTEM);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cn_spawn(rt, names_co, &n, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(n.rc_local, 0);
	assert_true(n.have_addr);
	assert_int_equal(n.rc_bad, EAI_NONAME);
	assert_int_equal(n.queued_timeouts, 20);
	assert_int_equal(n.timeouts + n.quick, 50);
	cn_runtime_destroy(rt); /* waits for lookups still running */
}

/* --- dial and listen by name ----------------------------------------------- */

struct dial {
	int lfd;
	char port[16];
	char got[8];
	int refused_errno, ok;
};

static void dial_server(void *arg)
{
	struct dial *d = arg;
	int fd = cn_accept(d->lfd, NULL, NULL, cn_deadline_after(5000 * MS));

	assert_true(fd >= 0);
	assert_int_equal(cn_write(fd, "hi!", 3, CN_NO_DEADLINE), 3);
	cn_close(fd);
	cn_close(d->lfd);
}

static void dial_main(void *arg)
{
	struct dial *d = arg;
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);
	int fd, closed;

	d->lfd = cn_listen_tcp("127.0.0.1", "0", 0);
	assert_true(d->lfd >= 0);
	assert_int_equal(getsockname(d->lfd, (struct sockaddr *)&a, &len), 0);
	snprintf(d->port, sizeof(d->port), "%d", ntohs(((struct sockaddr_in *)&a)->sin_port));
	cn_spawn(cn_runtime_current(), dial_server, d, NULL);
	fd = cn_dial("localhost", d->port, cn_deadline_after(5000 * MS));
	assert_true(fd >= 0);
	d->ok = cn_read(fd, d->got, 3, cn_deadline_after(5000 * MS)) == 3;
	cn_close(fd);
	/* The port is closed now: refused. */
	closed = cn_dial("127.0.0.1", d->port, cn_deadline_after(5000 * MS));
	d->refused_errno = closed < 0 ? errno : 0;
	if (closed >= 0)
		cn_close(closed);
}

static void test_dial_listen(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	struct dial d;

	memset(&d, 0, sizeof(d));
	assert_int_equal(cn_spawn(rt, dial_main, &d, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_true(d.ok);
	assert_memory_equal(d.got, "hi!", 3);
	assert_int_equal(d.refused_errno, ECONNREFUSED);
	cn_runtime_destroy(rt);
}

/* --- regular files go through the pool ------------------------------------- */

struct file {
	int fd;
	char buf[4096];
	ssize_t w, r;
	int ticks, ticking;
};

static void file_ticker(void *arg)
{
	struct file *f = arg;

	while (f->ticking) {
		f->ticks++;
		cn_yield_now();
	}
}

static void file_co(void *arg)
{
	struct file *f = arg;
	char out[4096];

	memset(out, 'z', sizeof(out));
	f->ticking = 1;
	cn_spawn(cn_runtime_current(), file_ticker, f, NULL);
	/* A fast worker can fulfil one write before the coroutine parks on
	 * it (then it never waits); a hundred of them cannot all be that
	 * fast, so the ticker must run in between. */
	for (int i = 0; i < 100; i++) {
		lseek(f->fd, 0, SEEK_SET);
		f->w = cn_write(f->fd, out, sizeof(out), CN_NO_DEADLINE);
		if (f->w != (ssize_t)sizeof(out))
			break;
	}
	lseek(f->fd, 0, SEEK_SET);
	f->r = cn_read(f->fd, f->buf, sizeof(f->buf), CN_NO_DEADLINE);
	f->ticking = 0;
	cn_close(f->fd);
}

static void test_regular_file_on_pool(void **state)
{
	cn_runtime *rt = cn_test_runtime_for(state);
	char path[] = "/tmp/cn_test_blocking_XXXXXX";
	struct file f;

	memset(&f, 0, sizeof(f));
	f.fd = mkstemp(path);
	assert_true(f.fd >= 0);
	unlink(path);
	assert_int_equal(cn_spawn(rt, file_co, &f, NULL), 0);
	assert_int_equal(cn_runtime_run(rt), 0);
	assert_int_equal(f.w, 4096);
	assert_int_equal(f.r, 4096);
	assert_int_equal(f.buf[4095], 'z');
	/* The coroutine waited for the worker while the ticker ran. */
	assert_true(f.ticks > 0);
	cn_runtime_destroy(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        CN_TEST_BOTH(test_blocking_basic), CN_TEST_BOTH(test_pool_bound),
	        CN_TEST_BOTH(test_stop_with_jobs), CN_TEST_BOTH(test_getaddrinfo),
	        CN_TEST_BOTH(test_dial_listen),    CN_TEST_BOTH(test_regular_file_on_pool),
	};

	cn_test_watchdog(300);
	return CN_TEST_RUN(tests, NULL, NULL);
}
