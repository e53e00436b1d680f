/*
 * examples/echo_server.c — the threaded echo server, coronet's main demo.
 *
 *   echo_server [--port N] [--mode thread|inline] [--host ADDR] [--ring SLOTS]
 *
 * One acceptor coroutine; one coroutine per connection that waits for the
 * first bytes (cn_fd_wait), then loops cn_read() -> cn_write_all(). In
 * thread mode (the default) a netpoll thread waits in the kernel and hands
 * completions to the scheduler over the SPSC ring; in inline mode the
 * scheduler polls by itself. Port 0 picks a free port; either way the
 * server prints "listening on HOST:PORT" so scripts and tests can find it.
 * It listens on 127.0.0.1 unless told otherwise.
 *
 * SIGQUIT prints the runtime dump on stderr (cn_runtime_dump: every
 * coroutine, what it waits on and for how long), as Go does for a running
 * program. SIGINT/SIGTERM stop the runtime: it resumes every waiting
 * coroutine with ECANCELED, the acceptor closes the listener, each
 * connection closes its socket, cn_runtime_run() returns once all have
 * finished, and cn_runtime_destroy() joins the netpoll thread. The server
 * then prints its counts and the runtime's (completions, wake system
 * calls, ring batches). A second signal kills the process the default way,
 * in case the shutdown itself hangs. A thread of ours takes the signals
 * with sigwait(), not a handler (stop_signals.h says why).
 *
 * Threads: main() runs the runtime; everything else runs in its coroutines on
 * that same (scheduler) thread, so the counters below need no locking. The
 * signal thread only calls cn_runtime_dump() and cn_runtime_stop().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <coronet.h>

#include "stop_signals.h"

#define PROG "echo_server"
/* Each connection's buffer, from malloc once it has sent something: only
 * the pages a read touches cost RSS. Not on the coroutine's stack: the
 * build's stack-clash protection probes every page of a large frame, so a
 * 16 KiB stack array would cost 16 KiB whatever the messages. */
#define BUF_SIZE 16384
#define CONN_STACK ((size_t)64 * 1024)

static cn_runtime *rt;

/* Scheduler thread only. */
static uint64_t n_accepted, n_open, n_max_open, n_bytes;
static uint64_t n_cancelled, n_conn_errors, n_spawn_failed;

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: " PROG " [--port N] [--mode thread|inline] [--host ADDR] [--ring SLOTS]\n"
	        "  --port N      TCP port (default 7000; 0 picks a free one and prints it)\n"
	        "  --mode M      netpoll mode: thread (default) or inline\n"
	        "  --host ADDR   numeric IPv4 or IPv6 address (default 127.0.0.1)\n"
	        "  --ring SLOTS  completion ring size, a power of two >= 2 (default 4096)\n"
	        "Stops cleanly on SIGINT/SIGTERM and prints its counts.\n");
}

/* Echoes until the peer closes or fails: 0 when it closed, -1 otherwise
 * (counted). */
static int echo_loop(int fd, unsigned char *buf)
{
	for (;;) {
		ssize_t r = cn_read(fd, buf, BUF_SIZE, CN_NO_DEADLINE);
		if (r == 0)
			return 0; /* the client closed */
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECANCELED)
				n_cancelled++;
			else
				n_conn_errors++;
			return -1;
		}
		if (cn_write_all(fd, buf, (size_t)r, CN_NO_DEADLINE, NULL) < 0) {
			if (errno == ECANCELED)
				n_cancelled++;
			else if (errno != EPIPE && errno != ECONNRESET)
				n_conn_errors++;
			return -1;
		}
		n_bytes += (uint64_t)r;
	}
}

static void conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;

	n_open++;
	if (n_open > n_max_open)
		n_max_open = n_open;
	/* A connection that has sent nothing yet waits here, with no buffer,
	 * on the top page of its stack: an idle connection costs that page,
	 * as nginx's deferred buffers do. */
	if (cn_fd_wait(fd, CN_FD_READ, CN_NO_DEADLINE) == 0) {
		unsigned char *buf = malloc(BUF_SIZE);

		if (buf)
			echo_loop(fd, buf);
		else
			n_conn_errors++;
		free(buf);
	} else if (errno == ECANCELED) {
		n_cancelled++;
	} else {
		n_conn_errors++;
	}
	cn_close(fd);
	n_open--;
}

static void acceptor_main(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	const cn_coro_opts conn_opts = {.stack_size = CONN_STACK, .name = "echo-conn"};

	for (;;) {
		int fd = cn_accept(lfd, NULL, NULL, CN_NO_DEADLINE);
		if (fd < 0) {
			if (errno == ECANCELED)
				break; /* stopping */
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			/* e.g. ENOBUFS: report, and do not spin on it. */
			fprintf(stderr, PROG ": accept: %s\n", strerror(errno));
			if (cn_sleep(10 * 1000 * 1000) < 0 && errno == ECANCELED)
				break;
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (cn_spawn(cn_runtime_current(), conn_main, (void *)(intptr_t)fd, &conn_opts) <
		    0) {
			int e = errno;
			n_spawn_failed++;
			cn_close(fd);
			if (e == ESHUTDOWN)
				break;
			continue;
		}
		n_accepted++;
	}
	cn_close(lfd);
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
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);
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

/* One fd per connection: 10,000 clients need more than the usual 1,024. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		/* macOS reports an unlimited hard limit but refuses it (and anything
		 * above kern.maxfilesperproc) as the soft one: step down until the
		 * kernel agrees. */
		const rlim_t want[] = {rl.rlim_max, 65536, 20000, 10240};
		for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
			if (want[i] <= rl.rlim_cur || want[i] > rl.rlim_max)
				continue;
			struct rlimit r = {.rlim_cur = want[i], .rlim_max = rl.rlim_max};
			if (setrlimit(RLIMIT_NOFILE, &r) == 0)
				break;
		}
	}
}

