/*
 * tests/bench/bench_threads.c — the rest of the program talking to a
 * runtime: what a fulfil from another thread costs, what a blocking call on
 * the pool costs, and a cached regular-file read both ways.
 *
 *   bench_threads [--quick] [--csv FILE]
 *
 * 1. Wake latency, one way: a thread hands something over and spins until
 *    the other side has seen it (a flag it sets), N times, 200 us apart so
 *    the other side is asleep each time; p50 / p99 of the per-round time. Three ways, same loop: a coroutine awaiting a promise
 *    the thread fulfils (through the scheduler's inbox and wake, netpoll
 *    thread mode and inline mode); two threads over an eventfd (the wake
 *    floor: one write, one blocked read); two threads over a mutex and a
 *    condition variable.
 * 2. One-way throughput with the scheduler busy: 1,000 coroutines each
 *    await a promise; once all are parked a thread fulfils the 1,000, and
 *    again, round after round, so every fulfil finds its waiter and the
 *    inbox is drained in batches.
 * 3. cn_blocking() of an empty job, one coroutine, back to back: ns per
 *    round trip, against libuv's uv_queue_work() chained from its
 *    after-work callback (built with -DCN_BENCH_UV when libuv is found).
 * 4. A cached 4 KiB read of a regular file: pread(2) on the scheduler
 *    thread (what cn_read did before regular files moved to the pool)
 *    against cn_read(), which reads cached data with preadv2(RWF_NOWAIT)
 *    on the scheduler thread and only goes to the pool on a miss (the pool
 *    round trip itself is measure 3).
 *
 * Each figure is the median of 5 repetitions; ratios are taken within a
 * repetition. Linux (eventfd). Threads: as described per measurement.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "coronet.h"

#ifdef CN_BENCH_UV
#include <uv.h>
#endif

#define REPS 5
/* Between two hand-overs: longer than thread mode's longest spin (50 us),
 * so every round measures a wake of a sleeping side. */
#define GAP_NS 200000

static int quick;
static FILE *csv;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(int64_t *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof(*v), cmp64);
	return (double)v[(int)(p * (n - 1))];
}

static double median(double *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return v[n / 2];
}

/* ---- 1. wake latency ----------------------------------------------------- */

struct lat {
	int n;
	int64_t *t;
	atomic_int seen;
	cn_promise *p;
	int efd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int posted;
};

static void lat_co(void *arg)
{
	struct lat *l = arg;

	for (int i = 0; i < l->n; i++) {
		cn_promise_await(&l->p[i]);
		atomic_store_explicit(&l->seen, i + 1, memory_order_release);
	}
}

static void *lat_fulfiller(void *arg)
{
	struct lat *l = arg;

	for (int i = 0; i < l->n; i++) {
		int64_t t0;

		/* The coroutine awaits p[i] by now: it saw p[i - 1]. Give
		 * it GAP_NS to stop spinning and sleep, so the wake is a
		 * real one. */
		t0 = now_ns();
		while (now_ns() - t0 < GAP_NS)
			;
		t0 = now_ns();
		cn_promise_fulfil(&l->p[i], i, 0);
		while (atomic_load_explicit(&l->seen, memory_order_acquire) <= i)
			;
		l->t[i] = now_ns() - t0;
	}
	return NULL;
}

static void lat_coronet(int n, cn_netpoll_mode mode, double *p50, double *p99)
{
	cn_runtime_opts o = {.mode = mode};
	cn_runtime *rt = cn_runtime_create(&o);
	struct lat l;
	pthread_t th;

	memset(&l, 0, sizeof(l));
	l.n = n;
	l.t = calloc((size_t)n, sizeof(*l.t));
	l.p = calloc((size_t)n, sizeof(*l.p));
	for (int i = 0; i < n; i++)
		cn_promise_init(&l.p[i]);
	cn_spawn(rt, lat_co, &l, NULL);
	pthread_create(&th, NULL, lat_fulfiller, &l);
	cn_runtime_run(rt);
	pthread_join(th, NULL);
	cn_runtime_destroy(rt);
	*p50 = pct(l.t, n, 0.5);
	*p99 = pct(l.t, n, 0.99);
	free(l.t);
	free(l.p);
}

static void *lat_efd_reader(void *arg)
{
	struct lat *l = arg;
	uint64_t v;

	for (int i = 0; i < l->n; i++) {
		if (read(l->efd, &v, sizeof(v)) != sizeof(v))
			abort();
		atomic_store_explicit(&l->seen, i + 1, memory_order_release);
	}
	return NULL;
}

