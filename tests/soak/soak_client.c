/*
 * tests/soak/soak_client.c — the client side of `make soak`: thousands of
 * connections of mixed good and hostile clients against an echo server for a
 * set time, then a report of bytes and errors by kind.
 *
 *   soak_client --port N [--conns C] [--seconds S] [--host 127.0.0.1]
 *
 * Roles, by connection index modulo 20 (so every mix has each kind):
 *   0-11  good: ping-pong of 1..4096-byte messages with pauses, every echoed
 *         byte compared; at the end half-close (SHUT_WR) and expect EOF;
 *   12-13 idle: connect, send nothing, stay until the end;
 *   14-15 slow: one byte at a time with pauses, each echo checked;
 *   16-17 churn: connect, one message, check, close, again; every fourth
 *         time reset (SO_LINGER 0) with the echo unread;
 *   18    non-reader: sends up to 256 KiB and never reads (the server's
 *         writes to it block), resets at the end;
 *   19    mid-message reset: half a message, part of the echo, then reset.
 * Bytes sent by good, slow and churn clients (not the reset ones) must all
 * come back: "sent" and "echoed" in the report are those bytes.
 *
 * Runs on one coronet runtime in inline mode. Threads: main() runs it; all
 * other code runs in its coroutines on that thread, so counters need no
 * locks.
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
#include <unistd.h>

#include <coronet.h>

#define MS ((int64_t)1000 * 1000)
#define IO_TIMEOUT (30 * 1000 * MS)
#define MAXMSG 4096

static struct sockaddr_in server;
static int64_t t_end;
static cn_runtime *rt;

/* Scheduler thread only. */
static uint64_t sent, echoed, round_trips, connects, resets_done, half_closes;
static uint64_t nonreader_bytes, mismatches, early_eofs;
static long live;

/* Errors by (operation, errno). */
#define NKIND 32
static struct {
	const char *op;
	int err;
	uint64_t n;
} kinds[NKIND];

static void count_error(const char *op, int err)
{
	for (int i = 0; i < NKIND; i++) {
		if (!kinds[i].op) {
			kinds[i].op = op;
			kinds[i].err = err;
		}
		if (kinds[i].op == op && kinds[i].err == err) {
			kinds[i].n++;
			return;
		}
	}
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fill(unsigned char *b, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)rnd(&x);
}

static int done(void)
{
	return cn_now() >= t_end;
}

/* Sleeps ms, never past the end; -1 when the runtime stops. */
static int pause_ms(int64_t ms)
{
	int64_t until = cn_now() + ms * MS;
	if (until > t_end)
		until = t_end;
	return cn_sleep(until - cn_now());
}

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	if (fd < 0) {
		count_error("socket", errno);
		return -1;
	}
	if (cn_connect(fd, (struct sockaddr *)&server, sizeof server,
	               cn_deadline_after(IO_TIMEOUT)) < 0) {
		count_error("connect", errno);
		cn_close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	connects++;
	return fd;
}

static void reset(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	cn_close(fd);
	resets_done++;
}

/* Reads n bytes and compares them with want; 0, or -1 (counted). */
static int expect(int fd, const unsigned char *want, size_t n)
{
	unsigned char got[MAXMSG];
	size_t at = 0;
	while (at < n) {
		ssize_t r = cn_read(fd, got + at, n - at, cn_deadline_after(IO_TIMEOUT));
		if (r <= 0) {
			if (r == 0)
				early_eofs++;
			else
				count_error("read", errno);
			return -1;
		}
		at += (size_t)r;
	}
	if (memcmp(got, want, n)) {
		mismatches++;
		return -1;
	}
	return 0;
}

/* One checked message; counts the bytes when they all came back. */
static int message(int fd, unsigned char *buf, size_t n, uint64_t seed)
{
	fill(buf, n, seed);
	if (cn_write_all(fd, buf, n, cn_deadline_after(IO_TIMEOUT), NULL) < 0) {
		count_error("write", errno);
		return -1;
	}
	sent += n;
	if (expect(fd, buf, n) < 0)
		return -1;
	echoed += n;
	round_trips++;
	return 0;
}

static void good(int idx, int fd)
{
	unsigned char buf[MAXMSG];
	uint64_t s = (uint64_t)idx * 2654435761u + 17;
	for (uint64_t k = 0; !done(); k++) {
		if (message(fd, buf, 1 + rnd(&s) % MAXMSG, s) < 0)
			goto out;
		if (pause_ms(200 + (int64_t)(rnd(&s) % 600)) < 0)
			goto out;
	}
	/* Half-close: the server must still close its side, with nothing more. */
	unsigned char c;
	shutdown(fd, SHUT_WR);
	ssize_t r = cn_read(fd, &c, 1, cn_deadline_after(IO_TIMEOUT));
	if (r == 0)
		half_closes++;
	else
		count_error("half-close read", r < 0 ? errno : EPROTO);
out:
	cn_close(fd);
}

static void slow(int idx, int fd)
{
	uint64_t s = (uint64_t)idx * 40503u + 3;
	unsigned char b;
	while (!done()) {
		if (message(fd, &b, 1, s) < 0)
			break;
		rnd(&s);
		if (pause_ms(300 + (int64_t)(rnd(&s) % 700)) < 0)
			break;
	}
	cn_close(fd);
}

