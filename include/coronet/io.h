/*
 * coronet/io.h — I/O calls for coroutines.
 *
 * Each call first tries the system call; only when it would block (EAGAIN)
 * does the coroutine wait for readiness, yielding a promise that the netpoll
 * fulfils, then it retries. fds are switched to O_NONBLOCK on first use.
 * cn_read() on stdin works for a terminal, a pipe or a file.
 *
 * Regular files (and other fds the poller cannot watch) never say EAGAIN,
 * but their calls can wait for the disk, which would stall every coroutine
 * of the runtime. So: reads first try preadv2(RWF_NOWAIT) on the scheduler
 * thread, which returns what the page cache holds and never waits (Linux);
 * what it cannot serve, and every write, runs on the runtime's blocking
 * pool (coronet/blocking.h) while the coroutine waits. The trade-off,
 * measured by `make bench SECTIONS=threads` on our 2-vCPU EPYC VM: a cached
 * 4 KiB cn_read costs about 1.2 us against 0.44 us for a bare pread (the
 * benchmark's lseek and the fd identity check, an fstat, make most of the
 * difference); a
 * pool round trip costs 14-30 us, two thread wake-ups, which is what every
 * write and every uncached read pays (macOS has no RWF_NOWAIT: there every
 * regular-file call goes to the pool). Code that reads hot files in a
 * tight loop and can afford the stall may call read(2) itself.
 *
 * deadline: an absolute cn_now() time in nanoseconds, or CN_NO_DEADLINE. A
 * waiting call that passes its deadline fails with ETIMEDOUT.
 * cn_close() on an fd that other coroutines wait on resumes them with
 * ECANCELED; they never retry on a reused fd number. One
 * coroutine at a time may wait on an fd per direction: a second waiter gets
 * EBUSY. While the runtime stops, a call that would wait fails with
 * ECANCELED. Note that O_NONBLOCK is a property of the open file: on a
 * terminal shared with a parent shell it stays set after the program exits.
 *
 * Pending errors: when the poller learnt an fd's error together with its
 * readiness and took it out of the socket (libkqueue does), the runtime
 * keeps it and the fd's next call that fails, would block or reads EOF
 * fails with it instead (ECONNRESET rather than a silent EOF); bytes already
 * readable come first, as from the kernel. It is reported once.
 *
 * SIGPIPE: writes on a socket (cn_write, cn_writev, cn_write_all, cn_send)
 * never raise SIGPIPE: a closed peer makes them fail with EPIPE (MSG_NOSIGNAL
 * where it exists, SO_NOSIGPIPE set on the socket at its first use
 * elsewhere). On a pipe the kernel has no such option: a write to a pipe
 * whose reader left raises SIGPIPE unless the program ignores it.
 *
 * The fd rule. A runtime learns an fd on its first cn_* call (it registers
 * it with its poller and makes it non-blocking) and forgets it at
 * cn_close() or cn_fd_release(). Whatever happens to the number in between
 * (a plain close() by the program or a library, the kernel handing the
 * number out again for another file), no call ever blocks the scheduler
 * thread in a system call and every deadline holds: socket reads and writes
 * use MSG_DONTWAIT, and before any other call that could block (accept,
 * connect, fd_wait, any call on a pipe, terminal or regular file) the
 * runtime checks that the number still names the file it registered
 * (one fstat: st_dev, st_ino), registering the new file afresh if not.
 * Socket reads and writes skip that check, so the hot path makes no extra
 * system call; a socket call that waits on a number whose file was closed
 * behind the runtime's back is resumed with ECANCELED within about two
 * seconds (the scheduler checks fd waits parked longer than a second, once
 * a second), and the next call uses the new file. Still, close fds you used
 * with cn_* calls through cn_close(). To hand an fd to another
 * runtime (the acceptor/worker pattern) call cn_fd_release() on it first,
 * in a coroutine of the runtime that used it: it stops costing that
 * runtime anything, and the receiving runtime registers it on its first
 * cn_* call.
 *
 * Errors of every call, besides the system call's own (-1 with errno):
 *   EPERM      not called from a coroutine of a runtime running on this
 *              thread (another thread, the thread outside the runtime, or a
 *              plain coroutine nested in a runtime coroutine);
 *   EBADF      fd is negative, beyond the fd table (4M), or not open;
 *   EFAULT     buf (iov, addr) is NULL while its size is not 0;
 *   EINVAL     n (or cn_write_all's n) is larger than SSIZE_MAX, or iovcnt
 *              is negative or above IOV_MAX;
 *   ETIMEDOUT  the call would wait and the deadline passed (any negative
 *              deadline other than CN_NO_DEADLINE lies in the past);
 *   ECANCELED  the fd was cn_close()d (or cn_fd_release()d, or closed
 *              behind the runtime's back: see "The fd rule") while the call
 *              waited, or the runtime is stopping;
 *   EBUSY      another coroutine already waits on the fd in this direction;
 *   ENOMEM     no memory for the fd table or a timer.
 * EFAULT and EINVAL for arguments come before every other check. Other
 * pointers (iov[i].iov_base, a too-short len) are the kernel's to
 * check (EFAULT, EINVAL). Undefined, not
 * detected: calling cn_close() twice on a number that was reused in between
 * (like close()).
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
/* flags as recv(2). MSG_WAITALL is honoured: the call waits until n bytes
 * came, EOF, an error or the deadline, and returns the bytes it got if any
 * came before the error (which the next call then reports), as recv(2)
 * does on a blocking socket. */
