/*
 * examples/chat_server.c — a line chat: one coroutine pair per client, a
 * hub that broadcasts through channels, and a clean shutdown by
 * destroying the group every coroutine lives in.
 *
 *   chat_server [port]      (default 0: any free port; prints "listening on PORT")
 *
 * Each client gets a reader (its lines go to the hub's channel) and a
 * writer (it drains the client's own outbox channel onto the socket). The
 * hub owns the list of clients and copies every line into each outbox
 * with a try-send: a client too slow to keep 16 lines queued misses lines
 * rather than stalling everybody. A client that sends "/shutdown" ends the
 * server: main destroys the group, which cancels every coroutine (their
 * waits fail with ECANCELED) and returns once all have returned, then
 * frees what is left. Clients are reference-counted (reader, writer, the
 * hub's list, each event in flight), so whichever lets go last frees.
 * Nothing here needs a lock: one runtime, one thread.
 *
 * Threads: main() runs the runtime; every coroutine runs on that thread.
 */
#include <coronet.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE 200
#define OUTBOX 16

struct client {
	int fd, id;
	cn_chan *outbox; /* char[LINE] lines for this client */
	int refs;        /* its reader, its writer, the hub's list, each event */
	struct client *next;
};

enum { EV_JOIN, EV_LEAVE, EV_LINE };
struct event {
	int kind;
	struct client *c;
	char line[LINE];
};

static cn_chan *hub_in;   /* struct event */
static cn_chan *quit;     /* int: anyone may ask main to shut down */
static cn_group *everyone;
static struct client *clients; /* the hub's */

static void client_unref(struct client *c)
{
	if (--c->refs == 0) {
		cn_close(c->fd);
		cn_chan_destroy(c->outbox);
		free(c);
	}
}

/* Every event holds a reference to its client, dropped by whoever takes
 * the event (the hub, or the server draining the channel at shutdown). */
static void to_hub(int kind, struct client *c, const char *line)
{
	struct event ev = {kind, c, ""};

	if (line)
		snprintf(ev.line, sizeof(ev.line), "%s", line);
	c->refs++;
	if (cn_chan_send(hub_in, &ev, CN_NO_DEADLINE) < 0)
		c->refs--; /* cancelled: the server is going */
}

static void *writer(void *arg)
{
	struct client *c = arg;
	char line[LINE];

	while (cn_chan_recv(c->outbox, line, CN_NO_DEADLINE) == 0)
		if (cn_write_all(c->fd, line, strlen(line), CN_NO_DEADLINE, NULL) < 0)
			break;
	client_unref(c); /* EPIPE: the hub closed our outbox; or cancelled */
	return NULL;
}

static void *reader(void *arg)
{
	struct client *c = arg;
	char buf[LINE];
	size_t have = 0;
	ssize_t n;

	to_hub(EV_JOIN, c, NULL);
	while ((n = cn_read(c->fd, buf + have, LINE - 1 - have, CN_NO_DEADLINE)) > 0) {
		char *nl;

		have += (size_t)n;
		buf[have] = '\0';
		while ((nl = strchr(buf, '\n'))) {
			char one[LINE];
			size_t len = (size_t)(nl - buf) + 1;

			memcpy(one, buf, len);
			one[len] = '\0';
			memmove(buf, nl + 1, have - len + 1);
			have -= len;
			if (strcmp(one, "/shutdown\n") == 0) {
				int yes = 1;

				cn_chan_send(quit, &yes, 0);
				continue;
			}
			to_hub(EV_LINE, c, one);
		}
		if (have == LINE - 1)
			have = 0; /* a line too long: dropped */
	}
	to_hub(EV_LEAVE, c, NULL); /* EOF, a reset, or a cancel (then it fails too) */
	client_unref(c);
	return NULL;
}

static void broadcast(const char *line)
{
	for (struct client *c = clients; c; c = c->next)
		cn_chan_send(c->outbox, line, 0); /* full: this client misses it */
}

