/*
 * src/chan.c — channels and choose (coronet/chan.h).
 *
 * A waiting operation is a node on its channel's send or receive queue,
 * pointing at a choice in the waiter's frame: a promise and `fired` (-1
 * open, -2 given up, else the index of the operation that completed). A
 * peer that finds a node claims its choice, moves the element and hands
 * the promise its outcome, all under the node's channel's lock; that is
 * promise_internal.h's "waits ordered by a lock", so a message between two
 * coroutines pays the channel lock and nothing else in atomics.
 *
 * Send and receive (one operation) take one lock, and their node is the
 * only one of its choice: the lock alone decides who claims it, and a
 * waiter that gives up (deadline, cancel) does so under the lock. A choose
 * of several locks its channels in address order (so two choosers cannot
 * deadlock), tries each operation in array order, and if none can
 * complete queues one node per operation, all on one choice. Peers under
 * different locks may then race for it: they claim with one CAS on
 * `fired`, so only one operation completes; a node whose choice is claimed
 * or given up is stale and dropped. The chooser, woken or giving up (a CAS
 * -1 -> -2; if that fails a claim won and its outcome stands), locks all
 * its channels again and unlinks what is left of its nodes: once it holds
 * those locks no peer is still touching its frame.
 *
 * Threads: see chan.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coronet/chan.h"
#include "coronet/io.h"
#include "coronet/runtime.h"
#include "park.h"
#include "promise_internal.h"
#include "waitq.h"

typedef struct choice {
	int fired;
	int solo; /* one operation: claimed under its channel's lock, no CAS */
	cn_promise p;
} choice;

/* A waiter's node on one channel's queue. It uses waitq.h's list (its
 * own promise is unused: the choice's is the one awaited). */
typedef struct cnode {
	cn__wnode w; /* first: queue links */
	choice *c;
	int idx;
	int err;    /* the outcome the claimer gave */
	void *elem; /* the chooser's element (send: from, recv: into) */
} cnode;

struct cn_chan {
	cn__lock lock;
	size_t esz, cap, head, count;
	char *buf;
	int closed;
	cn__waitq sendq, recvq;
};

/* The oldest node of q whose choice this caller wins (unlinked, claimed),
 * or NULL; stale nodes met on the way are dropped. */
static cnode *claim_peer(cn__waitq *q)
{
	while (q->head) {
		cnode *n = (cnode *)q->head;
		int open = -1;

		cn__waitq_remove(q, &n->w);
		if (n->c->solo) {
			n->c->fired = n->idx;
			return n;
		}
		if (__atomic_compare_exchange_n(&n->c->fired, &open, n->idx, 0, __ATOMIC_ACQ_REL,
		                                __ATOMIC_RELAXED))
			return n;
	}
	return NULL;
}

static void serve(cnode *n, int err)
{
	n->err = err;
	cn__hand_locked(&n->c->p, n->idx, 0);
}

cn_chan *cn_chan_create(size_t elem_size, size_t capacity)
{
	cn_chan *ch;

	if (elem_size < 1 || elem_size > CN_CHAN_ELEM_MAX || capacity > CN_CHAN_CAP_MAX) {
		errno = EINVAL;
		return NULL;
	}
	ch = calloc(1, sizeof(*ch));
	if (!ch || (capacity && !(ch->buf = malloc(elem_size * capacity)))) {
		free(ch);
		errno = ENOMEM;
		return NULL;
	}
	ch->esz = elem_size;
	ch->cap = capacity;
	return ch;
}

/* Elements are mostly a word or two: copy those without a call. */
static inline void copy(void *to, const void *from, size_t n)
{
	switch (n) {
	case 4:
		memcpy(to, from, 4);
		break;
	case 8:
		memcpy(to, from, 8);
		break;
	case 16:
		memcpy(to, from, 16);
		break;
	default:
		memcpy(to, from, n);
	}
}

static void *slot(cn_chan *ch, size_t i)
{
	return ch->buf + ((ch->head + i) % ch->cap) * ch->esz;
}

/* Tries op on ch (locked) now: 1 and *err when it completed, 0 when it
 * would have to wait. */