static void *lat_cv_waiter(void *arg)
{
	struct lat *l = arg;

	for (int i = 0; i < l->n; i++) {
		pthread_mutex_lock(&l->mu);
		while (l->posted <= i)
			pthread_cond_wait(&l->cv, &l->mu);
		pthread_mutex_unlock(&l->mu);
		atomic_store_explicit(&l->seen, i + 1, memory_order_release);
	}
	return NULL;
}

/* kind 0: eventfd, 1: mutex + condvar. */
static void lat_threads(int n, int kind, double *p50, double *p99)
{
	struct lat l;
	pthread_t th;
	uint64_t one = 1;

	memset(&l, 0, sizeof(l));
	l.n = n;
	l.t = calloc((size_t)n, sizeof(*l.t));
	l.efd = eventfd(0, EFD_CLOEXEC);
	pthread_mutex_init(&l.mu, NULL);
	pthread_cond_init(&l.cv, NULL);
	pthread_create(&th, NULL, kind == 0 ? lat_efd_reader : lat_cv_waiter, &l);
	for (int i = 0; i < n; i++) {
		int64_t t0 = now_ns();

		while (now_ns() - t0 < GAP_NS)
			;
		t0 = now_ns();
		if (kind == 0) {
			if (write(l.efd, &one, sizeof(one)) != sizeof(one))
				abort();
		} else {
			pthread_mutex_lock(&l.mu);
			l.posted = i + 1;
			pthread_cond_signal(&l.cv);
			pthread_mutex_unlock(&l.mu);
		}
		while (atomic_load_explicit(&l.seen, memory_order_acquire) <= i)
			;
		l.t[i] = now_ns() - t0;
	}
	pthread_join(th, NULL);
	close(l.efd);
	*p50 = pct(l.t, n, 0.5);
	*p99 = pct(l.t, n, 0.99);
	free(l.t);
}

static void bench_latency(void)
{
	int n = quick ? 1000 : 5000;
	double th50[REPS], th99[REPS], in50[REPS], in99[REPS], ef50[REPS], ef99[REPS];
	double cv50[REPS], cv99[REPS], rt[REPS], ri[REPS], rc[REPS];

	for (int r = 0; r < REPS; r++) {
		lat_coronet(n, CN_NETPOLL_THREAD, &th50[r], &th99[r]);
		lat_coronet(n, CN_NETPOLL_INLINE, &in50[r], &in99[r]);
		lat_threads(n, 0, &ef50[r], &ef99[r]);
		lat_threads(n, 1, &cv50[r], &cv99[r]);
		rt[r] = th50[r] / ef50[r];
		ri[r] = in50[r] / ef50[r];
		rc[r] = cv50[r] / ef50[r];
	}
	printf("Wake latency, one way: a thread hands over, the other side sees it (%d rounds x %d reps, medians)\n",
	       n, REPS);
	printf("  %-44s %9s %9s %9s\n", "system", "p50 us", "p99 us", "p50 vs eventfd");
	printf("  %-44s %9.2f %9.2f %8.2fx\n", "foreign fulfil -> coroutine (thread mode)",
	       median(th50, REPS) / 1e3, median(th99, REPS) / 1e3, median(rt, REPS));
	printf("  %-44s %9.2f %9.2f %8.2fx\n", "foreign fulfil -> coroutine (inline mode)",
	       median(in50, REPS) / 1e3, median(in99, REPS) / 1e3, median(ri, REPS));
	printf("  %-44s %9.2f %9.2f %8.2fx\n", "two threads, eventfd write/read (floor)",
	       median(ef50, REPS) / 1e3, median(ef99, REPS) / 1e3, 1.0);
	printf("  %-44s %9.2f %9.2f %8.2fx\n", "two threads, mutex + condvar",
	       median(cv50, REPS) / 1e3, median(cv99, REPS) / 1e3, median(rc, REPS));
	if (csv) {
		fprintf(csv, "latency,thread,p50_us,%.3f\nlatency,thread,p99_us,%.3f\n",
		        median(th50, REPS) / 1e3, median(th99, REPS) / 1e3);
		fprintf(csv, "latency,inline,p50_us,%.3f\nlatency,inline,p99_us,%.3f\n",
		        median(in50, REPS) / 1e3, median(in99, REPS) / 1e3);
		fprintf(csv, "latency,eventfd,p50_us,%.3f\nlatency,eventfd,p99_us,%.3f\n",
		        median(ef50, REPS) / 1e3, median(ef99, REPS) / 1e3);
		fprintf(csv, "latency,condvar,p50_us,%.3f\nlatency,condvar,p99_us,%.3f\n",
		        median(cv50, REPS) / 1e3, median(cv99, REPS) / 1e3);
	}
}

/* ---- 2. one-way throughput --------------------------------------------- */

#define AWAITERS 1000

