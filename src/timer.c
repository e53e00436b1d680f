/*
 * src/timer.c — the deadline min-heap (see timer.h for why a heap and why
 * entries remember their index). Scheduler thread only.
 */
#include <errno.h>
#include <stdlib.h>

#include "timer.h"

static void place(cn__timer_heap *h, size_t i, cn__timer *t)
{
	h->a[i] = t;
	t->idx = i;
}

static void sift_up(cn__timer_heap *h, size_t i)
{
	cn__timer *t = h->a[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (h->a[parent]->deadline <= t->deadline)
			break;
		place(h, i, h->a[parent]);
		i = parent;
	}
	place(h, i, t);
}

static void sift_down(cn__timer_heap *h, size_t i)
{
	cn__timer *t = h->a[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->a[c + 1]->deadline < h->a[c]->deadline)
			c++;
		if (t->deadline <= h->a[c]->deadline)
			break;
		place(h, i, h->a[c]);
		i = c;
	}
	place(h, i, t);
}

int cn__timer_add(cn__timer_heap *h, cn__timer *t)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		/* An array of pointers: sizeof(*a) is a pointer's size. */
		cn__timer **a = realloc(h->a, cap * sizeof(*a)); // NOLINT(bugprone-sizeof-expression)

		if (!a) {
			errno = ENOMEM;
			return -1;
		}
		h->a = a;
		h->cap = cap;
	}
	h->a[h->n] = t;
	t->idx = h->n++;
	sift_up(h, t->idx);
	return 0;
}

void cn__timer_del(cn__timer_heap *h, cn__timer *t)
{
	size_t i = t->idx;

	if (i == CN__TIMER_IDLE)
		return;
	t->idx = CN__TIMER_IDLE;
	if (i == --h->n)
		return;
	/* The last entry fills the hole; it may belong above or below it. */
	place(h, i, h->a[h->n]);
	if (i > 0 && h->a[(i - 1) / 2]->deadline > h->a[i]->deadline)
		sift_up(h, i);
	else
		sift_down(h, i);
}

int64_t cn__timer_timeout(const cn__timer_heap *h, int64_t now)
{
	int64_t d;

	if (h->n == 0)
		return -1;
	d = h->a[0]->deadline - now;
	return d > 0 ? d : 0;
}

size_t cn__timer_run(cn__timer_heap *h, int64_t now, void *ctx)
{
	size_t fired = 0;

	while (h->n > 0 && h->a[0]->deadline <= now) {
		cn__timer *t = h->a[0];

		cn__timer_del(h, t);
		t->fire(t, ctx);
		fired++;
	}
	return fired;
}

void cn__timer_heap_free(cn__timer_heap *h)
{
	free(h->a);
	h->a = NULL;
	h->n = h->cap = 0;
}
