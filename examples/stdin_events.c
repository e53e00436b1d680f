/*
 * examples/stdin_events.c — events from user input, interleaved with timers.
 *
 *   stdin_events [--mode thread|inline] [--tick MS] [--delay MS]
 *
 * One coroutine reads stdin with cn_read() and echoes each line back with its
 * number and the time it arrived; another ticks a clock every second with
 * cn_sleep(). Neither blocks the other: while the reader waits for a line, the
 * clock keeps ticking, and a line typed between two ticks is echoed at once.
 * On end of input (Ctrl-D on a terminal, the end of a pipe or file) the reader
 * prints a summary and stops the runtime, which wakes the sleeping clock with
 * ECANCELED so it ends too.
 *
 * stdin may be a terminal, a pipe or a regular file: the runtime treats fds
 * its poller cannot watch (files) as always ready. --delay MS makes the
 * reader pause after each line, so the interleaving also shows when the input
 * is a file that is all there at once: `stdin_events --delay 300 < file`.
 *
 * The runtime switches stdin to O_NONBLOCK, which changes the open file
 * description that the shell shares; main() puts the original flags back
 * before it exits (also after Ctrl-C), so the shell is not left with a
 * non-blocking terminal.
 *
 * Threads: main() runs the runtime; both coroutines run on that thread. A
 * thread of ours takes SIGINT/SIGTERM (stop) and SIGQUIT (the runtime
 * dump): stop_signals.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <coronet.h>

#include "stop_signals.h"

#define PROG "stdin_events"
#define LINE_MAX_SHOWN 200

static cn_runtime *rt;
static int64_t t0;
static int64_t tick_ns = 1000 * 1000 * 1000;
static int64_t delay_ns;

/* Scheduler thread only. */
static uint64_t n_lines, n_bytes, n_ticks;

static double elapsed(void)
{
	return (double)(cn_now() - t0) / 1e9;
}

static void show_line(const char *s, size_t len)
{
	n_lines++;
	if (len > 0 && s[len - 1] == '\r')
		len--; /* a terminal in raw-ish mode, or a DOS file */
	printf("[%7.3f s] line %llu (%zu bytes): %.*s%s\n", elapsed(), (unsigned long long)n_lines,
	       len, (int)(len > LINE_MAX_SHOWN ? LINE_MAX_SHOWN : len), s,
	       len > LINE_MAX_SHOWN ? "..." : "");
	fflush(stdout);
}

static void reader_main(void *arg)
{
	(void)arg;
	char buf[4096];
	size_t have = 0; /* bytes of an unfinished line at the start of buf */
	const char *why = "end of input";

	for (;;) {
		ssize_t r = cn_read(STDIN_FILENO, buf + have, sizeof buf - have, CN_NO_DEADLINE);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECANCELED) {
				why = "stopped";
			} else {
				why = "read error";
				fprintf(stderr, PROG ": read stdin: %s\n", strerror(errno));
			}
			break;
		}
		if (r == 0) {
			if (have)
				show_line(buf, have); /* last line had no newline */
			have = 0;
			break;
		}
		n_bytes += (uint64_t)r;
		have += (size_t)r;
		char *start = buf, *nl;
		while ((nl = memchr(start, '\n', have - (size_t)(start - buf))) != NULL) {
			show_line(start, (size_t)(nl - start));
			start = nl + 1;
			if (delay_ns > 0 && cn_sleep(delay_ns) < 0) {
				why = "stopped";
				goto out;
			}
		}
		have -= (size_t)(start - buf);
		memmove(buf, start, have);
		if (have == sizeof buf) {
			/* A line longer than the buffer: show it in pieces. */
			show_line(buf, have);
			have = 0;
		}
	}
out:
	printf("[%7.3f s] %s: %llu lines, %llu bytes, %llu ticks\n", elapsed(), why,
	       (unsigned long long)n_lines, (unsigned long long)n_bytes,
	       (unsigned long long)n_ticks);
	fflush(stdout);
	/* The clock would tick forever: stopping the runtime cancels its sleep. */
	cn_runtime_stop(cn_runtime_current());
}

static void clock_main(void *arg)
{
	(void)arg;
	int64_t next = t0;
	for (;;) {
		/* Sleep to the next whole tick, so the ticks do not drift by the
		 * time spent printing. */
		next += tick_ns;
		if (cn_sleep(next - cn_now()) < 0)
			break; /* ECANCELED: the runtime is stopping */
		n_ticks++;
		printf("[%7.3f s] tick %llu (%llu lines so far)\n", elapsed(),
		       (unsigned long long)n_ticks, (unsigned long long)n_lines);
		fflush(stdout);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " [--mode thread|inline] [--tick MS] [--delay MS]\n"
	           "  reads lines from stdin and echoes them while a clock ticks\n"
	           "  --mode M    netpoll mode (default thread)\n"
	           "  --tick MS   clock period (default 1000)\n"
	           "  --delay MS  pause after each line (default 0)\n");
}

static long parse_ms(const char *s, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 3600L * 1000) {
		fprintf(stderr, PROG ": bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	cn_runtime_opts opts = {.mode = CN_NETPOLL_THREAD};
	/* Every option takes a value, so arguments go in pairs. */
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!v) {
			usage(stderr);
			return 2;
		} else if (!strcmp(a, "--mode")) {
			if (cn_netpoll_mode_parse(v, &opts.mode) < 0) {
				fprintf(stderr, PROG ": --mode is thread or inline, not '%s'\n", v);
				return 2;
			}
		} else if (!strcmp(a, "--tick")) {
			tick_ns = parse_ms(v, "--tick") * 1000000;
			if (tick_ns == 0) {
				fprintf(stderr, PROG ": --tick must be > 0\n");
				return 2;
			}
		} else if (!strcmp(a, "--delay")) {
			delay_ns = parse_ms(v, "--delay") * 1000000;
		} else {
			fprintf(stderr, PROG ": unknown option '%s' (try --help)\n", a);
			return 2;
		}
	}

	int stdin_flags = fcntl(STDIN_FILENO, F_GETFL);
	ex_signals_block();
	rt = cn_runtime_create(&opts);
	if (!rt) {
		fprintf(stderr, PROG ": cn_runtime_create: %s\n", strerror(errno));
		return 1;
	}
	t0 = cn_now();
	if (cn_spawn(rt, reader_main, NULL, &(cn_coro_opts){.name = "stdin-reader"}) < 0 ||
	    cn_spawn(rt, clock_main, NULL, &(cn_coro_opts){.name = "clock"}) < 0) {
		fprintf(stderr, PROG ": cn_spawn: %s\n", strerror(errno));
		cn_runtime_destroy(rt);
		return 1;
	}
	struct ex_signals sig;
	if (ex_signals_start(&sig, rt, 1) < 0) {
		fprintf(stderr, PROG ": pthread_create: %s\n", strerror(errno));
		cn_runtime_destroy(rt);
		return 1;
	}

	printf("[%7.3f s] reading stdin (mode %s); type lines, end with Ctrl-D\n", elapsed(),
	       cn_netpoll_mode_name(opts.mode));
	fflush(stdout);
	int rc = cn_runtime_run(rt) < 0 ? 1 : 0;
	if (rc)
		fprintf(stderr, PROG ": cn_runtime_run: %s\n", strerror(errno));
	ex_signals_end(&sig);
	cn_runtime_destroy(rt);
	if (stdin_flags >= 0)
		fcntl(STDIN_FILENO, F_SETFL, stdin_flags);
	return rc;
}