/* Round r: every coroutine awaits its promise of round r; the thread waits
 * until all of them announced they await it, then fulfils the 1,000 at
 * once, so each fulfil finds its waiter parked (the inbox path) and the
 * scheduler drains them in batches. */
struct tput {
	int rounds;
	cn_promise *p; /* rounds x AWAITERS */
	atomic_int waiting;
};

static void tput_co(void *arg)
{
	struct tput *t = (struct tput *)((void **)arg)[0];
	int k = (int)(intptr_t)((void **)arg)[1];

	for (int r = 0; r < t->rounds; r++) {
		atomic_fetch_add_explicit(&t->waiting, 1, memory_order_relaxed);
		cn_promise_await(&t->p[r * AWAITERS + k]);
	}
}

static void *tput_thread(void *arg)
{
	struct tput *t = arg;

	for (int r = 0; r < t->rounds; r++) {
		while (atomic_load_explicit(&t->waiting, memory_order_relaxed) < (r + 1) * AWAITERS)
			sched_yield();
		for (int k = 0; k < AWAITERS; k++)
			cn_promise_fulfil(&t->p[r * AWAITERS + k], k, 0);
	}
	return NULL;
}

static double tput_once(int rounds, cn_netpoll_mode mode)
{
	cn_runtime_opts o = {.mode = mode};
	cn_runtime *rt = cn_runtime_create(&o);
	void *args[AWAITERS][2];
	struct tput t;
	pthread_t th;
	int64_t t0, t1;
	int n = rounds * AWAITERS;

	t.rounds = rounds;
	t.p = calloc((size_t)n, sizeof(*t.p));
	atomic_init(&t.waiting, 0);
	for (int i = 0; i < n; i++)
		cn_promise_init(&t.p[i]);
	for (int k = 0; k < AWAITERS; k++) {
		args[k][0] = &t;
		args[k][1] = (void *)(intptr_t)k;
		cn_spawn(rt, tput_co, args[k], NULL);
	}
	t0 = now_ns();
	pthread_create(&th, NULL, tput_thread, &t);
	cn_runtime_run(rt);
	t1 = now_ns();
	pthread_join(th, NULL);
	cn_runtime_destroy(rt);
	free(t.p);
	return (double)n / ((double)(t1 - t0) / 1e9);
}

static void bench_throughput(void)
{
	int rounds = quick ? 200 : 1000;
	double th[REPS], in[REPS];

	for (int r = 0; r < REPS; r++) {
		th[r] = tput_once(rounds, CN_NETPOLL_THREAD);
		in[r] = tput_once(rounds, CN_NETPOLL_INLINE);
	}
	printf("\nOne-way throughput: a thread fulfils %d rounds of %d promises, each awaited by a parked coroutine\n"
	       "(the inbox path; fulfil, deliver and resume included; medians of %d)\n",
	       rounds, AWAITERS, REPS);
	printf("  thread mode  %12.0f fulfils/s\n", median(th, REPS));
	printf("  inline mode  %12.0f fulfils/s\n", median(in, REPS));
	printf("  target >= 2,000,000 fulfils/s: %s\n",
	       median(th, REPS) >= 2e6 && median(in, REPS) >= 2e6 ? "MET" : "MISSED");
	if (csv)
		fprintf(csv,
		        "throughput,thread,fulfils_per_s,%.0f\nthroughput,inline,fulfils_per_s,%.0f\n",
		        median(th, REPS), median(in, REPS));
}

/* ---- 3. cn_blocking vs uv_queue_work ------------------------------------- */

static ssize_t empty_job(void *arg)
{
	(void)arg;
	return 0;
}

struct blk {
	int n;
	int64_t ns;
};

static void blk_co(void *arg)
{
	struct blk *b = arg;
	int64_t t0 = now_ns();

	for (int i = 0; i < b->n; i++)
		cn_blocking(empty_job, NULL);
	b->ns = now_ns() - t0;
}

static double blocking_once(int n, cn_netpoll_mode mode)
{
	cn_runtime_opts o = {.mode = mode};
	cn_runtime *rt = cn_runtime_create(&o);
	struct blk b = {n, 0};

	cn_spawn(rt, blk_co, &b, NULL);
	cn_runtime_run(rt);
	cn_runtime_destroy(rt);
	return (double)b.ns / n;
}

#ifdef CN_BENCH_UV
struct uvb {
	uv_work_t w;
	int left;
};

static void uv_empty(uv_work_t *w)
{
	(void)w;
}

static void uv_after(uv_work_t *w, int status)
{
	struct uvb *u = (struct uvb *)w;

	(void)status;
	if (--u->left > 0)
		uv_queue_work(uv_default_loop(), &u->w, uv_empty, uv_after);
}

