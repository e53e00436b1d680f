/*
 * tests/test_stack.c — guarded stacks, the stack cache and the overflow
 * reporter (src/stack.c, src/overflow.c).
 *
 * Faults are provoked in forked children; the parent checks how they died
 * and what they wrote on stderr. They run under Valgrind too (which logs
 * each child's deliberate death on its own descriptor). main() installs a handler of the
 * "program" before coronet's reporter, so the chaining to a previous handler
 * is exercised by every fault test.
 *
 * Threads: the main thread, except test_threads_alloc_free (workers that
 * free each other's stacks) and the overflow-thread child.
 *
 * CORONET_GUARD=mprotect ./test_stack runs everything with mprotect guards
 * (the 100,000-coroutine test then stops at the map count, as it must).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "coronet/coro.h"
#include "coro_internal.h"
#include "stack.h"
#include "helpers/cn_test.h"

#ifdef CN__VALGRIND
#include <valgrind/valgrind.h>
#else
#define VALGRIND_DISABLE_ERROR_REPORTING
#define VALGRIND_ENABLE_ERROR_REPORTING
#endif

static size_t page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t round_page(size_t n)
{
	return (n + page() - 1) & ~(page() - 1);
}

/* Lines in /proc/self/maps: the number of kernel mappings. */
static long count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long n = 0;
	int c;

	if (!f)
		return -1;
	while ((c = getc(f)) != EOF)
		if (c == '\n')
			n++;
	fclose(f);
	return n;
}

static int mapped(const void *addr)
{
	unsigned char vec;
	void *p = (void *)((uintptr_t)addr & ~(uintptr_t)(page() - 1));

	return mincore(p, page(), &vec) == 0;
}

/* Under a sanitizer its own SIGSEGV handler (which ours chains to) reports
 * the fault and exits with an error status instead of dying of the signal.
 * (CN__ASAN / CN__TSAN: src/base.h, through helpers/cn_test.h.) */
#if defined(CN__ASAN) || defined(CN__TSAN)
#define SANITIZER 1
#endif
#ifdef CN__ASAN
#define ASAN 1
#include <sanitizer/asan_interface.h>
#endif
#ifdef CN__TSAN
#define TSAN 1
#endif

static void assert_died_of_fault(int status)
{
#ifdef SANITIZER
	if (WIFEXITED(status)) {
		assert_int_not_equal(WEXITSTATUS(status), 0);
		return;
	}
#endif
	assert_true(WIFSIGNALED(status));
	assert_true(WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS);
}

static int child_main(int argc, char **argv);

/*
 * The program's own fault handler, installed in main() before coronet's
 * reporter, so the reporter chains to it as it would in a real program that
 * had a handler first. While want_fault is set it jumps back to jump_back;
 * otherwise it acts as the default action would: the default disposition is
 * put back and the faulting instruction runs again and kills the process.
 */
static sigjmp_buf jump_back;
static volatile sig_atomic_t want_fault, user_faults;

static void user_fault(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	if (want_fault) {
		user_faults++;
		siglongjmp(jump_back, 1);
	}
	signal(sig, SIG_DFL);
}

/* The SIGSEGV/SIGBUS dispositions of a program using coronet (coronet's
 * reporter chaining to user_fault), saved before cmocka, which installs its
 * own handlers while a test runs. */
static struct sigaction program_segv, program_bus;

static void program_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = user_fault;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	if (cn__coro_arm() != 0)
		abort();
	sigaction(SIGSEGV, NULL, &program_segv);
	sigaction(SIGBUS, NULL, &program_bus);
}

/*
 * Runs child_main(args) in a forked child with the program's dispositions
 * back in place (not cmocka's) and returns its wait status; its stderr goes
 * to err (NUL-terminated) when err is not NULL. Fork only, no exec, so it
 * works under qemu-user too.
 */
static int run_child(const char *const *args, char *err, size_t errlen)
{
	char *argv[8];
	int fds[2], status, i;
	size_t got = 0;
	ssize_t r;
	pid_t pid;

	for (i = 0; args[i] && i < 7; i++)
		argv[i] = (char *)args[i];
	argv[i] = NULL;
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		sigaction(SIGSEGV, &program_segv, NULL);
		sigaction(SIGBUS, &program_bus, NULL);
		_exit(child_main(i, argv));
	}
	close(fds[1]);
	/* Drain it all even when nobody wants it: a closed pipe would kill a
	 * child that reports its fault (a sanitizer does) with SIGPIPE. */
	for (;;) {
		char scratch[512];

		if (err && got + 1 < errlen)
			r = read(fds[0], err + got, errlen - 1 - got);
		else
			r = read(fds[0], scratch, sizeof(scratch));
		if (r <= 0)
			break;
		if (err && got + 1 < errlen)
			got += (size_t)r;
	}
	close(fds[0]);
	if (err)
		err[got] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void recurse_forever(void *arg);

