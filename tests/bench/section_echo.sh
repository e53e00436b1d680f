#!/bin/sh
# tests/bench/section_echo.sh — the echo section of `make bench` (issue 5):
# closed-loop ping-pong against four servers side by side, same client, same
# run: coronet in thread mode, coronet in inline mode, the raw epoll
# baseline (tests/bench/raw_epoll_echo.c) and libuv (tests/bench/uv_echo.c,
# skipped when not built).
#
# Run by tests/bench/run.sh with its environment (BENCH_BIN_DIR, BENCH_OUT,
# QUICK, ...) plus BENCH_EX_DIR from bench.mk. Knobs, mostly for trying
# things by hand:
#   ECHO_POINTS      "SIZE:CONNS ..." for every placement (default: 64 and
#                    16384 B x 1, 10, 100, 1000, 10000 connections; QUICK:
#                    64:10 64:1000 64:10000 16384:100 pinned, and only
#                    64:10 64:1000 unpinned)
#   ECHO_PLACEMENTS  "pinned unpinned" (default both)
#   ECHO_REPS        repetitions per point (default 3)
#   ECHO_SECONDS     client run per measurement (default 1.5; QUICK 0.4)
#   ECHO_SYSTEMS     subset of "raw-epoll inline thread libuv"
#   ECHO_SETUP_MIN   from this many connections on, the server CPU spent on
#                    connecting and closing is measured apart and subtracted
#                    (default 1000)
#
# One measurement = one fresh server process, one client process. The
# client (tests/bench/echo_client) connects every connection first and only
# then starts its clock, so its round trips/s and latencies cover the
# ping-pong only. The server's CPU time (user+sys, all threads, from
# /proc/PID/task/*/schedstat) is read just before the client starts and just
# after it exits; that window also holds the connecting and closing, which
# at 10,000 connections is about a tenth of the total. From ECHO_SETUP_MIN
# connections on, a separate fresh server is first given the same client
# with --active 0 --seconds 0 (connect everything, close everything) and
# that CPU time is subtracted. The thread-mode counters (wake system calls
# per 1,000 completions, completions per ring batch) are the server's own,
# printed at its shutdown: they cover its whole life, i.e. this one client
# run including its connecting.
#
# Writes: bench-out/echo_raw.csv (every measurement), echo.csv (medians and
# ratios), echo_plot_*.dat and, with gnuplot, echo_rtps.png, echo_p99.png,
# echo_cpu.png.
set -u
HERE=$(dirname "$0")
. "$HERE/echo_lib.sh"

if [ -n "$QUICK" ]; then
	POINTS_pinned=${ECHO_POINTS:-"64:10 64:1000 64:10000 16384:100"}
	POINTS_unpinned=${ECHO_POINTS:-"64:10 64:1000"}
	SECS=${ECHO_SECONDS:-0.4}
else
	POINTS_pinned=${ECHO_POINTS:-"64:1 64:10 64:100 64:1000 64:10000 16384:1 16384:10 16384:100 16384:1000 16384:10000"}
	POINTS_unpinned=$POINTS_pinned
	SECS=${ECHO_SECONDS:-1.5}
fi
POINTS="$POINTS_pinned $POINTS_unpinned"
REPS=${ECHO_REPS:-3}
SETUP_MIN=${ECHO_SETUP_MIN:-1000}
PLACEMENTS=
for p in ${ECHO_PLACEMENTS:-pinned unpinned}; do
	if [ "$p" = pinned ] && [ -z "$CAN_PIN" ]; then
		echo "pinned runs skipped: need taskset and CPUs $SERVER_CPU and $CLIENT_CPU ($NCPU online)"
		continue
	fi
	PLACEMENTS="$PLACEMENTS $p"
done
if [ -n "${ECHO_SYSTEMS:-}" ]; then
	want=$ECHO_SYSTEMS
	SYSTEMS=
	for s in $want; do
		case " $ALL_SYSTEMS " in *" $s "*) [ -z "$(sys_skip "$s")" ] && SYSTEMS="$SYSTEMS $s" ;; esac
	done
fi
if [ ! -x "$CLIENT" ]; then
	echo "echo: skipped: $CLIENT was not built"
	exit 1
fi

# The sizes and connection counts, in order, for the tables.
SIZES=$(for p in $POINTS; do echo "${p%%:*}"; done | awk '!s[$0]++' | tr '\n' ' ')
CONNS=$(for p in $POINTS; do echo "${p##*:}"; done | sort -n | uniq | tr '\n' ' ')
CLIENT_TIMEOUT=$(awk -v s="$SECS" 'BEGIN { printf "%d", s + 120 }')
TO=
command -v timeout >/dev/null 2>&1 && TO="timeout -s KILL $CLIENT_TIMEOUT"

