/*
 * tests/bench/bench_sync.c — what coroutines talking to each other costs:
 * channel ping-pong, spawn + join, and the coroutine mutex.
 *
 *   bench_sync [--quick] [--csv FILE]
 *
 * Prints one line per measurement, "name ns_per_op", which section_sync.sh
 * sets beside the same measurements of Go (tests/bench/go_sync, run with
 * GOMAXPROCS=1 under the same pin), and writes them as CSV.
 * 1. chan_pingpong_cap0 / _cap64: two coroutines bounce an int over two
 *    channels of that capacity; ns per message (a round trip is two).
 * 2. spawn_join: one coroutine spawns an empty task and joins it, back to
 *    back (Go: go + WaitGroup); ns per pair.
 * 3. mutex_uncontended: lock + unlock by one coroutine; ns per pair (Go:
 *    sync.Mutex, and mutex_contended_1000 the same with runtime.Gosched).
 *    The mutex is biased to the runtime (coronet/sync.h, "Mutex cost"):
 *    plain loads and stores. mutex_uncontended_shared: the same on a
 *    mutex whose bias was revoked first (a plain coroutine on the main
 *    thread trylocked it), the kind a mutex threads share pays.
 * 4. mutex_contended_1000: 1,000 coroutines each lock, add, yield while
 *    holding, unlock: every unlock hands over to the oldest waiter; ns per
 *    critical section. Beside it pthread_mutex_2threads: two threads share
 *    a pthread mutex around the same add (no yield: a thread cannot);
 *    ns per critical section of the pair.
 * 5. atomic_floor_2rmw: a CAS 0 -> 1 and a CAS 1 -> 0 on a private word,
 *    what any lock + unlock that threads may share costs at least (each is
 *    an atomic read-modify-write): mutex_uncontended_shared's floor on
 *    this CPU, and what biasing saves.
 * All on one inline-mode runtime (no netpoll thread): one core, as the Go
 * side's GOMAXPROCS=1. Each figure is the median of 5 repetitions.
 *
 * Threads: the main thread runs the runtime; measurement 4's baseline
 * starts two threads.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coronet.h"

#define REPS 5

static long n_msgs, n_spawn, n_mutex, n_contend;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v)
{
	qsort(v, REPS, sizeof(*v), cmp_d);
	return v[REPS / 2];
}

static cn_runtime *runtime_inline(void)
{
	cn_runtime_opts o = {.mode = CN_NETPOLL_INLINE};
	cn_runtime *rt = cn_runtime_create(&o);

	if (!rt) {
		perror("cn_runtime_create");
		exit(1);
	}
	return rt;
}

/* --- 1. ping-pong ---------------------------------------------------------- */

struct pp {
	cn_chan *ping, *pong;
	double ns;
};

static void pp_echo(void *arg)
{
	struct pp *x = arg;
	long v;

	while (cn_chan_recv(x->ping, &v, CN_NO_DEADLINE) == 0)
		cn_chan_send(x->pong, &v, CN_NO_DEADLINE);
}

static void pp_drive(void *arg)
{
	struct pp *x = arg;
	int64_t t0 = now_ns();

	for (long i = 0; i < n_msgs; i++) {
		long v = i;

		cn_chan_send(x->ping, &v, CN_NO_DEADLINE);
		cn_chan_recv(x->pong, &v, CN_NO_DEADLINE);
	}
	x->ns = (double)(now_ns() - t0) / (2.0 * (double)n_msgs);
	cn_chan_close(x->ping);
}

static double pingpong(size_t cap)
{
	cn_runtime *rt = runtime_inline();
	struct pp x = {cn_chan_create(sizeof(long), cap), cn_chan_create(sizeof(long), cap), 0};

	cn_spawn(rt, pp_echo, &x, NULL);
	cn_spawn(rt, pp_drive, &x, NULL);
	cn_runtime_run(rt);
	cn_chan_destroy(x.ping);
	cn_chan_destroy(x.pong);
	cn_runtime_destroy(rt);
	return x.ns;
}

/* --- 2. spawn + join ------------------------------------------------------- */

static void *empty(void *arg)
{
	return arg;
}

static void sj_drive(void *arg)
{
	double *ns = arg;
	cn_runtime *rt = cn_runtime_current();
	int64_t t0 = now_ns();

	for (long i = 0; i < n_spawn; i++)
		cn_task_join(cn_task_spawn(rt, empty, NULL, NULL), NULL, CN_NO_DEADLINE);
	*ns = (double)(now_ns() - t0) / (double)n_spawn;
}

/* --- 3. and 4. mutex ------------------------------------------------------- */

struct mx {
	cn_mutex m;
	long counter;
	double ns;
};

