/*
 * tests/test_coro.c — the coroutine core: create/resume/yield/destroy,
 * nesting, errors, what a context switch must preserve (callee-saved
 * registers, floating-point modes, the stack) and clean backtraces.
 *
 * Single-threaded except test_migrate, which resumes one coroutine from two
 * threads in turn.
 */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>


#include "coronet/coro.h"
#include "coro_internal.h"
#include "helpers/cn_test.h"

/* ---- ping-pong ---------------------------------------------------------- */

static void counter(void *arg)
{
	intptr_t n = (intptr_t)arg;

	for (intptr_t i = 1; i <= n; i++)
		assert_int_equal(cn_coro_yield((void *)i), 0);
}

static void test_ping_pong(void **state)
{
	(void)state;
	cn_coro *co = cn_coro_create(counter, (void *)(intptr_t)1000, NULL);
	assert_non_null(co);
	for (intptr_t i = 1; i <= 1000; i++) {
		void *v = NULL;
		assert_int_equal(cn_coro_resume(co, &v), 1);
		assert_ptr_equal(v, (void *)i);
		assert_int_equal(cn_coro_state_of(co), CN_CORO_SUSPENDED);
	}
	void *v = (void *)1;
	assert_int_equal(cn_coro_resume(co, &v), 0);
	assert_null(v);
	assert_int_equal(cn_coro_state_of(co), CN_CORO_FINISHED);
	assert_int_equal(cn_coro_destroy(co), 0);
}

/* resume's value pointer is optional, and may change between resumes. */
static void test_value_null(void **state)
{
	(void)state;
	cn_coro *co = cn_coro_create(counter, (void *)(intptr_t)3, NULL);
	assert_non_null(co);
	assert_int_equal(cn_coro_resume(co, NULL), 1);
	void *v = NULL;
	assert_int_equal(cn_coro_resume(co, &v), 1);
	assert_ptr_equal(v, (void *)2);
	assert_int_equal(cn_coro_resume(co, NULL), 1);
	assert_int_equal(cn_coro_resume(co, NULL), 0);
	assert_int_equal(cn_coro_destroy(co), 0);
}

/* Many coroutines interleaved round-robin keep their own progress. */
static void test_round_robin(void **state)
{
	(void)state;
	enum { N = 64, STEPS = 50 };
	cn_coro *co[N];

	for (int i = 0; i < N; i++) {
		co[i] = cn_coro_create(counter, (void *)(intptr_t)STEPS, NULL);
		assert_non_null(co[i]);
	}
	for (intptr_t s = 1; s <= STEPS; s++) {
		for (int i = 0; i < N; i++) {
			void *v;
			assert_int_equal(cn_coro_resume(co[i], &v), 1);
			assert_ptr_equal(v, (void *)s);
		}
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(cn_coro_resume(co[i], NULL), 0);
		assert_int_equal(cn_coro_destroy(co[i]), 0);
	}
}

/* ---- deep recursion ----------------------------------------------------- */

static int recurse(int depth)
{
	/* The volatile buffer makes every frame touch real stack. */
	volatile char pad[32];

	pad[0] = (char)depth;
	if (depth == 0) {
		cn_coro_yield((void *)(intptr_t)-1);
		return 0;
	}
	if (depth % 1000 == 0)
		cn_coro_yield((void *)(intptr_t)depth);
	return recurse(depth - 1) + 1 + (pad[0] != (char)depth);
}

static void deep(void *arg)
{
	int *result = arg;

	*result = recurse(10000);
}

static void test_deep_recursion(void **state)
{
	(void)state;
	int result = 0;
	cn_coro_opts opts = { .stack_size = 4 * 1024 * 1024, .name = "deep" };
	cn_coro *co = cn_coro_create(deep, &result, &opts);
	assert_non_null(co);

	void *v;
	for (intptr_t d = 10000; d >= 1000; d -= 1000) {
		assert_int_equal(cn_coro_resume(co, &v), 1);
		assert_ptr_equal(v, (void *)d);
	}
	assert_int_equal(cn_coro_resume(co, &v), 1);
	assert_ptr_equal(v, (void *)(intptr_t)-1);
	assert_int_equal(cn_coro_resume(co, &v), 0);
	assert_int_equal(result, 10000);
	assert_int_equal(cn_coro_destroy(co), 0);
}

/* ---- nesting ------------------------------------------------------------ */

