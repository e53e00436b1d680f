/*
 * src/coro.c — stackful asymmetric coroutines: create, resume, yield,
 * destroy (include/coronet/coro.h).
 *
 * Threads: every function acts on the calling thread's chain of running
 * coroutines (the thread-local `cn__coro_tls` and each coroutine's `link`
 * to its resumer). A suspended coroutine may be resumed from another
 * thread. The overflow reporter (overflow.c, told the running coroutine
 * through a callback) is armed by cn_coro_create() for the creating
 * thread and by cn_runtime_run() for the scheduler thread (cn__coro_arm());
 * resume does not arm it (that would add a thread-local test to every
 * switch), so a coroutine migrated to a thread that neither creates
 * coroutines nor runs a runtime overflows with a bare SIGSEGV instead of
 * a report naming it.
 *
 * Held coroutines. A coroutine spawned on a runtime belongs to its
 * scheduler while it is queued or parked on a promise: the scheduler marks
 * it with the CN__CORO_HELD bit on top of CREATED or SUSPENDED, and clears
 * the bit just before it resumes it. A held state fails resume's one
 * compare like any other non-resumable state, so a user's cn_coro_resume()
 * or cn_coro_destroy() on it costs nothing on the hot path and fails, in the
 * cold path, with EPERM instead of running the coroutine behind the
 * scheduler's back. cn_coro_state_of() hides the bit.
 *
 * Layout. The control block lives at the top of the coroutine's own stack,
 * so a coroutine costs one stack from the cache and no malloc, and an idle
 * coroutine touches one page: the control block and the saved frame sit
 * next to each other. Destroying the coroutine frees both with the stack.
 *
 * The hot path. A resume+yield round trip should cost little more than the
 * bare register switch, while doing the checks and bookkeeping the API
 * promises, so:
 *   - the state is one int, and "resumable" is `state <= SUSPENDED`: one
 *     compare; every error goes to an out-of-line cold function;
 *   - `cn__coro_tls` is an initial-exec thread-local (no __tls_get_addr call);
 *   - resume and yield tail-call the assembly switch, which returns straight
 *     to the other side's caller with the result already in the return
 *     register; the yielded value is stored by the yielder through the
 *     resumer's `value` pointer, so nothing runs after the switch;
 *   - sanitizer annotations exist only in sanitizer builds (CN_FIBER_HOOKS):
 *     there the switch is an ordinary call with the hooks around it.
 */
#include "coro_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base.h"
#include "overflow.h"

#if defined(CN__ASAN) || defined(CN__TSAN)
#define CN_FIBER_HOOKS 1
#endif

#ifdef CN__ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef CN__TSAN
#include <sanitizer/tsan_interface.h>
#include <time.h>
#endif

#define CN__NAME_MAX 32

/* Above every cn_coro_state value: see "Held coroutines" above. */
#define CN__CORO_HELD 0x100

struct cn_coro {
	/* The switch reads and writes these two by offset (src/arch/). */
	void *sp;   /* coroutine's saved sp while suspended or created */
	void *back; /* resumer's saved sp while the coroutine runs */
	/* Hot bookkeeping, same cache line. */
	cn_coro *link; /* the coroutine that resumed it; NULL = the thread */
	void **out;    /* resume's value pointer, written by yield */
	int state;     /* cn_coro_state */
	cn_coro_fn fn;
	void *arg;
	void *user; /* cn__coro_user() */
	cn__stack stack;
#ifdef CN__ASAN
	const void *back_bottom; /* resumer's stack, learnt on each resume */
	size_t back_size;
#endif
#ifdef CN__TSAN
	void *fiber;      /* this coroutine's TSan fiber */
	void *back_fiber; /* its resumer's, set on each resume */
#endif
	char name[CN__NAME_MAX];
};

_Static_assert(offsetof(struct cn_coro, sp) == 0x00, "CO_SP in src/arch/*.S");
_Static_assert(offsetof(struct cn_coro, back) == 0x08, "CO_BACK in src/arch/*.S");
_Static_assert(offsetof(struct cn_coro, user) == CN__CORO_USER_AT, "coro_internal.h");

/* The assembly switch (src/arch/switch_*.S). */
CN__HIDDEN int cn__switch_in(cn_coro *co);
CN__HIDDEN int cn__switch_out(cn_coro *co);
CN__HIDDEN __attribute__((noreturn)) void cn__switch_exit(cn_coro *co);
CN__HIDDEN void *cn__switch_prepare(void *top, cn_coro *co);
CN__HIDDEN __attribute__((noreturn)) void cn__coro_entry(cn_coro *co);

/* initial-exec: a fixed offset from the thread pointer, no __tls_get_addr()
 * call even in the shared library (Darwin has its own TLV scheme and no
 * model choice). */