/* Through a volatile pointer, so the compiler neither warns about nor
 * removes the write. */
static volatile int *volatile bad_address = (volatile int *)(uintptr_t)16;

/* ---- allocation ---------------------------------------------------------- */

static void test_alloc_sizes(void **state)
{
	static const size_t sizes[] = {
	        CN_CORO_STACK_MIN,     CN_CORO_STACK_MIN + 1, 64 * 1024 - 1,
	        CN_CORO_STACK_DEFAULT, 1024 * 1024,           8 * 1024 * 1024,
	};
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	cn__stack st[N][3];
	size_t i, j, k, l;

	(void)state;
	for (i = 0; i < N; i++) {
		for (j = 0; j < 3; j++) {
			cn__stack *s = &st[i][j];

			assert_int_equal(cn__stack_alloc(sizes[i], 0, s), 0);
			assert_true((size_t)(s->hi - s->lo) == round_page(sizes[i]));
			assert_int_equal((uintptr_t)s->lo % page(), 0);
			assert_int_equal((uintptr_t)s->hi % 16, 0);
			assert_true(s->guard < s->lo);
			assert_true((size_t)(s->lo - s->guard) >= page());
			assert_int_equal((size_t)(s->lo - s->guard), round_page(CN__STACK_GUARD));
			assert_non_null(s->slab);
			/* The whole usable range is writable. */
			if (sizes[i] <= CN_CORO_STACK_DEFAULT)
				memset(s->lo, 0xa5, (size_t)(s->hi - s->lo));
			s->lo[0] = 1;
			s->hi[-1] = 2;
		}
	}
	/* No two stacks (guards included) overlap. */
	for (i = 0; i < N; i++)
		for (j = 0; j < 3; j++)
			for (k = 0; k < N; k++)
				for (l = 0; l < 3; l++) {
					cn__stack *a = &st[i][j], *b = &st[k][l];

					if (a == b)
						continue;
					assert_true(a->hi <= b->guard || b->hi <= a->guard);
				}
	for (i = 0; i < N; i++)
		for (j = 0; j < 3; j++) {
			cn__stack_free(&st[i][j]);
			assert_null(st[i][j].lo);
		}
	cn__stack_cache_flush();
	assert_int_equal(cn__stack_cached(), 0);
}

static void test_einval(void **state)
{
	static const size_t bad[] = {
	        0, 1, CN_CORO_STACK_MIN - 1, CN_CORO_STACK_MAX + 1, (size_t)-1,
	};
	cn_coro_opts opts = {0};
	cn__stack st;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_int_equal(cn__stack_alloc(bad[i], 0, &st), -1);
		assert_int_equal(errno, EINVAL);
		if (bad[i] == 0)
			continue; /* 0 means "default" to cn_coro_create */
		opts.stack_size = bad[i];
		errno = 0;
		assert_null(cn_coro_create(recurse_forever, NULL, &opts));
		assert_int_equal(errno, EINVAL);
	}
	errno = 0;
	assert_int_equal(cn__stack_alloc(CN_CORO_STACK_DEFAULT, 0, NULL), -1);
	assert_int_equal(errno, EINVAL);
	cn__stack_free(NULL); /* harmless */
	/* A guard above the limit. */
	errno = 0;
	assert_int_equal(cn__stack_alloc(CN_CORO_STACK_MIN, CN_CORO_GUARD_MAX + 1, &st), -1);
	assert_int_equal(errno, EINVAL);
	opts.stack_size = 0;
	opts.guard_size = CN_CORO_GUARD_MAX + 1;
	errno = 0;
	assert_null(cn_coro_create(recurse_forever, NULL, &opts));
	assert_int_equal(errno, EINVAL);
}

/* The guard size a caller asks for is the guard it gets (whole pages); that
 * a guard faults is test_guard_*'s. */
