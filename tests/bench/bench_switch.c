/*
 * tests/bench/bench_switch.c — context-switch benchmark (issue 2): the
 * resume+yield round trip through coronet's public API and the
 * create + first resume + finish + destroy cycle, measured in the same run
 * as the baselines Boost.Context jump_fcontext (when built with
 * CN_BENCH_BOOST) and glibc swapcontext.
 *
 *   bench_switch [--quick] [--reps R] [--ms T] [--csv FILE] [--raw FILE]
 *                [--no-callgrind] [--callgrind-dir DIR] [--only KIND,...]
 *       Times every system R times (each repetition runs all systems one
 *       after the other for about T ms each), prints medians and the ratios
 *       to the baselines of the same repetition, then counts instructions
 *       per operation by running itself under valgrind --tool=callgrind.
 *   bench_switch --count KIND N
 *       Sets KIND up and runs N operations, nothing else: the callgrind
 *       mode. Instructions per operation are (I(2N) - I(N)) / N, so the
 *       cost of starting the process and of the set-up cancels out.
 *
 * Environment: VALGRIND (default "valgrind"), CALLGRIND_ARGS (extra
 * arguments, e.g. "--dump-instr=yes" to profile with callgrind_annotate).
 *
 * Threads: single-threaded; every system runs on the main thread, so pinning
 * the process (taskset) pins the whole measurement.
 */
#if defined(__APPLE__)
/* macOS hides the (deprecated) ucontext functions without it. */
#define _XOPEN_SOURCE 700
#define _DARWIN_C_SOURCE 1
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <coronet/coro.h>

extern char **environ;

static const char *argv0; /* to run ourselves under callgrind */

#ifdef CN_BENCH_BOOST
/*
 * Boost.Context ships no C header for its fcontext layer; these match the
 * extern "C" declarations in boost/context/detail/fcontext.hpp (1.61+).
 */
typedef void *fcontext_t;
typedef struct {
	fcontext_t fctx;
	void *data;
} transfer_t;
transfer_t jump_fcontext(fcontext_t to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));
#endif

/* Baseline stacks: the same virtual size as coronet's default. */
#define BASE_STACK_SIZE CN_CORO_STACK_DEFAULT

static void die(const char *what)
{
	fprintf(stderr, "bench_switch: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void *stack_alloc(size_t size)
{
	void *p = aligned_alloc(64, size);

	if (!p)
		die("aligned_alloc");
	return p;
}

/* ---- coronet: resume + yield --------------------------------------- */

static cn_coro *rt_co;
static int rt_token;

static void rt_entry(void *arg)
{
	for (;;)
		cn_coro_yield(arg);
}

static const char *rt_setup(void)
{
	rt_co = cn_coro_create(rt_entry, &rt_token, NULL);
	if (!rt_co)
		return strerror(errno);
	return NULL;
}

static void rt_run(uint64_t n)
{
	void *v;

	/* A real resumer looks at the result, so the check is part of the
	 * cost being measured. */
	for (uint64_t i = 0; i < n; i++)
		if (__builtin_expect(cn_coro_resume(rt_co, &v) != 1, 0))
			die("cn_coro_resume");
}

static void rt_teardown(void)
{
	cn_coro_destroy(rt_co);
	rt_co = NULL;
}

/* ---- coronet: create + first resume + finish + destroy ------------- */

static void cc_entry(void *arg)
{
	(void)arg;
}

static const char *cc_setup(void)
{
	/* One full cycle fills the stack cache, which is what we measure. */
	cn_coro *co = cn_coro_create(cc_entry, NULL, NULL);

	if (!co)
		return strerror(errno);
	if (cn_coro_resume(co, NULL) != 0) {
		cn_coro_destroy(co);
		return "first resume did not finish the coroutine";
	}
	cn_coro_destroy(co);
	return NULL;
}

static void cc_run(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		cn_coro *co = cn_coro_create(cc_entry, NULL, NULL);

		if (__builtin_expect(!co, 0))
			die("cn_coro_create");
		if (__builtin_expect(cn_coro_resume(co, NULL) != 0, 0))
			die("cn_coro_resume");
		cn_coro_destroy(co);
	}
}

static void cc_teardown(void)
{
}

/* ---- Boost.Context fcontext ----------------------------------------- */

#ifdef CN_BENCH_BOOST
static fcontext_t bo_ctx;
static char *bo_stack;

static void bo_entry(transfer_t t)
{
	for (;;)
		t = jump_fcontext(t.fctx, t.data);
}

static const char *bo_setup(void)
{
	bo_stack = stack_alloc(BASE_STACK_SIZE);
	bo_ctx = make_fcontext(bo_stack + BASE_STACK_SIZE, BASE_STACK_SIZE, bo_entry);
	return NULL;
}

static void bo_run(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		bo_ctx = jump_fcontext(bo_ctx, &rt_token).fctx;
}

static void bo_teardown(void)
{
	/* The context is left suspended in bo_entry; its stack is ours. */
	free(bo_stack);
	bo_stack = NULL;
}

/*
 * Boost has no create/destroy of its own at this level; the nearest thing is
 * make_fcontext on a stack we already own, one jump in and one jump back
 * out of a function that never returns (an fcontext entry must not).
 */
static char *bc_stack;

static void bc_entry(transfer_t t)
{
	jump_fcontext(t.fctx, NULL);
	abort(); /* never resumed */
}

static const char *bc_setup(void)
{
	bc_stack = stack_alloc(BASE_STACK_SIZE);
	return NULL;
}

static void bc_run(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		fcontext_t c = make_fcontext(bc_stack + BASE_STACK_SIZE, BASE_STACK_SIZE, bc_entry);
		jump_fcontext(c, NULL);
	}
}

