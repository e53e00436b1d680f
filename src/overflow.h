/*
 * src/overflow.h — the stack-overflow reporter.
 *
 * Threads: cn__overflow_arm() from any thread, for that thread.
 */
#ifndef CORONET_OVERFLOW_H
#define CORONET_OVERFLOW_H

#include "stack.h"

/*
 * Arms the overflow reporter for the calling thread: a SIGSEGV/SIGBUS
 * handler (installed once per process, chaining to any previous handler for
 * faults that are not in a coroutine stack's guard) running on this thread's
 * alternate signal stack (made once per thread). A fault inside the guard
 * of any coroutine stack prints
 *   coronet: coroutine 'NAME' overflowed its N-byte stack
 * on stderr and aborts. NAME is the running coroutine, which run() tells
 * (its stack, and its name through *name; NULL when the thread runs none):
 * a callback, so that this file needs nothing from coro.c, which arms it.
 * When the guard hit is another coroutine's (a frame larger than the guard
 * jumped over its own), the line names that one too. run must be
 * async-signal-safe. Returns 0, or -1 with errno.
 */
int cn__overflow_arm(const cn__stack *(*run)(const char **name));

#endif