static void test_guard_size(void **state)
{
	static const size_t guards[] = {1, 4096, 100 * 1024, 1024 * 1024};
	cn__stack st;

	(void)state;
	for (size_t i = 0; i < sizeof(guards) / sizeof(guards[0]); i++) {
		assert_int_equal(cn__stack_alloc(CN_CORO_STACK_MIN, guards[i], &st), 0);
		assert_int_equal((size_t)(st.lo - st.guard), round_page(guards[i]));
		st.lo[0] = 1;
		cn__stack_free(&st);
	}
}

/* ---- guards -------------------------------------------------------------- */

/* Child: allocates a stack guarded by method m and writes at where:
 * "below" (just below lo), "guard" (lowest guard byte) or "lo". */
static int guard_child(int m, const char *where)
{
	cn__stack st;
	volatile char *p;

	if (cn__stack_set_guard_method(m) != 0)
		return 3;
	if (cn__stack_alloc(CN_CORO_STACK_MIN, 0, &st) != 0)
		return 4;
	p = strcmp(where, "below") == 0   ? st.lo - 1
	    : strcmp(where, "guard") == 0 ? st.guard
	                                  : st.lo;
	*p = 1;
	return 0;
}

static void check_guard(int m)
{
	static const char *const where[] = {"below", "guard", "lo"};
	char ms[8];
	int status, i;

	snprintf(ms, sizeof(ms), "%d", m);
	for (i = 0; i < 3; i++) {
		const char *const args[] = {"guard", ms, where[i], NULL};

		status = run_child(args, NULL, 0);
		if (i == 2) {
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
		} else {
			assert_died_of_fault(status);
		}
	}
}

static int have_madvise_guard(void)
{
	int before = cn__stack_guard_method();

	if (before == CN__GUARD_MADVISE)
		return 1;
	if (cn__stack_set_guard_method(CN__GUARD_MADVISE) != 0)
		return 0;
	assert_int_equal(cn__stack_set_guard_method(before), 0);
	return 1;
}

static void test_guard_madvise(void **state)
{
	(void)state;
#ifdef __linux__
	if (!have_madvise_guard()) {
		print_message(
		        "skipped: MADV_GUARD_INSTALL does not work here (kernel < 6.13 or an emulator)\n");
		skip();
	}
	check_guard(CN__GUARD_MADVISE);
#else
	skip();
#endif
}

static void test_guard_mprotect(void **state)
{
	(void)state;
	check_guard(CN__GUARD_MPROTECT);
}

/* The mapping cost of each method: mprotect splits the slab at every guard,
 * MADV_GUARD_INSTALL never does. */
static void test_guard_mappings(void **state)
{
	enum { N = 200 };
	static cn__stack st[N];
	int before = cn__stack_guard_method();
	int methods[2] = {CN__GUARD_MPROTECT, CN__GUARD_MADVISE};
	long m0, m1;
	int i, k;

	(void)state;
	for (k = 0; k < 2; k++) {
		if (cn__stack_set_guard_method(methods[k]) != 0) {
			assert_int_equal(errno, ENOTSUP);
			continue;
		}
		m0 = count_maps();
		for (i = 0; i < N; i++)
			assert_int_equal(cn__stack_alloc(CN_CORO_STACK_DEFAULT, 0, &st[i]), 0);
		m1 = count_maps();
		if (methods[k] == CN__GUARD_MPROTECT)
			assert_true(m1 - m0 >= 2 * N - 8);
		else
			assert_true(m1 - m0 <= 8);
		for (i = 0; i < N; i++)
			cn__stack_free(&st[i]);
		cn__stack_cache_flush();
		/* Whole slabs went back: the mappings are gone again. */
		assert_true(count_maps() <= m0 + 2);
	}
	assert_int_equal(cn__stack_set_guard_method(before), 0);
	assert_int_equal(cn__stack_set_guard_method(0), -1);
	assert_int_equal(errno, EINVAL);
}

/* With mprotect guards the kernel's map count runs out: allocation must then
 * fail with ENOMEM, never hand out a stack without a guard. */
