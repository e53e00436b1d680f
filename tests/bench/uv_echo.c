/*
 * tests/bench/uv_echo.c — the libuv baseline of the echo benchmark: the same
 * echo server as examples/echo_server.c, written on libuv (Debian
 * libuv1-dev), single-threaded.
 *
 * Same command line (--port N, --host ADDR; --mode is accepted and ignored),
 * same "listening on HOST:PORT" line, same kind of "stats" line on
 * SIGINT/SIGTERM, so tests/bench/echo_client.c and the benchmark scripts drive
 * it like the others.
 *
 * Each connection owns one buffer. An echo first tries uv_try_write(), which
 * in the ping-pong case sends everything at once with no request and no copy;
 * only the unsent rest goes through uv_write(), and reading pauses until that
 * write completes (back-pressure, and the buffer is not reused under it).
 *
 * Threads: one thread, the libuv loop's; signals arrive through uv_signal_t.
 *
 * Build: cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -o uv_echo \
 *     tests/bench/uv_echo.c $(pkg-config --cflags --libs libuv)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#define PROG "uv_echo"
#define BUF_SIZE 16384

struct conn {
	uv_tcp_t tcp; /* first member: a uv_handle_t* is a struct conn* */
	uv_write_t wreq;
	int writing; /* a uv_write() of buf is in flight */
	char buf[BUF_SIZE];
};

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sig_int, sig_term;
static uint64_t n_accepted, n_bytes, n_open, n_open_at_stop;
static int stopping;

static void usage(void)
{
	fprintf(stderr, "usage: " PROG " [--port N] [--host ADDR] [--mode IGNORED]\n"
	                "  --port N     TCP port (default 7000; 0 picks a free one and prints it)\n"
	                "  --host ADDR  numeric IPv4 or IPv6 address (default 127.0.0.1)\n");
}

static void on_conn_closed(uv_handle_t *h)
{
	n_open--;
	free(h);
}

static void conn_close(struct conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = (struct conn *)h;
	(void)suggested;
	*buf = uv_buf_init(c->buf, sizeof c->buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
	struct conn *c = req->data;
	c->writing = 0;
	if (status < 0 || stopping) {
		conn_close(c);
		return;
	}
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
		conn_close(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = (struct conn *)s;
	if (nread == 0)
		return; /* EAGAIN, nothing to do */
	if (nread < 0) {
		conn_close(c); /* UV_EOF or an error */
		return;
	}
	/* Counted when read: by the time the loop stops, everything read was
	 * either written or the connection was closed anyway. */
	n_bytes += (uint64_t)nread;
	uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
	int w = uv_try_write(s, &out, 1);
	if (w == nread)
		return;
	if (w < 0 && w != UV_EAGAIN && w != UV_ENOSYS) {
		conn_close(c);
		return;
	}
	if (w > 0) {
		out.base += w;
		out.len -= (size_t)w;
	}
	uv_read_stop(s);
	c->writing = 1;
	c->wreq.data = c;
	if (uv_write(&c->wreq, s, &out, 1, on_written) < 0)
		conn_close(c);
}

static void on_connection(uv_stream_t *srv, int status)
{
	if (status < 0) {
		fprintf(stderr, PROG ": connection error: %s\n", uv_strerror(status));
		return;
	}
	struct conn *c = malloc(sizeof *c);
	if (!c)
		return;
	c->writing = 0;
	uv_tcp_init(loop, &c->tcp);
	n_open++;
	if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	n_accepted++;
	uv_tcp_nodelay(&c->tcp, 1);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
		conn_close(c);
}

static void close_everything(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (uv_is_closing(h))
		return;
	if (h->type == UV_TCP && h != (uv_handle_t *)&server)
		conn_close((struct conn *)h);
	else
		uv_close(h, NULL);
}

/* Closing every handle lets uv_run() return by itself: nothing is left. */
static void on_signal(uv_signal_t *s, int signum)
{
	(void)s;
	(void)signum;
	if (stopping)
		return;
	stopping = 1;
	n_open_at_stop = n_open;
	uv_walk(loop, close_everything, NULL);
}

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
			i++;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage();
			return 0;
		} else {
			usage();
			return 2;
		}
	}
	raise_fd_limit();

	loop = uv_default_loop();
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	int is6 = 0;
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0) {
		if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
			fprintf(stderr, PROG ": --host needs a numeric address, got '%s'\n", host);
			return 2;
		}
		is6 = 1;
	}
	uv_tcp_init(loop, &server);
	int r = uv_tcp_bind(&server, (struct sockaddr *)&ss, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection);
	if (r < 0) {
		fprintf(stderr, PROG ": bind/listen %s:%d: %s\n", host, port, uv_strerror(r));
		return 1;
	}
	int len = sizeof ss;
	uv_tcp_getsockname(&server, (struct sockaddr *)&ss, &len);
	int bound = ntohs(is6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                      : ((struct sockaddr_in *)&ss)->sin_port);

	/* libuv ignores SIGPIPE itself where it writes; a signal watcher keeps the
	 * loop alive, so the signal handles are closed by on_signal too. */
	uv_signal_init(loop, &sig_int);
	uv_signal_init(loop, &sig_term);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_signal_start(&sig_term, on_signal, SIGTERM);

	if (is6)
		printf(PROG ": listening on [%s]:%d (mode libuv)\n", host, bound);
	else
		printf(PROG ": listening on %s:%d (mode libuv)\n", host, bound);
	fflush(stdout);

	uv_run(loop, UV_RUN_DEFAULT);
	/* Loop iterations, when this libuv can count them (1.45+). */
	char polls[40] = "";
#if UV_VERSION_HEX >= 0x012d00
	uv_metrics_info_t mi;
	if (uv_metrics_info(loop, &mi) == 0)
		snprintf(polls, sizeof polls, " polls=%llu", (unsigned long long)mi.loop_count);
#endif
	r = uv_loop_close(loop);
	if (r != 0)
		fprintf(stderr, PROG ": uv_loop_close: %s\n", uv_strerror(r));

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf(PROG ": stopped; %llu connections (%llu open at stop), %llu bytes echoed\n",
	       (unsigned long long)n_accepted, (unsigned long long)n_open_at_stop,
	       (unsigned long long)n_bytes);
	printf(PROG ": stats mode=libuv connections=%llu bytes=%llu%s "
	            "cpu_user_s=%.3f cpu_sys_s=%.3f maxrss_kib=%ld\n",
	       (unsigned long long)n_accepted, (unsigned long long)n_bytes, polls,
	       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss);
	return r == 0 ? 0 : 1;
}