static void mx_uncontended(void *arg)
{
	struct mx *x = arg;
	int64_t t0 = now_ns();

	for (long i = 0; i < n_mutex; i++) {
		cn_mutex_lock(&x->m);
		x->counter++;
		cn_mutex_unlock(&x->m);
	}
	x->ns = (double)(now_ns() - t0) / (double)n_mutex;
}

static void mx_contender(void *arg)
{
	struct mx *x = arg;

	for (long i = 0; i < n_contend / 1000; i++) {
		cn_mutex_lock(&x->m);
		x->counter++;
		cn_yield_now();
		cn_mutex_unlock(&x->m);
	}
}

static void *pt_worker(void *arg)
{
	void **a = arg;
	pthread_mutex_t *m = a[0];
	long *counter = a[1];

	for (long i = 0; i < n_contend / 2; i++) {
		pthread_mutex_lock(m);
		(*counter)++;
		pthread_mutex_unlock(m);
	}
	return NULL;
}

static double pthread_pair(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	long counter = 0;
	void *a[2] = {&m, &counter};
	pthread_t t[2];
	int64_t t0 = now_ns();

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, pt_worker, a);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return (double)(now_ns() - t0) / (double)(n_contend / 2 * 2);
}

/* The floor under any mutex that threads may share: lock and unlock are
 * each one atomic read-modify-write (here a CAS on a private word, no
 * contention), and on some CPUs one costs several ns. */
static int floor_word;

static double atomic_floor(void)
{
	long counter = 0;
	int64_t t0 = now_ns();

	for (long i = 0; i < n_mutex; i++) {
		int e = 0;

		__atomic_compare_exchange_n(&floor_word, &e, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
		counter++;
		__asm__ __volatile__("" : "+r"(counter)); /* keep one add per pair */
		e = 1;
		__atomic_compare_exchange_n(&floor_word, &e, 0, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
	}
	return (double)(now_ns() - t0) / (double)n_mutex;
}

static void share_it(void *arg)
{
	if (cn_mutex_trylock(arg) == 0)
		cn_mutex_unlock(arg);
}

/* 0 uncontended, 1 contended, 2 uncontended on a shared (revoked) mutex. */
static double run_mutex(int how)
{
	cn_runtime *rt = runtime_inline();
	struct mx x = {0};
	int64_t t0;

	cn_mutex_init(&x.m);
	if (how == 2) {
		/* Outside any runtime: the first lock makes the mutex shared. */
		cn_coro *co = cn_coro_create(share_it, &x.m, NULL);

		if (!co || cn_coro_resume(co, NULL) != 0 || cn_coro_destroy(co) != 0) {
			fprintf(stderr, "bench_sync: plain coroutine failed\n");
			exit(1);
		}
	}
	if (how != 1) {
		cn_spawn(rt, mx_uncontended, &x, NULL);
		cn_runtime_run(rt);
	} else {
		for (int i = 0; i < 1000; i++)
			cn_spawn(rt, mx_contender, &x, NULL);
		t0 = now_ns();
		cn_runtime_run(rt);
		x.ns = (double)(now_ns() - t0) / (double)(n_contend / 1000 * 1000);
	}
	cn_mutex_destroy(&x.m);
	cn_runtime_destroy(rt);
	return x.ns;
}

int main(int argc, char **argv)
{
	const char *names[] = {"chan_pingpong_cap0",   "chan_pingpong_cap64",
	                       "spawn_join",           "mutex_uncontended",
	                       "mutex_contended_1000", "pthread_mutex_2threads",
	                       "atomic_floor_2rmw",    "mutex_uncontended_shared"};
	double v[8][REPS];
	int quick = 0;
	FILE *csv = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else if (!strcmp(argv[i], "--csv") && i + 1 < argc)
			csv = fopen(argv[++i], "w");
	}
	n_msgs = quick ? 200000 : 1000000;
	n_spawn = quick ? 100000 : 500000;
	n_mutex = quick ? 5000000 : 20000000;
	n_contend = quick ? 200000 : 1000000;
	for (int r = 0; r < REPS; r++) {
		cn_runtime *rt = runtime_inline();

		v[0][r] = pingpong(0);
		v[1][r] = pingpong(64);
		cn_spawn(rt, sj_drive, &v[2][r], NULL);
		cn_runtime_run(rt);
		cn_runtime_destroy(rt);
		v[3][r] = run_mutex(0);
		v[4][r] = run_mutex(1);
		v[5][r] = pthread_pair();
		v[6][r] = atomic_floor();
		v[7][r] = run_mutex(2);
	}
	if (csv)
		fprintf(csv, "name,ns_per_op\n");
	for (int i = 0; i < 8; i++) {
		double m = median(v[i]);

		printf("%s %.1f\n", names[i], m);
		if (csv)
			fprintf(csv, "%s,%.1f\n", names[i], m);
	}
	if (csv)
		fclose(csv);
	return 0;
}
