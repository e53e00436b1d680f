/*
 * examples/job_pool.c — a bounded worker pool: jobs through a channel,
 * results back through another, collected with one deadline; the
 * stragglers are cancelled when it passes.
 *
 * Four worker coroutines live in a group. Each receives jobs until the job
 * channel is closed and drained (EPIPE), "works" (a sleep standing in for
 * I/O: job 13 takes ten seconds) and sends the answer back. main's
 * collector takes answers until all are in or a second has passed, then
 * destroys the group: that cancels the straggler's sleep (ECANCELED), and
 * returns once every worker has returned. Nothing outlives the group.
 *
 *   job_pool [jobs]      (default 20, at most 1000)
 *
 * Prints the answers in job order and a summary; exits 0 when every
 * finished answer was right and only the slow job was cancelled.
 */
#include <coronet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define WORKERS 4
#define SLOW_JOB 13
#define MS 1000000LL

struct answer {
	int job;
	long value;
};

struct pool {
	cn_chan *jobs, *answers;
	int njobs;
	int cancelled; /* workers whose job was cut short */
	int cancelled_job;
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	int job;

	while (cn_chan_recv(p->jobs, &job, CN_NO_DEADLINE) == 0) {
		struct answer a = {job, (long)job * job};

		if (cn_sleep(job == SLOW_JOB ? 10000 * MS : (job % 4 + 1) * MS) < 0) {
			p->cancelled++; /* ECANCELED: the group is going */
			p->cancelled_job = job;
			return NULL;
		}
		if (cn_chan_send(p->answers, &a, CN_NO_DEADLINE) < 0)
			return NULL;
	}
	return NULL; /* EPIPE: no more jobs */
}

static void *feeder(void *arg)
{
	struct pool *p = arg;

	for (int i = 0; i < p->njobs; i++)
		if (cn_chan_send(p->jobs, &i, CN_NO_DEADLINE) < 0)
			break;
	cn_chan_close(p->jobs);
	return NULL;
}

static void collector(void *arg)
{
	struct pool *p = arg;
	cn_runtime *rt = cn_runtime_current();
	cn_group *g = cn_group_create();
	int64_t deadline = cn_deadline_after(1000 * MS);
	long *value = calloc((size_t)p->njobs, sizeof(*value));
	int got = 0, wrong = 0;
	struct answer a;

	if (!g || !value) {
		perror("job_pool");
		exit(1);
	}
	for (int i = 0; i < WORKERS; i++)
		cn_group_spawn(g, rt, worker, p, NULL);
	cn_group_spawn(g, rt, feeder, p, NULL);
	for (int i = 0; i < p->njobs; i++)
		value[i] = -1;
	while (got < p->njobs && cn_chan_recv(p->answers, &a, deadline) == 0) {
		value[a.job] = a.value;
		got++;
	}
	if (got < p->njobs)
		printf("deadline: %d of %d answers in; cancelling the rest\n", got, p->njobs);
	cn_group_destroy(g); /* cancels the straggler, waits for every worker */
	for (int i = 0; i < p->njobs; i++) {
		if (value[i] < 0)
			printf("job %2d: cancelled\n", i);
		else
			printf("job %2d: %ld\n", i, value[i]);
		if (value[i] >= 0 && value[i] != (long)i * i)
			wrong++;
	}
	printf("%d answered, %d cancelled (job %d), %d wrong\n", got, p->cancelled,
	       p->cancelled ? p->cancelled_job : -1, wrong);
	free(value);
	if (wrong || got != p->njobs - (p->njobs > SLOW_JOB) || p->cancelled != (p->njobs > SLOW_JOB))
		exit(1);
}

int main(int argc, char **argv)
{
	struct pool p = {0};
	cn_runtime *rt;

	p.njobs = argc > 1 ? atoi(argv[1]) : 20;
	if (p.njobs < 1 || p.njobs > 1000) {
		fprintf(stderr, "usage: job_pool [jobs: 1..1000]\n");
		return 2;
	}
	p.jobs = cn_chan_create(sizeof(int), 8);
	p.answers = cn_chan_create(sizeof(struct answer), 0);
	rt = cn_runtime_create(NULL);
	if (!p.jobs || !p.answers || !rt || cn_spawn(rt, collector, &p, NULL) < 0) {
		perror("job_pool");
		return 1;
	}
	cn_runtime_run(rt);
	cn_runtime_destroy(rt);
	cn_chan_destroy(p.jobs);
	cn_chan_destroy(p.answers);
	return 0;
}
