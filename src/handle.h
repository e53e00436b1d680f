/*
 * src/handle.h — a task handle (coronet/task.h) as the layer above it sees
 * it: groups (group.c) link their members' handles and learn when each
 * ends.
 *
 * A handle lives as long as two references: its owner's (the user's, or a
 * group's: dropped by a successful join, a detach, or the group) and its
 * task's (dropped when the coroutine ended, or was destroyed unrun); a
 * cancel from another thread holds a third until its scheduler ran it.
 * `lock` guards done, result, joiner and cancel against the task's thread
 * and whoever joins or cancels.
 *
 * Threads: as marked.
 */
#ifndef CORONET_HANDLE_H
#define CORONET_HANDLE_H

#include "coronet/task.h"
#include "inbox.h"
#include "lock.h"
#include "sched.h"

enum { CN__H_RUNNING = 0, CN__H_DONE = 1, CN__H_UNRUN = 2 };

struct cn_task {
	cn__lock lock;
	int refs;         /* __atomic */
	cn__sched *s;     /* its scheduler, for good */
	cn__task *t;      /* while the coroutine lives; under lock */
	int state;        /* CN__H_*; under lock */
	int cancel;       /* cn_task_cancel() was called; under lock */
	void *result;     /* fn's return value, set before state says DONE */
	cn_promise *joiner; /* the joining coroutine's promise; under lock */
	cn_task_fn fn;
	void *arg;
	cn__call call;    /* a cancel from another thread, in s's inbox */
	/* Set before the task is queued, read once when it ends (its thread):
	 * the owner's hook, e.g. a group's. */
	void (*on_end)(cn_task *h);
	void *owner;
	cn_task *prev, *next; /* the owner's list */
};

/* A handle for fn(arg) on rt, its task made but not queued (so the caller
 * can set on_end and owner first). NULL with cn_task_spawn()'s errno. Any
 * thread. */
cn_task *cn__handle_make(cn_runtime *rt, cn_task_fn fn, void *arg, const cn_coro_opts *opts);

/* Queues h's task on rt (the runtime given to make). Any thread. */
void cn__handle_start(cn_task *h, cn_runtime *rt);

/* Drops a reference; the last frees h. Any thread. */
void cn__handle_unref(cn_task *h);

#endif