struct nest {
	cn_coro *co[3];
	char log[64];
	int n;
};

static void nest_log(struct nest *ns, char c)
{
	ns->log[ns->n++] = c;
}

static void level3(void *arg)
{
	struct nest *ns = arg;

	assert_ptr_equal(cn_coro_current(), ns->co[2]);
	nest_log(ns, 'c');
	cn_coro_yield((void *)"c1");
	nest_log(ns, 'C');
}

static void level2(void *arg)
{
	struct nest *ns = arg;
	void *v;

	nest_log(ns, 'b');
	ns->co[2] = cn_coro_create(level3, ns, &(cn_coro_opts){ .name = "level3" });
	assert_non_null(ns->co[2]);
	assert_int_equal(cn_coro_resume(ns->co[2], &v), 1);
	assert_string_equal(v, "c1");
	assert_ptr_equal(cn_coro_current(), ns->co[1]);
	/* The whole chain is running; none of it may be resumed or freed. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(cn_coro_state_of(ns->co[i]), CN_CORO_RUNNING);
		errno = 0;
		assert_int_equal(cn_coro_resume(ns->co[i], NULL), -1);
		assert_int_equal(errno, EBUSY);
		errno = 0;
		assert_int_equal(cn_coro_destroy(ns->co[i]), -1);
		assert_int_equal(errno, EBUSY);
	}
	assert_int_equal(cn_coro_state_of(ns->co[2]), CN_CORO_SUSPENDED);
	cn_coro_yield((void *)"b1");
	nest_log(ns, 'B');
	assert_int_equal(cn_coro_resume(ns->co[2], &v), 0);
	assert_null(v);
	assert_int_equal(cn_coro_destroy(ns->co[2]), 0);
	cn_coro_yield((void *)"b2");
}

static void level1(void *arg)
{
	struct nest *ns = arg;
	void *v;

	nest_log(ns, 'a');
	ns->co[1] = cn_coro_create(level2, ns, &(cn_coro_opts){ .name = "level2" });
	assert_non_null(ns->co[1]);
	assert_int_equal(cn_coro_resume(ns->co[1], &v), 1);
	assert_string_equal(v, "b1");
	assert_ptr_equal(cn_coro_current(), ns->co[0]);
	cn_coro_yield((void *)"a1");
	nest_log(ns, 'A');
	assert_int_equal(cn_coro_resume(ns->co[1], &v), 1);
	assert_string_equal(v, "b2");
	assert_int_equal(cn_coro_resume(ns->co[1], &v), 0);
	assert_int_equal(cn_coro_destroy(ns->co[1]), 0);
}

static void test_nesting(void **state)
{
	(void)state;
	struct nest ns = { 0 };
	void *v;

	ns.co[0] = cn_coro_create(level1, &ns, &(cn_coro_opts){ .name = "level1" });
	assert_non_null(ns.co[0]);
	assert_int_equal(cn_coro_resume(ns.co[0], &v), 1);
	assert_string_equal(v, "a1");
	assert_null(cn_coro_current());
	assert_int_equal(cn_coro_resume(ns.co[0], &v), 0);
	ns.log[ns.n] = '\0';
	assert_string_equal(ns.log, "abcABC");
	assert_int_equal(cn_coro_destroy(ns.co[0]), 0);
}

/* ---- lifetimes ---------------------------------------------------------- */

static void set_flag(void *arg)
{
	*(int *)arg = 1;
}

static void test_finish_without_yield(void **state)
{
	(void)state;
	int flag = 0;
	cn_coro *co = cn_coro_create(set_flag, &flag, NULL);
	assert_non_null(co);
	assert_int_equal(cn_coro_state_of(co), CN_CORO_CREATED);
	assert_int_equal(flag, 0);
	void *v = (void *)1;
	assert_int_equal(cn_coro_resume(co, &v), 0);
	assert_null(v);
	assert_int_equal(flag, 1);
	assert_int_equal(cn_coro_state_of(co), CN_CORO_FINISHED);
	assert_int_equal(cn_coro_destroy(co), 0);
}

static void forever(void *arg)
{
	(void)arg;
	for (;;)
		cn_coro_yield(NULL);
}

static void test_destroy_suspended(void **state)
{
	(void)state;
	/* Repeated, so a leak per destroyed coroutine would show in the cache
	 * counters and under ASan/Valgrind. */
	for (int i = 0; i < 1000; i++) {
		cn_coro *co = cn_coro_create(forever, NULL, NULL);
		assert_non_null(co);
		assert_int_equal(cn_coro_resume(co, NULL), 1);
		assert_int_equal(cn_coro_resume(co, NULL), 1);
		assert_int_equal(cn_coro_destroy(co), 0);
	}
	/* Never resumed at all. */
	cn_coro *co = cn_coro_create(forever, NULL, NULL);
	assert_non_null(co);
	assert_int_equal(cn_coro_destroy(co), 0);
}

/* ---- state, current, name, size ----------------------------------------- */

struct observe {
	cn_coro *self;
	int state_inside;
	cn_coro *current_inside;
};

static void observer(void *arg)
{
	struct observe *o = arg;

	o->state_inside = cn_coro_state_of(o->self);
	o->current_inside = cn_coro_current();
	cn_coro_yield(NULL);
}

static void test_states(void **state)
{
	(void)state;
	struct observe o = { 0 };

	assert_null(cn_coro_current());
	o.self = cn_coro_create(observer, &o, NULL);
	assert_non_null(o.self);
	assert_int_equal(cn_coro_state_of(o.self), CN_CORO_CREATED);
	assert_int_equal(cn_coro_resume(o.self, NULL), 1);
	assert_int_equal(o.state_inside, CN_CORO_RUNNING);
	assert_ptr_equal(o.current_inside, o.self);
	assert_null(cn_coro_current());
	assert_int_equal(cn_coro_state_of(o.self), CN_CORO_SUSPENDED);
	assert_int_equal(cn_coro_resume(o.self, NULL), 0);
	assert_int_equal(cn_coro_state_of(o.self), CN_CORO_FINISHED);
	assert_int_equal(cn_coro_destroy(o.self), 0);
}

static void test_name_and_size(void **state)
{
	(void)state;
	long page = sysconf(_SC_PAGESIZE);
	cn_coro *co = cn_coro_create(forever, NULL, NULL);

	assert_non_null(co);
	assert_string_equal(cn_coro_name(co), "coro");
	assert_int_equal(cn_coro_stack_size(co), CN_CORO_STACK_DEFAULT);
	assert_int_equal(cn_coro_destroy(co), 0);

	char name[40] = "a-name-that-is-longer-than-31-bytes!";
	cn_coro_opts opts = { .stack_size = CN_CORO_STACK_MIN + 1, .name = name };
	co = cn_coro_create(forever, NULL, &opts);
	assert_non_null(co);
	name[0] = 'X'; /* the name was copied */
	assert_int_equal(strlen(cn_coro_name(co)), 31);
	assert_memory_equal(cn_coro_name(co), "a-name-that-is-longer-than-31-b", 31);
	size_t sz = cn_coro_stack_size(co);
	assert_true(sz >= CN_CORO_STACK_MIN + 1);
	assert_int_equal(sz % (size_t)page, 0);
	assert_true(sz <= CN_CORO_STACK_MIN + (size_t)page);

	const cn__stack *st = cn__coro_stack(co);
	assert_int_equal((size_t)(st->hi - st->lo), sz);
	assert_null(cn__coro_user(co));
	cn__coro_set_user(co, &opts);
	assert_ptr_equal(cn__coro_user(co), &opts);
	assert_int_equal(cn_coro_destroy(co), 0);
}

/* The coroutine's locals live inside its stack, below the control block. */
static void where_am_i(void *arg)
{
	/* The frame address, not a local's: ASan may move locals to its fake
	 * stack. */
	char *here = __builtin_frame_address(0);
	const cn__stack *st = cn__coro_stack(cn_coro_current());

	*(int *)arg = here > st->lo && here < st->hi;
}

static void test_runs_on_own_stack(void **state)
{
	(void)state;
	int inside = 0;
	cn_coro *co = cn_coro_create(where_am_i, &inside, NULL);
	assert_non_null(co);
	assert_int_equal(cn_coro_resume(co, NULL), 0);
	assert_int_equal(inside, 1);
	assert_int_equal(cn_coro_destroy(co), 0);
}

/* ---- errors ------------------------------------------------------------- */

#define assert_errno(call, ret, err)                \
	do {                                        \
		errno = 0;                          \
		assert_int_equal((call), (ret));    \
		assert_int_equal(errno, (err));     \
	} while (0)

static void test_create_errors(void **state)
{
	(void)state;
	errno = 0;
	assert_null(cn_coro_create(NULL, NULL, NULL));
	assert_int_equal(errno, EINVAL);

	size_t bad[] = { 1, CN_CORO_STACK_MIN - 1, CN_CORO_STACK_MAX + 1, SIZE_MAX };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cn_coro_opts opts = { .stack_size = bad[i] };
		errno = 0;
		assert_null(cn_coro_create(forever, NULL, &opts));
		assert_int_equal(errno, EINVAL);
	}
	/* 0 means the default, and the bounds themselves are accepted. */
	size_t good[] = { 0, CN_CORO_STACK_MIN };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cn_coro_opts opts = { .stack_size = good[i] };
		cn_coro *co = cn_coro_create(forever, NULL, &opts);
		assert_non_null(co);
		assert_int_equal(cn_coro_destroy(co), 0);
	}
}

