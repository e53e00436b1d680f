/*
 * src/overflow.c — reports a coroutine stack overflow by name.
 *
 * An overflow runs into the guard below the stack and faults (SIGSEGV, or
 * SIGBUS on some systems). The handler cannot run on the stack that just
 * overflowed, so each thread that creates coroutines gets an alternate signal
 * stack, and the handler is installed with SA_ONSTACK. When the faulting
 * address lies in the guard of any coroutine stack (slab.c's registry knows
 * them all, and each stack's owner name), it writes one line to stderr with
 * write(2) only (the handler may interrupt malloc or stdio, so nothing else
 * is safe) and aborts. The culprit is the coroutine running on the faulting
 * thread, which coro.c tells through the callback it arms us with (this file
 * stays below coro.c): usually the guard's owner, but a frame larger than
 * the guard can jump its own guard and land in a neighbour's; the line then
 * names both. Any other fault is
 * not ours: it goes to the handler that was installed before us, or, when
 * that was the default action, the default action is put back and the
 * handler returns, so the faulting instruction runs again and the process
 * dies of the original signal as it would have without coronet.
 *
 * Threads: cn__overflow_arm() may be called from any thread; the handler is
 * installed once per process, the alternate stack once per thread and freed
 * when the thread exits.
 */
#include "overflow.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "slab.h"

/* Larger than MINSIGSTKSZ by far: sanitizer runtimes run their own code on
 * this stack when they chain from our handler. */
#define ALTSTACK_SIZE ((size_t)64 * 1024)

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_err;
static pthread_key_t altstack_key;
static struct sigaction prev_segv, prev_bus;

static _Thread_local bool armed;
/* Set once, before the handler is installed; read by the handler. */
static const cn__stack *(*_Atomic running)(const char **name);

static char *fmt_uint(char *end, size_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

static char *put(char *p, const char *s, size_t max)
{
	/* Byte by byte, bounded: label names end at their NUL (31 bytes). */
	for (size_t i = 0; i < max && s[i]; i++)
		*p++ = s[i];
	return p;
}

static const char *name_or(const char *label)
{
	return label ? label : "coro";
}

/* run: the stack of the coroutine that ran (NULL if none did), guard: the
 * stack whose guard was hit. */
static void report(const cn__stack *run, const char *run_name, const cn__stack *guard,
                   const char *guard_name)
{
	const cn__stack *who = run ? run : guard;
	char buf[256], num[24];
	char *p = buf, *n;

	if (run) {
		p = put(p, "coronet: coroutine '", 32);
		p = put(p, name_or(run_name), 63);
		p = put(p, "' overflowed its ", 32);
	} else {
		p = put(p, "coronet: a fault outside any coroutine hit the guard of coroutine '",
		        80);
		p = put(p, guard_name, 63);
		p = put(p, "', ", 4);
	}
	n = fmt_uint(num + sizeof(num), (size_t)(who->hi - who->lo));
	p = put(p, n, (size_t)(num + sizeof(num) - n));
	p = put(p, "-byte stack", 32);
	if (run && run->lo != guard->lo) {
		p = put(p, " (a frame larger than its guard jumped into the guard of coroutine '",
		        80);
		p = put(p, name_or(guard_name), 63);
		p = put(p, "')", 4);
	}
	*p++ = '\n';
	/* One write, so the line is not interleaved with other output; a short
	 * write to a terminal or pipe is not worth looping over when aborting. */
	if (write(STDERR_FILENO, buf, (size_t)(p - buf)) < 0)
		(void)0;
}

static void chain(int sig, siginfo_t *si, void *uc)
{
	const struct sigaction *prev = sig == SIGBUS ? &prev_bus : &prev_segv;

	if ((prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction) {
		prev->sa_sigaction(sig, si, uc);
	} else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
		prev->sa_handler(sig);
	} else {
		/* Ignoring a synchronous fault would loop forever; the
		 * default action is what the program would have got. */
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		sigaction(sig, &dfl, NULL);
	}
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	cn__stack g;
	const char *gname;
	int in_guard;

	if (si && cn__slab_find(si->si_addr, &g, &in_guard, &gname) && in_guard) {
		const char *rname = NULL;
		const cn__stack *run = running ? running(&rname) : NULL;

		/* A stack no coroutine owns, hit while none runs, is some
		 * other code's business (tests carve raw stacks). */
		if (run || gname) {
			report(run, rname, &g, gname);
			abort();
		}
	}
	chain(sig, si, uc);
	errno = saved;
}

static void altstack_free(void *arg)
{
	stack_t cur, off;

	/* The kernel must stop using the stack before it is unmapped; leave a
	 * stack someone else installed since alone. */
	if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == arg) {
		memset(&off, 0, sizeof(off));
		off.ss_flags = SS_DISABLE;
		sigaltstack(&off, NULL);
	}
	munmap(arg, ALTSTACK_SIZE);
}

static void install(void)
{
	struct sigaction sa;

	install_err = pthread_key_create(&altstack_key, altstack_free);
	if (install_err)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &prev_segv) != 0 || sigaction(SIGBUS, &sa, &prev_bus) != 0)
		install_err = errno;
}

/* Gives the calling thread an alternate signal stack unless it has one
 * (a sanitizer runtime or the program may have made it already). */
static int altstack_make(void)
{
	stack_t cur, ss;
	void *mem;
	int err;

	if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) &&
	    cur.ss_size >= (size_t)MINSIGSTKSZ)
		return 0;
	/* mmap rather than malloc: the main thread's stack is never freed
	 * (no key destructor runs at exit) and must not look like a leak. */
	mem = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return ENOMEM;
	memset(&ss, 0, sizeof(ss));
	ss.ss_sp = mem;
	ss.ss_size = ALTSTACK_SIZE;
	if (sigaltstack(&ss, NULL) != 0) {
		err = errno;
		munmap(mem, ALTSTACK_SIZE);
		return err;
	}
	err = pthread_setspecific(altstack_key, mem);
	if (err) {
		altstack_free(mem);
		return err;
	}
	return 0;
}

int cn__overflow_arm(const cn__stack *(*run)(const char **name))
{
	int err;

	if (armed)
		return 0;
	atomic_store(&running, run);
	pthread_once(&install_once, install);
	if (install_err) {
		errno = install_err;
		return -1;
	}
	err = altstack_make();
	if (err) {
		errno = err;
		return -1;
	}
	armed = true;
	return 0;
}
