/*
 * tests/bench/bench_coro_mem.c — what an idle coroutine costs in memory, and
 * how many guarded coroutines can be alive at once.
 *
 *   bench_coro_mem [--csv FILE] [--max-cap N] [--quick]
 *
 * Resident memory: N coroutines with the default stack are created and each
 * is resumed once, so it sits suspended with the top page of its stack (its
 * control block and first frames) touched. The growth of VmRSS and VmPTE in
 * /proc/self/status divided by N is the cost of one idle coroutine; page
 * tables are reported apart because VmRSS does not count them but they are
 * memory all the same.
 *
 * Most alive: coroutines are created (not resumed) until cn_coro_create
 * fails or the cap is reached, once per guard method. Each measurement runs
 * in a forked child, so one's memory is gone before the next starts.
 *
 * Linux only (reads /proc). Threads: main thread only.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coronet/coro.h"
#include "stack.h"

static FILE *csv;

/* A field of /proc/self/status in KiB ("VmRSS", "VmPTE", ...), -1 if absent. */
static long status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	size_t len = strlen(field);
	char line[256];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static long count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long n = 0;
	int c;

	if (!f)
		return -1;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *method_name(int m)
{
	return m == CN__GUARD_MADVISE ? "madvise" : "mprotect";
}

static void idle(void *arg)
{
	(void)arg;
	cn_coro_yield(NULL);
}

/* Child: n idle coroutines; prints one table row. */
static int measure_resident(long n)
{
	cn_coro **co = malloc((size_t)n * sizeof(*co));
	long rss0, pte0, vm0, maps0, rss1, pte1, vm1, maps1, i;
	double t0, t1, t2;

	if (!co)
		return 2;
	/* The array is ours, not the coroutines': touch it before the
	 * baseline. */
	memset(co, 0, (size_t)n * sizeof(*co));
	rss0 = status_kib("VmRSS");
	pte0 = status_kib("VmPTE");
	vm0 = status_kib("VmSize");
	maps0 = count_maps();
	t0 = now_s();
	for (i = 0; i < n; i++) {
		co[i] = cn_coro_create(idle, NULL, NULL);
		if (!co[i] || cn_coro_resume(co[i], NULL) != 1) {
			fprintf(stderr, "bench_coro_mem: coroutine %ld: %s\n", i, strerror(errno));
			return 3;
		}
	}
	t1 = now_s();
	rss1 = status_kib("VmRSS");
	pte1 = status_kib("VmPTE");
	vm1 = status_kib("VmSize");
	maps1 = count_maps();
	for (i = 0; i < n; i++)
		cn_coro_destroy(co[i]);
	t2 = now_s();
	free(co);

	double rss = (double)(rss1 - rss0) * 1024 / (double)n;
	double pte = (double)(pte1 - pte0) * 1024 / (double)n;
	double vm = (double)(vm1 - vm0) * 1024 / (double)n;

	printf("%-10ld %-9s %9.0f B %9.0f B %9.0f B %10.1f KiB %8ld %9.0f ns %9.0f ns\n", n,
	       method_name(cn__stack_guard_method()), rss, pte, rss + pte, vm / 1024, maps1 - maps0,
	       (t1 - t0) / (double)n * 1e9, (t2 - t1) / (double)n * 1e9);
	if (csv)
		fprintf(csv, "resident,%ld,%s,%.0f,%.0f,%.0f,%ld,%.0f,%.0f,\n", n,
		        method_name(cn__stack_guard_method()), rss, pte, vm, maps1 - maps0,
		        (t1 - t0) / (double)n * 1e9, (t2 - t1) / (double)n * 1e9);
	return 0;
}