static void self_abuse(void *arg)
{
	cn_coro *self = cn_coro_current();
	(void)arg;
	assert_errno(cn_coro_resume(self, NULL), -1, EBUSY);
	assert_errno(cn_coro_destroy(self), -1, EBUSY);
	cn_coro_yield(NULL);
}

static void test_resume_errors(void **state)
{
	(void)state;
	assert_errno(cn_coro_resume(NULL, NULL), -1, EINVAL);

	cn_coro *co = cn_coro_create(self_abuse, NULL, NULL);
	assert_non_null(co);
	assert_int_equal(cn_coro_resume(co, NULL), 1);
	assert_int_equal(cn_coro_resume(co, NULL), 0);
	void *v = (void *)1;
	errno = 0;
	assert_int_equal(cn_coro_resume(co, &v), -1);
	assert_int_equal(errno, ESRCH);
	assert_int_equal(cn_coro_state_of(co), CN_CORO_FINISHED);
	assert_int_equal(cn_coro_destroy(co), 0);
}

static void test_yield_outside(void **state)
{
	(void)state;
	assert_errno(cn_coro_yield(NULL), -1, EPERM);
	assert_errno(cn_coro_yield((void *)1), -1, EPERM);
}

static void test_null_queries(void **state)
{
	(void)state;
	assert_errno(cn_coro_destroy(NULL), -1, EINVAL);
	assert_errno(cn_coro_state_of(NULL), -1, EINVAL);
	errno = 0;
	assert_null(cn_coro_name(NULL));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(cn_coro_stack_size(NULL), 0);
	assert_int_equal(errno, EINVAL);
}