static void churn(int idx, int fd)
{
	unsigned char buf[MAXMSG];
	uint64_t s = (uint64_t)idx * 7919u + 5;
	for (int k = 0;; k++) {
		if (k % 4 == 3) {
			fill(buf, 2000, s);
			if (cn_write_all(fd, buf, 2000, cn_deadline_after(IO_TIMEOUT), NULL) < 0)
				count_error("write", errno);
			reset(fd);
		} else {
			message(fd, buf, 1 + rnd(&s) % 512, s);
			cn_close(fd);
		}
		if (done() || pause_ms(50 + (int64_t)(rnd(&s) % 150)) < 0 || done())
			return;
		if ((fd = dial()) < 0)
			return;
	}
}

static void nonreader(int fd)
{
	static unsigned char junk[16384];
	int small = 65536;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	size_t mine = 0;
	while (mine < 256 * 1024 && !done()) {
		size_t w = 0;
		/* Blocks once both directions are full: that is the point. */
		if (cn_write_all(fd, junk, sizeof junk, cn_deadline_after(2000 * MS), &w) < 0) {
			nonreader_bytes += w;
			if (errno != ETIMEDOUT)
				count_error("non-reader write", errno);
			break;
		}
		nonreader_bytes += w;
		mine += w;
	}
	while (!done() && pause_ms(1000) == 0)
		;
	reset(fd);
}

static void midreset(int idx, int fd)
{
	unsigned char buf[MAXMSG];
	uint64_t s = (uint64_t)idx * 104729u + 9;
	for (;;) {
		fill(buf, 3000, s);
		if (cn_write_all(fd, buf, 1500, cn_deadline_after(IO_TIMEOUT), NULL) < 0 ||
		    expect(fd, buf, 500) < 0) {
			cn_close(fd);
			return;
		}
		reset(fd);
		rnd(&s);
		if (done() || pause_ms(100 + (int64_t)(rnd(&s) % 200)) < 0 || done())
			return;
		if ((fd = dial()) < 0)
			return;
	}
}

static void conn_main(void *arg)
{
	int idx = (int)(intptr_t)arg;
	/* Ramp up over about 2 s rather than 10,000 SYNs at once. */
	if (cn_sleep((int64_t)(idx % 2000) * MS) < 0)
		goto out;
	int fd = dial();
	if (fd < 0)
		goto out;
	switch (idx % 20) {
	case 12:
	case 13:
		while (!done() && pause_ms(1000) == 0)
			;
		cn_close(fd);
		break;
	case 14:
	case 15:
		slow(idx, fd);
		break;
	case 16:
	case 17:
		churn(idx, fd);
		break;
	case 18:
		nonreader(fd);
		break;
	case 19:
		midreset(idx, fd);
		break;
	default:
		good(idx, fd);
	}
out:
	live--;
}

/* Stops the runtime if connections are still stuck 60 s after the end. */
static void reaper(void *arg)
{
	(void)arg;
	while (live > 0 && cn_now() < t_end + 60 * 1000 * MS)
		cn_sleep(100 * MS);
	if (live > 0) {
		fprintf(stderr, "soak_client: %ld connections stuck after the end\n", live);
		count_error("stuck at end", 0);
		cn_runtime_stop(rt);
	}
}

int main(int argc, char **argv)
{
	int port = 0, conns = 1000, seconds = 60;
	const char *host = "127.0.0.1";
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--conns"))
			conns = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--host"))
			host = argv[i + 1];
	}
	if (port <= 0 || conns <= 0 || seconds <= 0) {
		fprintf(stderr, "usage: soak_client --port N [--conns C] [--seconds S]\n");
		return 2;
	}
	server.sin_family = AF_INET;
	server.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &server.sin_addr) != 1)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	cn_runtime_opts o = {.mode = CN_NETPOLL_INLINE};
	rt = cn_runtime_create(&o);
	if (!rt) {
		perror("soak_client: cn_runtime_create");
		return 1;
	}
	t_end = cn_now() + (int64_t)seconds * 1000 * MS;
	const cn_coro_opts co = {.stack_size = 32 * 1024, .name = "soak-conn"};
	for (int i = 0; i < conns; i++) {
		if (cn_spawn(rt, conn_main, (void *)(intptr_t)i, &co) < 0) {
			perror("soak_client: cn_spawn");
			return 1;
		}
		live++;
	}
	cn_spawn(rt, reaper, NULL, &co);
	if (cn_runtime_run(rt) < 0) {
		perror("soak_client: cn_runtime_run");
		return 1;
	}
	cn_runtime_destroy(rt);

	uint64_t nerr = mismatches + early_eofs;
	printf("client: connections=%d connects=%llu round_trips=%llu\n", conns,
	       (unsigned long long)connects, (unsigned long long)round_trips);
	printf("client: bytes sent=%llu echoed=%llu %s\n", (unsigned long long)sent,
	       (unsigned long long)echoed, sent == echoed ? "(equal)" : "(DIFFERENT)");
	printf("client: resets_done=%llu half_closes_ok=%llu non_reader_bytes_unread=%llu\n",
	       (unsigned long long)resets_done, (unsigned long long)half_closes,
	       (unsigned long long)nonreader_bytes);
	printf("client: errors: mismatches=%llu early_eof=%llu", (unsigned long long)mismatches,
	       (unsigned long long)early_eofs);
	for (int i = 0; i < NKIND && kinds[i].op; i++) {
		printf(" %s:%s=%llu", kinds[i].op, kinds[i].err ? strerror(kinds[i].err) : "-",
		       (unsigned long long)kinds[i].n);
		nerr += kinds[i].n;
	}
	printf("\nclient: result errors=%llu bytes_equal=%d\n", (unsigned long long)nerr,
	       sent == echoed);
	return nerr || sent != echoed ? 1 : 0;
}