#if defined(__APPLE__)
CN__HIDDEN __thread cn_coro *cn__coro_tls;
#else
CN__HIDDEN __thread cn_coro *cn__coro_tls __attribute__((tls_model("initial-exec")));
#endif

/* ---- sanitizer annotations (sanitizer builds only) --------------------- */

#ifdef CN_FIBER_HOOKS
/* Called on the resumer's side around cn__switch_in(co). */
static void hook_resume(cn_coro *co)
{
#ifdef CN__TSAN
	co->back_fiber = __tsan_get_current_fiber();
	__tsan_switch_to_fiber(co->fiber, 0);
#endif
	(void)co;
}

/* Runs first thing in co after it was resumed (first entry included):
 * ends the switch ASan began on the resumer's side and learns the
 * resumer's stack, to name it when co switches back. */
static void hook_arrived(cn_coro *co, void *fake)
{
#ifdef CN__ASAN
	__sanitizer_finish_switch_fiber(fake, &co->back_bottom, &co->back_size);
#endif
	(void)co;
	(void)fake;
}

#ifdef CN__TSAN
/* TSan defers a signal that arrives outside an intercepted call to the
 * next interceptor exit, and keeps it with the fiber that was running: if
 * that fiber then switches away and is destroyed, the handler never runs
 * (a SIGTERM whose handler calls cn_runtime_stop() was lost that way).
 * Leaving an interceptor on the way out of a coroutine runs what is
 * pending. time() is intercepted and reads the vDSO. */
static void flush_signals(void)
{
	(void)time(NULL);
}
#endif

/* co is switching back to its resumer; final = it finished (its ASan fake
 * stack is released: nothing will come back to it). */
static void hook_leave(cn_coro *co, void **fake, int final)
{
#ifdef CN__ASAN
	__sanitizer_start_switch_fiber(final ? NULL : fake, co->back_bottom, co->back_size);
#endif
#ifdef CN__TSAN
	flush_signals();
	__tsan_switch_to_fiber(co->back_fiber, 0);
#endif
	(void)co;
	(void)fake;
	(void) final;
}

static int switch_in_hooked(cn_coro *co)
{
	void *fake = NULL;
#ifdef CN__ASAN
	__sanitizer_start_switch_fiber(&fake, co->stack.lo, (size_t)(co->stack.hi - co->stack.lo));
#endif
	hook_resume(co);
	int r = cn__switch_in(co);
#ifdef CN__ASAN
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
	(void)fake;
	return r;
}

static int switch_out_hooked(cn_coro *co)
{
	void *fake = NULL;
	hook_leave(co, &fake, 0);
	int r = cn__switch_out(co);
	hook_arrived(co, fake);
	return r;
}
#define SWITCH_IN(co) switch_in_hooked(co)
#define SWITCH_OUT(co) switch_out_hooked(co)
#else
#define SWITCH_IN(co) cn__switch_in(co)
#define SWITCH_OUT(co) cn__switch_out(co)
#endif

/* ---- the coroutine's first and last moments --------------------------- */

/* Reads the thread pointer afresh: a coroutine may finish on another thread
 * than the one it started on, and a compiler may keep the thread pointer it
 * read before fn() in a register. */
static __attribute__((noinline)) void finish(cn_coro *co)
{
	co->state = CN_CORO_FINISHED;
	if (co->out)
		*co->out = NULL;
	cn__coro_tls = co->link;
}

void cn__coro_entry(cn_coro *co)
{
#ifdef CN_FIBER_HOOKS
	hook_arrived(co, NULL);
#endif
	co->fn(co->arg);
	finish(co);
#ifdef CN_FIBER_HOOKS
	hook_leave(co, NULL, 1);
#endif
	cn__switch_exit(co);
}

/* ---- create / destroy --------------------------------------------------- */