static long parse_num(const char *s, long lo, long hi, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, PROG ": bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = 7000;
	cn_runtime_opts opts = {.mode = CN_NETPOLL_THREAD};

	/* Every option takes a value, so arguments go in pairs. */
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!v) {
			usage(stderr);
			return 2;
		} else if (!strcmp(a, "--port")) {
			port = (int)parse_num(v, 0, 65535, "--port");
		} else if (!strcmp(a, "--host")) {
			host = v;
		} else if (!strcmp(a, "--mode")) {
			if (cn_netpoll_mode_parse(v, &opts.mode) < 0) {
				fprintf(stderr, PROG ": --mode is thread or inline, not '%s'\n", v);
				return 2;
			}
		} else if (!strcmp(a, "--ring")) {
			opts.ring_size = (unsigned)parse_num(v, 2, 1L << 24, "--ring");
		} else {
			usage(stderr);
			return 2;
		}
	}
	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);

	char shown[80];
	int lfd = listen_on(host, port, shown, sizeof shown);
	if (lfd < 0)
		return 1;
	ex_signals_block();
	rt = cn_runtime_create(&opts);
	if (!rt) {
		fprintf(stderr, PROG ": cn_runtime_create: %s\n", strerror(errno));
		close(lfd);
		return 1;
	}
	const cn_coro_opts acc_opts = {.stack_size = CONN_STACK, .name = "echo-acceptor"};
	if (cn_spawn(rt, acceptor_main, (void *)(intptr_t)lfd, &acc_opts) < 0) {
		fprintf(stderr, PROG ": cn_spawn: %s\n", strerror(errno));
		cn_runtime_destroy(rt);
		close(lfd);
		return 1;
	}

	struct ex_signals sig;
	if (ex_signals_start(&sig, rt, 1) < 0) {
		fprintf(stderr, PROG ": pthread_create: %s\n", strerror(errno));
		cn_runtime_destroy(rt);
		close(lfd);
		return 1;
	}

	printf(PROG ": listening on %s (mode %s)\n", shown, cn_netpoll_mode_name(opts.mode));
	fflush(stdout);

	int rc = 0;
	if (cn_runtime_run(rt) < 0) {
		fprintf(stderr, PROG ": cn_runtime_run: %s\n", strerror(errno));
		rc = 1;
	}
	ex_signals_end(&sig); /* from here on a signal has nothing to stop */

	cn_runtime_stats st;
	memset(&st, 0, sizeof st);
	cn_runtime_stats_get(rt, &st);
	if (cn_runtime_destroy(rt) < 0) {
		fprintf(stderr, PROG ": cn_runtime_destroy: %s\n", strerror(errno));
		rc = 1;
	}
	rt = NULL;

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double wakes_per_k =
	        st.completions ? 1000.0 * (double)st.wake_syscalls / (double)st.completions : 0;
	double batch = st.ring_batches ? (double)st.completions / (double)st.ring_batches : 0;
	printf(PROG ": stopped; %llu connections (%llu open at stop, max %llu at once), "
	            "%llu bytes echoed, %llu connection errors\n",
	       (unsigned long long)n_accepted, (unsigned long long)n_cancelled,
	       (unsigned long long)n_max_open, (unsigned long long)n_bytes,
	       (unsigned long long)n_conn_errors);
	if (opts.mode == CN_NETPOLL_THREAD)
		printf(PROG ": runtime: %llu completions, %llu wake syscalls (%.1f per 1000 "
		            "completions), %llu ring batches (%.1f per batch), %llu ring-full, "
		            "%llu polls\n",
		       (unsigned long long)st.completions, (unsigned long long)st.wake_syscalls,
		       wakes_per_k, (unsigned long long)st.ring_batches, batch,
		       (unsigned long long)st.ring_full, (unsigned long long)st.polls);
	else
		printf(PROG ": runtime: %llu completions from %llu polls (%.1f per poll); inline "
		            "mode: no netpoll thread, no ring\n",
		       (unsigned long long)st.completions, (unsigned long long)st.polls,
		       st.polls ? (double)st.completions / (double)st.polls : 0.0);
	printf(PROG
	       ": stats mode=%s connections=%llu bytes=%llu conn_errors=%llu spawn_failed=%llu "
	       "completions=%llu wake_syscalls=%llu wakes_per_1000=%.2f ring_batches=%llu avg_batch=%.2f "
	       "ring_full=%llu polls=%llu spawned=%llu finished=%llu "
	       "cpu_user_s=%.3f cpu_sys_s=%.3f maxrss_kib=%ld\n",
	       cn_netpoll_mode_name(opts.mode), (unsigned long long)n_accepted,
	       (unsigned long long)n_bytes, (unsigned long long)n_conn_errors,
	       (unsigned long long)n_spawn_failed, (unsigned long long)st.completions,
	       (unsigned long long)st.wake_syscalls, wakes_per_k,
	       (unsigned long long)st.ring_batches, batch, (unsigned long long)st.ring_full,
	       (unsigned long long)st.polls, (unsigned long long)st.spawned,
	       (unsigned long long)st.finished, ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss);
	return rc;
}
