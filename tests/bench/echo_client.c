/*
 * tests/bench/echo_client.c — load generator and checker for echo servers
 * (examples/echo_server.c, tests/bench/raw_epoll_echo.c, tests/bench/uv_echo.c).
 *
 *   echo_client --port N [--host ADDR] [--conns C] [--size BYTES]
 *               [--seconds S | --count N] [--active A] [--mode inline|thread]
 *               [--connect-timeout S] [--csv] [--quiet] [--label NAME]
 *
 * Opens C connections, each a coroutine that plays closed-loop ping-pong: send
 * one message of --size bytes, read the whole echo back, compare every byte,
 * record the round-trip latency, repeat — for --seconds, or --count round trips
 * per connection. Each connection and each message has its own byte pattern,
 * so an echo that went to the wrong connection or came back out of order is
 * caught, not just a truncated one. Measuring starts when every connection is
 * up. With --active A only the first A connections send; the others stay
 * connected and idle (the "many idle, few busy" scale test).
 *
 * Prints round trips/s, MB/s (echoed payload, one direction), latency
 * p50/p99/p99.9 from a log-bucket histogram (about 1.5 % resolution), and the
 * error counts, then one machine-readable "result key=value ..." line (or,
 * with --csv, only a CSV header and row on stdout). Exits 1 on any mismatch,
 * connection or I/O error, 2 on bad usage.
 *
 * Runs on the coronet runtime in inline mode by default (--mode thread to
 * use a netpoll thread). Threads: main() runs the runtime; all other code runs
 * in its coroutines on that thread, so the shared counters need no locks. The
 * SIGINT/SIGTERM handler only calls cn_runtime_stop().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <coronet.h>

#define PROG "echo_client"
/* Above this, a message may not fit in the socket buffers of both ends, so a
 * connection must read while it writes: a helper coroutine does the writing. */
#define SPLIT_WRITE_SIZE ((size_t)64 * 1024)
#define CONN_STACK ((size_t)64 * 1024)
#define MAX_REPORTED_MISMATCHES 5

/*
 * Latency histogram: values below 2^SUB_BITS ns have a bucket each; above,
 * each power of two is split into 2^(SUB_BITS-1) buckets, so a bucket is at
 * most 1/64 of its value wide.
 */
#define SUB_BITS 7
#define HIST_BUCKETS (64 * (1 << (SUB_BITS - 1)) + (1 << SUB_BITS))

struct hist {
	uint64_t count, sum, min, max;
	uint64_t b[HIST_BUCKETS];
};

static unsigned hist_index(uint64_t v)
{
	if (v < (1u << SUB_BITS))
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - (SUB_BITS - 1);
	return (shift << (SUB_BITS - 1)) + (unsigned)(v >> shift);
}

/* The middle of bucket i, the value reported for anything that fell in it. */
static uint64_t hist_value(unsigned i)
{
	if (i < (1u << SUB_BITS))
		return i;
	unsigned shift = (i >> (SUB_BITS - 1)) - 1;
	uint64_t lo = (uint64_t)(i - (shift << (SUB_BITS - 1))) << shift;
	return lo + ((1ull << shift) >> 1);
}

static void hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (h->count == 1 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

static uint64_t hist_pct(const struct hist *h, double pct)
{
	if (!h->count)
		return 0;
	uint64_t rank = (uint64_t)(pct / 100.0 * (double)h->count + 0.5);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = hist_value(i);
			return v > h->max ? h->max : v < h->min ? h->min : v;
		}
	}
	return h->max;
}

struct conn {
	int idx;
	int fd;
	int active;
	cn_promise start;   /* fulfilled when every connection is up */
	cn_promise release; /* idle connections: fulfilled when the busy ones end */
	uint64_t round_trips;
};

struct writer {
	int fd;
	const unsigned char *buf;
	size_t len;
	cn_promise done; /* result: bytes written, or the errno value */
};

/* Options. */
static const char *opt_host = "127.0.0.1";
static int opt_port = 7000;
static long opt_conns = 1, opt_active = -1;
static size_t opt_size = 64;
static double opt_seconds = 5.0;
static long opt_count = 0;
static double opt_connect_timeout = 10.0;
static int opt_csv, opt_quiet;
static const char *opt_label = "-";
static cn_runtime_opts rt_opts = {.mode = CN_NETPOLL_INLINE};