echo "echo, closed-loop ping-pong: one client process (tests/bench/echo_client, coronet inline mode)"
echo "against one server process per measurement"
echo "machine: $(machine_line)"
for p in $PLACEMENTS; do
	eval "echo \"placement \$(placement_note $p); points (size:connections): \$POINTS_$p\""
done
echo "$REPS repetitions of ${SECS}s each per point and system; fd limit $NOFILE"
echo "systems:$(for s in $SYSTEMS; do printf ' %s;' "$(sys_label "$s")"; done)"
[ -n "$SKIP_NOTES" ] && printf '%s' "$SKIP_NOTES"
echo "server CPU: user+sys of all its threads over the client's run; from $SETUP_MIN connections on,"
echo "minus the CPU of a connect-and-close-only run. Medians of the repetitions; 'vs raw' is the ratio"
echo "to the raw epoll server in the same repetition, then the median of those ratios."
echo

RAW="$OUT/echo_raw.csv"
echo "placement,size,conns,rep,system,rt_per_s,mb_per_s,p50_us,p99_us,p999_us,round_trips,seconds,server_cpu_s,setup_cpu_s,cpu_s_per_100k,server_user_s,server_sys_s,client_cpu_s,client_cpu_per_100k,wakes_per_1000,avg_batch,completions,wake_syscalls,server_rss_kib,errors" >"$RAW"

# The server CPU, in seconds, of a client that only connects and closes.
setup_cpu() { # system placement conns
	srv_start "$1" "$2" || { echo NaN; return; }
	c0=$(cpu_ns "$SRV_PID")
	# shellcheck disable=SC2046
	$TO $(client_pin "$2") "$CLIENT" --port "$SRV_PORT" --conns "$3" --active 0 \
		--seconds 0 --quiet >"$TMPD/setup.out" 2>&1
	c1=$(cpu_ns "$SRV_PID")
	srv_stop
	awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.4f\n", (b - a) / 1e9 }'
}

