/*
 * examples/worker_feed.c — a worker thread feeding coroutines through
 * promises.
 *
 * The program's own worker thread (think: a database client's callback
 * thread, a compute pool) produces results; coroutines of a runtime await
 * them. Each request is a heap promise with two references, one for the
 * coroutine and one for the worker, so either side may finish first: the
 * coroutine gives up at its deadline without waiting for the worker, and
 * the worker's late fulfil lands in a promise that is still alive
 * (coronet/promise.h, "Lifetime"). The worker also spawns a coroutine of
 * its own into the running runtime, to report when it is done.
 *
 *   worker_feed [requests]     (default 20)
 *
 * Prints one line per request and a summary; exits 0 when every answer was
 * right (late ones are counted, not wrong).
 */
#include <coronet.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAXREQ 1000

struct job {
	cn_promise *p;
	int n;
};

static struct job queue[MAXREQ];
static atomic_int queued, taken;
static int nreq = 20;
static cn_runtime *rt;
static int answered, late, wrong;

/* The worker: squares numbers, slowly now and then. */
static void *worker(void *arg)
{
	(void)arg;
	while (atomic_load(&taken) < nreq) {
		int i = atomic_load(&taken);
		struct timespec pause = {0, (i % 5 == 4 ? 30 : 1) * 1000000L};

		if (i >= atomic_load(&queued)) {
			nanosleep(&(struct timespec){0, 100000}, NULL);
			continue;
		}
		nanosleep(&pause, NULL); /* "work" */
		cn_promise_fulfil(queue[i].p, (ssize_t)queue[i].n * queue[i].n, 0);
		cn_promise_unref(queue[i].p); /* the worker's reference */
		atomic_store(&taken, i + 1);
	}
	return NULL;
}

static void asker(void *arg)
{
	int n = (int)(intptr_t)arg;
	cn_promise *p = cn_promise_new();
	ssize_t r;
	int slot;

	if (!p)
		return;
	slot = atomic_load(&queued);
	queue[slot].p = cn_promise_ref(p);
	queue[slot].n = n;
	atomic_store(&queued, slot + 1);
	/* 20 ms is enough for most answers, not for the slow ones. */
	r = cn_promise_await_until(p, cn_deadline_after(20 * 1000000LL));
	if (r >= 0) {
		printf("%3d squared is %zd\n", n, r);
		answered++;
		wrong += r != (ssize_t)n * n;
	} else {
		printf("%3d: no answer within 20 ms, moving on\n", n);
		late++;
	}
	cn_promise_unref(p); /* ours: the worker may still hold its own */
}

/* Spawned by the worker thread into the running runtime. */
static void report(void *arg)
{
	(void)arg;
	printf("worker: done with %d requests\n", nreq);
}

static void *finisher(void *arg)
{
	pthread_t *w = arg;

	pthread_join(*w, NULL);
	cn_spawn(rt, report, NULL, NULL); /* from another thread: its inbox */
	return NULL;
}

static void driver(void *arg)
{
	(void)arg;
	/* One request after the other, so the output reads in order. */
	for (int i = 1; i <= nreq; i++) {
		asker((void *)(intptr_t)i);
		cn_yield_now();
	}
	/* Keep the runtime up until the worker's report coroutine ran. */
	cn_sleep(200 * 1000000LL);
}

int main(int argc, char **argv)
{
	pthread_t w, f;

	if (argc > 1)
		nreq = atoi(argv[1]);
	if (nreq < 1 || nreq > MAXREQ) {
		fprintf(stderr, "worker_feed: requests must be 1..%d\n", MAXREQ);
		return 2;
	}
	rt = cn_runtime_create(NULL);
	if (!rt) {
		perror("worker_feed: cn_runtime_create");
		return 1;
	}
	cn_spawn(rt, driver, NULL, NULL);
	pthread_create(&w, NULL, worker, NULL);
	pthread_create(&f, NULL, finisher, &w);
	cn_runtime_run(rt);
	pthread_join(f, NULL);
	cn_runtime_destroy(rt);
	printf("worker_feed: %d answered, %d late, %d wrong\n", answered, late, wrong);
	return wrong == 0 && answered + late == nreq ? 0 : 1;
}
