/*
 * src/idle.c — what a scheduler does when nothing is runnable: thread
 * mode's adaptive spin and sleep, inline mode's poll of the fd poller.
 *
 * Both only wait and collect; the run loop (sched.c) drains the ring and
 * the inbox or wakes the collected waiters afterwards, so nothing here
 * calls back into the scheduler. Both announce a block to the inbox's
 * producers through its idle flag (inbox.h).
 *
 * Threads: the scheduler's own thread.
 */
#include "sched.h"

#include "base.h"

#define CN__EVENTS 256
/* Thread mode's spin before sleeping, in ns (see spin_for_work);
 * -DCN__SPIN_MAX=0 turns it off, for comparisons. With the netpoll thread
 * batching, off saved CPU per round trip at 10 connections (2 cores) but
 * lost round trips/s and p99 there when the machine was quiet, and made no
 * difference at 100 and 1,000; so it stays on. */
#define CN__SPIN_MIN ((int64_t)2000)
#ifndef CN__SPIN_MAX
#define CN__SPIN_MAX ((int64_t)50000)
#endif

/*
 * Before sleeping, spin for a while on the ring. A sleep costs a wake system
 * call on the netpoll side and a kernel round trip here; when completions
 * trickle in a few microseconds apart (the netpoll thread is handling the
 * next edge already) it is cheaper to wait for them awake, with the CPU's
 * pause hint, as Go's spinning Ms do.
 *
 * How long adapts, like Linux's haltpoll governor: spin_ns grows (x2, from
 * CN__SPIN_MIN up to CN__SPIN_MAX) when a sleep ended sooner than
 * CN__SPIN_MAX after we went idle (a longer spin would have caught it), and
 * halves when it ended later (spinning would have burnt the CPU for
 * nothing); below CN__SPIN_MIN it is 0. So a busy server spins, an idle one
 * sleeps at once, and a timer due sooner than the spin cuts it short.
 * Returns 1 if work came (completions waiting, or a stop to handle).
 */
/* Spins from t0 for at most limit ns (and never past timeout, the time
 * until s's next timer or sweep, -1 for none) with the CPU's pause hint,
 * until work comes: completions on the ring (thread mode), something in
 * the inbox, or a stop to handle. Returns 1 if it came. */
static int spin(cn__sched *s, int64_t t0, int64_t limit, int64_t timeout)
{
	if (timeout >= 0 && timeout < limit)
		limit = timeout;
	for (;;) {
		for (int i = 0; i < 8; i++)
			CN__CPU_RELAX();
		if ((s->ho && cn__handoff_pending(s->ho)) || cn__inbox_pending(&s->inbox) ||
		    cn__sched_stop_pending(s))
			return 1;
		if (cn_now() - t0 >= limit)
			return 0;
	}
}

static int spin_for_work(cn__sched *s, int64_t t0)
{
	if (s->spin_ns == 0)
		return 0;
	return spin(s, t0, s->spin_ns, cn__sched_timeout(s, t0));
}

static void adapt_spin(cn__sched *s, int64_t idle)
{
	if (idle <= CN__SPIN_MAX) {
		s->spin_ns = s->spin_ns ? s->spin_ns * 2 : CN__SPIN_MIN;
		if (s->spin_ns > CN__SPIN_MAX)
			s->spin_ns = CN__SPIN_MAX;
	} else {
		s->spin_ns /= 2;
		if (s->spin_ns < CN__SPIN_MIN)
			s->spin_ns = 0;
	}
}

/* `sleeping` and the ring form a Dekker pair with the netpoll thread
 * (handoff.h): either it sees us asleep and wakes us, or we see its promise
 * here and do not sleep. */
void cn__idle_sleep(cn__sched *s)
{
	cn__handoff *h = s->ho;
	int64_t t0 = cn_now();

	if (spin_for_work(s, t0))
		return;
	atomic_store(&h->sleeping, 1);
	atomic_store(&s->inbox.idle, 1);
	CN__FENCE();
	if (!cn__handoff_pending(h) && !cn__inbox_pending(&s->inbox) &&
	    !cn__sched_stop_pending(s)) {
		cn__poll_event ev[4];

		cn__poller_wait(h->consumer_poller, ev, 4, cn__sched_timeout(s, cn_now()));
		s->st_polls++;
	}
	atomic_store(&s->inbox.idle, 0);
	atomic_store(&h->sleeping, 0);
	adapt_spin(s, cn_now() - t0);
}

/*
 * Inline mode with a coroutine waiting for the pool: a short job's result
 * comes back within microseconds, and blocking in the poller would add a
 * wake system call and a sleep on this side to each round trip (the pool
 * is then slower than libuv's: bench_threads). So spin for it up to
 * CN__SPIN_MAX first, as thread mode spins for its ring; returns 1 if the
 * inbox got something (or a stop came).
 */
static int spin_for_pool(cn__sched *s, int64_t timeout)
{
	return spin(s, cn_now(), CN__SPIN_MAX, timeout);
}

cn_promise *cn__idle_poll(cn__sched *s, int64_t timeout)
{
	cn__poll_event ev[CN__EVENTS];
	cn_promise *head = NULL, **tail = &head;
	int announced;
	int n;

	if (timeout != 0 && s->pool_waits && spin_for_pool(s, timeout))
		timeout = 0;
	announced = timeout != 0;

	/* A blocking poll announces itself to the inbox's producers (inbox.h,
	 * "The wake"); with something already there it only looks. */
	if (announced) {
		atomic_store(&s->inbox.idle, 1);
		CN__FENCE();
		if (cn__inbox_pending(&s->inbox))
			timeout = 0;
	}
	n = cn__poller_wait(s->fdp, ev, CN__EVENTS, timeout);
	if (announced)
		atomic_store(&s->inbox.idle, 0);
	s->st_polls++;
	for (int i = 0; i < n; i++) {
		cn_promise *ps[2];
		int k = cn__fd_event(s->fds, &ev[i], ps);

		for (int j = 0; j < k; j++) {
			cn__promise_record(ps[j], 0, 0);
			*tail = ps[j];
			tail = &ps[j]->next;
		}
	}
	*tail = NULL;
	return head;
}
