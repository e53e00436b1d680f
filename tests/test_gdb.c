/*
 * tests/test_gdb.c — the gdb helper (scripts/coronet-gdb.py): a scripted
 * gdb run stops this program (run as "test_gdb target") while one
 * coroutine sleeps, and checks that cn-list names both coroutines and
 * that cn-bt prints the sleeping one's backtrace from its saved registers,
 * down to its entry function.
 *
 * Skipped, saying why, where gdb cannot do it: gdb not installed, no
 * Python in it, or the suite runs under qemu (gdb would debug qemu, not
 * the guest). .ci/run installs gdb, so CI runs it.
 *
 * Threads: the test thread; the target is a child process under gdb.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "coronet.h"
#include "helpers/cn_test.h"

/* --- the target ----------------------------------------------------------- */

/* gdb's breakpoint: called while 'gdb-sleeper' is parked in its sleep. */
__attribute__((noinline)) void gdb_target_break(void);
__attribute__((noinline)) void gdb_target_break(void)
{
	__asm__ __volatile__("" ::: "memory");
}

__attribute__((noinline)) static void *gdb_target_sleeper(void *arg)
{
	(void)arg;
	cn_sleep(50 * CN_TEST_MS);
	return NULL;
}

static void *gdb_target_breaker(void *arg)
{
	(void)arg;
	cn_sleep(5 * CN_TEST_MS); /* the sleeper parks first */
	gdb_target_break();
	return NULL;
}

static int target(void)
{
	cn_runtime *rt = cn_test_runtime(CN_NETPOLL_INLINE, 0);
	cn_coro_opts a = {.name = "gdb-sleeper"}, b = {.name = "gdb-breaker"};

	cn_task_detach(cn_task_spawn(rt, gdb_target_sleeper, NULL, &a));
	cn_task_detach(cn_task_spawn(rt, gdb_target_breaker, NULL, &b));
	cn_runtime_run(rt);
	cn_runtime_destroy(rt);
	return 0;
}

/* --- the test --------------------------------------------------------------- */

static void test_list_and_bt(void **state)
{
	const char *build = getenv("CORONET_BUILD");
	static char out[65536];
	char cmd[1024];

	(void)state;
	if (cn_test_qemu()) {
		print_message("skipped: under qemu gdb would debug qemu itself\n");
		skip();
	}
	if (system("gdb --batch -nx -ex 'python print(1)' >/dev/null 2>&1") != 0) {
		print_message("skipped: gdb with Python is not installed\n");
		skip();
	}
	snprintf(cmd, sizeof(cmd),
	         "gdb --batch -nx -ex 'set disable-randomization off' "
	         "-ex 'source scripts/coronet-gdb.py' -ex 'break gdb_target_break' -ex run "
	         "-ex cn-list -ex 'cn-bt 1' -ex 'cn-bt 2' -ex 'cn-bt 9' -ex kill "
	         "--args %s/tests/test_gdb target 2>&1",
	         build ? build : "build");
	/* gdb's own exit status says little (kill ends the inferior); the
	 * output says what matters. */
	(void)cn_test_run_shell(cmd, out, sizeof(out));
	if (!strstr(out, "#1 'gdb-sleeper' sleeping") || !strstr(out, "#2 'gdb-breaker' running") ||
	    !strstr(out, "coroutine #1 'gdb-sleeper' (sleeping):") ||
	    !strstr(out, "in cn_sleep") || !strstr(out, "gdb_target_sleeper") ||
	    !strstr(out, "coroutine #2 runs: use bt in thread") ||
	    !strstr(out, "coronet: no coroutine #9"))
		fail_msg("gdb's output lacks what the helper should print:\n%s", out);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_and_bt),
	};

	if (argc > 1 && strcmp(argv[1], "target") == 0)
		return target();
	cn_test_watchdog(300);
	return CN_TEST_RUN(tests, NULL, NULL);
}
