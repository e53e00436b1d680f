/*
 * coronet/io.h — I/O calls for coroutines.
 *
 * Each call first tries the system call; only when it would block (EAGAIN)
 * does the coroutine wait for readiness, yielding a promise that the netpoll
 * fulfils, then it retries. fds are switched to O_NONBLOCK on first use.
 * Regular files and other fds the poller cannot watch are treated as always
 * ready, so cn_read() on stdin works for a terminal, a pipe or a file.
 *
 * deadline: an absolute cn_now() time in nanoseconds, or CN_NO_DEADLINE. A
 * waiting call that passes its deadline fails with ETIMEDOUT.
 * cn_close() on an fd that other coroutines wait on resumes them with
 * ECANCELED; they never retry on a reused fd number.
 *
 * Threads: scheduler thread only, from a coroutine of a running runtime;
 * elsewhere every call fails with EPERM.
 */
#ifndef CORONET_IO_H
#define CORONET_IO_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CN_NO_DEADLINE ((int64_t)-1)

/* Deadline helper: cn_now() + ns (CN_NO_DEADLINE if ns < 0). */
int64_t cn_deadline_after(int64_t ns);

ssize_t cn_read(int fd, void *buf, size_t n, int64_t deadline);
ssize_t cn_write(int fd, const void *buf, size_t n, int64_t deadline);
/* Writes all n bytes (looping over partial writes); returns n, or -1 with
 * errno; on error *written (if not NULL) says how many bytes went out. */
ssize_t cn_write_all(int fd, const void *buf, size_t n, int64_t deadline, size_t *written);
ssize_t cn_readv(int fd, const struct iovec *iov, int iovcnt, int64_t deadline);
ssize_t cn_writev(int fd, const struct iovec *iov, int iovcnt, int64_t deadline);
ssize_t cn_recv(int fd, void *buf, size_t n, int flags, int64_t deadline);
ssize_t cn_send(int fd, const void *buf, size_t n, int flags, int64_t deadline);

/* Returns a new non-blocking, close-on-exec fd. On EMFILE/ENFILE it backs
 * off (sleeps, doubling up to 100 ms) until a descriptor frees up or the
 * deadline passes, so an fd shortage never spins the CPU. */
int cn_accept(int fd, struct sockaddr *addr, socklen_t *len, int64_t deadline);

/* Connects a socket (made non-blocking); 0, or -1 with errno (ECONNREFUSED,
 * ETIMEDOUT, ...). */
int cn_connect(int fd, const struct sockaddr *addr, socklen_t len, int64_t deadline);

/* Waits until fd is readable (CN_FD_READ) or writable (CN_FD_WRITE). */
enum { CN_FD_READ = 1, CN_FD_WRITE = 2 };
int cn_fd_wait(int fd, int what, int64_t deadline);

/* Unregisters fd, resumes its waiters with ECANCELED, closes it. Returns
 * close()'s result. */
int cn_close(int fd);

#ifdef __cplusplus
}
#endif

#endif