/* Shared state: scheduler thread only. */
static cn_runtime *rt;
static struct sockaddr_storage server_addr;
static socklen_t server_addr_len;
static struct conn *conns;
static long n_arrived, n_connected, n_active_done;
static cn_promise all_arrived;
static int ctl_waiting;
static int64_t t_start, t_end, t_last_finish;
static struct hist hist;
static uint64_t n_connect_errors, n_io_errors, n_mismatches, n_round_trips;
static volatile sig_atomic_t interrupted;

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: " PROG " --port N [options]\n"
	        "  --host ADDR          server address, numeric (default 127.0.0.1)\n"
	        "  --port N             server port (default 7000)\n"
	        "  --conns C            concurrent connections (default 1)\n"
	        "  --active A           only the first A connections send; the rest idle (default all)\n"
	        "  --size BYTES         message size (default 64)\n"
	        "  --seconds S          run time, measured once all are connected (default 5)\n"
	        "  --count N            instead: N round trips per active connection\n"
	        "  --mode inline|thread coronet netpoll mode of the client (default inline)\n"
	        "  --connect-timeout S  per connection (default 10)\n"
	        "  --csv                print only a CSV header and row on stdout\n"
	        "  --quiet              print only the result line\n"
	        "  --label NAME         first field of the result (e.g. the server's name)\n"
	        "Exit status: 0 all echoes correct, 1 any error or mismatch, 2 bad usage.\n");
}

static void on_signal(int sig)
{
	interrupted = 1;
	cn_runtime_stop(rt);
	signal(sig, SIG_DFL);
}

/* The bytes of message m on connection c: every 8-byte word differs between
 * connections, messages and positions. */
static void fill_pattern(unsigned char *buf, size_t len, int c, uint64_t m)
{
	uint64_t seed = ((uint64_t)(unsigned)c << 40) ^ (m * 0x100000001b3ull) ^ 0x5bd1e995u;
	size_t j = 0;
	for (; j + 8 <= len; j += 8) {
		uint64_t w = (seed + j) * 0x9e3779b97f4a7c15ull;
		memcpy(buf + j, &w, 8);
	}
	if (j < len) {
		uint64_t w = (seed + j) * 0x9e3779b97f4a7c15ull;
		memcpy(buf + j, &w, len - j);
	}
}

static void arrive(void)
{
	if (++n_arrived == opt_conns && ctl_waiting)
		cn_promise_fulfil(&all_arrived, 0, 0);
}

static void writer_main(void *arg)
{
	struct writer *w = arg;
	size_t done = 0;
	if (cn_write_all(w->fd, w->buf, w->len, CN_NO_DEADLINE, &done) < 0)
		cn_promise_fulfil(&w->done, 0, errno);
	else
		cn_promise_fulfil(&w->done, (ssize_t)done, 0);
}

static void io_error(struct conn *c, const char *what, int err)
{
	if (err == ECANCELED && interrupted)
		return; /* stopped by the user: not the server's fault */
	n_io_errors++;
	if (n_io_errors <= MAX_REPORTED_MISMATCHES)
		fprintf(stderr, PROG ": connection %d: %s: %s\n", c->idx, what,
		        err ? strerror(err) : "server closed the connection");
}