static void bc_teardown(void)
{
	free(bc_stack);
	bc_stack = NULL;
}
#endif

/* ---- glibc swapcontext ---------------------------------------------- */

static ucontext_t uc_main, uc_co;
static char *uc_stack;

static void uc_entry(void)
{
	for (;;)
		swapcontext(&uc_co, &uc_main);
}

static const char *uc_setup(void)
{
	uc_stack = stack_alloc(BASE_STACK_SIZE);
	if (getcontext(&uc_co) != 0)
		return strerror(errno);
	uc_co.uc_stack.ss_sp = uc_stack;
	uc_co.uc_stack.ss_size = BASE_STACK_SIZE;
	uc_co.uc_link = &uc_main;
	makecontext(&uc_co, uc_entry, 0);
	return NULL;
}

/* Two swapcontext calls per round trip, each with a sigprocmask system
 * call: that is what the baseline is there to show. */
static void uc_run(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (__builtin_expect(swapcontext(&uc_main, &uc_co) != 0, 0))
			die("swapcontext");
}

static void uc_teardown(void)
{
	free(uc_stack);
	uc_stack = NULL;
}

/* ---- the table of systems ------------------------------------------ */

enum { T_ROUNDTRIP, T_CREATE, T_FPFLAGS, T_COUNT };

static const char *const test_name[T_COUNT] = {"roundtrip", "create", "roundtrip-fpflags"};
static const char *const test_title[T_COUNT] = {
        "Round trip: resume + yield (coronet public API) vs baselines",
        "Create + first resume + finish + destroy (coronet: from the stack cache)",
        "Round trip while the resumer's MXCSR exception flags differ from the "
        "coroutine's\n"
        "  (any inexact floating-point result sets them; a switch that restores "
        "them\n"
        "  loads a changed MXCSR each time, which this CPU may serialise)",
};

enum { R_NONE = -1 };
enum { B_BOOST, B_UC, B_COUNT };

struct kind {
	const char *name;  /* for --count and the CSV */
	const char *label; /* for the table */
	int test;
	int role;      /* which baseline slot it fills, or R_NONE */
	uint64_t cg_n; /* callgrind N (the 2N run follows); 0: not counted */
	const char *(*setup)(void);
	void (*run)(uint64_t n);
	void (*teardown)(void);
	const char *skipped; /* why, or NULL when it runs */
	int fpdirty;         /* run with an MXCSR exception flag set */
	const char *shares;  /* runs on this kind's set-up (none of its own) */
};

