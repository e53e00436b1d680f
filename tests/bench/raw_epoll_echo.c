/*
 * tests/bench/raw_epoll_echo.c — the "how close to the bare kernel" baseline
 * of the echo benchmark: a single-threaded, non-blocking, edge-triggered
 * epoll echo server in plain C, with no coroutines and no coronet at all.
 *
 * It takes the same command line as examples/echo_server.c
 * (--port N, --host ADDR; --mode is accepted and ignored) and prints the same
 * "listening on HOST:PORT" line and the same kind of "stats" line on
 * SIGINT/SIGTERM, so tests/bench/echo_client.c and the benchmark scripts drive
 * all servers alike.
 *
 * Threads: one thread does everything. SIGINT and SIGTERM are blocked except
 * inside epoll_pwait(), so a stop request can never slip in between checking
 * the flag and going to sleep.
 *
 * Build (Linux only): cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra \
 *     -o raw_epoll_echo tests/bench/raw_epoll_echo.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define PROG "raw_epoll_echo"
/* Same per-connection buffer as echo_server, so memory figures compare. */
#define BUF_SIZE 16384
#define MAX_EVENTS 256

struct conn {
	int fd;
	size_t off, len;          /* bytes of buf read but not yet written */
	struct conn *prev, *next; /* every open connection, for shutdown */
	unsigned char buf[BUF_SIZE];
};

static volatile sig_atomic_t stop_requested;
static struct conn *conns;
static uint64_t n_accepted, n_bytes, n_waits, n_open, n_emfile;
/* Kept open so that on EMFILE one descriptor can be freed to accept and
 * drop the pending connection: an edge-triggered listener that leaves a
 * connection in the backlog would never be reported again. */
static int reserve_fd = -1;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: " PROG " [--port N] [--host ADDR] [--mode IGNORED]\n"
	                "  --port N     TCP port (default 7000; 0 picks a free one and prints it)\n"
	                "  --host ADDR  numeric IPv4 or IPv6 address (default 127.0.0.1)\n");
}

static void conn_close(int ep, struct conn *c)
{
	/* Close removes the registration too; the explicit del documents it. */
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	n_open--;
	free(c);
}

/*
 * Edge-triggered: this runs until a system call says EAGAIN (then the next
 * edge brings us back) or the peer is gone. While a write is blocked, reading
 * stops, so a client that does not read cannot make us buffer without bound.
 */
static void conn_service(int ep, struct conn *c)
{
	for (;;) {
		if (c->len > 0) {
			ssize_t w = write(c->fd, c->buf + c->off, c->len);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return;
				break;
			}
			c->off += (size_t)w;
			c->len -= (size_t)w;
			n_bytes += (uint64_t)w;
			continue;
		}
		ssize_t r = read(c->fd, c->buf, sizeof c->buf);
		if (r > 0) {
			c->off = 0;
			c->len = (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		break; /* EOF or a real error */
	}
	conn_close(ep, c);
}

static void accept_all(int ep, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) && reserve_fd >= 0) {
				/* Linux reports EMFILE before it looks at the queue,
				 * so it may be empty: then the accept below says
				 * EAGAIN and we are done. */
				n_emfile++;
				close(reserve_fd);
				fd = accept(lfd, NULL, NULL);
				int e = errno;
				if (fd >= 0)
					close(fd);
				reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				if (fd < 0 && e != EINTR && e != ECONNABORTED)
					return;
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				perror(PROG ": accept");
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct conn *c = malloc(sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->off = c->len = 0;
		c->prev = NULL;
		c->next = conns;
		if (conns)
			conns->prev = c;
		conns = c;
		n_accepted++;
		n_open++;
		/* Registered once for both directions, never modified again. */
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		                         .data.ptr = c};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			perror(PROG ": epoll_ctl");
			conn_close(ep, c);
			continue;
		}
		/* Data may have arrived before the registration. */
		conn_service(ep, c);
	}
}

static int listen_on(const char *host, int port, char *shown, size_t shown_len)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		len = sizeof *in4;
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		len = sizeof *in6;
	} else {
		fprintf(stderr, PROG ": --host needs a numeric address, got '%s'\n", host);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror(PROG ": socket");
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, SOMAXCONN) < 0) {
		fprintf(stderr, PROG ": bind/listen %s:%d: %s\n", host, port, strerror(errno));
		close(fd);
		return -1;
	}
	len = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &len);
	if (ss.ss_family == AF_INET6)
		snprintf(shown, shown_len, "[%s]:%u", host, ntohs(in6->sin6_port));
	else
		snprintf(shown, shown_len, "%s:%u", host, ntohs(in4->sin_port));
	return fd;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = 7000;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--port") && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || v < 0 || v > 65535) {
				fprintf(stderr, PROG ": bad --port '%s'\n", argv[i]);
				return 2;
			}
			port = (int)v;
		} else if (!strcmp(a, "--host") && i + 1 < argc) {
			host = argv[++i];
		} else if (!strcmp(a, "--mode") && i + 1 < argc) {
			i++; /* one mode only: accepted so scripts can pass it blindly */
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage();
			return 0;
		} else {
			usage();
			return 2;
		}
	}
	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);

	sigset_t block, during_wait;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &during_wait);
	sigdelset(&during_wait, SIGINT);
	sigdelset(&during_wait, SIGTERM);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	char shown[80];
	int lfd = listen_on(host, port, shown, sizeof shown);
	if (lfd < 0)
		return 1;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror(PROG ": epoll_create1");
		return 1;
	}
	reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	struct epoll_event lev = {.events = EPOLLIN | EPOLLET, .data.ptr = NULL};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
		perror(PROG ": epoll_ctl listener");
		return 1;
	}
	printf(PROG ": listening on %s (mode raw-epoll)\n", shown);
	fflush(stdout);

	struct epoll_event evs[MAX_EVENTS];
	while (!stop_requested) {
		int n = epoll_pwait(ep, evs, MAX_EVENTS, -1, &during_wait);
		n_waits++;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror(PROG ": epoll_pwait");
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL)
				accept_all(ep, lfd);
			else
				conn_service(ep, evs[i].data.ptr);
		}
	}

	uint64_t open_at_stop = n_open;
	close(lfd);
	while (conns)
		conn_close(ep, conns);
	close(ep);
	if (reserve_fd >= 0)
		close(reserve_fd);

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf(PROG ": stopped; %llu connections (%llu open at stop), %llu bytes echoed\n",
	       (unsigned long long)n_accepted, (unsigned long long)open_at_stop,
	       (unsigned long long)n_bytes);
	printf(PROG ": stats mode=raw-epoll connections=%llu bytes=%llu polls=%llu emfile=%llu "
	            "cpu_user_s=%.3f cpu_sys_s=%.3f maxrss_kib=%ld\n",
	       (unsigned long long)n_accepted, (unsigned long long)n_bytes,
	       (unsigned long long)n_waits, (unsigned long long)n_emfile,
	       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss);
	return 0;
}