/* One round trip of message m. Returns 0, or -1 after counting the error. */
static int round_trip(struct conn *c, unsigned char *sbuf, unsigned char *rbuf, uint64_t m)
{
	struct writer w;
	int split = opt_size > SPLIT_WRITE_SIZE;
	if (split) {
		w.fd = c->fd;
		w.buf = sbuf;
		w.len = opt_size;
		cn_promise_init(&w.done);
		const cn_coro_opts wo = {.stack_size = CONN_STACK, .name = "echo-writer"};
		if (cn_spawn(cn_runtime_current(), writer_main, &w, &wo) < 0) {
			io_error(c, "spawn writer", errno);
			return -1;
		}
	} else if (cn_write_all(c->fd, sbuf, opt_size, CN_NO_DEADLINE, NULL) < 0) {
		io_error(c, "write", errno);
		return -1;
	}
	size_t got = 0;
	int rc = 0;
	while (got < opt_size) {
		ssize_t r = cn_read(c->fd, rbuf + got, opt_size - got, CN_NO_DEADLINE);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			io_error(c, "read", r == 0 ? 0 : errno);
			rc = -1;
			break;
		}
		got += (size_t)r;
	}
	if (split) {
		/* The writer points into our buffers: wait for it whatever happened.
		 * If the read failed, close the socket first so the writer cannot
		 * stay blocked on it (cn_close resumes it with ECANCELED). */
		if (rc < 0) {
			cn_close(c->fd);
			c->fd = -1;
		}
		if (cn_promise_await(&w.done) < 0 && rc == 0) {
			io_error(c, "write", errno);
			rc = -1;
		}
	}
	if (rc < 0)
		return -1;
	if (memcmp(sbuf, rbuf, opt_size) != 0) {
		size_t at = 0;
		while (sbuf[at] == rbuf[at])
			at++;
		if (++n_mismatches <= MAX_REPORTED_MISMATCHES)
			fprintf(stderr,
			        PROG ": connection %d, message %" PRIu64 ": byte %zu is 0x%02x, "
			             "expected 0x%02x\n",
			        c->idx, m, at, rbuf[at], sbuf[at]);
		return -1;
	}
	return 0;
}

static void ping_pong(struct conn *c)
{
	unsigned char *sbuf = malloc(opt_size), *rbuf = malloc(opt_size);
	if (!sbuf || !rbuf) {
		io_error(c, "malloc", ENOMEM);
		goto out;
	}
	for (uint64_t m = 0;; m++) {
		if (opt_count ? m >= (uint64_t)opt_count : cn_now() >= t_end)
			break;
		fill_pattern(sbuf, opt_size, c->idx, m);
		int64_t t0 = cn_now();
		if (round_trip(c, sbuf, rbuf, m) < 0)
			break;
		hist_add(&hist, (uint64_t)(cn_now() - t0));
		c->round_trips++;
		n_round_trips++;
	}
out:
	free(sbuf);
	free(rbuf);
}

static int connect_one(struct conn *c)
{
	int fd = socket(server_addr.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	int64_t deadline = cn_deadline_after((int64_t)(opt_connect_timeout * 1e9));
	if (cn_connect(fd, (struct sockaddr *)&server_addr, server_addr_len, deadline) < 0) {
		int e = errno;
		cn_close(fd);
		errno = e;
		return -1;
	}
	c->fd = fd;
	return 0;
}

/* Every busy connection ends here once, however it ended; the last one lets
 * the idle connections go. */
static void active_done(void)
{
	if (++n_active_done == opt_active) {
		for (long i = opt_active; i < opt_conns; i++)
			cn_promise_fulfil(&conns[i].release, 0, 0);
	}
}

static void conn_main(void *arg)
{
	struct conn *c = arg;

	if (connect_one(c) < 0) {
		if (!(errno == ECANCELED && interrupted)) {
			n_connect_errors++;
			if (n_connect_errors <= MAX_REPORTED_MISMATCHES)
				fprintf(stderr, PROG ": connection %d: connect: %s\n", c->idx,
				        strerror(errno));
		}
		if (c->active)
			active_done();
		arrive();
		return;
	}
	n_connected++;
	arrive();
	if (cn_promise_await(&c->start) < 0)
		goto out; /* stopped before the start */
	if (c->active) {
		ping_pong(c);
		int64_t now = cn_now();
		if (now > t_last_finish)
			t_last_finish = now;
		active_done();
	} else {
		cn_promise_await(&c->release);
	}
out:
	if (c->fd >= 0)
		cn_close(c->fd);
	c->fd = -1;
}

/* Spawns the connections, waits until all are up (or failed), then starts the
 * clock and releases them together. */
static void ctl_main(void *arg)
{
	(void)arg;
	const cn_coro_opts co = {.stack_size = CONN_STACK, .name = "echo-client"};
	for (long i = 0; i < opt_conns; i++) {
		if (cn_spawn(cn_runtime_current(), conn_main, &conns[i], &co) < 0) {
			fprintf(stderr, PROG ": cn_spawn: %s\n", strerror(errno));
			n_connect_errors++;
			arrive();
		}
	}
	if (n_arrived < opt_conns) {
		ctl_waiting = 1;
		if (cn_promise_await(&all_arrived) < 0)
			return; /* stopped while connecting */
	}
	t_start = cn_now();
	t_end = t_start + (int64_t)(opt_seconds * 1e9);
	t_last_finish = t_start;
	for (long i = 0; i < opt_conns; i++)
		cn_promise_fulfil(&conns[i].start, 0, 0);
	if (opt_active == 0) {
		/* Nobody sends: just hold the connections open for the run time. */
		cn_sleep(opt_count ? 0 : (int64_t)(opt_seconds * 1e9));
		t_last_finish = cn_now();
		for (long i = 0; i < opt_conns; i++)
			cn_promise_fulfil(&conns[i].release, 0, 0);
	}
}

static int resolve(void)
{
	memset(&server_addr, 0, sizeof server_addr);
	struct sockaddr_in *in4 = (struct sockaddr_in *)&server_addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&server_addr;
	if (inet_pton(AF_INET, opt_host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)opt_port);
		server_addr_len = sizeof *in4;
		return 0;
	}
	if (inet_pton(AF_INET6, opt_host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)opt_port);
		server_addr_len = sizeof *in6;
		return 0;
	}
	fprintf(stderr, PROG ": --host needs a numeric address, got '%s'\n", opt_host);
	return -1;
}