#ifdef CN_BENCH_BOOST
#define BOOST(setup_, run_, teardown_) .setup = setup_, .run = run_, .teardown = teardown_
#else
#define BOOST(setup_, run_, teardown_) .skipped = "skipped: libboost-context-dev not installed"
#endif

static struct kind kinds[] = {
        {.name = "coronet",
         .label = "coronet resume/yield",
         .test = T_ROUNDTRIP,
         .role = R_NONE,
         .cg_n = 200000,
         .setup = rt_setup,
         .run = rt_run,
         .teardown = rt_teardown},
        {.name = "boost",
         .label = "boost jump_fcontext",
         .test = T_ROUNDTRIP,
         .role = B_BOOST,
         .cg_n = 200000,
         BOOST(bo_setup, bo_run, bo_teardown)},
        {.name = "swapcontext",
         .label = "glibc swapcontext x2",
         .test = T_ROUNDTRIP,
         .role = B_UC,
         .cg_n = 20000,
         .setup = uc_setup,
         .run = uc_run,
         .teardown = uc_teardown},
        {.name = "coronet-create",
         .label = "coronet create..destroy",
         .test = T_CREATE,
         .role = R_NONE,
         .cg_n = 50000,
         .setup = cc_setup,
         .run = cc_run,
         .teardown = cc_teardown},
        {.name = "boost-create",
         .label = "boost make+jump (ref.)",
         .test = T_CREATE,
         .role = B_BOOST,
         .cg_n = 100000,
         BOOST(bc_setup, bc_run, bc_teardown)},
        {.name = "coronet-fpflags",
         .label = "coronet resume/yield",
         .test = T_FPFLAGS,
         .role = R_NONE,
         .run = rt_run,
         .fpdirty = 1,
         .shares = "coronet"},
        {.name = "boost-fpflags",
         .label = "boost jump_fcontext",
         .test = T_FPFLAGS,
         .role = B_BOOST,
         .fpdirty = 1,
         .shares = "boost",
         BOOST(NULL, bo_run, NULL)},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static struct kind *kind_by_name(const char *name)
{
	for (size_t i = 0; i < NKINDS; i++)
		if (strcmp(kinds[i].name, name) == 0)
			return &kinds[i];
	return NULL;
}

/* Integer arithmetic: a floating-point operation here could set the MXCSR
 * exception flags that the timed runs control (see fp_flags_set). */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * A switch that saves and restores the whole MXCSR (Boost does) carries
 * each side's sticky exception flags across. When the two sides' flags
 * differ, every switch loads a changed MXCSR, which some CPUs serialise
 * (about 70 ns per switch on this project's Xeon). The harness itself
 * computes with doubles, so every timed run starts from clear flags, and the
 * fpflags test sets one on purpose, as any program doing floating point
 * would.
 */
#if defined(__x86_64__)
#include <xmmintrin.h>
static void fp_flags_clear(void)
{
	_mm_setcsr(_mm_getcsr() & ~0x3fu);
}

static void fp_flags_set(void)
{
	_mm_setcsr(_mm_getcsr() | 0x20u); /* PE: an inexact result */
}
#else
static void fp_flags_clear(void)
{
}

static void fp_flags_set(void)
{
}
#endif

static void run_kind(struct kind *k, uint64_t n)
{
	fp_flags_clear();
	if (k->fpdirty)
		fp_flags_set();
	k->run(n);
	fp_flags_clear();
}

static double time_run(struct kind *k, uint64_t n)
{
	uint64_t t0, t1;

	fp_flags_clear();
	if (k->fpdirty)
		fp_flags_set();
	t0 = now_ns();
	k->run(n);
	t1 = now_ns();
	fp_flags_clear();
	return (double)(t1 - t0);
}

/* Sets k up, or the kind whose set-up it shares; NULL or why it cannot. */
static const char *setup_kind(struct kind *k)
{
	struct kind *owner = k->shares ? kind_by_name(k->shares) : k;

	if (owner != k && owner->skipped)
		return owner->skipped;
	fp_flags_clear();
	return owner->setup ? owner->setup() : NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
	double *s = malloc(sizeof(*s) * (size_t)n);
	double m;

	if (!s)
		die("malloc");
	memcpy(s, v, sizeof(*s) * (size_t)n);
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

static double minimum(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

/* ---- callgrind ------------------------------------------------------ */

static const char *valgrind_path(void)
{
	static char found[4096];
	const char *v = getenv("VALGRIND");
	const char *path = getenv("PATH");

	if (!v || !*v)
		v = "valgrind";
	if (strchr(v, '/'))
		return access(v, X_OK) == 0 ? v : NULL;
	while (path && *path) {
		size_t len = strcspn(path, ":");

		snprintf(found, sizeof(found), "%.*s/%s", (int)len, path, v);
		if (len && access(found, X_OK) == 0)
			return found;
		path += len + (path[len] == ':');
	}
	return NULL;
}

/* The total Ir of one callgrind run of "--count kind n", or -1. */
static double callgrind_total(const char *vg, const char *dir, const char *kind, uint64_t n)
{
	char out[4096], self[4096], count[32], outarg[4200], line[512];
	char *argv[64];
	int argc = 0, status;
	char *extra = NULL;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	ssize_t len;
	double total = -1;
	FILE *f;

	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		snprintf(self, sizeof(self), "%s", argv0);
	else
		self[len] = '\0';
	snprintf(out, sizeof(out), "%s/%s-%llu.callgrind", dir, kind, (unsigned long long)n);
	snprintf(outarg, sizeof(outarg), "--callgrind-out-file=%s", out);
	snprintf(count, sizeof(count), "%llu", (unsigned long long)n);

	argv[argc++] = (char *)vg;
	argv[argc++] = "--tool=callgrind";
	argv[argc++] = outarg;
	if (getenv("CALLGRIND_ARGS")) {
		extra = strdup(getenv("CALLGRIND_ARGS"));
		for (char *tok = strtok(extra, " \t"); tok && argc < 56; tok = strtok(NULL, " \t"))
			argv[argc++] = tok;
	}
	argv[argc++] = self;
	argv[argc++] = "--count";
	argv[argc++] = (char *)kind;
	argv[argc++] = count;
	argv[argc] = NULL;

	/* Valgrind's own chatter would bury the tables. */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawn(&pid, vg, &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		free(extra);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	free(extra);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	f = fopen(out, "r");
	if (!f)
		return -1;
	/* "totals:" is the sum over the run; older files only say "summary:". */
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "totals:", 7) == 0)
			total = strtod(line + 7, NULL);
		else if (strncmp(line, "summary:", 8) == 0 && total < 0)
			total = strtod(line + 8, NULL);
	}
	fclose(f);
	return total;
}

/* ---- main ----------------------------------------------------------- */

static int count_mode(const char *name, const char *nstr)
{
	struct kind *k = kind_by_name(name);
	const char *err;

	if (!k) {
		fprintf(stderr, "bench_switch: unknown kind '%s'\n", name);
		return 2;
	}
	if (k->skipped) {
		fprintf(stderr, "bench_switch: %s: %s\n", name, k->skipped);
		return 3;
	}
	err = setup_kind(k);
	if (err) {
		fprintf(stderr, "bench_switch: %s: set-up failed: %s\n", name, err);
		return 3;
	}
	run_kind(k, strtoull(nstr, NULL, 10));
	return 0;
}

#ifndef __linux__
static void describe_affinity(char *buf, size_t size)
{
	snprintf(buf, size, "not pinned (no CPU affinity on this system)");
}
#else
static void describe_affinity(char *buf, size_t size)
{
	cpu_set_t set;
	int n = 0, first = -1;
	long online = sysconf(_SC_NPROCESSORS_ONLN);

	if (sched_getaffinity(0, sizeof(set), &set) != 0) {
		snprintf(buf, size, "CPU affinity unknown");
		return;
	}
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set)) {
			if (first < 0)
				first = c;
			n++;
		}
	if (n == 1)
		snprintf(buf, size, "pinned to CPU %d of %ld", first, online);
	else
		snprintf(buf, size, "NOT pinned: may run on %d of %ld CPUs", n, online);
}
#endif

