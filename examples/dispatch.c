/*
 * examples/dispatch.c — cooperative downloads with a plain dispatcher loop.
 *
 * The pattern of "Non-Preemptive Multithreading" in Programming in Lua:
 * several downloads run as coroutines; each reads its own socket with
 * non-blocking reads and, when a read would block, yields instead of
 * waiting. A dispatcher resumes them round-robin. When a whole round made
 * no progress (every download would block), it waits in poll() for any of
 * their sockets, as the book's dispatcher does with select(), rather than
 * spin. There is no event loop and no scheduler: this is the stepping stone
 * that coronet's runtime and netpoll replace.
 *
 * The "server" is a thread of this program on 127.0.0.1: it serves each
 * requested file slowly, a chunk per connection at a time with a short
 * pause between rounds, so the downloads really do interleave.
 *
 * Threads: the coroutines and the dispatcher run on the main thread; the
 * server thread only touches its own sockets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <coronet.h>

#define NDOWNLOADS 4
#define CHUNK 4096

static const struct {
	const char *name;
	size_t size;
} files[NDOWNLOADS] = {
	{ "alpha.bin", 48 * 1024 },
	{ "beta.bin", 96 * 1024 },
	{ "gamma.bin", 16 * 1024 },
	{ "delta.bin", 160 * 1024 },
};

/* The content of every file: byte i of file f, so both ends agree. */
static unsigned char content(int f, size_t i)
{
	return (unsigned char)(i * 31 + (size_t)f * 7);
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* ---- the server thread -------------------------------------------------- */

struct server {
	int lfd;
	uint16_t port;
};

struct conn {
	int fd, file;
	size_t sent;
};

static void sleep_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

/* Reads "GET <name>\n" (blocking); returns the file index or -1. */
static int read_request(int fd)
{
	char line[128];
	size_t n = 0;

	while (n < sizeof(line) - 1) {
		ssize_t r = read(fd, line + n, 1);
		if (r <= 0)
			return -1;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	for (int f = 0; f < NDOWNLOADS; f++)
		if (strncmp(line, "GET ", 4) == 0 && strcmp(line + 4, files[f].name) == 0)
			return f;
	return -1;
}

static void *serve(void *arg)
{
	struct server *s = arg;
	struct conn c[NDOWNLOADS];
	unsigned char buf[CHUNK];

	for (int i = 0; i < NDOWNLOADS; i++) {
		c[i].fd = accept(s->lfd, NULL, NULL);
		if (c[i].fd < 0)
			die("accept");
		c[i].file = read_request(c[i].fd);
		c[i].sent = 0;
		if (c[i].file < 0) {
			fprintf(stderr, "server: bad request\n");
			exit(1);
		}
	}
	/* One chunk per connection per round, then a pause: a slow network. */
	for (int left = NDOWNLOADS; left > 0;) {
		for (int i = 0; i < NDOWNLOADS; i++) {
			if (c[i].fd < 0)
				continue;
			size_t size = files[c[i].file].size;
			size_t n = size - c[i].sent < CHUNK ? size - c[i].sent : CHUNK;
			for (size_t k = 0; k < n; k++)
				buf[k] = content(c[i].file, c[i].sent + k);
			for (size_t off = 0; off < n;) {
				ssize_t w = write(c[i].fd, buf + off, n - off);
				if (w < 0)
					die("server write");
				off += (size_t)w;
			}
			c[i].sent += n;
			if (c[i].sent == size) {
				close(c[i].fd);
				c[i].fd = -1;
				left--;
			}
		}
		sleep_ms(2);
	}
	return NULL;
}

/* ---- the downloads (coroutines) ----------------------------------------- */

struct download {
	int file;
	uint16_t port;
	int fd;            /* the socket, for the dispatcher's poll() */
	size_t bytes;      /* received so far */
	unsigned long reads, would_block;
	int bad;           /* bytes that differed from the expected content */
};

/* What a download yields: the fd it waits on, or -1 after progress. */
#define PROGRESS ((void *)(intptr_t)-1)

/* Like the book's receive(): read, and yield instead of blocking. */
static ssize_t receive(struct download *d, void *buf, size_t n)
{
	for (;;) {
		ssize_t r = read(d->fd, buf, n);
		if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return r;
		d->would_block++;
		cn_coro_yield((void *)(intptr_t)d->fd);
	}
}

static void download(void *arg)
{
	struct download *d = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(d->port) };
	unsigned char buf[CHUNK];
	char req[64];

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (d->fd < 0)
		die("socket");
	if (connect(d->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
	int len = snprintf(req, sizeof(req), "GET %s\n", files[d->file].name);
	if (write(d->fd, req, (size_t)len) != len)
		die("request");
	if (fcntl(d->fd, F_SETFL, fcntl(d->fd, F_GETFL) | O_NONBLOCK) < 0)
		die("fcntl");

	ssize_t r;
	while ((r = receive(d, buf, sizeof(buf))) > 0) {
		for (ssize_t k = 0; k < r; k++)
			d->bad += buf[k] != content(d->file, d->bytes + (size_t)k);
		d->bytes += (size_t)r;
		d->reads++;
		cn_coro_yield(PROGRESS); /* let the others have a turn */
	}
	if (r < 0)
		die("read");
	close(d->fd);
	d->fd = -1;
}

/* ---- the dispatcher ------------------------------------------------------ */

int main(void)
{
	struct server srv;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (srv.lfd < 0 || bind(srv.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(srv.lfd, NDOWNLOADS) < 0 ||
	    getsockname(srv.lfd, (struct sockaddr *)&sa, &salen) < 0)
		die("listen on 127.0.0.1");
	srv.port = ntohs(sa.sin_port);
	pthread_t server;
	if ((errno = pthread_create(&server, NULL, serve, &srv)) != 0)
		die("pthread_create");

	struct download d[NDOWNLOADS];
	cn_coro *co[NDOWNLOADS];
	int live = 0;
	for (int i = 0; i < NDOWNLOADS; i++) {
		d[i] = (struct download){ .file = i, .port = srv.port, .fd = -1 };
		co[i] = cn_coro_create(download, &d[i], &(cn_coro_opts){ .name = files[i].name });
		if (!co[i])
			die("cn_coro_create");
		live++;
	}
	printf("dispatching %d downloads from 127.0.0.1:%u\n", NDOWNLOADS, srv.port);

	unsigned long rounds = 0, polls = 0;
	while (live > 0) {
		struct pollfd pfd[NDOWNLOADS];
		int nblocked = 0, progress = 0;

		rounds++;
		for (int i = 0; i < NDOWNLOADS; i++) {
			if (!co[i])
				continue;
			void *v;
			int r = cn_coro_resume(co[i], &v);
			if (r < 0)
				die("cn_coro_resume");
			if (r == 0) { /* finished */
				printf("  %-10s done: %6zu bytes in %3lu reads, %3lu would-block yields%s\n",
				       files[i].name, d[i].bytes, d[i].reads, d[i].would_block,
				       d[i].bad ? ", CORRUPT" : "");
				cn_coro_destroy(co[i]);
				co[i] = NULL;
				live--;
				progress = 1;
			} else if (v == PROGRESS) {
				progress = 1;
			} else {
				pfd[nblocked++] = (struct pollfd){ .fd = (int)(intptr_t)v, .events = POLLIN };
			}
		}
		/* Everyone would block: wait for any socket instead of spinning. */
		if (!progress && nblocked > 0) {
			polls++;
			if (poll(pfd, (nfds_t)nblocked, -1) < 0 && errno != EINTR)
				die("poll");
		}
	}
	pthread_join(server, NULL);
	close(srv.lfd);

	size_t total = 0;
	int bad = 0;
	for (int i = 0; i < NDOWNLOADS; i++) {
		total += d[i].bytes;
		bad |= d[i].bytes != files[i].size || d[i].bad;
	}
	printf("%zu bytes in %lu dispatcher rounds, %lu of them ended in poll(): %s\n", total,
	       rounds, polls, bad ? "MISMATCH" : "all downloads complete and intact");
	return bad;
}
