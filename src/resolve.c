/*
 * src/resolve.c — name resolution on the pool with a deadline, and
 * connect/listen by name (coronet/blocking.h).
 *
 * Unlike cn_blocking(), a lookup's caller may leave at its deadline while
 * the resolver still runs, so the job lives on the heap with two
 * references (the caller's, the pool's: promise.h's lifetime rule, the
 * second way) and owns copies of its inputs; whoever drops the last
 * reference frees it, and a result nobody took with it.
 *
 * Threads: a runtime coroutine on its scheduler's thread; the lookup runs
 * on a worker.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coronet/blocking.h"
#include "coronet/io.h"
#include "pool.h"
#include "promise_internal.h"
#include "sched.h"

typedef struct gai_job {
	cn__job j;
	int refs;
	char *node, *service;
	struct addrinfo hints;
	int has_hints;
	struct addrinfo *res; /* the worker's result until the caller takes it */
	int rc, err;
} gai_job;

/* Drops n references; the last one frees g and a result nobody took. */
static void gai_unref(gai_job *g, int n)
{
	if (__atomic_sub_fetch(&g->refs, n, __ATOMIC_ACQ_REL) != 0)
		return;
	if (g->res)
		freeaddrinfo(g->res);
	free(g->node);
	free(g->service);
	free(g);
}

static void gai_run(cn__job *j)
{
	gai_job *g = (gai_job *)j;

	errno = 0;
	g->rc = getaddrinfo(g->node, g->service, g->has_hints ? &g->hints : NULL, &g->res);
	g->err = errno;
	/* The outcome is in g (EAI codes are negative): the promise only
	 * says "done". */
	cn_promise_fulfil(&j->p, 0, 0);
}

static void gai_done(cn__job *j)
{
	gai_unref((gai_job *)j, 1);
}

static char *dup_or_null(const char *s, int *bad)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*bad = 1;
	return d;
}

int cn_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                   struct addrinfo **res, int64_t deadline)
{
	cn__task *t;
	gai_job *g;
	ssize_t r;
	int bad = 0, rc;

	if (!res || (!node && !service)) {
		errno = EINVAL;
		return EAI_SYSTEM;
	}
	*res = NULL;
	t = cn__task_current();
	if (!t)
		return EAI_SYSTEM;
	g = calloc(1, sizeof(*g));
	if (!g) {
		errno = ENOMEM;
		return EAI_SYSTEM;
	}
	g->node = dup_or_null(node, &bad);
	g->service = dup_or_null(service, &bad);
	if (hints) {
		/* Only the fields getaddrinfo reads from hints. */
		g->hints.ai_flags = hints->ai_flags;
		g->hints.ai_family = hints->ai_family;
		g->hints.ai_socktype = hints->ai_socktype;
		g->hints.ai_protocol = hints->ai_protocol;
		g->has_hints = 1;
	}
	g->refs = 2;
	g->j.run = gai_run;
	g->j.done = gai_done;
	cn_promise_init(&g->j.p);
	if (bad || cn__pool_submit(t->s->pool, &g->j) < 0) {
		int err = bad ? ENOMEM : errno;

		gai_unref(g, 2);
		errno = err;
		return EAI_SYSTEM;
	}
	r = cn__promise_await(&g->j.p, deadline, CN__AWAIT_FOR(CN__WHAT_BLOCKING));
	if (r < 0) {
		int err = errno;

		/* Withdrawn from the queue, the pool will not drop its
		 * reference: we drop both. */
		gai_unref(g, cn__pool_withdraw(t->s->pool, &g->j) ? 2 : 1);
		errno = err;
		return EAI_SYSTEM;
	}
	rc = g->rc;
	if (rc == 0) {
		*res = g->res;
		g->res = NULL;
	} else if (rc == EAI_SYSTEM) {
		errno = g->err;
	}
	gai_unref(g, 1);
	return rc;
}

/* A resolver failure as an errno, for the calls that return fds. */
static int resolve(const char *host, const char *service, int flags, struct addrinfo **res,
                   int64_t deadline)
{
	struct addrinfo hints;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = flags;
	rc = cn_getaddrinfo(host, service, &hints, res, deadline);
	if (rc == 0)
		return 0;
	if (rc != EAI_SYSTEM)
		errno = EHOSTUNREACH;
	return -1;
}

/* What to do with a fresh socket for one address: 0 when it is the one
 * (the caller returns it), -1 with errno to try the next; *stop set when
 * no later address can do better. */
typedef int (*use_fn)(int fd, const struct addrinfo *ai, void *ctx, int *stop);

/* Tries every address of res in order with use(); the fd that worked, or
 * -1 with the last address's errno. Frees res. */
static int try_each(struct addrinfo *res, use_fn use, void *ctx)
{
	int err = EHOSTUNREACH, stop = 0;

	for (struct addrinfo *ai = res; ai && !stop; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);

		if (fd < 0) {
			err = errno;
			continue;
		}
		if (use(fd, ai, ctx, &stop) == 0) {
			freeaddrinfo(res);
			return fd;
		}
		err = errno;
	}
	freeaddrinfo(res);
	errno = err;
	return -1;
}

static int use_connect(int fd, const struct addrinfo *ai, void *ctx, int *stop)
{
	int64_t deadline = *(const int64_t *)ctx;
	int err;

	if (cn_connect(fd, ai->ai_addr, ai->ai_addrlen, deadline) == 0)
		return 0;
	err = errno;
	cn_close(fd);
	/* The deadline is spent for every address, and so is a stop. */
	*stop = err == ETIMEDOUT || err == ECANCELED;
	errno = err;
	return -1;
}

int cn_dial(const char *host, const char *service, int64_t deadline)
{
	struct addrinfo *res;

	if (!host || !service) {
		errno = EINVAL;
		return -1;
	}
	if (resolve(host, service, 0, &res, deadline) < 0)
		return -1;
	return try_each(res, use_connect, &deadline);
}

static int use_listen(int fd, const struct addrinfo *ai, void *ctx, int *stop)
{
	int backlog = *(const int *)ctx, one = 1, err;

	(void)stop;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
	    listen(fd, backlog > 0 ? backlog : SOMAXCONN) == 0)
		return 0;
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

int cn_listen_tcp(const char *host, const char *service, int backlog)
{
	struct addrinfo *res;

	if (!service) {
		errno = EINVAL;
		return -1;
	}
	if (resolve(host, service, AI_PASSIVE, &res, CN_NO_DEADLINE) < 0)
		return -1;
	return try_each(res, use_listen, &backlog);
}