/* ---- what a switch preserves -------------------------------------------- */

/*
 * Rounding modes, set and read through the control registers themselves
 * (the library links no libm): on x86_64 both MXCSR (SSE arithmetic) and
 * the x87 control word (long double arithmetic), which must agree; on arm64
 * FPCR.
 */
enum { RN = 0, UP = 1, DOWN = 2, ZERO = 3 };

#if defined(__x86_64__)
static void set_round(int m)
{
	static const unsigned rc[] = { [RN] = 0, [UP] = 2, [DOWN] = 1, [ZERO] = 3 };
	unsigned mxcsr;
	unsigned short cw;

	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(cw));
	mxcsr = (mxcsr & ~(3u << 13)) | rc[m] << 13;
	cw = (unsigned short)((cw & ~(3u << 10)) | rc[m] << 10);
	__asm__ volatile("ldmxcsr %0" : : "m"(mxcsr) : "memory");
	__asm__ volatile("fldcw %0" : : "m"(cw) : "memory");
}

static int get_round(void)
{
	static const int mode[] = { RN, DOWN, UP, ZERO };
	unsigned mxcsr;
	unsigned short cw;

	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(cw));
	if ((mxcsr >> 13 & 3) != (cw >> 10 & 3u))
		return -1;
	return mode[mxcsr >> 13 & 3];
}
#elif defined(__aarch64__)
static void set_round(int m)
{
	static const unsigned long rmode[] = { [RN] = 0, [UP] = 1, [DOWN] = 2, [ZERO] = 3 };
	unsigned long fpcr;

	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	fpcr = (fpcr & ~(3ul << 22)) | rmode[m] << 22;
	__asm__ volatile("msr fpcr, %0" : : "r"(fpcr) : "memory");
}

static int get_round(void)
{
	static const int mode[] = { RN, UP, DOWN, ZERO };
	unsigned long fpcr;

	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	return mode[fpcr >> 22 & 3];
}
#endif

