/*
 * coronet/chan.h — channels: typed-by-size FIFOs that coroutines send to
 * and receive from, parking while the channel is full or empty, and a
 * choose (Go's select) over several channel operations with one deadline.
 *
 * A channel carries elements of a fixed size, copied in and out. Capacity
 * 0 is a rendezvous: a send completes only when a receiver takes the
 * element. Waiters on each side are served in arrival order (FIFO), and
 * elements leave in the order they were sent. Coroutines of different
 * runtimes (threads) may share a channel.
 *
 * Close: from then on sends fail with EPIPE; receivers first drain what is
 * buffered, then fail with EPIPE. Every coroutine waiting on either side
 * when the close comes is woken (EPIPE).
 *
 * Waits take an absolute cn_now() deadline (CN_NO_DEADLINE for none; a
 * deadline in the past makes the call a try: it fails with ETIMEDOUT if it
 * cannot complete now) and fail with ECANCELED when the caller is
 * cancelled (coronet/task.h) or its runtime stops. A send that failed did
 * not deliver its element; a receive that failed did not consume one.
 *
 * Threads: send, receive and choose from runtime coroutines (EPERM
 * otherwise); create, close, destroy from any thread.
 *
 * Undefined, not detected: using a channel after cn_chan_destroy().
 */
#ifndef CORONET_CHAN_H
#define CORONET_CHAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cn_chan cn_chan;

/* Limits of cn_chan_create() and cn_chan_choose(). */
#define CN_CHAN_ELEM_MAX ((size_t)1 << 20)
#define CN_CHAN_CAP_MAX ((size_t)1 << 24)
#define CN_CHAN_CHOOSE_MAX 16

/* A channel of elements of elem_size bytes (1..CN_CHAN_ELEM_MAX) holding
 * up to capacity of them (0..CN_CHAN_CAP_MAX; 0 = rendezvous). NULL with
 * errno EINVAL (sizes out of range) or ENOMEM. */
cn_chan *cn_chan_create(size_t elem_size, size_t capacity);

/* Copies elem_size bytes from elem into ch, waiting while it is full (or,
 * for capacity 0, until a receiver takes them). 0, or -1 with errno
 * EINVAL (NULL), EPERM, EPIPE (ch is closed), ETIMEDOUT, ECANCELED. */
int cn_chan_send(cn_chan *ch, const void *elem, int64_t deadline);

/* Takes the oldest element into elem (NULL: drop it), waiting while ch is
 * empty. 0, or -1 with errno EINVAL (ch NULL), EPERM, EPIPE (closed and
 * drained), ETIMEDOUT, ECANCELED. */
int cn_chan_recv(cn_chan *ch, void *elem, int64_t deadline);

/* Closes ch (see above). 0, or -1 with EINVAL (NULL) or EALREADY (closed
 * before). */
int cn_chan_close(cn_chan *ch);

/* Frees ch and any buffered elements. 0, or -1 with EINVAL (NULL) or
 * EBUSY (coroutines wait on it; close it first and let them go). */
int cn_chan_destroy(cn_chan *ch);

/* Elements buffered now, or -1/EINVAL. Any thread (a snapshot). */
long cn_chan_len(cn_chan *ch);

enum { CN_CHAN_SEND = 1, CN_CHAN_RECV = 2 };

/* One operation of a choose: the channel, CN_CHAN_SEND or CN_CHAN_RECV,
 * the element to send or the place to receive into (NULL: drop), and its
 * outcome: err is 0 when the element moved, EPIPE when the channel was
 * closed. */
typedef struct cn_chan_op {
	cn_chan *ch;
	int op;
	void *elem;
	int err;
} cn_chan_op;

/*
 * Performs exactly one of ops[0..n-1], waiting until one can complete or
 * the deadline passes, and returns its index; ops[i].err tells how it
 * completed (an operation on a closed channel completes at once with
 * EPIPE). When several can complete at once, the first in array order is
 * taken: order states priority. The others are not performed: no element
 * of theirs moved. -1 with errno EINVAL (ops NULL, n not in
 * 1..CN_CHAN_CHOOSE_MAX, a NULL channel or bad op), EPERM, ETIMEDOUT,
 * ECANCELED. A channel may appear in several operations.
 */
int cn_chan_choose(cn_chan_op *ops, int n, int64_t deadline);

#ifdef __cplusplus
}
#endif

#endif