static void test_mprotect_limit(void **state)
{
	enum { CAP = 70000 }; /* above what vm.max_map_count = 65530 allows */
	static cn__stack st[CAP];
	int before = cn__stack_guard_method();
	long limit = 0;
	int n, count, err = 0;
	FILE *f;

	(void)state;
#ifdef TSAN
	print_message("skipped: at the map count TSan's runtime cannot map "
	              "its own shadow memory and dies\n");
	skip();
#endif
	if (cn_test_valgrind()) {
		print_message("skipped: Valgrind tracks at most a few thousand "
		              "mappings (VG_N_SEGMENTS)\n");
		skip();
	}
	f = fopen("/proc/sys/vm/max_map_count", "r");
	if (f) {
		if (fscanf(f, "%ld", &limit) != 1)
			limit = 0;
		fclose(f);
	}
	if (limit <= 0 || limit > 2 * CAP) {
		print_message("skipped: vm.max_map_count is %ld\n", limit);
		skip();
	}
	assert_int_equal(cn__stack_set_guard_method(CN__GUARD_MPROTECT), 0);
	for (n = 0; n < CAP; n++) {
		if (cn__stack_alloc(CN_CORO_STACK_MIN, 0, &st[n]) != 0) {
			err = errno;
			break;
		}
	}
	print_message("mprotect guards: %d stacks (vm.max_map_count %ld)\n", n, limit);
	count = n;
	/* Freed before asserting: a failed assertion must not leave 30,000
	 * stacks (and the whole map count) to the tests after this one. */
	while (n > 0)
		cn__stack_free(&st[--n]);
	cn__stack_cache_flush();
	assert_int_equal(err, ENOMEM);
	assert_true(count > limit / 2 - 2000 && count < limit / 2 + 2000);
	assert_int_equal(cn__stack_set_guard_method(before), 0);
}

/* ---- cache --------------------------------------------------------------- */

static void test_cache_reuse(void **state)
{
	cn__stack a, b, c;
	char *lo;
	unsigned long calls;

	(void)state;
	assert_int_equal(cn__stack_alloc(CN_CORO_STACK_DEFAULT, 0, &a), 0);
	lo = a.lo;
	cn__stack_free(&a);
	assert_true(cn__stack_cached() >= 1);
	calls = cn__stack_syscalls();
	assert_int_equal(cn__stack_alloc(CN_CORO_STACK_DEFAULT, 0, &b), 0);
	assert_ptr_equal(b.lo, lo);
	assert_int_equal(cn__stack_syscalls(), calls);
	/* LIFO, and a different size never takes a cached stack. */
	assert_int_equal(cn__stack_alloc(CN_CORO_STACK_MIN, 0, &c), 0);
	cn__stack_free(&c);
	cn__stack_free(&b);
	calls = cn__stack_syscalls();
	assert_int_equal(cn__stack_alloc(CN_CORO_STACK_MIN, 0, &c), 0);
	assert_int_equal((size_t)(c.hi - c.lo), CN_CORO_STACK_MIN);
	assert_int_equal(cn__stack_alloc(CN_CORO_STACK_DEFAULT, 0, &b), 0);
	assert_ptr_equal(b.lo, lo);
	assert_int_equal(cn__stack_syscalls(), calls);
	cn__stack_free(&b);
	cn__stack_free(&c);
}

/* A stack handed back with poisoned shadow (frames of a coroutine destroyed
 * while suspended) comes out of the cache clean. Meaningful under ASan. */
static void test_reuse_is_unpoisoned(void **state)
{
	cn__stack a, b;

	(void)state;
	assert_int_equal(cn__stack_alloc(CN_CORO_STACK_MIN, 0, &a), 0);
#ifdef ASAN
	ASAN_POISON_MEMORY_REGION(a.hi - 4096, 4096);
	assert_true(__asan_address_is_poisoned(a.hi - 100));
#endif
	cn__stack_free(&a);
	assert_int_equal(cn__stack_alloc(CN_CORO_STACK_MIN, 0, &b), 0);
	memset(b.hi - 4096, 1, 4096);
	cn__stack_free(&b);
}

/* The cache is bounded, and what overflows it gives its memory back. */
static void test_cache_bound(void **state)
{
	enum { N = 1000 };
	static cn__stack st[N];
	static char *lo[N];
	int i, unmapped = 0;

	(void)state;
	cn__stack_cache_flush();
	for (i = 0; i < N; i++) {
		assert_int_equal(cn__stack_alloc(CN_CORO_STACK_DEFAULT, 0, &st[i]), 0);
		st[i].hi[-1] = 1; /* resident until given back */
		lo[i] = st[i].lo;
	}
	for (i = 0; i < N; i++)
		cn__stack_free(&st[i]);
	assert_true(cn__stack_cached() > 0);
	assert_true(cn__stack_cached() <= 64);
	cn__stack_cache_flush();
	assert_int_equal(cn__stack_cached(), 0);
	/* Every stack was handed back; with nothing live left in them, the
	 * slabs were unmapped. */
	for (i = 0; i < N; i++)
		unmapped += !mapped(lo[i]);
	assert_int_equal(unmapped, N);
}

