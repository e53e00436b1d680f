/*
 * examples/http_server.c — a small HTTP/1.1 server on coronet: keep-alive,
 * pipelining, and a deadline for each request's headers.
 *
 *   http_server [--port N] [--mode thread|inline] [--host ADDR]
 *               [--header-ms MS] [--idle-ms MS]
 *
 * Every request for any path gets the same small body ("Hello, world!\n"),
 * which is what the benchmark compares against nginx serving a fixed
 * string. A connection is one coroutine: it reads what the client sent,
 * answers every complete request in the buffer in order (pipelining: the
 * answers go out in one write), and keeps the connection unless the client
 * said "Connection: close" or spoke HTTP/1.0 without keep-alive. A client
 * that starts a request must finish its headers within --header-ms (default
 * 10,000 ms: slow-loris clients lose their connection); an idle keep-alive
 * connection is closed after --idle-ms (default 60,000 ms). Request bodies
 * (Content-Length) are read and dropped; chunked bodies are refused (501).
 *
 * It prints "listening on HOST:PORT" (port 0 picks a free one), and stops
 * cleanly on SIGINT/SIGTERM with its counts.
 *
 * SIGQUIT prints the runtime dump on stderr.
 *
 * Threads: main() runs the runtime; its coroutines run on that thread. A
 * thread of ours takes the signals (stop_signals.h).
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
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <coronet.h>

#include "stop_signals.h"

#define PROG "http_server"
#define IN_SIZE 16384
#define OUT_SIZE 16384
#define MS 1000000LL

static cn_runtime *rt;
static int64_t header_ns = 10000 * MS, idle_ns = 60000 * MS;
static uint64_t n_conns, n_requests, n_header_timeouts, n_bad;

/* Case-insensitive search for a header line "name: value" in [h, end). */
static const char *header(const char *h, const char *end, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = h; p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
		if (*p == '\n')
			p++;
		if ((size_t)(end - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':')
			return p + n + 1;
	}
	return NULL;
}

static int has_token(const char *v, const char *end, const char *tok)
{
	const char *eol = v ? memchr(v, '\r', (size_t)(end - v)) : NULL;
	size_t n = strlen(tok);

	for (const char *p = v; p && eol && p + n <= eol; p++)
		if (strncasecmp(p, tok, n) == 0)
			return 1;
	return 0;
}

#define HEAD \
	"HTTP/1.1 200 OK\r\nServer: coronet\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n"
static const char ok_keep[] = HEAD "Connection: keep-alive\r\n\r\nHello, world!\n";
static const char ok_close[] = HEAD "Connection: close\r\n\r\nHello, world!\n";
static const char bad_req[] = "HTTP/1.1 400 Bad Request\r\nServer: coronet\r\n"
                              "Content-Length: 0\r\nConnection: close\r\n\r\n";
static const char not_impl[] = "HTTP/1.1 501 Not Implemented\r\nServer: coronet\r\n"
                               "Content-Length: 0\r\nConnection: close\r\n\r\n";

/* Appends the answer to one request (made once, copied per request: the
 * benchmark's body is fixed); returns keep. */
static int answer(char *out, size_t *olen, int status, int keep)
{
	const char *a = status == 400   ? bad_req
	                : status == 501 ? not_impl
	                : keep          ? ok_keep
	                                : ok_close;
	size_t n = strlen(a);

	memcpy(out + *olen, a, n);
	*olen += n;
	return keep;
}