/* 1/3 rounded up is larger than rounded down, in double and long double.
 * Valgrind's emulated FPU rounds to nearest whatever the mode registers say,
 * so there only the registers themselves are checked. */
static int rounding_works_up(void)
{
	if (cn_test_valgrind())
		return 1;
	volatile double one = 1.0, three = 3.0;
	volatile long double lone = 1.0L, lthree = 3.0L;
	/* volatile results and the asm's memory clobber keep each division
	 * on its side of the mode change. */
	volatile double up = one / three;
	volatile long double lup = lone / lthree;

	set_round(DOWN);
	volatile double down = one / three;
	volatile long double ldown = lone / lthree;
	set_round(UP);
	return up > down && lup > ldown;
}

/* Both sides set a different rounding mode; each must find its own after
 * every switch. */
static void fp_side(void *arg)
{
	int *errors = arg;

	set_round(UP);
	for (int i = 0; i < 100; i++) {
		cn_coro_yield(NULL);
		if (get_round() != UP)
			(*errors)++;
		if (!rounding_works_up())
			(*errors)++;
	}
}

static void test_fp_modes(void **state)
{
	(void)state;
	int errors = 0;
	cn_coro *co = cn_coro_create(fp_side, &errors, NULL);
	assert_non_null(co);

	set_round(ZERO);
	int r;
	while ((r = cn_coro_resume(co, NULL)) == 1)
		assert_int_equal(get_round(), ZERO);
	assert_int_equal(r, 0);
	assert_int_equal(get_round(), ZERO);
	set_round(RN);
	assert_int_equal(errors, 0);
	assert_int_equal(cn_coro_destroy(co), 0);
}

/* A coroutine starts with the floating-point modes of its creator. */
static void report_round(void *arg)
{
	*(int *)arg = get_round();
}

static void test_fp_inherited(void **state)
{
	(void)state;
	int seen = -1;

	set_round(DOWN);
	cn_coro *co = cn_coro_create(report_round, &seen, NULL);
	set_round(RN);
	assert_non_null(co);
	assert_int_equal(cn_coro_resume(co, NULL), 0);
	assert_int_equal(seen, DOWN);
	assert_int_equal(get_round(), RN);
	assert_int_equal(cn_coro_destroy(co), 0);
}

/* Many live integers and doubles across yields: with more values than
 * registers, the compiler keeps some in callee-saved registers, some on
 * the stack; both must survive. The other side churns its own. */
static void many_locals(void *arg)
{
	int *errors = arg;
	volatile long seed = 7;
	long a = seed, b = seed * 3, c = seed * 5, d = seed * 7, e = seed * 11, f = seed * 13;
	long g = seed * 17, h = seed * 19;
	double x = (double)seed * 0.5, y = (double)seed * 1.25, z = (double)seed * 2.5;
	double p = x + y, q = y + z, r = z + x;

	for (int i = 0; i < 200; i++) {
		cn_coro_yield((void *)(intptr_t)(a + h));
		a += 1, b += 2, c += 3, d += 4, e += 5, f += 6, g += 7, h += 8;
		x += 0.5, y += 0.25, z += 0.125, p += 1.0, q += 2.0, r += 4.0;
	}
	long k = 200;
	if (a != 7 + k || b != 21 + 2 * k || c != 35 + 3 * k || d != 49 + 4 * k ||
	    e != 77 + 5 * k || f != 91 + 6 * k || g != 119 + 7 * k || h != 133 + 8 * k)
		(*errors)++;
	if (x != 3.5 + 0.5 * k || y != 8.75 + 0.25 * k || z != 17.5 + 0.125 * k ||
	    p != 12.25 + k || q != 26.25 + 2.0 * k || r != 21.0 + 4.0 * k)
		(*errors)++;
}

