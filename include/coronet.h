/*
 * coronet.h — the whole public API: coroutines, promises, the runtime,
 * coroutine I/O, blocking calls on the pool, task handles and groups,
 * coroutine-aware sync, channels. See each header for threads, ownership and errors.
 */
#ifndef CORONET_H
#define CORONET_H

#include "coronet/coro.h"
#include "coronet/promise.h"
#include "coronet/runtime.h"
#include "coronet/io.h"
#include "coronet/blocking.h"
#include "coronet/task.h"
#include "coronet/sync.h"
#include "coronet/chan.h"

#endif