/* The issue-2 targets, each MET / MISSED / n/a, from the figures above. */
static void print_target(const char *what, double v, double limit, const char *unit)
{
	if (isnan(v) || v < 0)
		printf("  %-46s n/a\n", what);
	else
		printf("  %-46s %7.2f%-3s %s (target <= %g%s)\n", what, v, unit,
		       v <= limit ? "MET   " : "MISSED", limit, unit);
}

static void print_targets(double ratio[][B_COUNT], const double *instr, const double *ns_med)
{
	struct kind *co = kind_by_name("coronet");
	struct kind *bo = kind_by_name("boost");
	struct kind *cc = kind_by_name("coronet-create");
	size_t ico = (size_t)(co - kinds), ibo = (size_t)(bo - kinds);
	size_t icc = (size_t)(cc - kinds);
	double rns = NAN, rin = NAN, cns = NAN;

	if (!co->skipped && !bo->skipped) {
		rns = ratio[ico][B_BOOST];
		if (instr[ico] > 0 && instr[ibo] > 0)
			rin = instr[ico] / instr[ibo];
	}
	if (!cc->skipped)
		cns = ns_med[icc];
	printf("\nTargets (issue 2)\n");
	print_target("round trip, ns, coronet / boost", rns, 1.0, "x");
	print_target("round trip, instructions, coronet / boost", rin, 0.9, "x");
	print_target("create+resume+finish+destroy, ns", cns, 50, " ns");
}