/* Child: creates coroutines until failure or cap; prints one row. */
static int measure_max(long cap)
{
	cn_coro **co = malloc((size_t)cap * sizeof(*co));
	long n, rss0, rss1, pte1, pte0;
	int err = 0;
	double t0, t1;

	if (!co)
		return 2;
	memset(co, 0, (size_t)cap * sizeof(*co));
	rss0 = status_kib("VmRSS");
	pte0 = status_kib("VmPTE");
	t0 = now_s();
	for (n = 0; n < cap; n++) {
		co[n] = cn_coro_create(idle, NULL, NULL);
		if (!co[n]) {
			err = errno;
			break;
		}
	}
	t1 = now_s();
	rss1 = status_kib("VmRSS");
	pte1 = status_kib("VmPTE");
	printf("%-9s %10ld  %-22s %8.1f MiB %8.1f MiB %8ld %6.2f s\n",
	       method_name(cn__stack_guard_method()), n, err ? strerror(err) : "cap reached",
	       (double)(rss1 - rss0) / 1024, (double)(pte1 - pte0) / 1024, count_maps(), t1 - t0);
	if (csv)
		fprintf(csv, "max_alive,%ld,%s,%.0f,%.0f,,%ld,%.0f,,%s\n", n,
		        method_name(cn__stack_guard_method()),
		        n ? (double)(rss1 - rss0) * 1024 / (double)n : 0,
		        n ? (double)(pte1 - pte0) * 1024 / (double)n : 0, count_maps(),
		        n ? (t1 - t0) / (double)n * 1e9 : 0, err ? strerror(err) : "cap reached");
	while (n > 0)
		cn_coro_destroy(co[--n]);
	free(co);
	return 0;
}

/* Runs one measurement with guard method m in a child of its own. */
static int in_child(int m, int (*fn)(long), long arg)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (cn__stack_set_guard_method(m) != 0) {
			printf("%-9s unavailable: %s\n", method_name(m), strerror(errno));
			fflush(NULL);
			_exit(0);
		}
		int r = fn(arg);

		fflush(NULL);
		_exit(r);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench_coro_mem: measurement failed (status %#x)\n", status);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long max_cap = 2000000;
	long sizes[2] = {100000, 1000000};
	int quick = 0, fails = 0, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
			csv = fopen(argv[++i], "w");
			if (!csv) {
				perror(argv[i]);
				return 1;
			}
			/* One table for both measurements; a column that does
			 * not apply to a row is empty. */
			fprintf(csv,
			        "kind,coroutines,guard,rss_bytes_per_coro,pte_bytes_per_coro,"
			        "vmsize_bytes_per_coro,maps,create_ns,destroy_ns,stopped_by\n");
		} else if (strcmp(argv[i], "--max-cap") == 0 && i + 1 < argc) {
			max_cap = strtol(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--quick") == 0) {
			quick = 1;
		} else {
			fprintf(stderr, "usage: %s [--csv FILE] [--max-cap N] [--quick]\n",
			        argv[0]);
			return 2;
		}
	}
	if (quick) {
		sizes[1] = 200000;
		if (max_cap > 200000)
			max_cap = 200000;
	}

	printf("coronet idle-coroutine memory (default stack %zu B, guard %zu B, page %ld B)\n",
	       CN_CORO_STACK_DEFAULT, CN__STACK_GUARD, sysconf(_SC_PAGESIZE));
	printf("vm.overcommit_memory = %ld, vm.max_map_count = %ld, default guard method: %s\n\n",
	       read_long("/proc/sys/vm/overcommit_memory"), read_long("/proc/sys/vm/max_map_count"),
	       method_name(cn__stack_guard_method()));

	printf("%-10s %-9s %11s %11s %11s %14s %8s %12s %12s\n", "coroutines", "guard", "RSS/coro",
	       "PTE/coro", "RSS+PTE", "VmSize/coro", "+maps", "create+res", "destroy");
	for (i = 0; i < 2; i++)
		fails += in_child(CN__GUARD_MADVISE, measure_resident, sizes[i]) != 0;
	fails += in_child(CN__GUARD_MPROTECT, measure_resident, 30000) != 0;

	printf("\nmost guarded coroutines alive at once (cap %ld)\n", max_cap);
	printf("%-9s %10s  %-22s %12s %12s %8s %8s\n", "guard", "alive", "stopped by", "RSS growth",
	       "PTE growth", "maps", "time");
	fails += in_child(CN__GUARD_MADVISE, measure_max, max_cap) != 0;
	fails += in_child(CN__GUARD_MPROTECT, measure_max, max_cap) != 0;
	if (csv)
		fclose(csv);
	return fails ? 1 : 0;
}
