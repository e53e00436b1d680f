/*
 * coronet/blocking.h — calls that block, made from coroutines without
 * blocking the scheduler: any function on the runtime's pool of worker
 * threads, name resolution, and connect/listen by name.
 *
 * The pool: worker threads of the runtime, started on demand up to
 * cn_runtime_opts.pool_size (0: 8), each retiring after 10 s without work.
 * A job runs on a worker while the calling coroutine waits; other
 * coroutines run meanwhile. Regular files use it too (coronet/io.h).
 *
 * Threads: a runtime coroutine on its scheduler's thread (else EPERM).
 */
#ifndef CORONET_BLOCKING_H
#define CORONET_BLOCKING_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netdb.h>

#ifdef __cplusplus
extern "C" {
#endif

/* <netdb.h> defines it only for POSIX.1-2001 and later (not under a bare
 * -std=c99): declared here so the header compiles either way. */
struct addrinfo;

/*
 * Runs fn(arg) on a worker of the calling coroutine's runtime and returns
 * its value; when it returns -1, errno is the worker's errno after fn.
 * Other errors (-1 with errno): EINVAL fn is NULL; EPERM not a runtime
 * coroutine; EAGAIN no worker could be started; ECANCELED the runtime
 * stopped while the job was still queued (fn never ran). A job that runs
 * when the stop comes is waited for: fn may use the caller's memory (arg
 * often points into its stack), so the call returns only once fn has.
 * A cancelled caller (coronet/task.h) gets ECANCELED likewise, and also
 * after waiting out a job that ran: fn's result is then dropped.
 * cn_runtime_destroy() waits for running jobs too.
 */
ssize_t cn_blocking(ssize_t (*fn)(void *arg), void *arg);

/*
 * getaddrinfo(3) on the pool, waiting at most until deadline (cn_now()
 * time, CN_NO_DEADLINE: none). Returns 0 with *res to free with
 * freeaddrinfo(), or getaddrinfo's EAI_* code; EAI_SYSTEM with errno
 * ETIMEDOUT (the deadline passed: the lookup goes on on its worker and its
 * result is freed there), ECANCELED (the runtime stops), EPERM, EINVAL
 * (res NULL, or node and service both NULL), ENOMEM, EAGAIN. The strings
 * and hints are copied: the caller's memory is free once the call returns,
 * whatever its outcome.
 */
int cn_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                   struct addrinfo **res, int64_t deadline);

/*
 * A TCP connection to host:service, resolved on the pool and tried address
 * by address (as getaddrinfo orders them) within one deadline. Returns the
 * connected fd (non-blocking, close-on-exec; close it with cn_close()), or
 * -1 with errno: the last address's connect error (ECONNREFUSED, ...),
 * ETIMEDOUT, ECANCELED, EPERM, EINVAL (host NULL); a resolver failure sets
 * errno to EHOSTUNREACH (the EAI code is not errno-shaped).
 */
int cn_dial(const char *host, const char *service, int64_t deadline);

/*
 * A TCP listener on host:service (host NULL: every local address; service
 * "0": any free port), SO_REUSEADDR set, with backlog (<= 0: SOMAXCONN).
 * Returns the fd, or -1 with errno (bind's and listen's, EHOSTUNREACH for
 * a resolver failure, EPERM, ETIMEDOUT/ECANCELED as cn_getaddrinfo).
 */
int cn_listen_tcp(const char *host, const char *service, int backlog);

#ifdef __cplusplus
}
#endif

#endif