static void test_live_locals(void **state)
{
	(void)state;
	int errors = 0;
	cn_coro *co = cn_coro_create(many_locals, &errors, NULL);
	assert_non_null(co);
	volatile long seed = 3;
	long a = seed, b = seed * 2, c = seed * 4, d = seed * 8, e = seed * 16, f = seed * 32;
	double x = 1.5, y = 2.5;
	void *v;
	int r;
	while ((r = cn_coro_resume(co, &v)) == 1) {
		a ^= (long)(intptr_t)v, b += a, c -= b, d ^= c, e += d, f -= e;
		x *= 1.0000001, y += x;
	}
	assert_int_equal(r, 0);
	assert_int_equal(errors, 0);
	/* Computed the same way again without switches: must agree. */
	long a2 = seed, b2 = seed * 2, c2 = seed * 4, d2 = seed * 8, e2 = seed * 16, f2 = seed * 32;
	double x2 = 1.5, y2 = 2.5;
	for (long i = 0; i < 200; i++) {
		long val = 7 + i + 133 + 8 * i;
		a2 ^= val, b2 += a2, c2 -= b2, d2 ^= c2, e2 += d2, f2 -= e2;
		x2 *= 1.0000001, y2 += x2;
	}
	assert_true(a == a2 && b == b2 && c == c2 && d == d2 && e == e2 && f == f2);
	assert_true(x == x2 && y == y2);
	assert_int_equal(cn_coro_destroy(co), 0);
}

#if (defined(__x86_64__) || defined(__aarch64__)) && defined(__ELF__)
#define HAVE_REGS_PROBE 1
/*
 * int regs_probe(uintptr_t base, int (*fn)(void *), void *arg)
 * Loads base, base+1, ... into every callee-saved register (integer, and
 * d8-d15 on arm64), calls fn(arg), and returns 1 if any of them came back
 * changed, else 0 (restoring the caller's registers). Written in assembly
 * so nothing but the call can touch them in between.
 */
#if defined(__x86_64__)
__asm__(".text\n"
	".p2align 4\n"
	".type regs_probe, @function\n"
	"regs_probe:\n"
	"	pushq %rbp\n"
	"	pushq %rbx\n"
	"	pushq %r12\n"
	"	pushq %r13\n"
	"	pushq %r14\n"
	"	pushq %r15\n"
	"	pushq %rdi\n" /* base; 7 pushes keep the call 16-byte aligned */
	"	movq %rdi, %rbx\n"
	"	leaq 1(%rdi), %rbp\n"
	"	leaq 2(%rdi), %r12\n"
	"	leaq 3(%rdi), %r13\n"
	"	leaq 4(%rdi), %r14\n"
	"	leaq 5(%rdi), %r15\n"
	"	movq %rsi, %rax\n"
	"	movq %rdx, %rdi\n"
	"	call *%rax\n"
	"	movq (%rsp), %rdi\n"
	"	movq %rbx, %rcx\n"
	"	xorq %rdi, %rcx\n"
	"	leaq 1(%rdi), %rdx\n"
	"	xorq %rbp, %rdx\n"
	"	orq %rdx, %rcx\n"
	"	leaq 2(%rdi), %rdx\n"
	"	xorq %r12, %rdx\n"
	"	orq %rdx, %rcx\n"
	"	leaq 3(%rdi), %rdx\n"
	"	xorq %r13, %rdx\n"
	"	orq %rdx, %rcx\n"
	"	leaq 4(%rdi), %rdx\n"
	"	xorq %r14, %rdx\n"
	"	orq %rdx, %rcx\n"
	"	leaq 5(%rdi), %rdx\n"
	"	xorq %r15, %rdx\n"
	"	orq %rdx, %rcx\n"
	"	xorl %eax, %eax\n"
	"	testq %rcx, %rcx\n"
	"	setne %al\n"
	"	popq %rdi\n"
	"	popq %r15\n"
	"	popq %r14\n"
	"	popq %r13\n"
	"	popq %r12\n"
	"	popq %rbx\n"
	"	popq %rbp\n"
	"	ret\n"
	".size regs_probe, .-regs_probe\n");