/* ---- coroutines ---------------------------------------------------------- */

static void yield_once(void *arg)
{
	volatile char buf[256];
	int *done = arg;

	buf[0] = 1;
	buf[255] = buf[0];
	cn_coro_yield(NULL);
	(*done)++;
}

static void test_many_coroutines(void **state)
{
	int n = 100000;
	cn_coro **co;
	int done = 0, i;

	/* TSan makes a fiber per coroutine and counts fibers as threads
	 * (at most 8128); Valgrind is ~50x slower. Both still get thousands. */
#ifdef TSAN
	n = 4000;
#endif
	if (cn_test_valgrind())
		n = 10000;
	co = calloc((size_t)n, sizeof(*co));

	(void)state;
	assert_non_null(co);
	for (i = 0; i < n; i++) {
		co[i] = cn_coro_create(yield_once, &done, NULL);
		if (!co[i] && errno == ENOMEM && cn__stack_guard_method() == CN__GUARD_MPROTECT) {
			/* CORONET_GUARD=mprotect: the map count ends it
			 * near 32,000, with ENOMEM and not unguarded. */
			print_message("mprotect guards: %d coroutines, then ENOMEM\n", i);
			assert_true(i > 20000);
			n = i;
			break;
		}
		assert_non_null(co[i]);
	}
	for (i = 0; i < n; i++) {
		assert_int_equal(cn_coro_resume(co[i], NULL), 1);
		assert_int_equal(cn_coro_state_of(co[i]), CN_CORO_SUSPENDED);
	}
	assert_int_equal(done, 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(cn_coro_resume(co[i], NULL), 0);
		assert_int_equal(cn_coro_state_of(co[i]), CN_CORO_FINISHED);
	}
	assert_int_equal(done, n);
	for (i = 0; i < n; i++)
		assert_int_equal(cn_coro_destroy(co[i]), 0);
	free(co);
	cn__stack_cache_flush();
}

static void deep_then_yield(void *arg)
{
	volatile char buf[1024];
	int depth = *(int *)arg;

	buf[0] = (char)depth;
	if (depth > 0) {
		(*(int *)arg)--;
		deep_then_yield(arg);
	} else {
		cn_coro_yield(NULL);
	}
	buf[1023] = buf[0];
}

static void use_stack(void *arg)
{
	volatile char buf[8192];

	memset((char *)buf, 7, sizeof(buf));
	*(int *)arg = buf[4000];
}

/* A coroutine destroyed while suspended leaves frames behind on its stack;
 * the next coroutine to get that stack from the cache must be able to use
 * it (under ASan: no stale poisoned redzones). */
static void test_reuse_after_suspended_destroy(void **state)
{
	int depth = 20, out = 0, i;
	cn_coro *co;

	(void)state;
	for (i = 0; i < 3; i++) {
		depth = 20;
		co = cn_coro_create(deep_then_yield, &depth, NULL);
		assert_non_null(co);
		assert_int_equal(cn_coro_resume(co, NULL), 1);
		assert_int_equal(cn_coro_destroy(co), 0);
		co = cn_coro_create(use_stack, &out, NULL);
		assert_non_null(co);
		assert_int_equal(cn_coro_resume(co, NULL), 0);
		assert_int_equal(out, 7);
		assert_int_equal(cn_coro_destroy(co), 0);
	}
}

/* Called through a volatile pointer so the compiler neither warns about
 * nor optimises away the endless recursion. */
static void (*volatile recurse_next)(void *) = recurse_forever;

static void recurse_forever(void *arg)
{
	volatile char buf[512];

	buf[0] = 1;
	recurse_next(arg);
	buf[511] = buf[0];
}

/* Child: a coroutine of size bytes, guarded by method m and named name
 * ("-": unnamed) recurses until its stack overflows. */
