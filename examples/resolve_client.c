/*
 * examples/resolve_client.c — a client in three lines: resolve a name,
 * connect within a deadline, and hand a blocking call to the pool.
 *
 * To be self-contained it also runs a tiny server in the same runtime
 * (cn_listen_tcp on an ephemeral port of 127.0.0.1), which answers each
 * line with its length. The client dials "localhost", sends a line, reads
 * the answer, then computes a checksum of a file with cn_blocking() (a
 * stand-in for any library call that blocks), while the server keeps
 * serving.
 *
 *   resolve_client [file]      (default: this program's own binary)
 *
 * Exit status 0 when the exchange and the checksum worked.
 */
#include <coronet.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char port[16];
static const char *path;
static int ok;

static void server(void *arg)
{
	int lfd = (int)(intptr_t)arg, fd;
	char line[128], out[32];
	ssize_t n;

	fd = cn_accept(lfd, NULL, NULL, cn_deadline_after(5000000000LL));
	if (fd >= 0 && (n = cn_read(fd, line, sizeof(line), cn_deadline_after(5000000000LL))) > 0) {
		int len = snprintf(out, sizeof(out), "%zd\n", n);

		cn_write_all(fd, out, (size_t)len, CN_NO_DEADLINE, NULL);
	}
	if (fd >= 0)
		cn_close(fd);
	cn_close(lfd);
}

/* Runs on a worker thread of the pool: plain blocking stdio. */
static ssize_t checksum(void *arg)
{
	FILE *f = fopen(arg, "rb");
	unsigned long sum = 0;
	int c;

	if (!f)
		return -1; /* errno travels back to the coroutine */
	while ((c = getc(f)) != EOF)
		sum = sum * 31 + (unsigned char)c;
	fclose(f);
	return (ssize_t)(sum & 0x7fffffff);
}

static void client(void *arg)
{
	char answer[32] = "";
	ssize_t n, sum;
	int fd;

	(void)arg;
	/* 1. resolve and connect, 2 s for both. */
	fd = cn_dial("localhost", port, cn_deadline_after(2000000000LL));
	if (fd < 0) {
		fprintf(stderr, "resolve_client: dial localhost:%s: %s\n", port, strerror(errno));
		return;
	}
	cn_write_all(fd, "hello, coronet\n", 15, CN_NO_DEADLINE, NULL);
	n = cn_read(fd, answer, sizeof(answer) - 1, cn_deadline_after(2000000000LL));
	cn_close(fd);
	printf("server says the line was %s", n > 0 ? answer : "(nothing)\n");
	/* 2. a blocking call, off the scheduler thread. */
	sum = cn_blocking(checksum, (void *)path);
	if (sum < 0) {
		fprintf(stderr, "resolve_client: %s: %s\n", path, strerror(errno));
		return;
	}
	printf("checksum of %s: %zd (computed on the pool)\n", path, sum);
	ok = n > 0 && strcmp(answer, "15\n") == 0;
}

/* Listening is a runtime call too (it resolves "127.0.0.1"): set up in a
 * coroutine. */
static void setup(void *arg)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int lfd = cn_listen_tcp("127.0.0.1", "0", 16);

	(void)arg;
	if (lfd < 0 || getsockname(lfd, (struct sockaddr *)&a, &len) < 0) {
		perror("resolve_client: listen");
		return;
	}
	snprintf(port, sizeof(port), "%d", ntohs(a.sin_port));
	cn_spawn(cn_runtime_current(), server, (void *)(intptr_t)lfd, NULL);
	cn_spawn(cn_runtime_current(), client, NULL, NULL);
}

int main(int argc, char **argv)
{
	cn_runtime *rt = cn_runtime_create(NULL);

	path = argc > 1 ? argv[1] : argv[0];
	if (!rt || cn_spawn(rt, setup, NULL, NULL) != 0)
		return 1;
	cn_runtime_run(rt);
	cn_runtime_destroy(rt);
	return ok ? 0 : 1;
}
