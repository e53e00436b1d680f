/*
 * src/bias.c — scheduler ids, their slots, and revoking a word's bias
 * (bias.h has the protocol).
 *
 * A slot's lock orders everything about its scheduler's bias: whether the
 * scheduler runs, the requests queued for it, and every move of a word
 * from its id to SHARED (by the owner serving a request, or by a revoker
 * that found the owner not running or gone).
 *
 * Threads: as bias.h says.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "bias.h"
#include "park.h"
#include "sched.h"

#define SLOT_BITS 20
#define CHUNK_BITS 8
#define CHUNK (1u << CHUNK_BITS)
#define NCHUNKS (1u << (SLOT_BITS - CHUNK_BITS))

/* A revoker's request, on its own stack until it is served. */
typedef struct req {
	struct req *next;
	uint64_t *w;
	int task;     /* the revoker is a task: it parks on p */
	cn_promise p; /* task: handed over when served */
	int done;     /* plain coroutine: set when served */
} req;

typedef struct slot {
	cn__lock lock;
	int running; /* its scheduler is inside cn__sched_run */
	int queued;  /* call is in the scheduler's inbox */
	uint64_t id; /* the scheduler's id; 0 while the slot is free */
	uint64_t uses;
	cn__sched *s;
	req *reqs;
	cn__call call;
	unsigned next_free; /* index + 1 of the next free slot, 0 none */
} slot;

#if defined(__APPLE__)
CN__HIDDEN __thread uint64_t cn__bias_tls = CN__BIAS_NOBODY;
#else
CN__HIDDEN __thread uint64_t cn__bias_tls __attribute__((tls_model("initial-exec"))) =
        CN__BIAS_NOBODY;
#endif

/* Chunks are made under `table_mu` and never freed, so a slot found
 * through an id stays valid whatever became of its scheduler. */
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static slot *chunks[NCHUNKS];
static unsigned high; /* slots ever handed out */
static unsigned free_head;

static slot *slot_at(unsigned i)
{
	slot *c = __atomic_load_n(&chunks[i >> CHUNK_BITS], __ATOMIC_ACQUIRE);

	return &c[i & (CHUNK - 1)];
}

static slot *slot_of(uint64_t id)
{
	return slot_at((unsigned)(id & ((1u << SLOT_BITS) - 1)));
}

/* The owner, between two coroutines (or after its last): every queued
 * word still biased to it becomes SHARED, every revoker is let go. Slot
 * lock held. */
static void serve(slot *sl)
{
	req *r;

	while ((r = sl->reqs)) {
		uint64_t mine = sl->id;

		sl->reqs = r->next;
		/* Release: what our coroutines wrote under the bias. */
		__atomic_compare_exchange_n(r->w, &mine, CN__BIAS_SHARED, 0, __ATOMIC_RELEASE,
		                            __ATOMIC_RELAXED);
		if (r->task)
			cn__hand_locked(&r->p, 0, 0);
		else
			__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
		/* r may be gone now. */
	}
}

static void serve_call(cn__call *c)
{
	slot *sl = CN__CONTAINER_OF(c, slot, call);

	cn__lock_take(&sl->lock);
	sl->queued = 0;
	serve(sl);
	cn__lock_give(&sl->lock);
}

void cn__bias_attach(cn__sched *s)
{
	unsigned i;
	slot *sl;

	s->bias_id = 0;
	pthread_mutex_lock(&table_mu);
	if (free_head) {
		i = free_head - 1;
		free_head = slot_at(i)->next_free;
	} else if (high < (1u << SLOT_BITS)) {
		if (!chunks[high >> CHUNK_BITS]) {
			slot *c = calloc(CHUNK, sizeof(*c));

			if (!c) {
				pthread_mutex_unlock(&table_mu);
				return; /* no id: s never biases */
			}
			__atomic_store_n(&chunks[high >> CHUNK_BITS], c, __ATOMIC_RELEASE);
		}
		i = high++;
	} else {
		pthread_mutex_unlock(&table_mu);
		return;
	}
	sl = slot_at(i);
	cn__lock_take(&sl->lock);
	sl->uses++;
	sl->id = (sl->uses << SLOT_BITS) | i;
	sl->s = s;
	sl->running = sl->queued = 0;
	sl->reqs = NULL;
	sl->call.fn = serve_call;
	s->bias_id = sl->id;
	cn__lock_give(&sl->lock);
	pthread_mutex_unlock(&table_mu);
}

void cn__bias_detach(cn__sched *s)
{
	slot *sl;
	unsigned i;

	if (!s->bias_id)
		return;
	sl = slot_of(s->bias_id);
	i = (unsigned)(s->bias_id & ((1u << SLOT_BITS) - 1));
	cn__lock_take(&sl->lock);
	/* No request can be queued: they are only queued while s runs, and
	 * its last run's end served them (cn__bias_run). */
	sl->id = 0;
	sl->s = NULL;
	cn__lock_give(&sl->lock);
	pthread_mutex_lock(&table_mu);
	sl->next_free = free_head;
	free_head = i + 1;
	pthread_mutex_unlock(&table_mu);
	s->bias_id = 0;
}

void cn__bias_run(cn__sched *s, int running)
{
	slot *sl;

	if (!s->bias_id)
		return;
	sl = slot_of(s->bias_id);
	if (!running)
		cn__bias_tls = CN__BIAS_NOBODY;
	cn__lock_take(&sl->lock);
	sl->running = running;
	if (!running)
		serve(sl);
	cn__lock_give(&sl->lock);
	if (running)
		cn__bias_tls = s->bias_id;
}

uint64_t cn__bias_claim(uint64_t *w)
{
	uint64_t seen = CN__BIAS_NONE;
	uint64_t mine = cn__bias_tls != CN__BIAS_NOBODY ? cn__bias_tls : CN__BIAS_SHARED;

	if (__atomic_compare_exchange_n(w, &seen, mine, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return mine;
	return seen;
}

void cn__bias_revoke(uint64_t *w, uint64_t b)
{
	slot *sl = slot_of(b);
	int saved = errno;
	cn__waiter *wt = cn__waiter_here(); /* NULL: a plain coroutine */
	req r;

	errno = saved;
	cn__lock_take(&sl->lock);
	if (__atomic_load_n(w, __ATOMIC_ACQUIRE) != b) {
		cn__lock_give(&sl->lock); /* someone revoked it first */
		return;
	}
	if (sl->id != b || !sl->running) {
		/* Quiescent: the owner's last run ended under this lock (or
		 * it is gone), which published its coroutines' writes. */
		__atomic_store_n(w, CN__BIAS_SHARED, __ATOMIC_RELEASE);
		cn__lock_give(&sl->lock);
		return;
	}
	r.w = w;
	r.task = wt != NULL;
	r.done = 0;
	if (wt)
		cn__promise_arm(&r.p);
	r.next = sl->reqs;
	sl->reqs = &r;
	if (!sl->queued) {
		sl->queued = 1;
		cn__inbox_push(&sl->s->inbox, &sl->s->inbox.calls, &sl->call.link, &sl->call);
	}
	cn__lock_give(&sl->lock);
	/* Not cancellable: the owner serves within a round, and r must
	 * outlive its service. */
	if (wt) {
		while (!(__atomic_load_n(&r.p.state, __ATOMIC_ACQUIRE) & CN__P_DELIVERED))
			cn__park_locked(&r.p, CN_NO_DEADLINE,
			                CN__AWAIT_NOCANCEL | CN__AWAIT_FOR(CN__WHAT_LOCK));
	} else {
		while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE))
			sched_yield();
	}
	errno = saved;
}