ssize_t cn_recv(int fd, void *buf, size_t n, int flags, int64_t deadline);
ssize_t cn_send(int fd, const void *buf, size_t n, int flags, int64_t deadline);

/* Datagrams and messages (UDP, AF_UNIX datagram and seqpacket sockets, and
 * streams): as recvfrom(2), sendto(2), recvmsg(2), sendmsg(2), waiting for
 * readiness within the deadline. A 0 from the receiving calls is an empty
 * datagram on a datagram socket (EOF only on a stream). Argument errors
 * besides the common ones: EFAULT for a NULL msg, for recvfrom's addr
 * without addrlen, and for sendto's NULL addr with a non-zero addrlen. */
ssize_t cn_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                    socklen_t *addrlen, int64_t deadline);
ssize_t cn_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
                  socklen_t addrlen, int64_t deadline);
ssize_t cn_recvmsg(int fd, struct msghdr *msg, int flags, int64_t deadline);
ssize_t cn_sendmsg(int fd, const struct msghdr *msg, int flags, int64_t deadline);

/* Returns a new non-blocking, close-on-exec fd. On EMFILE/ENFILE it backs
 * off (sleeps, doubling up to 100 ms) until a descriptor frees up or the
 * deadline passes, so an fd shortage never spins the CPU. addr may be NULL
 * (then len is ignored); addr without len is EFAULT. */
int cn_accept(int fd, struct sockaddr *addr, socklen_t *len, int64_t deadline);

/* Connects a socket (made non-blocking); 0, or -1 with errno (ECONNREFUSED,
 * ETIMEDOUT, ...; EFAULT if addr is NULL). Waits as a blocking connect
 * would, within the deadline, also where the kernel has no readiness edge
 * to offer: an AF_UNIX listener whose backlog is full (Linux answers EAGAIN)
 * is retried with a back-off (sleeps doubling from 1 ms up to 100 ms). */
int cn_connect(int fd, const struct sockaddr *addr, socklen_t len, int64_t deadline);

/* Waits until fd is readable (CN_FD_READ) or writable (CN_FD_WRITE): exactly
 * one of them (EINVAL otherwise). Returns 0 at once if it already is. */
enum { CN_FD_READ = 1, CN_FD_WRITE = 2 };
int cn_fd_wait(int fd, int what, int64_t deadline);

/* Unregisters fd, resumes its waiters with ECANCELED, closes it. Returns
 * close()'s result (EBADF for an fd that is not open). EPERM, and fd stays
 * open, when not called from a runtime coroutine. */
int cn_close(int fd);

/* Makes the calling coroutine's runtime forget fd without closing it:
 * resumes its waiters with ECANCELED and takes it out of the runtime's
 * poller; it stays open and non-blocking. For handing an fd over to another
 * runtime or to code that does its own I/O. Returns 0 (also for an fd the
 * runtime never knew), or -1 with EPERM (not a runtime coroutine) or EBADF
 * (fd negative). */
int cn_fd_release(int fd);

#ifdef __cplusplus
}
#endif

#endif
