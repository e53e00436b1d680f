/*
 * src/dump.h — writing a scheduler's coroutines to an fd (dump.c), for
 * cn_runtime_dump().
 *
 * Threads: any thread, while s exists.
 */
#ifndef CORONET_DUMP_H
#define CORONET_DUMP_H

#include "sched.h"

/* Writes the report of s (mode: its netpoll mode's name, for the header)
 * to fd. 0, or -1 with write's errno. */
int cn__sched_dump(cn__sched *s, int fd, const char *mode);

#endif