static int try_op(cn_chan *ch, int op, void *elem, int *err)
{
	cnode *peer;

	*err = 0;
	if (op == CN_CHAN_SEND) {
		if (ch->closed) {
			*err = EPIPE;
		} else if ((peer = claim_peer(&ch->recvq))) {
			if (peer->elem)
				copy(peer->elem, elem, ch->esz);
			serve(peer, 0);
		} else if (ch->count < ch->cap) {
			copy(slot(ch, ch->count++), elem, ch->esz);
		} else {
			return 0;
		}
		return 1;
	}
	if (ch->count) {
		if (elem)
			copy(elem, slot(ch, 0), ch->esz);
		ch->head = (ch->head + 1) % ch->cap;
		ch->count--;
		/* Room now: the oldest waiting sender's element moves in. */
		if ((peer = claim_peer(&ch->sendq))) {
			copy(slot(ch, ch->count++), peer->elem, ch->esz);
			serve(peer, 0);
		}
	} else if ((peer = claim_peer(&ch->sendq))) {
		if (elem)
			copy(elem, peer->elem, ch->esz);
		serve(peer, 0);
	} else if (ch->closed) {
		*err = EPIPE;
	} else {
		return 0;
	}
	return 1;
}

/* The distinct channels of ops, in address order. */
static int lock_set(const cn_chan_op *ops, int n, cn_chan **set)
{
	int k = 0;

	for (int i = 0; i < n; i++) {
		cn_chan *ch = ops[i].ch;
		int j = k;

		for (int d = 0; d < k; d++)
			if (set[d] == ch)
				goto next;
		while (j > 0 && set[j - 1] > ch) {
			set[j] = set[j - 1];
			j--;
		}
		set[j] = ch;
		k++;
next:;
	}
	return k;
}

static void lock_all(cn_chan **set, int k)
{
	for (int i = 0; i < k; i++)
		cn__lock_take(&set[i]->lock);
}

static void unlock_all(cn_chan **set, int k)
{
	for (int i = k - 1; i >= 0; i--)
		cn__lock_give(&set[i]->lock);
}

static cn__waitq *queue_of(cn_chan *ch, int op)
{
	return op == CN_CHAN_SEND ? &ch->sendq : &ch->recvq;
}

static int valid(const cn_chan_op *o)
{
	return o->ch && (o->op == CN_CHAN_RECV || (o->op == CN_CHAN_SEND && o->elem));
}

/* One operation: 0 (its outcome in o->err) or -1 with errno. The caller
 * checked o and that it runs on its own scheduler. Inlined into send and
 * receive: every frame between the caller and the stack switch costs a
 * mispredicted return when the coroutine is resumed (the CPU's return
 * stack holds the scheduler's calls by then). */
static inline __attribute__((always_inline)) int solo(cn_chan_op *o, int64_t deadline)
{
	cn_chan *ch = o->ch;
	cnode node;
	choice c;
	int err;

	cn__lock_take(&ch->lock);
	if (try_op(ch, o->op, o->elem, &o->err)) {
		cn__lock_give(&ch->lock);
		return 0;
	}
	if (deadline != CN_NO_DEADLINE && deadline <= cn_now()) {
		cn__lock_give(&ch->lock);
		errno = ETIMEDOUT;
		return -1;
	}
	c.fired = -1;
	c.solo = 1;
	cn__promise_arm(&c.p);
	/* Read by peers through node.w: cppcheck does not follow the
	 * container cast. */
	node.c = &c;          // cppcheck-suppress unreadVariable
	node.idx = 0;         // cppcheck-suppress unreadVariable
	node.err = 0;
	node.elem = o->elem;  // cppcheck-suppress unreadVariable
	cn__waitq_push(queue_of(ch, o->op), &node.w);
	cn__lock_give(&ch->lock);

	err = cn__park_locked(&c.p, deadline, CN__AWAIT_FOR(CN__WHAT_CHAN));
	if (err) {
		cn__lock_take(&ch->lock);
		if (node.w.queued) {
			cn__waitq_remove(queue_of(ch, o->op), &node.w);
			cn__lock_give(&ch->lock);
			errno = err;
			return -1;
		}
		cn__lock_give(&ch->lock);
		cn__promise_settled(&c.p); /* a peer chose us first: it stands */
	}
	o->err = node.err;
	return 0;
}