# One measurement; appends a row to $RAW and prints "rt/s cpu/100k".
# Runs in the section's shell (no subshell), so SRV_PID stays visible to the
# cleanup trap.
measure() { # system placement size conns rep
	sys=$1 pl=$2 size=$3 conns=$4 rep=$5
	setup=0
	if [ "$conns" -ge "$SETUP_MIN" ]; then
		setup=$(setup_cpu "$sys" "$pl" "$conns")
	fi
	if ! srv_start "$sys" "$pl"; then
		echo "$pl,$size,$conns,$rep,$sys,NaN,NaN,NaN,NaN,NaN,0,0,NaN,NaN,NaN,NaN,NaN,NaN,NaN,NaN,NaN,NaN,NaN,NaN,1" >>"$RAW"
		echo "NaN NaN"
		return
	fi
	c0=$(cpu_ns "$SRV_PID")
	us0=$(cpu_user_sys "$SRV_PID")
	children_cpu
	k0=$CHILD_CPU
	# shellcheck disable=SC2046
	$TO $(client_pin "$pl") "$CLIENT" --port "$SRV_PORT" --conns "$conns" --size "$size" \
		--seconds "$SECS" --quiet --label "$sys" >"$TMPD/cli.out" 2>"$TMPD/cli.err"
	rc=$?
	children_cpu
	k1=$CHILD_CPU
	c1=$(cpu_ns "$SRV_PID")
	us1=$(cpu_user_sys "$SRV_PID")
	rss=$(rss_kib "$SRV_PID")
	srv_stop
	if [ "$rc" -ne 0 ]; then
		echo "  $sys $pl ${size}B $conns conns rep $rep: client exit $rc: $(head -c 300 "$TMPD/cli.err" | tr '\n' ' ')" >&2
	fi
	# One awk reads the client's result line and the server's stats line
	# (key=value words) and writes the row.
	row=$(awk -v pl="$pl" -v size="$size" -v conns="$conns" -v rep="$rep" -v sys="$sys" \
		-v c0="$c0" -v c1="$c1" -v setup="$setup" -v us0="$us0" -v us1="$us1" \
		-v k0="$k0" -v k1="$k1" -v rss="$(nan "$rss")" -v rc="$rc" '
		/ (result|stats) / {
			for (i = 1; i <= NF; i++)
				if ((j = index($i, "=")) > 1)
					kv[FILENAME == cf ? "c." substr($i, 1, j - 1) : "s." substr($i, 1, j - 1)] = substr($i, j + 1)
		}
		function g(k) { return (k in kv) && kv[k] != "" ? kv[k] : "NaN" }
		function gz(k) { return (k in kv) && kv[k] != "" ? kv[k] + 0 : 0 }
		END {
			split(us0, a, " "); split(us1, b, " ")
			n = g("c.round_trips") + 0
			cpu = (c1 - c0) / 1e9
			if (setup != "NaN") cpu -= setup
			per = n > 0 && setup != "NaN" ? sprintf("%.4f", cpu / n * 1e5) : "NaN"
			kc = k1 - k0
			kper = n > 0 ? sprintf("%.4f", kc / n * 1e5) : "NaN"
			wk = bt = ws = "NaN"
			if (sys == "thread") { wk = g("s.wakes_per_1000"); bt = g("s.avg_batch"); ws = g("s.wake_syscalls") }
			e = gz("c.connect_errors") + gz("c.io_errors") + gz("c.mismatches") + gz("s.conn_errors")
			if (rc != 0 && e == 0) e = 1
			rt = g("c.rt_per_s"); mb = g("c.mb_per_s")
			p50 = g("c.p50_us"); p99 = g("c.p99_us"); p999 = g("c.p999_us")
			if (n == 0) rt = mb = p50 = p99 = p999 = "NaN"
			secs = g("c.seconds"); if (secs == "NaN") secs = 0
			printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%d,%s,%.4f,%s,%s,%.2f,%.2f,%.3f,%s,%s,%s,%s,%s,%s,%d\n",
				pl, size, conns, rep, sys, rt, mb, p50, p99, p999, n, secs,
				cpu, setup, per, b[1] - a[1], b[2] - a[2], kc, kper, wk, bt,
				g("s.completions"), ws, rss, e
		}' cf="$TMPD/cli.out" "$TMPD/cli.out" "$TMPD/srv.out")
	echo "$row" >>"$RAW"
	echo "$row" | awk -F, '{ print $6, $15 }'
}

# Systems in a different order in each repetition, so that none always runs
# first (cold caches, a neighbour's burst) or last.
rotate() { # rep systems...
	r=$1
	shift
	n=$#
	[ "$n" -gt 0 ] || return
	k=$(( (r - 1) % n ))
	i=0
	for s in "$@"; do
		[ $i -ge $k ] && printf '%s ' "$s"
		i=$((i + 1))
	done
	i=0
	for s in "$@"; do
		[ $i -lt $k ] && printf '%s ' "$s"
		i=$((i + 1))
	done
}

t_start=$(date +%s)
for pl in $PLACEMENTS; do
	pts=
	eval "pts=\$POINTS_$pl"
	for pt in $pts; do
		size=${pt%%:*}
		conns=${pt##*:}
		if [ "$conns" -gt $((NOFILE - 64)) ]; then
			echo "  $pl ${size} B $conns conns: skipped: fd limit $NOFILE"
			continue
		fi
		rep=1
		while [ "$rep" -le "$REPS" ]; do
			# shellcheck disable=SC2086
			for sys in $(rotate "$rep" $SYSTEMS); do
				measure "$sys" "$pl" "$size" "$conns" "$rep" >/dev/null
			done
			rep=$((rep + 1))
		done
		echo "  measured: $pl, $size B, $conns conns ($(( $(date +%s) - t_start ))s)"
	done
done

# shellcheck disable=SC2086
awk -F, -f "$HERE/echo_summary.awk" -v placements="$PLACEMENTS" -v sizes="$SIZES" \
	-v conns="$CONNS" -v systems="$SYSTEMS" -v out="$OUT" \
	-v notes_pinned="$(placement_note pinned)" -v notes_unpinned="$(placement_note unpinned)" \
	"$RAW" "$RAW"

echo
echo "CSV: $RAW (every measurement), $OUT/echo.csv (medians, ratios)"

# Plots.
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "plots: skipped: gnuplot not installed (Debian: apt-get install gnuplot-nox)"
	exit 0
fi
plot_ok=1
for g in echo_rtps echo_p99 echo_cpu; do
	# $(echo $X): the lists with single spaces.
	# shellcheck disable=SC2086,SC2116
	if ! gnuplot -e "out='$OUT'; placements='$(echo $PLACEMENTS)'; sizes='$(echo $SIZES)'; systems='$(echo $SYSTEMS)'" \
		"$HERE/$g.gp" 2>"$TMPD/gp.err"; then
		echo "plots: $g.gp failed:"
		cat "$TMPD/gp.err"
		plot_ok=
	fi
done
[ -n "$plot_ok" ] && echo "plots: $OUT/echo_rtps.png, $OUT/echo_p99.png, $OUT/echo_cpu.png"
exit 0
