/*
 * tests/helpers/cn_test.h — what every test binary needs: a hang guard, the
 * two netpoll modes as cmocka test states and a runtime made for one, time
 * constants, which checker the binary runs under, the fd limit, socket
 * pairs, running one case by name, and the test echo server
 * (helpers/cn_echo.h). Linked into every test binary. Test thread only (the
 * main thread of a test binary) unless a function says otherwise.
 */
#ifndef CN_TEST_H
#define CN_TEST_H

#include <stdint.h>
#include <sys/resource.h>

#include "base.h"
#include "coronet.h"

#define CN_TEST_US ((int64_t)1000)
#define CN_TEST_MS ((int64_t)1000 * 1000)
#define CN_TEST_SEC ((int64_t)1000 * 1000 * 1000)

/* Which checker the binary was built for (compile time) or runs under. */
#ifdef CN__TSAN
#define CN_TEST_TSAN 1
#else
#define CN_TEST_TSAN 0
#endif
#ifdef CN__ASAN
#define CN_TEST_ASAN 1
#else
#define CN_TEST_ASAN 0
#endif
/* Valgrind, asked at run time (0 where its header is missing). */
int cn_test_valgrind(void);
/* qemu-user: scripts/run-tests.sh passes RUNNER in the environment. The
 * runner string, or NULL when the tests run natively. */
const char *cn_test_qemu(void);
/* n on a plain or ASan build; n / div (at least 1) under the slow ones:
 * Valgrind, TSan, qemu. */
int cn_test_scaled(int n, int div);

/* Kills the process with a message if it is still running after seconds
 * (alarm + SIGALRM handler that _exit()s with 99): a hang fails loudly. */
void cn_test_watchdog(unsigned seconds);

/* Test states for running one test in both netpoll modes; the values are
 * cn_netpoll_mode's. CN_TEST_BOTH is the one way a case runs in both. */
extern int cn_test_mode_thread;
extern int cn_test_mode_inline;
#define CN_TEST_MODE(state) ((cn_netpoll_mode)(*(int *)*(state)))
/* clang-format off */
#define CN_TEST_BOTH_SETUP(f, setup, teardown) \
	{ #f "/thread", f, setup, teardown, &cn_test_mode_thread }, \
	{ #f "/inline", f, setup, teardown, &cn_test_mode_inline }
/* clang-format on */
#define CN_TEST_BOTH(f) CN_TEST_BOTH_SETUP(f, NULL, NULL)

/* A runtime in mode with ring slots (0: the default); fails the test if it
 * cannot be made. cn_test_runtime_for(state) takes the mode of a
 * CN_TEST_BOTH case. */
cn_runtime *cn_test_runtime(cn_netpoll_mode mode, unsigned ring);
cn_runtime *cn_test_runtime_for(void **state);

/* Raises the soft fd limit towards the hard one (stepping down where the
 * kernel refuses, as macOS does above kern.maxfilesperproc). Returns the
 * limit now in force. */
rlim_t cn_test_raise_nofile(void);

/* Runs a cmocka group. Honours CN_TEST_CASE (a cmocka glob, e.g.
 * "test_pipe*" or "*inline") from the environment, so any single case of
 * any binary runs by name: `make test TESTS=test_io CASE='test_pipe/thread'`. */
#define CN_TEST_RUN(tests, setup, teardown) \
	(cn_test_filter_from_env(), cmocka_run_group_tests(tests, setup, teardown))
void cn_test_filter_from_env(void);

/* A connected TCP pair over 127.0.0.1 (blocking fds). 0, or -1 with errno. */
int cn_test_tcp_pair(int fds[2]);

/* A TCP listener on 127.0.0.1 with an ephemeral port; the fd, or -1. */
int cn_test_listener(uint16_t *port);

/* Runs cmd under sh, its stdout (up to outlen - 1 bytes, NUL-terminated)
 * into out. Returns its exit status, or -1 when it could not be run or
 * died of a signal. Fails the test if popen() fails. */
int cn_test_run_shell(const char *cmd, char *out, size_t outlen);

/* Runs b on a new thread and a on the calling one, each until it has
 * nothing left to run; returns once both have. Fails the test if the
 * thread cannot start or a's run fails. */
void cn_test_run_two(cn_runtime *a, cn_runtime *b);

/* Elapsed-time helper: CLOCK_MONOTONIC in nanoseconds. */
int64_t cn_test_now(void);

/* Waits up to secs for cond, polling every millisecond. */
#define CN_TEST_WAIT_FOR(cond, secs)                                          \
	do {                                                                  \
		int64_t until_ = cn_test_now() + (int64_t)(secs)*CN_TEST_SEC; \
		while (!(cond) && cn_test_now() < until_) {                   \
			struct timespec ts_ = {0, CN_TEST_MS};                \
			nanosleep(&ts_, NULL);                                \
		}                                                             \
	} while (0)

#endif
