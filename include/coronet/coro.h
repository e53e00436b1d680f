/*
 * coronet/coro.h — stackful, asymmetric coroutines.
 *
 * A coroutine runs an entry function on its own guarded stack. cn_coro_resume()
 * runs it until it calls cn_coro_yield() (from any depth of its call stack) or
 * its entry returns; cn_coro_yield() hands one pointer back to whoever resumed
 * it. Data flows one way, from yielder to resumer: resume takes no value. A
 * coroutine may resume another one (nesting); a yield always returns to the
 * coroutine or thread that resumed the yielder.
 *
 * Threads: a coroutine runs on the thread that resumes it. Every function here
 * acts on the calling thread's chain of running coroutines, so a coroutine
 * must not be resumed by two threads at once; resuming a suspended coroutine
 * from another thread is allowed (it migrates) but its stack comes from, and
 * returns to, the per-thread cache of the thread that destroys it.
 *
 * Runtime coroutines: a coroutine made by cn_spawn() belongs to its
 * runtime's scheduler. While it is queued or parked on a promise,
 * cn_coro_resume() and cn_coro_destroy() on it fail with EPERM (the
 * scheduler alone resumes it, and destroys it when it finishes);
 * cn_coro_state_of() reports CN_CORO_CREATED or CN_CORO_SUSPENDED for it.
 *
 * Errors follow POSIX: -1 (or NULL) and errno. Nothing here aborts on bad
 * input; only a broken internal invariant or a stack overflow aborts, with a
 * message on stderr that names it.
 *
 * Undefined, not detected: any call on a coroutine after cn_coro_destroy()
 * (a second destroy included: the control block lives on the freed stack,
 * which may already hold another coroutine), and resuming one coroutine from
 * two threads at once.
 */
#ifndef CORONET_CORO_H
#define CORONET_CORO_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cn_coro cn_coro;

/* The entry function. It returns nothing: a result travels by yield or
 * through memory the caller owns. */
typedef void (*cn_coro_fn)(void *arg);

typedef enum cn_coro_state {
	CN_CORO_CREATED = 0,   /* made, never resumed */
	CN_CORO_SUSPENDED = 1, /* yielded; resume continues it */
	CN_CORO_RUNNING = 2,   /* running, or resumed another one and waits */
	CN_CORO_FINISHED = 3,  /* its entry returned; only destroy is left */
} cn_coro_state;

/* Stack sizes are virtual: only the pages a coroutine touches cost memory.
 * The size is rounded up to whole pages; the guard is extra. */
#define CN_CORO_STACK_DEFAULT ((size_t)256 * 1024)
#define CN_CORO_STACK_MIN ((size_t)16 * 1024)
#define CN_CORO_STACK_MAX ((size_t)1024 * 1024 * 1024)

/*
 * The guard: inaccessible memory right below each stack. A write into it is
 * reported as "coronet: coroutine 'NAME' overflowed its N-byte stack" and
 * aborts. The limit to know: code compiled WITHOUT -fstack-clash-protection
 * (gcc's default on Debian, clang's on macOS) may open a frame larger than
 * the guard in one step and write below it, into the neighbouring
 * coroutine's stack, before touching the guard at all: memory corruption
 * instead of a report. So build code that runs in coroutines with
 * -fstack-clash-protection (every page of a large frame is probed, and the
 * first probe hits the guard whatever the frame's size), or keep every frame
 * (local arrays, alloca, VLAs) well below the guard size, or raise the guard
 * with cn_coro_opts.guard_size. A guard costs address space and page-table
 * entries only, no memory.
 */
#define CN_CORO_GUARD_DEFAULT ((size_t)64 * 1024)
#define CN_CORO_GUARD_MAX ((size_t)256 * 1024 * 1024)

typedef struct cn_coro_opts {
	size_t stack_size; /* 0 = CN_CORO_STACK_DEFAULT; else MIN..MAX */
	const char *name;  /* for diagnostics; copied (up to 31 bytes); NULL = "coro" */
	size_t guard_size; /* 0 = CN_CORO_GUARD_DEFAULT; else up to GUARD_MAX,
			    * rounded up to whole pages */
} cn_coro_opts;

/*
 * Creates a suspended coroutine that will run fn(arg) on first resume.
 * opts may be NULL for the defaults.
 * Errors (NULL returned):
 *   EINVAL  fn is NULL, opts->stack_size is outside MIN..MAX, or
 *           opts->guard_size is above CN_CORO_GUARD_MAX;
 *   ENOMEM  no memory or address space for the stack, or the kernel refused
 *           a guard page (e.g. vm.max_map_count reached): a coroutine is never
 *           created without a guard page.
 */
cn_coro *cn_coro_create(cn_coro_fn fn, void *arg, const cn_coro_opts *opts);

/*
 * Runs co until it yields or finishes.
 * Returns 1 if it yielded (*value, when value is not NULL, is the pointer it
 * yielded), 0 if it finished (*value = NULL), -1 on error:
 *   EINVAL  co is NULL;
 *   EBUSY   co is running: it is the caller, or one of the coroutines that
 *           resumed the caller;
 *   ESRCH   co has finished; there is nothing left to run;
 *   EPERM   co belongs to a runtime (cn_spawn) and waits in its scheduler's
 *           queue or on a promise: only the scheduler may resume it.
 */
int cn_coro_resume(cn_coro *co, void **value);

/*
 * Suspends the calling coroutine and makes its resumer's cn_coro_resume()
 * return 1 with value. Returns 0 when the coroutine is resumed again.
 * Errors: EPERM  the caller is not running inside a coroutine.
 */
int cn_coro_yield(void *value);

/* The coroutine running on this thread, or NULL outside any coroutine. */
cn_coro *cn_coro_current(void);

/* co's state, or -1 with errno EINVAL when co is NULL. */
int cn_coro_state_of(const cn_coro *co);

/* co's name ("coro" when it was given none); NULL with EINVAL when co is NULL. */
const char *cn_coro_name(const cn_coro *co);

/* The usable stack size in bytes (guard page not counted); 0 with EINVAL. */
size_t cn_coro_stack_size(const cn_coro *co);

/*
 * Frees co and its stack. A suspended coroutine's frames are discarded
 * without running any code in them: whatever they own is the caller's to
 * release (the runtime cancels its coroutines by resuming them with an
 * error first). co is invalid afterwards, whatever its state was.
 * Returns 0, or -1 with:
 *   EINVAL  co is NULL;
 *   EBUSY   co is running (destroying the running coroutine or one of its
 *           resumers would pull the stack from under the caller);
 *   EPERM   co belongs to a runtime and is queued or parked there (the
 *           runtime destroys it when it finishes, or in cn_runtime_destroy).
 */
int cn_coro_destroy(cn_coro *co);

#ifdef __cplusplus
}
#endif

#endif
