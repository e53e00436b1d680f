/*
 * coronet.h — the whole public API: coroutines, promises, the runtime and
 * coroutine I/O. See each header for threads, ownership and errors.
 */
#ifndef CORONET_H
#define CORONET_H

#include "coronet/coro.h"
#include "coronet/promise.h"
#include "coronet/runtime.h"
#include "coronet/io.h"

#endif
