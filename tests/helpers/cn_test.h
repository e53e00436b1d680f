/*
 * tests/helpers/cn_test.h — small helpers shared by the test binaries: a
 * hang guard, the two netpoll modes as cmocka test states, socket pairs.
 * Linked into every test binary, so they use only POSIX and cmocka, never
 * the library. Test thread only (the main thread of a test binary).
 */
#ifndef CN_TEST_H
#define CN_TEST_H

#include <stdint.h>

/* Kills the process with a message if it is still running after seconds
 * (alarm + SIGALRM handler that _exit()s with 99): a hang fails loudly. */
void cn_test_watchdog(unsigned seconds);

/* Test states for running one test in both netpoll modes; the values are
 * cn_netpoll_mode's (0 thread, 1 inline). */
extern int cn_test_mode_thread;
extern int cn_test_mode_inline;
#define CN_TEST_MODE(state) (*(int *)*(state))
/* clang-format off */
#define CN_TEST_BOTH(f) \
	{ #f "/thread", f, NULL, NULL, &cn_test_mode_thread }, \
	{ #f "/inline", f, NULL, NULL, &cn_test_mode_inline }
/* clang-format on */

/* A connected TCP pair over 127.0.0.1 (blocking fds). 0, or -1 with errno. */
int cn_test_tcp_pair(int fds[2]);

/* A TCP listener on 127.0.0.1 with an ephemeral port; the fd, or -1. */
int cn_test_listener(uint16_t *port);

/* Elapsed-time helper: CLOCK_MONOTONIC in nanoseconds. */
int64_t cn_test_now(void);

#endif