static double uv_round(int n)
{
	struct uvb u;
	int64_t t0;

	memset(&u, 0, sizeof(u));
	u.left = n;
	t0 = now_ns();
	uv_queue_work(uv_default_loop(), &u.w, uv_empty, uv_after);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	return (double)(now_ns() - t0) / n;
}
#endif

static void bench_blocking(void)
{
	int n = quick ? 20000 : 100000;
	double th[REPS], in[REPS];
#ifdef CN_BENCH_UV
	double uv[REPS], rth[REPS], rin[REPS];
#endif

	for (int r = 0; r < REPS; r++) {
		th[r] = blocking_once(n, CN_NETPOLL_THREAD);
		in[r] = blocking_once(n, CN_NETPOLL_INLINE);
#ifdef CN_BENCH_UV
		uv[r] = uv_round(n);
		rth[r] = th[r] / uv[r];
		rin[r] = in[r] / uv[r];
#endif
	}
	printf("\nEmpty blocking job, round trip (%d back to back, medians of %d)\n", n, REPS);
#ifdef CN_BENCH_UV
	printf("  cn_blocking, thread mode   %8.0f ns  %5.2fx libuv\n", median(th, REPS),
	       median(rth, REPS));
	printf("  cn_blocking, inline mode   %8.0f ns  %5.2fx libuv\n", median(in, REPS),
	       median(rin, REPS));
	printf("  libuv uv_queue_work        %8.0f ns\n", median(uv, REPS));
	printf("  target <= 1.0x libuv: %s\n",
	       median(rth, REPS) <= 1.0 && median(rin, REPS) <= 1.0 ? "MET" : "MISSED");
	if (csv)
		fprintf(csv, "blocking,libuv,ns,%.0f\n", median(uv, REPS));
#else
	printf("  cn_blocking, thread mode   %8.0f ns\n", median(th, REPS));
	printf("  cn_blocking, inline mode   %8.0f ns\n", median(in, REPS));
	printf("  libuv: skipped (not built with libuv)\n");
#endif
	if (csv)
		fprintf(csv, "blocking,thread,ns,%.0f\nblocking,inline,ns,%.0f\n", median(th, REPS),
		        median(in, REPS));
}

/* ---- 4. a cached 4 KiB file read both ways -------------------------------- */

struct fread_b {
	int fd, n;
	int64_t direct_ns, pool_ns;
};

static void fread_co(void *arg)
{
	struct fread_b *f = arg;
	char buf[4096];
	int64_t t0 = now_ns();

	for (int i = 0; i < f->n; i++)
		if (pread(f->fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
			abort();
	f->direct_ns = now_ns() - t0;
	t0 = now_ns();
	for (int i = 0; i < f->n; i++) {
		lseek(f->fd, 0, SEEK_SET);
		if (cn_read(f->fd, buf, sizeof(buf), CN_NO_DEADLINE) != (ssize_t)sizeof(buf))
			abort();
	}
	f->pool_ns = now_ns() - t0;
}

static void bench_file(void)
{
	char path[] = "/tmp/cn_bench_file_XXXXXX", buf[4096];
	double d[REPS], p[REPS], ratio[REPS];
	int fd = mkstemp(path);

	memset(buf, 'x', sizeof(buf));
	if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		abort();
	unlink(path);
	for (int r = 0; r < REPS; r++) {
		cn_runtime_opts o = {.mode = CN_NETPOLL_INLINE};
		cn_runtime *rt = cn_runtime_create(&o);
		struct fread_b f = {fd, quick ? 20000 : 100000, 0, 0};

		cn_spawn(rt, fread_co, &f, NULL);
		cn_runtime_run(rt);
		cn_runtime_destroy(rt);
		d[r] = (double)f.direct_ns / f.n;
		p[r] = (double)(f.pool_ns) / f.n;
		ratio[r] = p[r] / d[r];
	}
	close(fd);
	printf("\nCached 4 KiB regular-file read (medians of %d)\n", REPS);
	printf("  pread on the scheduler thread         %8.0f ns\n", median(d, REPS));
	printf("  cn_read (lseek + identity check +\n"
	       "   preadv2 RWF_NOWAIT; pool on a miss)  %8.0f ns  %5.1fx\n",
	       median(p, REPS), median(ratio, REPS));
	if (csv)
		fprintf(csv, "file4k,direct,ns,%.0f\nfile4k,pool,ns,%.0f\n", median(d, REPS),
		        median(p, REPS));
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
		else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
			csv = fopen(argv[++i], "w");
	}
	if (csv)
		fprintf(csv, "measure,system,unit,value\n");
	bench_latency();
	bench_throughput();
	bench_blocking();
	bench_file();
	if (csv)
		fclose(csv);
	return 0;
}