int cn_chan_choose(cn_chan_op *ops, int n, int64_t deadline)
{
	cn_chan *set[CN_CHAN_CHOOSE_MAX];
	cnode nodes[CN_CHAN_CHOOSE_MAX];
	choice c;
	int k, err, open = -1;

	if (!ops || n < 1 || n > CN_CHAN_CHOOSE_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (!valid(&ops[i])) {
			errno = EINVAL;
			return -1;
		}
	}
	if (!cn__waiter_here())
		return -1;
	if (n == 1)
		return solo(ops, deadline);
	k = lock_set(ops, n, set);
	lock_all(set, k);
	for (int i = 0; i < n; i++) {
		if (try_op(ops[i].ch, ops[i].op, ops[i].elem, &ops[i].err)) {
			unlock_all(set, k);
			return i;
		}
	}
	if (deadline != CN_NO_DEADLINE && deadline <= cn_now()) {
		unlock_all(set, k);
		errno = ETIMEDOUT;
		return -1;
	}
	c.fired = -1;
	c.solo = 0;
	cn__promise_arm(&c.p);
	for (int i = 0; i < n; i++) {
		nodes[i].c = &c;
		nodes[i].idx = i;
		nodes[i].err = 0;
		nodes[i].elem = ops[i].elem;
		cn__waitq_push(queue_of(ops[i].ch, ops[i].op), &nodes[i].w);
	}
	unlock_all(set, k);

	err = cn__park_locked(&c.p, deadline, CN__AWAIT_FOR(CN__WHAT_CHAN));
	if (err && !__atomic_compare_exchange_n(&c.fired, &open, -2, 0, __ATOMIC_ACQ_REL,
	                                        __ATOMIC_ACQUIRE))
		err = 0; /* a peer claimed us first: its outcome stands */

	/* Peers that claimed or dropped our nodes did it under these locks. */
	lock_all(set, k);
	for (int i = 0; i < n; i++)
		if (nodes[i].w.queued)
			cn__waitq_remove(queue_of(ops[i].ch, ops[i].op), &nodes[i].w);
	unlock_all(set, k);
	if (err) {
		errno = err;
		return -1;
	}
	cn__promise_settled(&c.p); /* at once unless the hand-over is on its way */
	ops[c.fired].err = nodes[c.fired].err;
	return c.fired;
}

static int one(cn_chan *ch, int op, void *elem, int64_t deadline)
{
	cn_chan_op o = {ch, op, elem, 0};

	if (!valid(&o)) {
		errno = EINVAL;
		return -1;
	}
	if (!cn__waiter_here() || solo(&o, deadline) < 0)
		return -1;
	if (o.err) {
		errno = o.err;
		return -1;
	}
	return 0;
}

int cn_chan_send(cn_chan *ch, const void *elem, int64_t deadline)
{
	/* choose's op takes a non-const pointer for both directions; a send
	 * only reads it. */
	return one(ch, CN_CHAN_SEND, (void *)(uintptr_t)elem, deadline);
}

int cn_chan_recv(cn_chan *ch, void *elem, int64_t deadline)
{
	return one(ch, CN_CHAN_RECV, elem, deadline);
}

int cn_chan_close(cn_chan *ch)
{
	int err = 0;

	if (!ch) {
		errno = EINVAL;
		return -1;
	}
	cn__lock_take(&ch->lock);
	if (ch->closed) {
		err = EALREADY;
	} else {
		ch->closed = 1;
		/* Receivers wait only on an empty channel: none has data due. */
		cnode *n;

		while ((n = claim_peer(&ch->recvq)))
			serve(n, EPIPE);
		while ((n = claim_peer(&ch->sendq)))
			serve(n, EPIPE);
	}
	cn__lock_give(&ch->lock);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

long cn_chan_len(cn_chan *ch)
{
	long n;

	if (!ch) {
		errno = EINVAL;
		return -1;
	}
	cn__lock_take(&ch->lock);
	n = (long)ch->count;
	cn__lock_give(&ch->lock);
	return n;
}

int cn_chan_destroy(cn_chan *ch)
{
	int busy;

	if (!ch) {
		errno = EINVAL;
		return -1;
	}
	cn__lock_take(&ch->lock);
	busy = ch->sendq.head || ch->recvq.head;
	cn__lock_give(&ch->lock);
	if (busy) {
		errno = EBUSY;
		return -1;
	}
	free(ch->buf);
	free(ch);
	return 0;
}