static int overflow_child(int m, size_t size, const char *name)
{
	cn_coro_opts opts = {.stack_size = size, .name = strcmp(name, "-") == 0 ? NULL : name};
	cn_coro *co;

	if (cn__stack_set_guard_method(m) != 0)
		return 3;
	co = cn_coro_create(recurse_forever, NULL, &opts);
	if (!co)
		return 4;
	cn_coro_resume(co, NULL);
	return 5; /* not reached: the overflow aborts */
}

static void *overflow_thread(void *arg)
{
	cn_coro_opts opts = {.stack_size = CN_CORO_STACK_MIN, .name = "in-a-thread"};
	cn_coro *co = cn_coro_create(recurse_forever, NULL, &opts);

	(void)arg;
	if (co)
		cn_coro_resume(co, NULL);
	return NULL;
}

/* Child: the overflow happens on a thread of its own, which needs its own
 * alternate signal stack. */
static int overflow_thread_child(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, overflow_thread, NULL) != 0)
		return 3;
	pthread_join(t, NULL);
	return 4; /* not reached */
}

/* Runs the child scenario args and checks it aborted (SIGABRT) after
 * printing want first on stderr (sanitizer runtimes may add their own
 * lines after ours). */
static void expect_report(const char *const *args, const char *want)
{
	char err[1024];
	int status = run_child(args, err, sizeof(err));

	if (strncmp(err, want, strlen(want)) != 0)
		print_message("want: %sgot:  %s\n", want, err);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_true(strncmp(err, want, strlen(want)) == 0);
}

static void test_overflow_other_thread(void **state)
{
	const char *const args[] = {"overflow-thread", NULL};
	cn_coro_opts opts = {.stack_size = CN_CORO_STACK_MIN, .name = "in-a-thread"};
	char want[128];
	cn_coro *co;

	(void)state;
	co = cn_coro_create(recurse_forever, NULL, &opts);
	assert_non_null(co);
	snprintf(want, sizeof(want),
	         "coronet: coroutine 'in-a-thread' overflowed its %zu-byte stack\n",
	         cn_coro_stack_size(co));
	assert_int_equal(cn_coro_destroy(co), 0);
	expect_report(args, want);
}

static void check_overflow(int m, const char *name, size_t size)
{
	cn_coro_opts opts = {.stack_size = size, .name = name};
	char want[256], ms[8], sz[32];
	const char *const args[] = {"overflow", ms, sz, name ? name : "-", NULL};
	cn_coro *co;

	snprintf(ms, sizeof(ms), "%d", m);
	snprintf(sz, sizeof(sz), "%zu", size);
	/* The size the message must name, as the API reports it. */
	co = cn_coro_create(recurse_forever, NULL, &opts);
	assert_non_null(co);
	snprintf(want, sizeof(want), "coronet: coroutine '%s' overflowed its %zu-byte stack\n",
	         name ? name : "coro", cn_coro_stack_size(co));
	assert_int_equal(cn_coro_destroy(co), 0);
	expect_report(args, want);
}

static void test_overflow_madvise(void **state)
{
	(void)state;
	if (!have_madvise_guard()) {
		print_message(
		        "skipped: MADV_GUARD_INSTALL does not work here (kernel < 6.13 or an emulator)\n");
		skip();
	}
	check_overflow(CN__GUARD_MADVISE, "deep-diver", CN_CORO_STACK_MIN);
	check_overflow(CN__GUARD_MADVISE, NULL, CN_CORO_STACK_DEFAULT);
}

static void test_overflow_mprotect(void **state)
{
	(void)state;
	check_overflow(CN__GUARD_MPROTECT, "deep-diver", CN_CORO_STACK_MIN);
	check_overflow(CN__GUARD_MPROTECT, "0123456789abcdef0123456789abcde", 100000);
}

/* Child: coroutine 'jumper' writes into the guard of coroutine 'victim', as
 * a frame larger than the guard does when it jumps its own guard (code
 * built without -fstack-clash-protection). */
static cn_coro *victim;

static void jumper_fn(void *arg)
{
	volatile char *g = (volatile char *)cn__coro_stack(victim)->guard;

	(void)arg;
	g[100] = 1;
}

static int neighbour_child(void)
{
	cn_coro_opts vo = {.stack_size = CN_CORO_STACK_MIN, .name = "victim"};
	cn_coro_opts jo = {.stack_size = CN_CORO_STACK_MIN, .name = "jumper"};
	cn_coro *j;

	victim = cn_coro_create(recurse_forever, NULL, &vo);
	j = cn_coro_create(jumper_fn, NULL, &jo);
	if (!victim || !j)
		return 3;
	cn_coro_resume(j, NULL);
	return 4; /* not reached */
}