/* Is name one of the comma-separated names in list? */
static int in_list(const char *list, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");

		if (n == len && strncmp(p, name, len) == 0)
			return 1;
		p += n + (p[n] == ',');
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_switch [--quick] [--reps R] [--ms T] [--csv FILE]\n"
	                "                    [--raw FILE] [--no-callgrind] "
	                "[--callgrind-dir DIR]\n"
	                "                    [--only KIND,KIND...]\n"
	                "       bench_switch --count KIND N\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int reps = 15, quick = 0, callgrind = 1;
	double ms = 60;
	const char *csv_path = NULL, *raw_path = NULL;
	const char *cg_dir = "bench-out/callgrind";
	const char *only = NULL;
	char affinity[128];
	uint64_t iters[NKINDS] = {0};
	double *ns[NKINDS];
	double ns_med[NKINDS], ns_min[NKINDS], ratio[NKINDS][B_COUNT];
	double instr[NKINDS];
	const char *instr_note[NKINDS];
	int base_of[T_COUNT][B_COUNT];
	const char *vg = NULL;
	FILE *raw = NULL, *csv = NULL;

	argv0 = argv[0];
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--count") == 0 && i + 2 < argc)
			return count_mode(argv[i + 1], argv[i + 2]);
		else if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
		else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc)
			ms = atof(argv[++i]);
		else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
			csv_path = argv[++i];
		else if (strcmp(argv[i], "--raw") == 0 && i + 1 < argc)
			raw_path = argv[++i];
		else if (strcmp(argv[i], "--no-callgrind") == 0)
			callgrind = 0;
		else if (strcmp(argv[i], "--callgrind-dir") == 0 && i + 1 < argc)
			cg_dir = argv[++i];
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else
			usage();
	}
	if (quick) {
		reps = reps > 5 ? 5 : reps;
		ms = ms > 30 ? 30 : ms;
	}
	if (reps < 5) {
		fprintf(stderr, "bench_switch: at least 5 repetitions\n");
		return 2;
	}

	for (int t = 0; t < T_COUNT; t++)
		for (int b = 0; b < B_COUNT; b++)
			base_of[t][b] = -1;
	for (size_t k = 0; k < NKINDS; k++) {
		if (only && !in_list(only, kinds[k].name))
			kinds[k].skipped = "skipped: not in --only";
		ns[k] = calloc((size_t)reps, sizeof(double));
		if (!ns[k])
			die("calloc");
		instr[k] = -1;
		instr_note[k] = NULL;
		if (kinds[k].role != R_NONE)
			base_of[kinds[k].test][kinds[k].role] = (int)k;
	}

	/* Set every system up once, then size each one's batch so a
	 * repetition takes about ms milliseconds (timer cost disappears). */
	for (size_t k = 0; k < NKINDS; k++) {
		struct kind *kd = &kinds[k];
		const char *err;
		uint64_t n = 1000;
		double t;

		if (kd->skipped)
			continue;
		/* Kinds that share a set-up come after their owner. */
		if (kd->shares && kind_by_name(kd->shares)->skipped) {
			kd->skipped = kind_by_name(kd->shares)->skipped;
			continue;
		}
		err = kd->shares ? NULL : setup_kind(kd);
		if (err) {
			static char why[NKINDS][160];

			snprintf(why[k], sizeof(why[k]), "skipped: set-up failed: %s", err);
			kd->skipped = why[k];
			continue;
		}
		while ((t = time_run(kd, n)) < 5e6 && n < (1ull << 40))
			n *= 2;
		/* The fastest of three: a preemption during calibration would
		 * otherwise shrink every repetition of this system. */
		for (int i = 0; i < 2; i++) {
			double t2 = time_run(kd, n);

			if (t2 < t)
				t = t2;
		}
		iters[k] = (uint64_t)((double)n * ms * 1e6 / t);
		if (iters[k] < 1000)
			iters[k] = 1000;
	}

	if (raw_path) {
		raw = fopen(raw_path, "w");
		if (!raw)
			die(raw_path);
		fprintf(raw, "rep,system,iterations,ns_total,ns_per_op\n");
	}
	/* Every repetition runs each system once, in a rotated order so no
	 * system always follows the same neighbour. */
	for (int r = 0; r < reps; r++) {
		for (size_t j = 0; j < NKINDS; j++) {
			size_t k = (j + (size_t)r) % NKINDS;
			double t;

			if (kinds[k].skipped)
				continue;
			t = time_run(&kinds[k], iters[k]);
			ns[k][r] = t / (double)iters[k];
			if (raw)
				fprintf(raw, "%d,%s,%llu,%.0f,%.3f\n", r, kinds[k].name,
				        (unsigned long long)iters[k], t, ns[k][r]);
		}
	}
	if (raw)
		fclose(raw);
	for (size_t k = 0; k < NKINDS; k++) {
		if (!kinds[k].skipped && !kinds[k].shares)
			kinds[k].teardown();
	}

	/* Ratios are taken inside each repetition, then their median. */
	for (size_t k = 0; k < NKINDS; k++) {
		if (kinds[k].skipped)
			continue;
		ns_med[k] = median(ns[k], reps);
		ns_min[k] = minimum(ns[k], reps);
		for (int b = 0; b < B_COUNT; b++) {
			int bk = base_of[kinds[k].test][b];
			double rr[256];
			int n = reps < 256 ? reps : 256;

			ratio[k][b] = NAN;
			if (bk < 0 || kinds[bk].skipped)
				continue;
			for (int r = 0; r < n; r++)
				rr[r] = ns[k][r] / ns[bk][r];
			ratio[k][b] = median(rr, n);
		}
	}

	if (callgrind) {
		vg = valgrind_path();
		if (vg && mkdir(cg_dir, 0777) != 0 && errno != EEXIST) {
			perror(cg_dir);
			vg = NULL;
		}
	}
	for (size_t k = 0; vg && k < NKINDS; k++) {
		uint64_t n = kinds[k].cg_n;
		double i1, i2;

		if (kinds[k].skipped || n == 0)
			continue;
		if (quick)
			n /= 2;
		i1 = callgrind_total(vg, cg_dir, kinds[k].name, n);
		i2 = i1 < 0 ? -1 : callgrind_total(vg, cg_dir, kinds[k].name, 2 * n);
		if (i1 < 0 || i2 < 0)
			instr_note[k] = "callgrind run failed";
		else
			instr[k] = (i2 - i1) / (double)n;
	}

	describe_affinity(affinity, sizeof(affinity));
	if (csv_path) {
		csv = fopen(csv_path, "w");
		if (!csv)
			die(csv_path);
		fprintf(csv, "test,system,ns_median,ns_min,reps,iterations,"
		             "ratio_vs_boost,ratio_vs_swapcontext,instr_per_op,"
		             "instr_ratio_vs_boost,note\n");
	}
	for (int t = 0; t < T_COUNT; t++) {
		int bb = base_of[t][B_BOOST];
		int has_boost = bb >= 0 && !kinds[bb].skipped;
		int bu = base_of[t][B_UC];
		int has_uc = bu >= 0 && !kinds[bu].skipped;

		printf("\n%s\n", test_title[t]);
		printf("  %s; %d repetitions of ~%.0f ms per system; medians; "
		       "ratios taken within each repetition\n",
		       affinity, reps, ms);
		printf("  %-26s %9s %9s %9s %9s %10s %9s\n", "system", "ns/op", "min ns",
		       "vs boost", t == T_ROUNDTRIP ? "vs swapc" : "", "instr/op", "vs boost");
		for (size_t k = 0; k < NKINDS; k++) {
			struct kind *kd = &kinds[k];
			char rb[16] = "-", ru[16] = "", in[16] = "-", ib[16] = "-";

			if (kd->test != t)
				continue;
			if (kd->skipped) {
				printf("  %-26s %s\n", kd->label, kd->skipped);
				if (csv)
					fprintf(csv, "%s,%s,,,,,,,,,\"%s\"\n", test_name[t],
					        kd->name, kd->skipped);
				continue;
			}
			if (has_boost && !isnan(ratio[k][B_BOOST]))
				snprintf(rb, sizeof(rb), "%.2fx", ratio[k][B_BOOST]);
			if (t == T_ROUNDTRIP) {
				strcpy(ru, "-");
				if (has_uc && !isnan(ratio[k][B_UC]))
					snprintf(ru, sizeof(ru), "%.3fx", ratio[k][B_UC]);
			}
			if (instr[k] >= 0)
				snprintf(in, sizeof(in), "%.1f", instr[k]);
			if (instr[k] >= 0 && has_boost && instr[bb] > 0)
				snprintf(ib, sizeof(ib), "%.2fx", instr[k] / instr[bb]);
			printf("  %-26s %9.2f %9.2f %9s %9s %10s %9s\n", kd->label, ns_med[k],
			       ns_min[k], rb, ru, in, ib);
			if (csv) {
				fprintf(csv, "%s,%s,%.3f,%.3f,%d,%llu,", test_name[t], kd->name,
				        ns_med[k], ns_min[k], reps, (unsigned long long)iters[k]);
				if (has_boost)
					fprintf(csv, "%.4f", ratio[k][B_BOOST]);
				fputc(',', csv);
				if (has_uc && t == T_ROUNDTRIP)
					fprintf(csv, "%.4f", ratio[k][B_UC]);
				fputc(',', csv);
				if (instr[k] >= 0)
					fprintf(csv, "%.2f", instr[k]);
				fputc(',', csv);
				if (instr[k] >= 0 && has_boost && instr[bb] > 0)
					fprintf(csv, "%.4f", instr[k] / instr[bb]);
				fprintf(csv, ",\"%s\"\n", instr_note[k] ? instr_note[k] : "");
			}
		}
	}
	print_targets(ratio, instr, ns_med);
	if (!callgrind)
		printf("\n  instructions: skipped (--no-callgrind)\n");
	else if (!vg)
		printf("\n  instructions: skipped: valgrind not installed\n");
	else
		printf("\n  instructions: valgrind --tool=callgrind, "
		       "(I(2N) - I(N)) / N, user space only; files in %s/\n",
		       cg_dir);
	if (csv)
		fclose(csv);
	for (size_t k = 0; k < NKINDS; k++)
		free(ns[k]);
	return 0;
}
