/*
 * src/overflow.c — reports a coroutine stack overflow by name.
 *
 * An overflow runs into the guard below the stack and faults (SIGSEGV, or
 * SIGBUS on some systems). The handler cannot run on the stack that just
 * overflowed, so each thread that creates coroutines gets an alternate signal
 * stack, and the handler is installed with SA_ONSTACK. When the faulting
 * address lies in the guard of the coroutine running on this thread, it
 * writes one line to stderr with write(2) only (the handler may interrupt
 * malloc or stdio, so nothing else is safe) and aborts. Any other fault is
 * not ours: it goes to the handler that was installed before us, or, when
 * that was the default action, the default action is put back and the
 * handler returns, so the faulting instruction runs again and the process
 * dies of the original signal as it would have without coronet.
 *
 * Threads: cn__overflow_arm() may be called from any thread; the handler is
 * installed once per process, the alternate stack once per thread and freed
 * when the thread exits.
 */
#include "stack.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coro_internal.h"

/* Larger than MINSIGSTKSZ by far: sanitizer runtimes run their own code on
 * this stack when they chain from our handler. */
#define ALTSTACK_SIZE ((size_t)64 * 1024)

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_err;
static pthread_key_t altstack_key;
static struct sigaction prev_segv, prev_bus;

static _Thread_local bool armed;

static char *fmt_uint(char *end, size_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

static void report(const cn_coro *co)
{
	static const char pre[] = "coronet: coroutine '";
	static const char mid[] = "' overflowed its ";
	static const char post[] = "-byte stack\n";
	const char *name = cn_coro_name(co);
	char buf[160], num[24];
	char *p = buf, *n;
	size_t len;

	if (!name)
		name = "coro";
	memcpy(p, pre, sizeof(pre) - 1);
	p += sizeof(pre) - 1;
	/* The loop stops at the name's NUL first: cppcheck pairs the bound
	 * with the 5-byte "coro" default and sees an overrun that cannot be. */
	// cppcheck-suppress arrayIndexOutOfBoundsCond
	for (len = 0; len < 63 && name[len]; len++)
		*p++ = name[len];
	memcpy(p, mid, sizeof(mid) - 1);
	p += sizeof(mid) - 1;
	n = fmt_uint(num + sizeof(num), cn_coro_stack_size(co));
	len = (size_t)(num + sizeof(num) - n);
	memcpy(p, n, len);
	p += len;
	memcpy(p, post, sizeof(post) - 1);
	p += sizeof(post) - 1;
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
	cn_coro *co = cn_coro_current();

	if (co && si) {
		const cn__stack *st = cn__coro_stack(co);
		const char *a = si->si_addr;

		if (st && st->guard && a >= st->guard && a < st->lo) {
			report(co);
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

int cn__overflow_arm(void)
{
	int err;

	if (armed)
		return 0;
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
