/*
 * netpoll/poller.h — the one contract both kernel backends implement:
 * netpoll/epoll.c (Linux: epoll + eventfd) and netpoll/kqueue.c (macOS/BSD,
 * or Linux with libkqueue: kqueue + EVFILT_USER). The Makefile links exactly
 * one of them (NETPOLL=epoll|kqueue); nothing outside netpoll/ names a kernel
 * readiness API.
 *
 * The model, like Go's netpoller: each fd is registered once, edge-triggered,
 * for both directions, with a 64-bit token chosen by the caller (the runtime
 * packs an fd-table index and a sequence number into it, so an event for a
 * closed-and-reused fd can be recognised as stale). An event says "this
 * direction may have become ready": the waiter retries its system call.
 *
 * Threads: a poller is waited on by one thread at a time (the netpoll thread
 * in thread mode, the scheduler in inline mode). add/del may be called from
 * any thread, also while another thread is blocked in wait (both kernels
 * allow it). wake may be called from any thread and from a signal handler.
 */
#ifndef CORONET_NETPOLL_POLLER_H
#define CORONET_NETPOLL_POLLER_H

#include <stdint.h>

typedef struct cn__poller cn__poller;

/* Event bits. An error or hang-up on an fd sets both IN and OUT, so every
 * waiter on it retries and sees the error from its own system call. */
enum {
	CN__POLL_IN = 1,
	CN__POLL_OUT = 2,
};

/* The one token value a caller may not use: the epoll backend marks its
 * wake-up eventfd with it (kqueue tells the wake-up apart by its filter, but
 * rejects it too so both behave alike). */
#define CN__POLL_TOKEN_RESERVED UINT64_MAX

typedef struct cn__poll_event {
	uint64_t token;  /* as given to cn__poller_add() */
	unsigned events; /* CN__POLL_IN | CN__POLL_OUT */
	/*
	 * 0, or the fd's pending error (ECONNRESET, ECONNREFUSED...) when the
	 * backend learnt it with the event. Usually the retried system call
	 * sees the same error, but libkqueue fetches it with
	 * getsockopt(SO_ERROR), which clears it on Linux: read() then says EOF
	 * and a connect looks successful. So a non-zero error must be kept and
	 * given to the fd's next I/O call. epoll leaves it 0 (the error stays
	 * in the socket); native kqueue copies it without clearing it.
	 */
	int error;
} cn__poll_event;

/* The backend's name, "epoll" or "kqueue", for reports. */
const char *cn__poller_name(void);

/* A new poller with its wake-up channel. NULL with errno (EMFILE, ENOMEM). */
cn__poller *cn__poller_create(void);

/* Closes the kernel objects and frees p. Nobody may be waiting on it. */
void cn__poller_destroy(cn__poller *p);

/*
 * Registers fd for both directions, edge-triggered, with token.
 * Returns 0, or -1 with errno:
 *   EPERM   the kernel does not poll this kind of fd (regular files and
 *           directories on epoll; the kqueue backend says the same for them
 *           so both behave alike): the caller treats it as always ready;
 *   EBADF   fd is not open;
 *   EEXIST  fd is registered already;
 *   EINVAL  token is CN__POLL_TOKEN_RESERVED;
 *   ENOMEM / ENOSPC  kernel limits.
 */
int cn__poller_add(cn__poller *p, int fd, uint64_t token);

/*
 * Removes fd's registration. Call it before close(fd): libkqueue keeps
 * filters alive across close(), and epoll keeps them while a dup() of the fd
 * lives. Returns 0, or -1 with errno ENOENT (not registered) or EBADF.
 */
int cn__poller_del(cn__poller *p, int fd);

/*
 * Waits until at least one event is ready, a wake arrives, or timeout_ns
 * passes (-1: no timeout; 0: just poll). Stores up to max events in ev and
 * returns how many (0 after a wake or a timeout), or -1 with errno (EINVAL
 * for bad arguments: ev NULL, max < 1, timeout_ns < -1). EINTR is returned
 * as 0 so callers re-check their state. A wake that arrived before or during
 * the call is consumed by it. The same token may appear in more than one
 * entry of one batch (kqueue reports each direction separately): OR them.
 * A timeout never ends early; it may end late by the kernel's timer slack
 * (and, where epoll_pwait2 is missing, by up to 1 ms of rounding up).
 */
int cn__poller_wait(cn__poller *p, cn__poll_event *ev, int max, int64_t timeout_ns);

/*
 * Makes the current or next cn__poller_wait() on p return. Wakes are merged
 * through one atomic flag: while one is pending and not yet consumed by a
 * wait, further wakes make no system call. Returns 1 if it made the system
 * call, 0 if it was merged into a pending one, -1 with errno if the system
 * call failed. Safe from any thread and from a signal handler.
 */
int cn__poller_wake(cn__poller *p);

/* How many wake system calls p has made (for benchmarks and tests). */
uint64_t cn__poller_wake_syscalls(const cn__poller *p);

#endif