static void *hub(void *arg)
{
	struct event ev;
	char out[LINE + 32];
	int online = 0;

	(void)arg;
	while (cn_chan_recv(hub_in, &ev, CN_NO_DEADLINE) == 0) {
		if (ev.kind == EV_JOIN) {
			ev.c->next = clients; /* the event's reference becomes the list's */
			clients = ev.c;
			online++;
			snprintf(out, LINE, "welcome, you are client %d (%d online)\n", ev.c->id, online);
			cn_chan_send(ev.c->outbox, out, 0);
		} else if (ev.kind == EV_LEAVE) {
			for (struct client **p = &clients; *p; p = &(*p)->next)
				if (*p == ev.c) {
					*p = ev.c->next;
					online--;
					cn_chan_close(ev.c->outbox); /* its writer ends */
					client_unref(ev.c);          /* the list's */
					break;
				}
			client_unref(ev.c);
		} else {
			snprintf(out, LINE, "%d: %.*s", ev.c->id, LINE - 16, ev.line);
			broadcast(out);
			client_unref(ev.c);
		}
	}
	/* Cancelled: the server is going. The list lets its clients go. */
	while (clients) {
		struct client *c = clients;

		clients = c->next;
		client_unref(c);
	}
	return NULL;
}

static void *acceptor(void *arg)
{
	int lfd = *(int *)arg, id = 0;
	cn_runtime *rt = cn_runtime_current();

	for (;;) {
		int fd = cn_accept(lfd, NULL, NULL, CN_NO_DEADLINE);
		struct client *c;

		if (fd < 0) {
			if (errno == ECANCELED)
				break;
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c || !(c->outbox = cn_chan_create(LINE, OUTBOX))) {
			free(c);
			cn_close(fd);
			continue;
		}
		c->fd = fd;
		c->id = ++id;
		c->refs = 2;
		/* A spawn fails only while the group is being destroyed. */
		if (cn_group_spawn(everyone, rt, writer, c, NULL) < 0) {
			cn_close(fd);
			cn_chan_destroy(c->outbox);
			free(c);
		} else if (cn_group_spawn(everyone, rt, reader, c, NULL) < 0) {
			client_unref(c); /* the reader's share; the writer has the other */
		}
	}
	cn_close(lfd);
	return NULL;
}

static void server(void *arg)
{
	const char *port = arg;
	cn_runtime *rt = cn_runtime_current();
	long left;
	int lfd = cn_listen_tcp("127.0.0.1", port, 0), yes;

	if (lfd < 0) {
		perror("chat_server: listen");
		exit(1);
	}
	{
		struct sockaddr_in a;
		socklen_t len = sizeof(a);

		getsockname(lfd, (struct sockaddr *)&a, &len);
		printf("listening on %d\n", ntohs(a.sin_port));
		fflush(stdout);
	}
	cn_group_spawn(everyone, rt, hub, NULL, NULL);
	cn_group_spawn(everyone, rt, acceptor, &lfd, NULL);
	cn_chan_recv(quit, &yes, CN_NO_DEADLINE);
	left = cn_group_size(everyone);
	cn_group_destroy(everyone); /* cancels and reaps every coroutine */
	{
		struct event ev; /* events the hub never took hold references */

		while (cn_chan_recv(hub_in, &ev, 0) == 0)
			client_unref(ev.c);
	}
	printf("shutdown: %ld coroutines cancelled and reaped\n", left);
}

int main(int argc, char **argv)
{
	cn_runtime *rt = cn_runtime_create(NULL);

	hub_in = cn_chan_create(sizeof(struct event), 64);
	quit = cn_chan_create(sizeof(int), 1);
	everyone = cn_group_create();
	if (!rt || !hub_in || !quit || !everyone ||
	    cn_spawn(rt, server, argc > 1 ? argv[1] : "0", NULL) < 0) {
		perror("chat_server");
		return 1;
	}
	cn_runtime_run(rt);
	cn_runtime_destroy(rt);
	cn_chan_destroy(hub_in);
	cn_chan_destroy(quit);
	return 0;
}
