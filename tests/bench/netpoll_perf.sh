#!/bin/sh
# tests/bench/netpoll_perf.sh — the "why" behind the echo tables: for the
# raw epoll baseline and coronet in inline and thread mode, counts what the
# server does per round trip with `perf stat` (software events and syscall
# tracepoints only, so it works in a VM without hardware counters): CPU
# time, system calls (all, epoll_wait, read, write/sendto), context switches,
# CPU migrations, and the CPU share of each server thread. Not a `make
# bench` section (it needs perf and root or perf_event_paranoid <= 1); run
# by hand after `make bench` has built the release binaries:
#
#   sh tests/bench/netpoll_perf.sh [RELEASE_BUILD_DIR]    (default build-release)
#
# Knobs: NP_CONNS ("1 10 100 1000"), NP_PLACEMENTS ("pinned unpinned"),
# NP_SYSTEMS ("raw-epoll inline thread"), NP_SECONDS (2), NP_SIZE (64).
# The window: the client runs NP_SECONDS + 1 s; perf watches the server for
# NP_SECONDS, starting 0.5 s in (connections up). The round trips in the
# window are the server's data writes in it (one per echo of a message that
# fits the socket buffer: raw epoll write(2), coronet send(2)), since
# tracing slows everything and the client's rate over its whole run would
# not match the window. coronet's write(2) calls are then its eventfd
# wake-ups, shown apart. rt/s is the client's, under tracing: indicative.
set -u
B=${1:-build-release}
BENCH_BIN_DIR=$B/bench
BENCH_EX_DIR=$B/examples
BENCH_OUT=${BENCH_OUT:-bench-out}
export BENCH_BIN_DIR BENCH_EX_DIR BENCH_OUT
HERE=$(dirname "$0")
. "$HERE/echo_lib.sh"

if ! command -v perf >/dev/null 2>&1; then
	echo "netpoll_perf: perf not installed (Debian: linux-perf)"
	exit 1
fi
CONNS=${NP_CONNS:-"1 10 100 1000"}
PLS=${NP_PLACEMENTS:-"pinned unpinned"}
SYS=${NP_SYSTEMS:-"raw-epoll inline thread"}
SECS=${NP_SECONDS:-2}
SIZE=${NP_SIZE:-64}
EVENTS=task-clock,context-switches,cpu-migrations,raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_sendto

echo "netpoll_perf: $SIZE B ping-pong; per round trip, server side; machine: $(machine_line)"
printf '%-9s %6s %-15s %8s %7s %7s %7s %7s %7s %7s %7s  %s\n' placement conns system "rt/s" \
	"CPU us" "sysc" "ep_wait" "read" "wake wr" "ctxsw" "migr" "CPU share per thread"
for pl in $PLS; do
	[ "$pl" = pinned ] && [ -z "$CAN_PIN" ] && continue
	for c in $CONNS; do
		for s in $SYS; do
			srv_start "$s" "$pl" || continue
			# shellcheck disable=SC2046
			$(client_pin "$pl") "$CLIENT" --port "$SRV_PORT" --conns "$c" --size "$SIZE" \
				--seconds "$(awk -v s="$SECS" 'BEGIN { print s + 1 }')" --quiet >"$TMPD/cli.out" 2>&1 &
			cp=$!
			sleep 0.5
			for t in /proc/"$SRV_PID"/task/*; do
				echo "$(cat "$t/comm") $(cut -d' ' -f1 "$t/schedstat")"
			done >"$TMPD/t0"
			perf stat -x, -e "$EVENTS" -p "$SRV_PID" -o "$TMPD/perf" -- sleep "$SECS" >/dev/null 2>&1
			for t in /proc/"$SRV_PID"/task/*; do
				echo "$(cat "$t/comm") $(cut -d' ' -f1 "$t/schedstat")"
			done >"$TMPD/t1"
			wait "$cp"
			srv_stop
			rt=$(kv rt_per_s "$TMPD/cli.out")
			shares=$(awk 'NR == FNR { a[FNR] = $2; next } { d = ($2 - a[FNR]) / 1e9; printf "%s %.0f%% ", $1, 100 * d / secs }' \
				secs="$SECS" "$TMPD/t0" "$TMPD/t1")
			awk -F, -v rt="${rt:-0}" -v pl="$pl" -v c="$c" -v sys="$s" -v s="$(sys_label "$s")" -v sh="$shares" '
				/^[0-9]/ { v[$3] = $1 }
				END {
					w = v["syscalls:sys_enter_write"]; sd = v["syscalls:sys_enter_sendto"]
					n = sys == "raw-epoll" ? w : sd
					wake = sys == "raw-epoll" ? 0 : w
					if (n <= 0) n = 1
					printf "%-9s %6s %-15s %8.0f %7.2f %7.2f %7.3f %7.2f %7.3f %7.3f %7.4f  %s\n", pl, c, s, rt,
					       v["task-clock"] * 1000 / n, v["raw_syscalls:sys_enter"] / n,
					       (v["syscalls:sys_enter_epoll_wait"] + v["syscalls:sys_enter_epoll_pwait"]) / n,
					       v["syscalls:sys_enter_read"] / n, wake / n,
					       v["context-switches"] / n, v["cpu-migrations"] / n, sh
				}' "$TMPD/perf"
		done
	done
done