#else
__asm__(".text\n"
	".p2align 2\n"
	".type regs_probe, %function\n"
	"regs_probe:\n"
	"	stp x29, x30, [sp, #-176]!\n"
	"	stp x19, x20, [sp, #16]\n"
	"	stp x21, x22, [sp, #32]\n"
	"	stp x23, x24, [sp, #48]\n"
	"	stp x25, x26, [sp, #64]\n"
	"	stp x27, x28, [sp, #80]\n"
	"	stp d8, d9, [sp, #96]\n"
	"	stp d10, d11, [sp, #112]\n"
	"	stp d12, d13, [sp, #128]\n"
	"	stp d14, d15, [sp, #144]\n"
	"	str x0, [sp, #160]\n"
	"	mov x29, sp\n" /* keep the frame chain valid for unwinders */
	"	mov x19, x0\n"
	"	add x20, x0, #1\n"
	"	add x21, x0, #2\n"
	"	add x22, x0, #3\n"
	"	add x23, x0, #4\n"
	"	add x24, x0, #5\n"
	"	add x25, x0, #6\n"
	"	add x26, x0, #7\n"
	"	add x27, x0, #8\n"
	"	add x28, x0, #9\n"
	"	fmov d8, x20\n"
	"	fmov d9, x21\n"
	"	fmov d10, x22\n"
	"	fmov d11, x23\n"
	"	fmov d12, x24\n"
	"	fmov d13, x25\n"
	"	fmov d14, x26\n"
	"	fmov d15, x27\n"
	"	mov x16, x1\n"
	"	mov x0, x2\n"
	"	blr x16\n"
	"	ldr x0, [sp, #160]\n"
	"	eor x1, x19, x0\n"
	"	add x2, x0, #1\n"
	"	eor x2, x2, x20\n"
	"	orr x1, x1, x2\n"
	"	add x2, x0, #2\n"
	"	eor x2, x2, x21\n"
	"	orr x1, x1, x2\n"
	"	add x2, x0, #3\n"
	"	eor x2, x2, x22\n"
	"	orr x1, x1, x2\n"
	"	add x2, x0, #4\n"
	"	eor x2, x2, x23\n"
	"	orr x1, x1, x2\n"
	"	add x2, x0, #5\n"
	"	eor x2, x2, x24\n"
	"	orr x1, x1, x2\n"
	"	add x2, x0, #6\n"
	"	eor x2, x2, x25\n"
	"	orr x1, x1, x2\n"
	"	add x2, x0, #7\n"
	"	eor x2, x2, x26\n"
	"	orr x1, x1, x2\n"
	"	add x2, x0, #8\n"
	"	eor x2, x2, x27\n"
	"	orr x1, x1, x2\n"
	"	add x2, x0, #9\n"
	"	eor x2, x2, x28\n"
	"	orr x1, x1, x2\n"
	"	fmov x2, d8\n"
	"	eor x2, x2, x20\n"
	"	orr x1, x1, x2\n"
	"	fmov x2, d9\n"
	"	eor x2, x2, x21\n"
	"	orr x1, x1, x2\n"
	"	fmov x2, d10\n"
	"	eor x2, x2, x22\n"
	"	orr x1, x1, x2\n"
	"	fmov x2, d11\n"
	"	eor x2, x2, x23\n"
	"	orr x1, x1, x2\n"
	"	fmov x2, d12\n"
	"	eor x2, x2, x24\n"
	"	orr x1, x1, x2\n"
	"	fmov x2, d13\n"
	"	eor x2, x2, x25\n"
	"	orr x1, x1, x2\n"
	"	fmov x2, d14\n"
	"	eor x2, x2, x26\n"
	"	orr x1, x1, x2\n"
	"	fmov x2, d15\n"
	"	eor x2, x2, x27\n"
	"	orr x1, x1, x2\n"
	"	cmp x1, #0\n"
	"	cset w0, ne\n"
	"	ldp x19, x20, [sp, #16]\n"
	"	ldp x21, x22, [sp, #32]\n"
	"	ldp x23, x24, [sp, #48]\n"
	"	ldp x25, x26, [sp, #64]\n"
	"	ldp x27, x28, [sp, #80]\n"
	"	ldp d8, d9, [sp, #96]\n"
	"	ldp d10, d11, [sp, #112]\n"
	"	ldp d12, d13, [sp, #128]\n"
	"	ldp d14, d15, [sp, #144]\n"
	"	ldp x29, x30, [sp], #176\n"
	"	ret\n"
	".size regs_probe, .-regs_probe\n");
#endif
int regs_probe(uintptr_t base, int (*fn)(void *), void *arg);

static int probe_yield(void *arg)
{
	return cn_coro_yield(arg);
}

struct probe_resume {
	cn_coro *co;
	int r;
};

static int probe_resume(void *arg)
{
	struct probe_resume *p = arg;

	p->r = cn_coro_resume(p->co, NULL);
	return p->r;
}

/* The coroutine's registers hold one pattern across each yield... */
static void reg_side(void *arg)
{
	int *bad = arg;

	for (uintptr_t i = 0; i < 50; i++)
		*bad += regs_probe(0x1000 * (i + 1), probe_yield, NULL);
}

/* ...while its resumer's hold another across each resume: a switch that
 * forgot a register would hand one side the other's value. */
