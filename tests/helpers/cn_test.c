/*
 * tests/helpers/cn_test.c — see cn_test.h. Test thread only.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/cn_test.h"

#ifdef CN__VALGRIND
#include <valgrind/valgrind.h>
#endif

int cn_test_mode_thread = CN_NETPOLL_THREAD;
int cn_test_mode_inline = CN_NETPOLL_INLINE;

int cn_test_valgrind(void)
{
#ifdef CN__VALGRIND
	return RUNNING_ON_VALGRIND != 0;
#else
	return 0;
#endif
}

const char *cn_test_qemu(void)
{
	const char *r = getenv("RUNNER");

	return r && strstr(r, "qemu") ? r : NULL;
}

int cn_test_scaled(int n, int div)
{
	if (cn_test_valgrind() || CN_TEST_TSAN || cn_test_qemu())
		return n / div > 1 ? n / div : 1;
	return n;
}

static void on_alarm(int sig)
{
	static const char msg[] = "cn_test: watchdog expired: the test hangs\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(99);
}

void cn_test_watchdog(unsigned seconds)
{
	signal(SIGALRM, on_alarm);
	alarm(seconds);
}

cn_runtime *cn_test_runtime(cn_netpoll_mode mode, unsigned ring)
{
	cn_runtime_opts o = {.mode = mode, .ring_size = ring};
	cn_runtime *rt = cn_runtime_create(&o);

	assert_non_null(rt);
	return rt;
}

cn_runtime *cn_test_runtime_for(void **state)
{
	return cn_test_runtime(CN_TEST_MODE(state), 0);
}

rlim_t cn_test_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		const rlim_t want[] = {rl.rlim_max, 65536, 20000, 10240};

		for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
			struct rlimit r = {.rlim_cur = want[i], .rlim_max = rl.rlim_max};

			if (want[i] <= rl.rlim_cur || want[i] > rl.rlim_max)
				continue;
			if (setrlimit(RLIMIT_NOFILE, &r) == 0)
				return want[i];
		}
	}
	return rl.rlim_cur;
}

void cn_test_filter_from_env(void)
{
	const char *f = getenv("CN_TEST_CASE");

	if (f && *f)
		cmocka_set_test_filter(f);
}

int cn_test_run_shell(const char *cmd, char *out, size_t outlen)
{
	size_t got = 0;
	FILE *f = popen(cmd, "r");
	int st;

	assert_non_null(f);
	while (got + 1 < outlen && fgets(out + got, (int)(outlen - got), f))
		got += strlen(out + got);
	out[got] = '\0';
	st = pclose(f);
	if (!WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

int64_t cn_test_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int cn_test_listener(uint16_t *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, SOMAXCONN) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		close(fd);
		return -1;
	}
	if (port)
		*port = ntohs(a.sin_port);
	return fd;
}

int cn_test_tcp_pair(int fds[2])
{
	struct sockaddr_in a;
	uint16_t port;
	int one = 1;
	int l = cn_test_listener(&port);

	if (l < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(l);
		return -1;
	}
	fds[1] = accept(l, NULL, NULL);
	close(l);
	if (fds[1] < 0)
		return -1;
	setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

static void *run_other(void *rt)
{
	cn_runtime_run(rt);
	return NULL;
}

void cn_test_run_two(cn_runtime *a, cn_runtime *b)
{
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, run_other, b), 0);
	assert_int_equal(cn_runtime_run(a), 0);
	pthread_join(th, NULL);
}