static void conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg, keep = 1;
	char in[IN_SIZE], out[OUT_SIZE];
	size_t have = 0;
	int64_t started = 0; /* when the current request's first byte came */

	n_conns++;
	while (keep) {
		size_t olen = 0;
		char *eoh;
		ssize_t r;

		/* Answer every complete request already here (pipelining). */
		while (keep && (eoh = memmem(in, have, "\r\n\r\n", 4)) != NULL &&
		       olen + 512 < OUT_SIZE) {
			const char *end = eoh + 4, *cl;
			size_t hlen = (size_t)(end - in), blen = 0;
			int http10 = memmem(in, hlen, " HTTP/1.0\r\n", 11) != NULL;

			if (!memmem(in, hlen, " HTTP/1.", 8)) {
				n_bad++;
				keep = answer(out, &olen, 400, 0);
				break;
			}
			if (header(in, end, "Transfer-Encoding")) {
				n_bad++;
				keep = answer(out, &olen, 501, 0);
				break;
			}
			cl = header(in, end, "Content-Length");
			if (cl)
				blen = strtoul(cl, NULL, 10);
			if (blen > IN_SIZE - hlen) {
				n_bad++;
				keep = answer(out, &olen, 400, 0);
				break;
			}
			if (have < hlen + blen)
				break; /* the body is still coming */
			keep = http10 ? has_token(header(in, end, "Connection"), end, "keep-alive")
			              : !has_token(header(in, end, "Connection"), end, "close");
			answer(out, &olen, 200, keep);
			n_requests++;
			memmove(in, in + hlen + blen, have - hlen - blen);
			have -= hlen + blen;
			started = have ? cn_now() : 0;
		}
		if (olen && cn_write_all(fd, out, olen, cn_deadline_after(idle_ns), NULL) < 0)
			break;
		if (!keep)
			break;
		if (have == sizeof(in)) {
			n_bad++; /* headers larger than the buffer */
			break;
		}
		/* A request begun must complete its headers by its deadline;
		 * between requests the connection may idle longer. */
		r = cn_read(fd, in + have, sizeof(in) - have,
		            have ? started + header_ns : cn_deadline_after(idle_ns));
		if (r <= 0) {
			if (r < 0 && errno == ETIMEDOUT && have)
				n_header_timeouts++;
			break;
		}
		if (have == 0)
			started = cn_now();
		have += (size_t)r;
	}
	cn_close(fd);
}

static void acceptor(void *arg)
{
	int lfd = (int)(intptr_t)arg, one = 1;
	const cn_coro_opts o = {.stack_size = 64 * 1024, .name = "http-conn"};

	for (;;) {
		int fd = cn_accept(lfd, NULL, NULL, CN_NO_DEADLINE);

		if (fd < 0) {
			if (errno == ECANCELED)
				break;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (cn_spawn(cn_runtime_current(), conn_main, (void *)(intptr_t)fd, &o) < 0)
			cn_close(fd);
	}
	cn_close(lfd);
}

struct setup {
	const char *host, *port;
};

static void start(void *arg)
{
	struct setup *s = arg;
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);
	char name[64] = "?";
	int lfd = cn_listen_tcp(s->host, s->port, 4096), port = 0;

	if (lfd < 0) {
		fprintf(stderr, PROG ": listen on %s:%s: %s\n", s->host, s->port, strerror(errno));
		exit(1);
	}
	getsockname(lfd, (struct sockaddr *)&a, &len);
	if (a.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a)->sin6_addr, name, sizeof(name));
		port = ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&a)->sin_addr, name, sizeof(name));
		port = ntohs(((struct sockaddr_in *)&a)->sin_port);
	}
	printf(PROG ": listening on %s:%d\n", name, port);
	fflush(stdout);
	cn_spawn(cn_runtime_current(), acceptor, (void *)(intptr_t)lfd, NULL);
}

int main(int argc, char **argv)
{
	struct setup s = {"127.0.0.1", "8080"};
	cn_runtime_opts o = {.mode = CN_NETPOLL_THREAD};

	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--port") == 0 && v)
			s.port = v;
		else if (strcmp(argv[i], "--host") == 0 && v)
			s.host = v;
		else if (strcmp(argv[i], "--mode") == 0 && v &&
		         cn_netpoll_mode_parse(v, &o.mode) == 0)
			;
		else if (strcmp(argv[i], "--header-ms") == 0 && v)
			header_ns = atoll(v) * MS;
		else if (strcmp(argv[i], "--idle-ms") == 0 && v)
			idle_ns = atoll(v) * MS;
		else {
			fprintf(stderr,
			        "usage: " PROG " [--port N] [--mode thread|inline] [--host ADDR] "
			        "[--header-ms MS] [--idle-ms MS]\n");
			return 2;
		}
		i++;
	}
	signal(SIGPIPE, SIG_IGN);
	ex_signals_block();
	rt = cn_runtime_create(&o);
	if (!rt) {
		perror(PROG ": cn_runtime_create");
		return 1;
	}
	struct ex_signals sig;
	if (ex_signals_start(&sig, rt, 1) < 0) {
		perror(PROG ": pthread_create");
		cn_runtime_destroy(rt);
		return 1;
	}
	cn_spawn(rt, start, &s, NULL);
	cn_runtime_run(rt);
	ex_signals_end(&sig);
	cn_runtime_destroy(rt);
	printf(PROG ": stopped; %llu connections, %llu requests, %llu header timeouts, %llu bad\n",
	       (unsigned long long)n_conns, (unsigned long long)n_requests,
	       (unsigned long long)n_header_timeouts, (unsigned long long)n_bad);
	return 0;
}