/* One fd per connection: raise the soft limit as far as the hard one. */
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
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)opt_conns + 16 > rl.rlim_cur)
		fprintf(stderr, PROG ": warning: %ld connections but only %llu file descriptors\n",
		        opt_conns, (unsigned long long)rl.rlim_cur);
}

static double parse_double(const char *s, double lo, const char *what)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo)) {
		fprintf(stderr, PROG ": bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static long parse_long(const char *s, long lo, long hi, const char *what)
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

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--csv")) {
			opt_csv = 1;
			continue;
		} else if (!strcmp(a, "--quiet")) {
			opt_quiet = 1;
			continue;
		} else if (!v) {
			usage(stderr);
			exit(2);
		} else if (!strcmp(a, "--label")) {
			opt_label = v;
		} else if (!strcmp(a, "--host")) {
			opt_host = v;
		} else if (!strcmp(a, "--port")) {
			opt_port = (int)parse_long(v, 1, 65535, "--port");
		} else if (!strcmp(a, "--conns")) {
			opt_conns = parse_long(v, 1, 1000000, "--conns");
		} else if (!strcmp(a, "--active")) {
			opt_active = parse_long(v, 0, 1000000, "--active");
		} else if (!strcmp(a, "--size")) {
			opt_size = (size_t)parse_long(v, 1, 1L << 30, "--size");
		} else if (!strcmp(a, "--seconds")) {
			opt_seconds = parse_double(v, 0.0, "--seconds");
		} else if (!strcmp(a, "--count")) {
			opt_count = parse_long(v, 1, 1L << 40, "--count");
		} else if (!strcmp(a, "--connect-timeout")) {
			opt_connect_timeout = parse_double(v, 0.001, "--connect-timeout");
		} else if (!strcmp(a, "--mode")) {
			if (cn_netpoll_mode_parse(v, &rt_opts.mode) < 0) {
				fprintf(stderr, PROG ": --mode is thread or inline, not '%s'\n", v);
				exit(2);
			}
		} else {
			usage(stderr);
			exit(2);
		}
		i++;
	}
	if (opt_active < 0 || opt_active > opt_conns)
		opt_active = opt_conns;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	if (resolve() < 0)
		return 2;
	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);

	conns = calloc((size_t)opt_conns, sizeof *conns);
	if (!conns) {
		perror(PROG ": calloc");
		return 1;
	}
	for (long i = 0; i < opt_conns; i++) {
		conns[i].idx = (int)i;
		conns[i].fd = -1;
		conns[i].active = i < opt_active;
		cn_promise_init(&conns[i].start);
		cn_promise_init(&conns[i].release);
	}
	cn_promise_init(&all_arrived);

	rt = cn_runtime_create(&rt_opts);
	if (!rt) {
		fprintf(stderr, PROG ": cn_runtime_create: %s\n", strerror(errno));
		return 1;
	}
	const cn_coro_opts co = {.stack_size = CONN_STACK, .name = "echo-client-ctl"};
	if (cn_spawn(rt, ctl_main, NULL, &co) < 0) {
		fprintf(stderr, PROG ": cn_spawn: %s\n", strerror(errno));
		return 1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (!opt_quiet && !opt_csv) {
		printf(PROG ": %ld connections (%ld active) to %s:%d, %zu-byte messages, ",
		       opt_conns, opt_active, opt_host, opt_port, opt_size);
		if (opt_count)
			printf("%ld round trips each", opt_count);
		else
			printf("%.2f s", opt_seconds);
		printf(", client mode %s\n", cn_netpoll_mode_name(rt_opts.mode));
		fflush(stdout);
	}

	int rc = 0;
	if (cn_runtime_run(rt) < 0) {
		fprintf(stderr, PROG ": cn_runtime_run: %s\n", strerror(errno));
		rc = 1;
	}
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	cn_runtime_destroy(rt);
	rt = NULL;
	free(conns);

	double secs = t_start ? (double)(t_last_finish - t_start) / 1e9 : 0;
	double rtps = secs > 0 ? (double)n_round_trips / secs : 0;
	double mbps = rtps * (double)opt_size / 1e6;
	double us = 1e-3;
	double p50 = (double)hist_pct(&hist, 50) * us, p99 = (double)hist_pct(&hist, 99) * us,
	       p999 = (double)hist_pct(&hist, 99.9) * us, mx = (double)hist.max * us,
	       mn = (double)hist.min * us,
	       mean = hist.count ? (double)hist.sum / (double)hist.count * us : 0;
	uint64_t errors = n_connect_errors + n_io_errors + n_mismatches;
	const char *mode = cn_netpoll_mode_name(rt_opts.mode);

	if (opt_csv) {
		printf("label,client_mode,conns,active,size,seconds,round_trips,rt_per_s,mb_per_s,"
		       "p50_us,p99_us,p999_us,min_us,mean_us,max_us,connect_errors,io_errors,mismatches\n");
		printf("%s,%s,%ld,%ld,%zu,%.3f,%" PRIu64 ",%.0f,%.3f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,"
		       "%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
		       opt_label, mode, opt_conns, opt_active, opt_size, secs, n_round_trips, rtps,
		       mbps, p50, p99, p999, mn, mean, mx, n_connect_errors, n_io_errors,
		       n_mismatches);
	} else {
		if (!opt_quiet) {
			printf(PROG ": %ld of %ld connected; %" PRIu64 " round trips in %.3f s = "
			            "%.0f round trips/s, %.2f MB/s echoed\n",
			       n_connected, opt_conns, n_round_trips, secs, rtps, mbps);
			printf(PROG
			       ": latency us: p50 %.1f  p99 %.1f  p99.9 %.1f  (min %.1f, mean %.1f, "
			       "max %.1f)\n",
			       p50, p99, p999, mn, mean, mx);
			printf(PROG ": errors: %" PRIu64 " connect, %" PRIu64 " I/O, %" PRIu64
			            " mismatched echoes%s\n",
			       n_connect_errors, n_io_errors, n_mismatches,
			       interrupted ? " (interrupted)" : "");
		}
		printf(PROG
		       ": result label=%s client_mode=%s conns=%ld active=%ld size=%zu seconds=%.3f "
		       "round_trips=%" PRIu64
		       " rt_per_s=%.0f mb_per_s=%.3f p50_us=%.1f p99_us=%.1f "
		       "p999_us=%.1f min_us=%.1f mean_us=%.1f max_us=%.1f connect_errors=%" PRIu64
		       " io_errors=%" PRIu64 " mismatches=%" PRIu64 "\n",
		       opt_label, mode, opt_conns, opt_active, opt_size, secs, n_round_trips, rtps,
		       mbps, p50, p99, p999, mn, mean, mx, n_connect_errors, n_io_errors,
		       n_mismatches);
	}
	if (errors || interrupted || rc)
		return 1;
	return 0;
}
