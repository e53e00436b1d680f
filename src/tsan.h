/*
 * src/tsan.h — making the lock-free hand-offs visible to ThreadSanitizer,
 * and the full fence of the Dekker pairs.
 *
 * TSan cannot see ck_pr's inline assembly, so a ring hand-off is annotated:
 * release the promise before enqueue, acquire it after dequeue, and hide
 * the ring's own slot accesses (synchronised by ck's indices, invisible to
 * TSan) from it. Outside TSan builds every macro is empty.
 *
 * Threads: any.
 */
#ifndef CORONET_TSAN_H
#define CORONET_TSAN_H

#include <stdatomic.h>

#include "base.h"

#ifdef CN__TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
#define CN__TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#define CN__TSAN_RELEASE(p) __tsan_release((void *)(p))
#define CN__TSAN_IGNORE_BEGIN()                                \
	do {                                                   \
		AnnotateIgnoreReadsBegin(__FILE__, __LINE__);  \
		AnnotateIgnoreWritesBegin(__FILE__, __LINE__); \
	} while (0)
#define CN__TSAN_IGNORE_END()                                \
	do {                                                 \
		AnnotateIgnoreWritesEnd(__FILE__, __LINE__); \
		AnnotateIgnoreReadsEnd(__FILE__, __LINE__);  \
	} while (0)
#else
#define CN__TSAN_ACQUIRE(p) ((void)(p))
#define CN__TSAN_RELEASE(p) ((void)(p))
#define CN__TSAN_IGNORE_BEGIN() ((void)0)
#define CN__TSAN_IGNORE_END() ((void)0)
#endif

/* A full fence for the Dekker pairs (a flag on one side, the ring on the
 * other; handoff.h). TSan does not model fences (gcc warns -Wtsan), so TSan
 * builds use a seq_cst read-modify-write on a dummy word instead: a full
 * barrier on the hardware, and an operation TSan understands. The word is
 * static per file that uses it: the barrier is what matters, not sharing. */
#ifdef CN__TSAN
static atomic_int cn__fence_word __attribute__((unused));
#define CN__FENCE() ((void)atomic_fetch_add(&cn__fence_word, 0))
#else
#define CN__FENCE() atomic_thread_fence(memory_order_seq_cst)
#endif

#endif