static void test_overflow_into_other_guard(void **state)
{
	const char *const args[] = {"neighbour", NULL};
	char want[256];

	(void)state;
	snprintf(want, sizeof(want),
	         "coronet: coroutine 'jumper' overflowed its %zu-byte stack (a frame larger than "
	         "its guard jumped into the guard of coroutine 'victim')\n",
	         round_page(CN_CORO_STACK_MIN));
	expect_report(args, want);
}

/* Child: an 80 KiB frame on a 16 KiB stack. Its lowest byte lies 64 KiB
 * and more below the stack, past a default guard; a 256 KiB guard holds it,
 * so the fault is reported by name whether the compiler probes the frame
 * page by page or not. */
static void big_frame_fn(void *arg)
{
	volatile char big[80 * 1024];

	(void)arg;
	big[0] = 1;
	big[sizeof(big) - 1] = big[0];
}

static int big_frame_child(void)
{
	cn_coro_opts o = {
	        .stack_size = CN_CORO_STACK_MIN, .name = "big-frame", .guard_size = 256 * 1024};
	cn_coro *co = cn_coro_create(big_frame_fn, NULL, &o);

	if (!co)
		return 3;
	cn_coro_resume(co, NULL);
	return 4; /* not reached */
}

static void test_big_frame_big_guard(void **state)
{
	const char *const args[] = {"big-frame", NULL};
	char want[256];

	(void)state;
	snprintf(want, sizeof(want), "coronet: coroutine 'big-frame' overflowed its %zu-byte stack\n",
	         round_page(CN_CORO_STACK_MIN));
	expect_report(args, want);
}

/* Child: a fault inside a coroutine that is not an overflow must still
 * kill the process with the original signal. */
static void wild(void *arg)
{
	(void)arg;
	*bad_address = 1;
}

static int wild_child(void)
{
	cn_coro *co = cn_coro_create(wild, NULL, NULL);

	if (!co)
		return 4;
	cn_coro_resume(co, NULL);
	return 0;
}

static void test_other_fault_chains(void **state)
{
	const char *const args[] = {"wild", NULL};

	(void)state;
	assert_died_of_fault(run_child(args, NULL, 0));
}

static void fault_in_coro(void *arg)
{
	(void)arg;
	if (sigsetjmp(jump_back, 1) == 0)
		*bad_address = 1;
}

/*
 * Child: the program's handler (user_fault, there before coronet's) must get
 * both a fault outside any coroutine and a fault inside one that is not an
 * overflow.
 */
static int chain_child_main(void)
{
	cn_coro *co = cn_coro_create(fault_in_coro, NULL, NULL);
	int ret = 0;

	if (!co)
		return 4;
	/* Valgrind would count the deliberate faults as errors and make this
	 * child's exit status its error code. */
	VALGRIND_DISABLE_ERROR_REPORTING;
	want_fault = 1;
	if (sigsetjmp(jump_back, 1) == 0)
		*bad_address = 1;
	if (user_faults != 1)
		ret = 5;
	else if (cn_coro_resume(co, NULL) != 0)
		ret = 6;
	else if (user_faults != 2)
		ret = 7;
	VALGRIND_ENABLE_ERROR_REPORTING;
	cn_coro_destroy(co);
	return ret;
}