cn_coro *cn_coro_create(cn_coro_fn fn, void *arg, const cn_coro_opts *opts)
{
	size_t size = CN_CORO_STACK_DEFAULT, guard = 0;
	const char *name = NULL;

	if (opts) {
		if (opts->stack_size)
			size = opts->stack_size;
		name = opts->name;
		guard = opts->guard_size;
	}
	if (CN__UNLIKELY(!fn || size < CN_CORO_STACK_MIN || size > CN_CORO_STACK_MAX ||
	                 guard > CN_CORO_GUARD_MAX)) {
		errno = EINVAL;
		return NULL;
	}
	if (CN__UNLIKELY(cn__coro_arm() != 0))
		return NULL;
	cn__stack st;
	if (CN__UNLIKELY(cn__stack_alloc(size, guard, &st) != 0))
		return NULL;

	/* The control block takes the top of the stack, 64-byte aligned so its
	 * hot words share one cache line; the first frame goes right below. */
	uintptr_t top = ((uintptr_t)st.hi - sizeof(struct cn_coro)) & ~(uintptr_t)63;
	cn_coro *co = (cn_coro *)top;
	co->sp = cn__switch_prepare(co, co);
	co->back = NULL;
	co->link = NULL;
	co->out = NULL;
	co->state = CN_CORO_CREATED;
	co->fn = fn;
	co->arg = arg;
	co->user = NULL;
	co->stack = st;
#ifdef CN__ASAN
	co->back_bottom = NULL;
	co->back_size = 0;
#endif
#ifdef CN__TSAN
	co->fiber = __tsan_create_fiber(0);
	co->back_fiber = NULL;
#endif
	/* Names are short: a byte loop beats strnlen + memcpy calls here. */
	if (!name) {
		memcpy(co->name, "coro", 5);
	} else {
		size_t i = 0;
		for (; i < CN__NAME_MAX - 1 && name[i]; i++)
			co->name[i] = name[i];
		co->name[i] = '\0';
	}
	cn__stack_label(&co->stack, co->name);
	return co;
}

static CN__COLD int destroy_fail(const cn_coro *co)
{
	if (!co)
		errno = EINVAL;
	else if (co->state & CN__CORO_HELD)
		errno = EPERM;
	else
		errno = EBUSY;
	return -1;
}

int cn_coro_destroy(cn_coro *co)
{
	if (CN__UNLIKELY(!co || co->state == CN_CORO_RUNNING ||
	                 (unsigned)co->state > CN_CORO_FINISHED))
		return destroy_fail(co);
	cn__stack st = co->stack;
#ifdef CN__TSAN
	__tsan_destroy_fiber(co->fiber);
#endif
#ifdef CN__ASAN
	/* Frames discarded without returning leave their redzones poisoned;
	 * the next coroutine to get this stack must start clean. */
	__asan_unpoison_memory_region(st.lo, (size_t)(st.hi - st.lo));
#endif
	cn__stack_free(&st);
	return 0;
}

/* ---- resume / yield ----------------------------------------------------- */

static CN__COLD int resume_fail(const cn_coro *co)
{
	if (!co)
		errno = EINVAL;
	else if (co->state == CN_CORO_FINISHED)
		errno = ESRCH;
	else if (co->state & CN__CORO_HELD)
		errno = EPERM;
	else
		errno = EBUSY;
	return -1;
}

int cn_coro_resume(cn_coro *co, void **value)
{
	if (CN__UNLIKELY(!co || (unsigned)co->state > CN_CORO_SUSPENDED))
		return resume_fail(co);
	co->link = cn__coro_tls;
	cn__coro_tls = co;
	/* Keeps GCC from pairing the link and out stores through an SSE
	 * register (a spill and three vector instructions); costs nothing. */
	__asm__("" ::: "memory");
	co->state = CN_CORO_RUNNING;
	co->out = value;
	return SWITCH_IN(co);
}

static CN__COLD int yield_fail(void)
{
	errno = EPERM;
	return -1;
}

int cn_coro_yield(void *value)
{
	cn_coro *co = cn__coro_tls;

	if (CN__UNLIKELY(!co))
		return yield_fail();
	if (co->out)
		*co->out = value;
	co->state = CN_CORO_SUSPENDED;
	cn__coro_tls = co->link;
	return SWITCH_OUT(co);
}

/* ---- queries ------------------------------------------------------------ */

cn_coro *cn_coro_current(void)
{
	return cn__coro_tls;
}

int cn_coro_state_of(const cn_coro *co)
{
	if (!co) {
		errno = EINVAL;
		return -1;
	}
	return co->state & ~CN__CORO_HELD;
}

const char *cn_coro_name(const cn_coro *co)
{
	if (!co) {
		errno = EINVAL;
		return NULL;
	}
	return co->name;
}

size_t cn_coro_stack_size(const cn_coro *co)
{
	if (!co) {
		errno = EINVAL;
		return 0;
	}
	return (size_t)(co->stack.hi - co->stack.lo);
}

void cn__coro_set_user(cn_coro *co, void *user)
{
	co->user = user;
}

void cn__coro_hold(cn_coro *co)
{
	co->state |= CN__CORO_HELD;
}

void cn__coro_unhold(cn_coro *co)
{
	co->state &= ~CN__CORO_HELD;
}

const cn__stack *cn__coro_stack(const cn_coro *co)
{
	return &co->stack;
}

/* For the overflow reporter, from its signal handler: reads only. */
static const cn__stack *running_stack(const char **name)
{
	cn_coro *co = cn__coro_tls;

	if (!co)
		return NULL;
	*name = co->name;
	return &co->stack;
}

int cn__coro_arm(void)
{
	return cn__overflow_arm(running_stack);
}
