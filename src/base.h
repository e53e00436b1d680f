/*
 * src/base.h — what every file of the library may need from the compiler:
 * branch hints, which sanitizer or checker the build runs under, and the
 * CPU's spin hint. Detected here once, so no file guesses differently.
 *
 * Threads: none (macros only).
 */
#ifndef CORONET_BASE_H
#define CORONET_BASE_H

#include <stdatomic.h>

#define CN__LIKELY(x) __builtin_expect(!!(x), 1)
#define CN__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CN__COLD __attribute__((cold, noinline))
#define CN__HIDDEN __attribute__((visibility("hidden")))

/* gcc says __SANITIZE_*__, clang says __has_feature(); either sets ours. */
#if defined(__SANITIZE_ADDRESS__)
#define CN__ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define CN__TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(CN__ASAN)
#define CN__ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(CN__TSAN)
#define CN__TSAN 1
#endif
#endif

/* Valgrind's client requests, where its header is installed: they cost a
 * few instructions outside Valgrind, so callers ask once and cache it. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#define CN__VALGRIND 1
#endif
#endif

/* A hint to the CPU that we spin: lets a sibling hyper-thread run and
 * saves power (x86 pause, arm64 yield). */
#if defined(__x86_64__) || defined(__i386__)
#define CN__CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define CN__CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define CN__CPU_RELAX() atomic_signal_fence(memory_order_seq_cst)
#endif

#define CN__CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