static void test_previous_handler_chained(void **state)
{
	int status;

	(void)state;
	status = run_child((const char *const[]){"chain", NULL}, NULL, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- threads ------------------------------------------------------------- */

enum { NTHREADS = 4, ROUNDS = 3000, HELD = 16 };

struct handoff {
	pthread_mutex_t lock;
	cn__stack box[NTHREADS * HELD];
	int n;
};

static struct handoff handoff = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *worker(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	cn__stack held[HELD];
	int r, i;

	for (r = 0; r < ROUNDS; r++) {
		size_t size = r % 3 == 0 ? CN_CORO_STACK_MIN : CN_CORO_STACK_DEFAULT;

		for (i = 0; i < HELD; i++) {
			if (cn__stack_alloc(size, 0, &held[i]) != 0)
				return (void *)1;
			/* Owner marks: a stack handed out twice would
			 * show someone else's mark below. */
			held[i].lo[0] = (char)id;
			held[i].hi[-1] = (char)i;
		}
		for (i = 0; i < HELD; i++)
			if (held[i].lo[0] != (char)id || held[i].hi[-1] != (char)i)
				return (void *)2;
		for (i = 0; i < HELD; i++) {
			/* Every other stack is freed by another thread. */
			if ((r + i) % 2 == 0) {
				cn__stack_free(&held[i]);
				continue;
			}
			pthread_mutex_lock(&handoff.lock);
			if (handoff.n < NTHREADS * HELD) {
				handoff.box[handoff.n++] = held[i];
				held[i].lo = NULL;
			}
			pthread_mutex_unlock(&handoff.lock);
			if (held[i].lo)
				cn__stack_free(&held[i]);
		}
		pthread_mutex_lock(&handoff.lock);
		while (handoff.n > HELD / 2) {
			cn__stack st = handoff.box[--handoff.n];

			pthread_mutex_unlock(&handoff.lock);
			cn__stack_free(&st);
			pthread_mutex_lock(&handoff.lock);
		}
		pthread_mutex_unlock(&handoff.lock);
	}
	return NULL;
}

static void *cache_then_exit(void *arg)
{
	cn__stack *st = arg;
	cn__stack mine[10];
	int i;

	for (i = 0; i < 10; i++)
		if (cn__stack_alloc(48 * 1024, 0, &mine[i]) != 0)
			return (void *)1;
	*st = mine[0];
	for (i = 0; i < 10; i++)
		cn__stack_free(&mine[i]);
	return cn__stack_cached() == 10 ? NULL : (void *)2;
}

static void test_threads_alloc_free(void **state)
{
	pthread_t t[NTHREADS];
	void *ret;
	cn__stack seen;
	uintptr_t i;

	(void)state;
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(i + 1)), 0);
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	while (handoff.n > 0)
		cn__stack_free(&handoff.box[--handoff.n]);

	/* A thread's cache is emptied when it exits: its 48 KiB stacks (a
	 * size nobody else uses, so a slab of their own) are all back and
	 * the slab is unmapped. */
	assert_int_equal(pthread_create(&t[0], NULL, cache_then_exit, &seen), 0);
	assert_int_equal(pthread_join(t[0], &ret), 0);
	assert_null(ret);
	assert_false(mapped(seen.lo));
}

/* The fault scenarios, each run by run_child() in a process of its own:
 * {WHAT, ARGS..., NULL}. */
static int child_main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[0], "guard") == 0)
		return guard_child(atoi(argv[1]), argv[2]);
	if (argc == 4 && strcmp(argv[0], "overflow") == 0)
		return overflow_child(atoi(argv[1]), strtoul(argv[2], NULL, 10), argv[3]);
	if (argc == 1 && strcmp(argv[0], "overflow-thread") == 0)
		return overflow_thread_child();
	if (argc == 1 && strcmp(argv[0], "neighbour") == 0)
		return neighbour_child();
	if (argc == 1 && strcmp(argv[0], "big-frame") == 0)
		return big_frame_child();
	if (argc == 1 && strcmp(argv[0], "wild") == 0)
		return wild_child();
	if (argc == 1 && strcmp(argv[0], "chain") == 0)
		return chain_child_main();
	return 100;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_alloc_sizes),
	        cmocka_unit_test(test_einval),
	        cmocka_unit_test(test_guard_madvise),
	        cmocka_unit_test(test_guard_mprotect),
	        cmocka_unit_test(test_guard_mappings),
	        cmocka_unit_test(test_mprotect_limit),
	        cmocka_unit_test(test_cache_reuse),
	        cmocka_unit_test(test_reuse_is_unpoisoned),
	        cmocka_unit_test(test_cache_bound),
	        cmocka_unit_test(test_many_coroutines),
	        cmocka_unit_test(test_reuse_after_suspended_destroy),
	        cmocka_unit_test(test_overflow_madvise),
	        cmocka_unit_test(test_overflow_mprotect),
	        cmocka_unit_test(test_overflow_other_thread),
	        cmocka_unit_test(test_overflow_into_other_guard),
	        cmocka_unit_test(test_big_frame_big_guard),
	        cmocka_unit_test(test_guard_size),
	        cmocka_unit_test(test_other_fault_chains),
	        cmocka_unit_test(test_previous_handler_chained),
	        cmocka_unit_test(test_threads_alloc_free),
	};

	program_handlers();
	return CN_TEST_RUN(tests, NULL, NULL);
}
