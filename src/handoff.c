/*
 * src/handoff.c — setting up and tearing down a completion ring
 * (handoff.h). Threads: the runtime's creating/destroying thread, while
 * neither side runs.
 */
#include <errno.h>
#include <stdlib.h>

#include "handoff.h"

int cn__handoff_init(cn__handoff *h, unsigned size)
{
	h->buf = calloc(size, sizeof(*h->buf));
	if (!h->buf) {
		errno = ENOMEM;
		return -1;
	}
	h->size = size;
	cn__handoff_reset(h);
	return 0;
}

void cn__handoff_free(cn__handoff *h)
{
	free(h->buf);
	h->buf = NULL;
}

void cn__handoff_reset(cn__handoff *h)
{
	ck_ring_init(&h->ring, h->size);
	atomic_store(&h->sleeping, 0);
	atomic_store(&h->producer_blocked, 0);
}
