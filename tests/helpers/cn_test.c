/*
 * tests/helpers/cn_test.c — see cn_test.h. Test thread only.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "helpers/cn_test.h"

int cn_test_mode_thread = 0;
int cn_test_mode_inline = 1;

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
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1024) < 0 ||
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