static void test_callee_saved_registers(void **state)
{
	(void)state;
	int bad_co = 0, bad_resumer = 0;
	struct probe_resume p = { 0 };

	p.co = cn_coro_create(reg_side, &bad_co, NULL);
	assert_non_null(p.co);
	uintptr_t round = 0;
	do
		bad_resumer += regs_probe(0xdead0000 + 0x100 * round++, probe_resume, &p);
	while (p.r == 1);
	assert_int_equal(p.r, 0);
	assert_int_equal(round, 51);
	assert_int_equal(bad_co, 0);
	assert_int_equal(bad_resumer, 0);
	assert_int_equal(cn_coro_destroy(p.co), 0);
}
#endif

/* ---- backtraces --------------------------------------------------------- */

struct bt {
	int frames;
	int garbage; /* return addresses outside every loaded object */
};

static __attribute__((noinline)) void bt_leaf(struct bt *b, int depth)
{
	if (depth > 0) {
		bt_leaf(b, depth - 1);
		__asm__ volatile("" ::: "memory"); /* not a tail call */
		return;
	}
	void *addr[64];
	b->frames = backtrace(addr, 64);
	for (int i = 0; i < b->frames; i++) {
		Dl_info info;
		b->garbage += addr[i] == NULL || dladdr(addr[i], &info) == 0;
	}
}

static void bt_entry(void *arg)
{
	bt_leaf(arg, 3);
	cn_coro_yield(NULL);
	bt_leaf(arg, 3);
}

/* backtrace() inside a coroutine walks its frames and stops at the entry:
 * bt_leaf x4, bt_entry, the coroutine's start, the trampoline: about 7,
 * never the 64 a walk into garbage would fill, and every address lies in
 * loaded code. The same after a yield. */
static void test_backtrace(void **state)
{
	(void)state;
	struct bt b = { 0 };
	cn_coro *co = cn_coro_create(bt_entry, &b, NULL);
	assert_non_null(co);
	assert_int_equal(cn_coro_resume(co, NULL), 1);
	assert_in_range(b.frames, 5, 12);
	assert_int_equal(b.garbage, 0);
	b = (struct bt){ 0 };
	assert_int_equal(cn_coro_resume(co, NULL), 0);
	assert_in_range(b.frames, 5, 12);
	assert_int_equal(b.garbage, 0);
	assert_int_equal(cn_coro_destroy(co), 0);
}

/* ---- threads ------------------------------------------------------------ */

static void *resume_once(void *arg)
{
	void *v = NULL;
	intptr_t r = cn_coro_resume(arg, &v);
	return r == 1 ? v : NULL;
}

/* A suspended coroutine may be resumed from another thread. */
static void test_migrate(void **state)
{
	(void)state;
	cn_coro *co = cn_coro_create(counter, (void *)(intptr_t)4, NULL);
	assert_non_null(co);
	void *v;
	assert_int_equal(cn_coro_resume(co, &v), 1);
	assert_ptr_equal(v, (void *)1);
	for (intptr_t i = 2; i <= 4; i++) {
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, resume_once, co), 0);
		assert_int_equal(pthread_join(t, &v), 0);
		assert_ptr_equal(v, (void *)i);
		assert_null(cn_coro_current());
	}
	assert_int_equal(cn_coro_resume(co, &v), 0);
	assert_int_equal(cn_coro_destroy(co), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping_pong),
		cmocka_unit_test(test_value_null),
		cmocka_unit_test(test_round_robin),
		cmocka_unit_test(test_deep_recursion),
		cmocka_unit_test(test_nesting),
		cmocka_unit_test(test_finish_without_yield),
		cmocka_unit_test(test_destroy_suspended),
		cmocka_unit_test(test_states),
		cmocka_unit_test(test_name_and_size),
		cmocka_unit_test(test_runs_on_own_stack),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_resume_errors),
		cmocka_unit_test(test_yield_outside),
		cmocka_unit_test(test_null_queries),
		cmocka_unit_test(test_fp_modes),
		cmocka_unit_test(test_fp_inherited),
		cmocka_unit_test(test_live_locals),
#ifdef HAVE_REGS_PROBE
		cmocka_unit_test(test_callee_saved_registers),
#endif
		cmocka_unit_test(test_backtrace),
		cmocka_unit_test(test_migrate),
	};
	return CN_TEST_RUN(tests, NULL, NULL);
}
